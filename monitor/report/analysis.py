"""One window compared with its reference: drift, data quality, realized and estimated
performance. Every number the policy reads comes from here."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cache

import pandas as pd

from monitor.report.drift import ColumnDrift, column_drift
from monitor.report.estimate import Estimate, estimate_multiclass, estimate_performance
from monitor.report.loss_estimate import estimate_loss
from monitor.report.performance import class_results, realized_performance
from monitor.report.profile import Reference, class_columns
from monitor.report.quality import data_quality
from monitor.store.models import Model

THREADS = min(4, os.cpu_count() or 1)
UNAVAILABLE = "no predictions in this window (its sources log inputs only)"


@dataclass
class Analysis:
    features: dict[str, dict]
    drift_share: float | None
    prediction_drift: dict | None
    quality: dict
    performance: dict
    estimated_performance: dict
    labeled_rows: int
    warnings: list[str] = field(default_factory=list)
    classes: dict | None = None  # per-class results and the confusion matrix


def analyse(model: Model, reference: Reference, current: pd.DataFrame, min_labels: int) -> Analysis:
    """Compare `current` (features, prediction, probability, target) with `reference`."""
    warnings: list[str] = []
    features = {}
    # numpy and scipy sort without the GIL: two threads halve the drift tests' time.
    with _one_blas_thread(), ThreadPoolExecutor(max_workers=THREADS) as pool:
        drifts = list(
            pool.map(
                lambda name: _drift(reference, current, name, name in model.categorical),
                model.features,
            )
        )
    for name, drift in zip(model.features, drifts, strict=True):
        if drift.error:
            warnings.append(f"{name}: drift not computed: {drift.error}")
        features[name] = drift.as_dict()
    scored = [entry for entry in features.values() if "score" in entry]
    drift_share = sum(entry["drifted"] for entry in scored) / len(scored) if scored else None
    predicted = bool(model.prediction in current and current[model.prediction].notna().any())
    if predicted or current.empty:
        prediction = _drift(
            reference, current, model.prediction, model.task == "classification"
        ).as_dict() | {"column": model.prediction}
    else:
        # Inputs-only sources (`outputs = false`): nothing to compare, and that is no error.
        prediction = {"column": model.prediction, "drifted": False, "unavailable": UNAVAILABLE}
        warnings.append(f"prediction drift and performance unavailable: {UNAVAILABLE}")
    quality, quality_warnings = data_quality(current, reference.profile)
    warnings.extend(quality_warnings)
    labeled = current.dropna(subset=[model.target]) if model.target in current else current[:0]
    performance, estimated, per_class = {}, {}, None
    classes = reference.profile.get("classes")
    # Labels without predictions measure nothing (inputs-only sources).
    if predicted and len(labeled) >= max(min_labels, 1):
        probability = labeled[model.probability] if model.probability in labeled else None
        columns = class_columns(model, classes or [])
        realized = realized_performance(
            labeled[model.target],
            labeled[model.prediction],
            probability,
            classes if model.task == "classification" else None,
            labeled[columns] if columns and set(columns) <= set(labeled.columns) else None,
        )
        performance = realized.metrics
        warnings.extend(realized.warnings)
        if model.task == "classification" and classes:
            per_class = class_results(labeled[model.target], labeled[model.prediction], classes)
    elif predicted and len(labeled):
        warnings.append(f"{len(labeled)} labeled rows, fewer than {min_labels}: no performance")
    if predicted:
        estimate = _estimate(model, reference, current)
        estimated = estimate.metrics
        if not performance or not estimated:
            warnings.extend(estimate.warnings)
    return Analysis(
        features=features,
        drift_share=drift_share,
        prediction_drift=prediction,
        quality=quality,
        performance=performance,
        estimated_performance=estimated,
        labeled_rows=len(labeled),
        warnings=warnings,
        classes=per_class,
    )


@cache
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread() -> AbstractContextManager:
    """One BLAS thread for the drift tests' sums: beside the test threads, a BLAS pool
    waking on a busy machine costs milliseconds per sum that takes microseconds alone."""
    return _blas().limit(limits=1, user_api="blas")


def _estimate(model: Model, reference: Reference, current: pd.DataFrame) -> Estimate:
    """The label-free estimate of the window's performance, or the reason there is none."""
    if model.task == "regression":
        if reference.loss_model is None:
            return Estimate({}, [f"no estimated performance: {reference.loss_problem}"])
        return estimate_loss(reference.loss_model, current)
    classes = reference.profile.get("classes")
    if not classes:
        return Estimate({}, ["no estimated performance: the reference set has no labels"])
    if len(classes) > 2:
        return _estimate_multiclass(model, reference, current, classes)
    if not model.probability:
        return Estimate({}, ["no estimated performance: the model declares no probability column"])
    if model.probability not in current or current[model.probability].isna().all():
        return Estimate({}, ["no estimated performance: no probabilities logged in this window"])
    if len(classes) != 2:
        return Estimate({}, ["no estimated performance: a single class in the reference"])
    return estimate_performance(
        current[model.prediction],
        current[model.probability],
        classes,
        reference.profile.get("calibration"),
    )


def _estimate_multiclass(
    model: Model, reference: Reference, current: pd.DataFrame, classes: list
) -> Estimate:
    columns = class_columns(model, classes)
    if columns is None:
        return Estimate(
            {},
            [
                f"no estimated performance: {len(classes)} classes need a probability column "
                'per class (`probabilities = { class = "column" }`)'
            ],
        )
    if not set(columns) <= set(current.columns) or current[columns].isna().all().all():
        return Estimate({}, ["no estimated performance: no class probabilities logged"])
    return estimate_multiclass(
        current[model.prediction],
        current[columns],
        classes,
        reference.profile.get("class_calibration"),
    )


def _drift(
    reference: Reference, current: pd.DataFrame, name: str, categorical: bool
) -> ColumnDrift:
    if name not in reference.columns:
        return ColumnDrift(None, None, None, False, "missing from the reference set")
    if name not in current.columns:
        return ColumnDrift(None, None, None, False, "missing from this window")
    return column_drift(reference.columns[name], current[name], categorical)
