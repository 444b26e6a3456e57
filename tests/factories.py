"""Small builders for tests: a model, a version with a reference set, a deployment."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from monitor.demo.sample_data import CATEGORICAL, NUMERICAL
from monitor.demo.sample_data import churn_frame as customers
from monitor.registry.artifacts import sha256
from monitor.registry.reference import store_reference
from monitor.store.models import Deployment, Model, ModelVersion

CHURN_NUMERICAL = NUMERICAL
CHURN_CATEGORICAL = CATEGORICAL


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


def make_model(
    session: Session,
    name: str,
    reference: pd.DataFrame,
    numerical: list[str] = CHURN_NUMERICAL,
    categorical: list[str] = CHURN_CATEGORICAL,
    target: str = "churned",
    artifact: bytes = b"test",
    retrain: dict | None = None,
) -> ModelVersion:
    """A classification model with version 1 (a placeholder artifact unless one is given)
    and its reference set."""
    model = Model(
        name=name,
        task="classification",
        target=target,
        prediction="prediction",
        probability="probability",
        numerical=numerical,
        categorical=categorical,
        retrain=retrain or {},
    )
    session.add(model)
    session.flush()
    version = ModelVersion(
        model_id=model.id, version=1, artifact=artifact, sha256=sha256(artifact), status="champion"
    )
    session.add(version)
    session.flush()
    store_reference(session, version, reference)
    return version


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
    deployment = Deployment(
        name=name,
        model_id=version.model_id,
        mode=mode,
        active_version_id=version.id,
        window_seconds=window_seconds,
        settle_seconds=0,
        min_rows=min_rows,
        max_rows=max_rows,
        policy=policy or {},
    )
    session.add(deployment)
    session.flush()
    return deployment
