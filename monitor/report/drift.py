"""Per-column drift as Evidently computes it: the same method Evidently would pick and the
same value it would return on the same two columns (see
evidently.legacy.calculations.data_drift.get_one_column_drift, which this mirrors), computed
by monitor.report.stats so that a verdict never imports Evidently."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from monitor.report import stats
from monitor.report.methods import DEFAULT_THRESHOLDS, P_VALUE_METHODS, is_drifted
from monitor.report.stats import ReferenceColumn

__all__ = ["P_VALUE_METHODS", "ColumnDrift", "clean", "column_drift", "is_drifted"]


@dataclass(frozen=True)
class ColumnDrift:
    score: float | None
    method: str | None
    threshold: float | None
    drifted: bool
    error: str | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def clean(column: pd.Series) -> pd.Series:
    """What Evidently compares: infinities are missing values and missing values are dropped."""
    if pd.api.types.is_numeric_dtype(column):
        column = column.replace([-np.inf, np.inf], np.nan)
    return column.dropna()


def prepare(reference: pd.Series, categorical: bool) -> ReferenceColumn:
    """A cleaned reference column prepared for every statistic (sorted, counted)."""
    return stats.prepare(reference, not categorical and pd.api.types.is_numeric_dtype(reference))


def column_drift(
    reference: pd.Series | ReferenceColumn, current: pd.Series, categorical: bool
) -> ColumnDrift:
    """Evidently's drift score for one column; an unusable column gives `error`, not an
    exception. `reference` is either a raw column or one prepared once per version."""
    if not isinstance(reference, ReferenceColumn):
        reference = prepare(clean(reference), categorical)
    current = clean(current)
    if reference.size == 0:
        return ColumnDrift(None, None, None, False, "no values in the reference")
    if current.empty:
        return ColumnDrift(None, None, None, False, "no values in this window")
    if not categorical and not (
        reference.sorted is not None and pd.api.types.is_numeric_dtype(current)
    ):
        return ColumnDrift(None, None, None, False, "numerical feature holds non-numbers")
    try:
        method = stats.default_method(reference, current, categorical)
        score = stats.STATISTICS[method](reference, current, categorical)
    except (ValueError, TypeError, ZeroDivisionError) as error:
        return ColumnDrift(None, None, None, False, f"drift test failed: {error}")
    threshold = DEFAULT_THRESHOLDS[method]
    if not np.isfinite(score):
        return ColumnDrift(None, method, threshold, False, "score is not finite")
    return ColumnDrift(score, method, threshold, stats.evidently_drifted(method, score, threshold))
