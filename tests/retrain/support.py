"""A churn model served by real skops artifacts, and labeled production traffic."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame, churn_pipeline, scored
from monitor.ingest.records import ModelSchema, validate_label, validate_prediction
from monitor.ingest.store import insert_labels, insert_predictions
from monitor.registry.artifacts import dump_artifact
from monitor.store import session_scope
from monitor.store.models import Deployment, DeploymentHistory
from monitor.timeutil import utcnow
from tests import factories

SCHEMA = ModelSchema(tuple(NUMERICAL), tuple(CATEGORICAL))
RETRAIN = {
    "recipe": "clone",
    "training_window": "30d",
    "include_reference": True,
    "holdout": 0.25,
    "min_labeled_rows": 400,
    "min_holdout_rows": 100,
    "metric": "roc_auc",
    "min_improvement": 0.0,
    "auto_promote": True,
    "cooldown": "24h",
}


def fitted(rows: int = 1500, seed: int = 1, shift: float = 0.0, flip: bool = False):
    frame = churn_frame(rows, seed, shift)
    target = 1 - frame["churned"] if flip else frame["churned"]
    return churn_pipeline().fit(frame[NUMERICAL + CATEGORICAL], target), frame


def make_model(engine: Engine, retrain: dict | None = None, batch: bool = True) -> int:
    """Model `churn` with version 1 (a real pipeline) serving `churn-online` (and
    `churn-nightly`); returns the model id."""
    estimator, frame = fitted()
    with session_scope(engine) as session:
        version = factories.make_model(
            session,
            "churn",
            scored(frame, estimator),
            NUMERICAL,
            CATEGORICAL,
            artifact=dump_artifact(estimator),
            retrain={**RETRAIN, **(retrain or {})},
        )
        names = [("churn-online", "realtime")] + ([("churn-nightly", "batch")] if batch else [])
        for name, mode in names:
            deployment = Deployment(
                name=name, model_id=version.model_id, mode=mode, active_version_id=version.id
            )
            session.add(deployment)
            session.flush()
            session.add(
                DeploymentHistory(deployment_id=deployment.id, version_id=version.id, reason="spec")
            )
        return version.model_id


def deployment_id(engine: Engine, name: str = "churn-online") -> int:
    with session_scope(engine) as session:
        return session.scalar(select(Deployment.id).where(Deployment.name == name))


def log_traffic(
    engine: Engine,
    rows: int,
    shift: float = 1.0,
    seed: int = 7,
    start: datetime | None = None,
    labels: Any = None,
    deployment: str = "churn-online",
    prefix: str = "r",
    step: timedelta = timedelta(minutes=1),
) -> pd.DataFrame:
    """`rows` predictions one minute apart ending now, with their labels, ingested as a
    source would ingest them. Returns the frame with request ids and timestamps."""
    frame = churn_frame(rows, seed, shift)
    if labels is not None:
        frame["churned"] = labels
    start = start or utcnow() - step * (rows + 1)
    frame["request_id"] = [f"{prefix}-{n}" for n in range(rows)]
    frame["timestamp"] = [start + step * n for n in range(rows)]
    predictions, truths = [], []
    for record in frame.to_dict("records"):
        features = {name: record[name] for name in NUMERICAL + CATEGORICAL}
        predictions.append(
            validate_prediction(
                {
                    "request_id": record["request_id"],
                    "timestamp": record["timestamp"],
                    "features": features,
                    "prediction": 0,
                    "probability": 0.5,
                },
                SCHEMA,
            )
        )
        truths.append(
            validate_label({"request_id": record["request_id"], "label": int(record["churned"])})
        )
    target = deployment_id(engine, deployment)
    with engine.begin() as connection:
        insert_predictions(connection, target, predictions)
        insert_labels(connection, target, truths)
    return frame


RECORDED: list[pd.DataFrame] = []


def recording_recipe(frame: pd.DataFrame, context) -> Any:
    """A user recipe that keeps what it was given, so a test can look."""
    RECORDED.append(frame.copy())
    return churn_pipeline().fit(frame[context.features], frame[context.target])


def constant_recipe(frame: pd.DataFrame, context) -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="prior").fit(frame[context.features], frame[context.target])


class RecordingThing:
    """Not an estimator skops trusts: its code would run on load."""

    def predict(self, frame):  # pragma: no cover - never loaded
        return [0] * len(frame)


def champion_recipe(frame: pd.DataFrame, context) -> Any:
    """A challenger that is the champion itself: every holdout score ties."""
    return context.champion
