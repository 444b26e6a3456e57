"""Helpers for the monitoring tests: a deployment with traffic in given windows."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import Engine, select

from monitor.ingest.records import ModelSchema, validate_label, validate_prediction
from monitor.ingest.store import insert_labels, insert_predictions
from monitor.store import session_scope
from monitor.store.models import Deployment, Run
from tests.factories import CHURN_CATEGORICAL, CHURN_NUMERICAL, churn_frame, make_deployment

SCHEMA = ModelSchema(numerical=tuple(CHURN_NUMERICAL), categorical=tuple(CHURN_CATEGORICAL))
DAY = datetime(2026, 1, 5)
HOUR = timedelta(hours=1)
NOW = datetime(2026, 1, 6)


def deploy(engine: Engine, **options) -> int:
    with session_scope(engine) as session:
        deployment = make_deployment(session, **options)
        deployment.created_at = DAY
        return deployment.id


def add_hours(
    engine: Engine, deployment_id: int, first: datetime, hours: int, rows: int, shift: float = 0.0
) -> None:
    """`hours` hourly windows from `first`, each of `rows` customers seeded by its hour."""
    for hour in range(hours):
        frame = churn_frame(rows, seed=hour, shift=shift)
        add_window(engine, deployment_id, first + hour * HOUR, frame, f"w{hour}")


def add_window(
    engine: Engine,
    deployment_id: int,
    start: datetime,
    frame: pd.DataFrame,
    prefix: str,
    labels: bool = False,
    features: list[str] | None = None,
) -> list[str]:
    """Predictions for `frame`'s rows spread over the hour from `start`; their request ids."""
    features = features or [*CHURN_NUMERICAL, *CHURN_CATEGORICAL]
    step = HOUR / (len(frame) + 1)
    rows, label_rows, ids = [], [], []
    for index, record in enumerate(frame.to_dict("records")):
        request_id = f"{prefix}-{index}"
        ids.append(request_id)
        rows.append(
            validate_prediction(
                {
                    "request_id": request_id,
                    "timestamp": (start + step * (index + 1)).isoformat(),
                    "features": {name: _plain(record[name]) for name in features},
                    "prediction": int(record["prediction"]),
                    "probability": float(record["probability"]),
                },
                SCHEMA,
            )
        )
        label_rows.append(
            validate_label({"request_id": request_id, "label": int(record["churned"])})
        )
    with engine.begin() as connection:
        insert_predictions(connection, deployment_id, rows)
        if labels:
            insert_labels(connection, deployment_id, label_rows)
    return ids


def add_labels(engine: Engine, deployment_id: int, pairs: list[tuple[str, object]]) -> None:
    with engine.begin() as connection:
        insert_labels(
            connection,
            deployment_id,
            [validate_label({"request_id": key, "label": value}) for key, value in pairs],
        )


def runs_of(engine: Engine, deployment_id: int) -> list[Run]:
    with session_scope(engine) as session:
        return list(
            session.scalars(
                select(Run)
                .where(Run.deployment_id == deployment_id)
                .order_by(Run.window_start, Run.kind, Run.seq)
            )
        )


def deployment_name(engine: Engine, deployment_id: int) -> str:
    with session_scope(engine) as session:
        return session.get(Deployment, deployment_id).name


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
