"""Small builders for tests: a model, a version with a reference set, a deployment."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from monitor.registry.reference import store_reference
from monitor.store.models import Deployment, Model, ModelVersion

CHURN_NUMERICAL = ["tenure", "charges"]
CHURN_CATEGORICAL = ["plan", "region"]


def churn_frame(rows: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Churn-like data; `shift` moves tenure and charges to simulate drift."""
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 12.0, rows) + shift * 20
    charges = rng.normal(70 + shift * 30, 20, rows)
    plan = rng.choice(["basic", "pro", "team"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["eu", "us", "apac"], rows)
    logit = -1.0 - 0.04 * tenure + 0.02 * (charges - 70) + (plan == "basic") * 0.8
    probability = 1 / (1 + np.exp(-logit))
    churned = (rng.random(rows) < probability).astype(int)
    return pd.DataFrame(
        {
            "tenure": tenure.round(2),
            "charges": charges.round(2),
            "plan": plan,
            "region": region,
            "churned": churned,
            "prediction": (probability > 0.5).astype(int),
            "probability": probability.round(4),
        }
    )


def make_deployment(
    session: Session,
    name: str = "churn-online",
    reference: pd.DataFrame | None = None,
    mode: str = "realtime",
    window_seconds: int = 3600,
    policy: dict | None = None,
    min_rows: int = 50,
    max_rows: int = 50000,
) -> Deployment:
    """A churn model with version 1 (placeholder artifact) and a deployment serving it."""
    model = Model(
        name=f"{name}-model",
        task="classification",
        target="churned",
        prediction="prediction",
        probability="probability",
        numerical=CHURN_NUMERICAL,
        categorical=CHURN_CATEGORICAL,
        retrain={},
    )
    session.add(model)
    session.flush()
    version = ModelVersion(
        model_id=model.id, version=1, artifact=b"test", sha256="0" * 64, status="champion"
    )
    session.add(version)
    session.flush()
    store_reference(session, version, churn_frame(2000) if reference is None else reference)
    deployment = Deployment(
        name=name,
        model_id=model.id,
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
