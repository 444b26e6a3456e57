"""The training set of a retrain job: labeled production rows (and the champion's reference).

Labeled rows are the model's deployments' predictions joined with their labels inside the
training window, one per request id (the newest). The window counts back from the newest
labeled prediction (`training_window_from = "newest_label"`), so replayed logs or a quiet
deployment still train on what they have; `"now"` counts back from the clock. They are ordered by time and the newest
`holdout` share is cut off first, so the holdout is never trained on by construction: the
training frame is built only from what is left, plus the reference rows.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import json as pa_json
from sqlalchemy import String, cast, exists, func, select
from sqlalchemy.orm import Session

from monitor.errors import ReferenceInvalid, TrainingRefused
from monitor.registry.reference import load_reference
from monitor.spec.parse import RETRAIN_DEFAULTS
from monitor.store.models import Deployment, Label, Model, Prediction, label_of_prediction
from monitor.timeutil import parse_duration, utcnow
from retrain.evaluate import predict

REFERENCE_ROWS = 50_000
ID_SEPARATOR = "\x1f"  # ASCII unit separator: not in any sane request id


def retrain_settings(model: Model) -> dict[str, Any]:
    """The model's [models.retrain] table with defaults filled in, and a metric chosen."""
    settings = {**RETRAIN_DEFAULTS, **(model.retrain or {})}
    if not settings.get("metric"):
        if model.task == "regression":
            settings["metric"] = "rmse"
        else:
            settings["metric"] = "roc_auc" if model.probability else "f1"
    return settings


@dataclass
class TrainingSet:
    """Rows are indexed by request id; reference rows by `reference:<n>`."""

    train: pd.DataFrame  # features and target
    holdout: pd.DataFrame  # features and target, newest labeled rows only
    labeled_rows: int
    reference_rows: int
    training_start: datetime | None
    training_end: datetime | None

    @property
    def summary(self) -> dict[str, Any]:
        return {
            "labeled_rows": self.labeled_rows,
            "reference_rows": self.reference_rows,
            "train_rows": len(self.train),
            "holdout_rows": len(self.holdout),
            "training_start": _iso(self.training_start),
            "training_end": _iso(self.training_end),
            "holdout_start": _iso(self.holdout["__timestamp"].min()) if len(self.holdout) else None,
        }


def _iso(moment: Any) -> str | None:
    return None if moment is None or pd.isna(moment) else pd.Timestamp(moment).isoformat()


def _labeled(model: Model):
    # The model's deployments as a list, not a join: no deployment looked up per row.
    deployments = select(Deployment.id).where(Deployment.model_id == model.id)
    return (
        select(Prediction.request_id, Prediction.timestamp, Prediction.features, Label.value)
        .join(Label, label_of_prediction())
        .where(Prediction.deployment_id.in_(deployments))
    )


def window_start(
    session: Session, model: Model, settings: dict[str, Any], now: datetime | None = None
) -> datetime:
    """Where the training window begins: `training_window` before the newest labeled
    prediction (or before now, with `training_window_from = "now"`, or with no labels)."""
    end = now or utcnow()
    if settings.get("training_window_from", "newest_label") == "newest_label":
        newest = session.scalar(
            select(func.max(_newest_labeled())).where(Deployment.model_id == model.id)
        )
        if newest is not None:
            end = newest
    return end - timedelta(seconds=parse_duration(settings["training_window"]))


def _newest_labeled():
    """A deployment's newest prediction that has a label: read back along its time index
    until the first labeled one, not by joining every prediction with its label."""
    return (
        select(Prediction.timestamp)
        .where(Prediction.deployment_id == Deployment.id, exists().where(label_of_prediction()))
        .order_by(Prediction.timestamp.desc())
        .limit(1)
        .correlate(Deployment)
        .scalar_subquery()
    )


def labeled_rows(session: Session, model: Model, since: datetime) -> pd.DataFrame:
    """Predictions with labels of every deployment of `model` since `since`, one per request id,
    oldest first, indexed by request id."""
    joined = _labeled(model).where(Prediction.timestamp >= since)
    frame = _aggregated(session, joined, model)
    if frame is None:
        frame = _row_by_row(session, joined, model)
    if not frame["__timestamp"].is_monotonic_increasing:  # else sorting copies it unchanged
        frame = frame.sort_values("__timestamp", kind="stable")
    # The same request id logged by two deployments is one customer: keep the newest.
    repeated = frame.index.duplicated(keep="last")
    return frame[~repeated] if repeated.any() else frame


def _aggregated(session: Session, joined, model: Model) -> pd.DataFrame | None:
    """The fast path: the database concatenates each column into one string (C, no Python
    object per row) and Arrow parses the features. None when the rows do not fit it."""
    rows = joined.subquery()
    query = select(
        func.count(),
        func.aggregate_strings(rows.c.request_id, ID_SEPARATOR),
        func.aggregate_strings(cast(rows.c.timestamp, String), ","),
        func.aggregate_strings(rows.c.features, "\n"),
        func.aggregate_strings(rows.c.value, ","),
    )
    count, ids, stamps, features, values = session.execute(query).one()
    if not count:
        return _empty(model)
    ids = _split(ids, ID_SEPARATOR)
    if len(ids) != count:
        return None  # a request id holds the separator
    schema = pa.schema([(name, pa.float64()) for name in model.numerical])
    try:
        table = pa_json.read_json(
            io.BytesIO(features.encode()),
            parse_options=pa_json.ParseOptions(explicit_schema=schema),
        )
    except pa.ArrowInvalid:
        return None  # e.g. a categorical column holding both strings and numbers
    frame = table.to_pandas()
    frame = frame.reindex(columns=model.features)
    frame[model.target] = orjson.loads(f"[{values}]")
    frame["__timestamp"] = _times(stamps)
    frame.index = pd.Index(ids.to_pandas(), name="request_id")
    return frame


