"""Churn-like data made in code: examples, the demo and tests use it (nothing downloaded)."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERICAL = ["tenure", "charges"]
CATEGORICAL = ["plan", "region"]


def churn_frame(rows: int, seed: int = 0, shift: float = 0.0, signal: float = 1.0) -> pd.DataFrame:
    """Customers with a churn label; `shift` moves tenure and charges to simulate drift,
    and also changes how they relate to churn, so an old model gets worse. `signal` scales
    how strongly the features decide churn (at 1 a model barely beats the base rate)."""
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 12.0, rows) + shift * 20
    charges = rng.normal(70 + shift * 30, 20, rows)
    plan = rng.choice(["basic", "pro", "team"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["eu", "us", "apac"], rows)
    logit = -1.0 + signal * (
        -0.04 * tenure + 0.02 * (charges - 70) + (plan == "basic") * 0.8 + shift * 0.05 * tenure
    )
    probability = 1 / (1 + np.exp(-logit))
    churned = (rng.random(rows) < probability).astype(int)
    return pd.DataFrame(
        {
            "tenure": tenure.round(2),
            "charges": charges.round(2),
            "plan": plan,
            "region": region,
            "churned": churned,
        }
    )


def churn_pipeline():
    """The scikit-learn pipeline the examples and the demo deploy."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [
            ("numerical", StandardScaler(), NUMERICAL),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    return Pipeline([("columns", columns), ("classifier", LogisticRegression(max_iter=500))])


def scored(frame: pd.DataFrame, estimator) -> pd.DataFrame:
    """`frame` with the estimator's prediction and positive-class probability added."""
    result = frame.copy()
    features = frame[NUMERICAL + CATEGORICAL]
    result["prediction"] = estimator.predict(features).astype(int)
    result["probability"] = estimator.predict_proba(features)[:, 1].round(6)
    return result
