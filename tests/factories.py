"""Small builders for tests: a model, a version with a reference set, a deployment, its
sources, a prediction log, a scoring database's table, a fitted artifact and the spec text
of the example model."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from monitor.demo.sample_data import CATEGORICAL, NUMERICAL
from monitor.demo.sample_data import churn_frame as customers
from monitor.registry.artifacts import sha256
from monitor.registry.reference import store_reference
from monitor.store.models import Deployment, Model, ModelVersion, Source
from monitor.timeutil import utcnow

CHURN_NUMERICAL = NUMERICAL
CHURN_CATEGORICAL = CATEGORICAL
Row = TypeVar("Row")


def saved(session: Session, row: Row) -> Row:
    """`row` added to the session and flushed, so that it has its id."""
    session.add(row)
    session.flush()
    return row


def churn_frame(rows: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Churn data with prediction and probability columns, as a reference set has them;
    `shift` moves tenure and charges to simulate drift."""
    frame = customers(rows, seed, shift)
    logit = (
        -1.0
        - 0.04 * frame["tenure"]
        + 0.02 * (frame["charges"] - 70)
        + (frame["plan"] == "basic") * 0.8
    )
    frame["probability"] = (1 / (1 + np.exp(-logit))).round(4)
    frame["prediction"] = (frame["probability"] > 0.5).astype(int)
    return frame


def churn_model(name: str = "churn", **fields: Any) -> Model:
    """A classification model of the churn columns, not yet stored; `fields` change it."""
    return Model(
        **{
            "name": name,
            "task": "classification",
            "target": "churned",
            "prediction": "prediction",
            "probability": "probability",
            "numerical": CHURN_NUMERICAL,
            "categorical": CHURN_CATEGORICAL,
            "retrain": {},
        }
        | fields
    )


def make_model(
    session: Session,
    name: str,
    reference: pd.DataFrame,
    numerical: list[str] = CHURN_NUMERICAL,
    categorical: list[str] = CHURN_CATEGORICAL,
    target: str = "churned",
    artifact: bytes = b"test",
    retrain: dict | None = None,
    **fields: Any,
) -> ModelVersion:
    """A model (classification unless `fields` say otherwise) with version 1 (a
    placeholder artifact unless one is given) and its reference set."""
    model = churn_model(
        name,
        target=target,
        numerical=numerical,
        categorical=categorical,
        retrain=retrain or {},
        **fields,
    )
    saved(session, model)
    version = add_version(session, model.id, 1, artifact, status="champion")
    store_reference(session, version, reference)
    return version


def add_version(
    session: Session,
    model_id: int,
    number: int,
    artifact: bytes = b"test",
    status: str = "candidate",
    parent_version_id: int | None = None,
) -> ModelVersion:
    """Version `number` of the model, holding `artifact` (a placeholder unless given)."""
    version = ModelVersion(
        model_id=model_id,
        version=number,
        artifact=artifact,
        sha256=sha256(artifact),
        status=status,
        parent_version_id=parent_version_id,
    )
    return saved(session, version)


def serve_version(
    session: Session, version: ModelVersion, name: str, **settings: Any
) -> Deployment:
    """A deployment serving `version`: real-time, hourly windows that need no settling, 50
    to 50,000 rows a window and no policy, unless `settings` say otherwise."""
    defaults = {
        "mode": "realtime",
        "window_seconds": 3600,
        "settle_seconds": 0,
        "min_rows": 50,
        "max_rows": 50000,
        "policy": {},
    }
    deployment = Deployment(
        name=name, model_id=version.model_id, active_version_id=version.id, **defaults | settings
    )
    return saved(session, deployment)


def make_deployment(
    session: Session,
    name: str = "churn-online",
    reference: pd.DataFrame | None = None,
    mode: str = "realtime",
    window_seconds: int = 3600,
    policy: dict | None = None,
    min_rows: int = 50,
    max_rows: int = 50000,
    artifact: bytes = b"test",
) -> Deployment:
    """A churn model with version 1 (placeholder artifact unless one is given) and a
    deployment serving it."""
    version = make_model(
        session,
        f"{name}-model",
        churn_frame(2000) if reference is None else reference,
        artifact=artifact,
    )
    return serve_version(
        session,
        version,
        name,
        mode=mode,
        window_seconds=window_seconds,
        min_rows=min_rows,
        max_rows=max_rows,
        policy=policy or {},
    )


def add_source(
    session: Session,
    deployment_id: int,
    name: str = "log",
    kind: str = "jsonl",
    role: str = "predictions",
    **config: Any,
) -> Source:
    """A source of the deployment reading with `config` (e.g. `path="logs/*.jsonl"`)."""
    source = Source(deployment_id=deployment_id, role=role, name=name, kind=kind, config=config)
    return saved(session, source)


def scores_table(remote: Engine, rows: list[dict[str, Any]]) -> None:
    """A scoring database's `scores` table, the churn model's columns as a sql source reads
    them, holding `rows` (see `add_scores`)."""
    with remote.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE scores (id TEXT, ts TEXT, seq INTEGER, tenure REAL, "
                "charges REAL, plan TEXT, region TEXT, prediction INTEGER)"
            )
        )
    add_scores(remote, rows)


def add_scores(remote: Engine, rows: list[dict[str, Any]]) -> None:
    """Rows of the `scores` table, each an `id`, `ts` and `seq`; tenure, charges, plan,
    region and prediction are one customer's unless given."""
    customer = {"tenure": 1.0, "charges": 1.0, "plan": "pro", "region": "eu", "prediction": 0}
    with remote.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO scores VALUES "
                "(:id, :ts, :seq, :tenure, :charges, :plan, :region, :prediction)"
            ),
            [customer | row for row in rows],
        )


def write_prediction_log(path: Path, records: int) -> None:
    """`records` canonical JSONL predictions of one customer, stamped an hour ago."""
    stamp = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    features = {"tenure": 5.0, "charges": 70.5, "plan": "pro", "region": "eu"}
    with path.open("w") as handle:
        for i in range(records):
            record = {"request_id": f"r-{i}", "timestamp": stamp, "features": features}
            handle.write(json.dumps(record) + "\n")


def churn_artifact() -> bytes:
    """A real fitted churn pipeline, dumped as an artifact (so that /predict can answer)."""
    from monitor.demo.sample_data import churn_pipeline
    from monitor.registry.artifacts import dump_artifact

    frame = customers(400, seed=5)
    return dump_artifact(churn_pipeline().fit(frame[NUMERICAL + CATEGORICAL], frame["churned"]))


def toml_table(header: str, **keys: Any) -> str:
    """A `[header]` table of a spec (e.g. `[[deployments]]`); JSON values are TOML ones."""
    return (
        "\n".join([header, *(f"{key} = {json.dumps(value)}" for key, value in keys.items())]) + "\n"
    )


def churn_model_spec(example: Path) -> str:
    """The `[[models]]` table of the example churn model in `example` (examples/churn)."""
    return "\n" + toml_table(
        "[[models]]",
        name="churn",
        task="classification",
        target="churned",
        prediction="prediction",
        probability="probability",
        numerical=CHURN_NUMERICAL,
        categorical=CHURN_CATEGORICAL,
        artifact=str(example / "churn.skops"),
        reference=str(example / "reference.csv"),
    )