def _split(text: str, separator: str) -> pa.Array:
    """The parts of one long text, split by Arrow: no Python string per part."""
    return pc.split_pattern(pa.array([text]), separator).flatten()


def _times(stamps: str) -> pd.DatetimeIndex:
    """Timestamps as the database writes them as text, parsed by Arrow (ISO 8601, with or
    without fractions of a second), else by pandas."""
    try:
        return pd.DatetimeIndex(pc.cast(_split(stamps, ","), pa.timestamp("us")).to_pandas())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_datetime(stamps.split(","), format="ISO8601")


def _row_by_row(session: Session, joined, model: Model) -> pd.DataFrame:
    rows = session.execute(joined).all()
    if not rows:
        return _empty(model)
    frame = pd.DataFrame.from_records(
        [orjson.loads(row.features) for row in rows], columns=model.features
    )
    frame[model.target] = [orjson.loads(row.value) for row in rows]
    frame["__timestamp"] = pd.to_datetime([row.timestamp for row in rows])
    frame.index = pd.Index([row.request_id for row in rows], name="request_id")
    return frame


def _empty(model: Model) -> pd.DataFrame:
    frame = pd.DataFrame(columns=[*model.features, model.target])
    frame["__timestamp"] = pd.to_datetime([])
    frame.index = pd.Index([], name="request_id", dtype=object)
    return frame


def assemble(
    session: Session,
    model: Model,
    champion_version_id: int | None,
    settings: dict[str, Any],
    now: datetime | None = None,
) -> TrainingSet:
    """The job's training set and holdout, or TrainingRefused saying why not."""
    since = window_start(session, model, settings, now)
    labeled = labeled_rows(session, model, since)
    minimum = int(settings["min_labeled_rows"])
    if len(labeled) < minimum:
        raise TrainingRefused(
            f"{len(labeled)} labeled rows since {since:%Y-%m-%d %H:%M}, below min_labeled_rows "
            f"{minimum}"
        )
    share = float(settings["holdout"])
    holdout_count = math.ceil(len(labeled) * share)
    if holdout_count < 1 or holdout_count >= len(labeled):
        raise TrainingRefused(f"holdout {share} leaves no rows to evaluate or to train on")
    needed = int(settings.get("min_holdout_rows", 0))
    if holdout_count < needed:
        raise TrainingRefused(
            f"holdout of {holdout_count} rows ({share:.0%} of {len(labeled)} labeled rows) is "
            f"below min_holdout_rows {needed}: too few to tell the challenger from noise"
        )
    cut = len(labeled) - holdout_count
    production, holdout = labeled.iloc[:cut], labeled.iloc[cut:]
    reference = _reference_rows(session, model, champion_version_id, settings)
    train = pd.concat([reference, production], copy=False) if len(reference) else production
    if model.task == "classification":
        for name, frame in (("training set", train), ("holdout", holdout)):
            classes = frame[model.target].nunique()
            if classes < 2:
                raise TrainingRefused(f"the {name} has a single class ({classes} distinct labels)")
    return TrainingSet(
        train=train,
        holdout=holdout,
        labeled_rows=len(labeled),
        reference_rows=len(reference),
        training_start=production["__timestamp"].min().to_pydatetime(),
        training_end=production["__timestamp"].max().to_pydatetime(),
    )


def _reference_rows(
    session: Session, model: Model, version_id: int | None, settings: dict[str, Any]
) -> pd.DataFrame:
    if not settings.get("include_reference") or version_id is None:
        return pd.DataFrame(columns=[*model.features, model.target])
    try:
        reference = load_reference(session, version_id)
    except ReferenceInvalid:
        return pd.DataFrame(columns=[*model.features, model.target])
    frame = reference[[*model.features, model.target]].copy()
    frame["__timestamp"] = pd.NaT
    frame.index = pd.Index([f"reference:{n}" for n in range(len(frame))], name="request_id")
    return frame


def features_and_target(frame: pd.DataFrame, model: Model) -> tuple[pd.DataFrame, pd.Series]:
    return frame[model.features], frame[model.target]


def reference_frame(estimator: Any, frame: pd.DataFrame, model: Model) -> pd.DataFrame:
    """Training rows as a reference set: features, target, and the version's own outputs.
    A deterministic sample above REFERENCE_ROWS: monitoring never reads more than that."""
    reference = frame[[*model.features, model.target]]
    if len(reference) > REFERENCE_ROWS:
        reference = reference.sample(n=REFERENCE_ROWS, random_state=0)
    reference = reference.reset_index(drop=True)
    scored = predict(estimator, reference[model.features], model.task)
    reference[model.prediction] = scored.prediction
    if model.probability:
        reference[model.probability] = scored.probability
    return reference
