"""A version's compute, measured: its predict timed on a sample of its reference set.

Measured once per version and stored with it (`model_versions.compute`), on the machine
that measured it (`cores` says how many it had), because the advice must rest on the
model's real cost rather than a guess: a deep ensemble and a logistic regression differ
by orders of magnitude.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from statistics import median
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from monitor.registry.artifacts import load_artifact
from monitor.registry.reference import load_reference
from monitor.store.models import Model, ModelVersion
from monitor.timeutil import iso, utcnow

BATCH_ROWS = 2_000  # rows per timed batch predict: large enough to amortise the call
REPEATS = 5
BUDGET_SECONDS = 1.0  # warm timings stop repeating once this is spent


def version_compute(
    session: Session, model: Model, version: ModelVersion, request_rows: int = 1
) -> dict[str, Any]:
    """The version's stored timings, measured first if it has none."""
    if not version.compute:
        version.compute = measure(model, version, load_reference(session, version.id), request_rows)
    return version.compute


def measure(
    model: Model, version: ModelVersion, reference: pd.DataFrame, request_rows: int = 1
) -> dict[str, Any]:
    """Seconds to load the artifact, to answer one request of `request_rows` rows cold and
    warm, and per row when predicting in batches."""
    started = time.perf_counter()
    estimator = load_artifact(version.artifact)
    load_seconds = time.perf_counter() - started
    predict = _predict_function(estimator, model.task)
    features = reference[model.features]
    request = _rows(features, max(int(request_rows), 1))
    batch = _rows(features, BATCH_ROWS)
    cold = _time(predict, request)
    warm = _median_time(predict, request)
    per_batch = _median_time(predict, batch)
    return {
        "load_seconds": load_seconds,
        "request_rows": len(request),
        "cold_request_seconds": cold,
        "warm_request_seconds": warm,
        "batch_rows": len(batch),
        "per_row_seconds": per_batch / len(batch),
        "cores": os.cpu_count() or 1,
        "measured_at": iso(utcnow()),
    }


def _predict_function(estimator: Any, task: str) -> Callable[[pd.DataFrame], Any]:
    # Real-time serving asks classifiers for probabilities: time what it really calls.
    if task == "classification" and hasattr(estimator, "predict_proba"):
        return estimator.predict_proba
    return estimator.predict


def _rows(features: pd.DataFrame, count: int) -> pd.DataFrame:
    """`count` rows of the reference, repeating it when it is shorter."""
    if len(features) >= count:
        return features.iloc[:count]
    repeats = -(-count // len(features))
    return pd.concat([features] * repeats, ignore_index=True).iloc[:count]


def _time(predict: Callable[[pd.DataFrame], Any], rows: pd.DataFrame) -> float:
    started = time.perf_counter()
    predict(rows)
    return time.perf_counter() - started


def _median_time(predict: Callable[[pd.DataFrame], Any], rows: pd.DataFrame) -> float:
    timings: list[float] = []
    deadline = time.perf_counter() + BUDGET_SECONDS
    while len(timings) < REPEATS and (not timings or time.perf_counter() < deadline):
        timings.append(_time(predict, rows))
    return median(timings)
