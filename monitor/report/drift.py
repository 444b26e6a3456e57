"""Per-column drift with Evidently's own stat tests: the same method Evidently would pick
and the same value it would return on the same two columns (see
evidently.legacy.calculations.data_drift.get_one_column_drift, which this mirrors)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from evidently.legacy.calculations import stattests
from evidently.legacy.core import ColumnType

# Methods whose score is a p-value: drift means a score *below* the threshold.
P_VALUE_METHODS = frozenset(
    {"ks", "chisquare", "z", "anderson", "cramer_von_mises", "es", "fisher_exact", "g_test"}
    | {"mannw", "t_test"}
)


@dataclass(frozen=True)
class SortedReference:
    """A numerical reference column prepared once per version for Wasserstein distances."""

    values: np.ndarray  # the cleaned reference, sorted, as float64
    norm: float  # max(np.std(reference), 0.001), exactly as Evidently computes it


def prepare_numerical(reference: pd.Series) -> SortedReference:
    values = np.sort(np.asarray(reference, dtype=float))
    return SortedReference(values=values, norm=max(float(np.std(reference)), 0.001))


def _vecdot(x1: np.ndarray, x2: np.ndarray) -> float:
    # What scipy.stats.wasserstein_distance ends with (scipy._lib._util.np_vecdot).
    return float(np.vecdot(x1, x2) if hasattr(np, "vecdot") else np.sum(x1 * x2))


def wasserstein_normed(reference: SortedReference, current: pd.Series) -> float:
    """Evidently's normed Wasserstein distance (scipy's `_cdf_distance` with p=1, divided by
    the reference's std), step for step, with the reference side sorted once per version."""
    current_sorted = np.sort(np.asarray(current, dtype=float))
    all_values = np.concatenate((reference.values, current_sorted))
    all_values.sort(kind="mergesort")
    deltas = np.diff(all_values)
    reference_cdf = reference.values.searchsorted(all_values[:-1], "right") / reference.values.size
    current_cdf = current_sorted.searchsorted(all_values[:-1], "right") / current_sorted.size
    return _vecdot(np.abs(reference_cdf - current_cdf), deltas) / reference.norm


@dataclass(frozen=True)
class ColumnDrift:
    score: float | None
    method: str | None
    threshold: float | None
    drifted: bool
    error: str | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def is_drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's verdict for `score` against `threshold` with `method`."""
    if method in P_VALUE_METHODS:
        return score < threshold
    return score >= threshold


def clean(column: pd.Series) -> pd.Series:
    """What Evidently compares: infinities are missing values and missing values are dropped."""
    if pd.api.types.is_numeric_dtype(column):
        column = column.replace([-np.inf, np.inf], np.nan)
    return column.dropna()


def default_stattest(
    reference: pd.Series, current: pd.Series, categorical: bool, reference_unique: int | None = None
):
    """The test Evidently 0.7 picks by default (stattests.registry._get_default_stattest),
    without counting the union's distinct values when the reference's count settles it."""

    def distinct() -> int:
        if not categorical and reference_unique is not None and reference_unique > 5:
            return reference_unique  # the union has at least as many: "more than 5" is known
        return int(pd.concat([reference, current]).nunique())

    if len(reference) <= 1000:
        values = distinct()
        if not categorical and values > 5:
            return stattests.ks_stat_test
        return stattests.chi_stat_test if values > 2 else stattests.z_stat_test
    if categorical:
        return stattests.jensenshannon_stat_test
    return stattests.wasserstein_stat_test if distinct() > 5 else stattests.jensenshannon_stat_test


def column_drift(
    reference: pd.Series,
    current: pd.Series,
    categorical: bool,
    cleaned_reference: bool = False,
    reference_unique: int | None = None,
    prepared: SortedReference | None = None,
) -> ColumnDrift:
    """Evidently's drift score for one column; an unusable column gives `error`, not an exception.
    `reference_unique` (distinct values of the cleaned reference) spares recounting them, and
    `prepared` (the sorted reference) spares sorting it again for a Wasserstein distance."""
    column_type = ColumnType.Categorical if categorical else ColumnType.Numerical
    reference = reference if cleaned_reference else clean(reference)
    current = clean(current)
    if reference.empty:
        return ColumnDrift(None, None, None, False, "no values in the reference")
    if current.empty:
        return ColumnDrift(None, None, None, False, "no values in this window")
    if not categorical and not (
        pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(current)
    ):
        return ColumnDrift(None, None, None, False, "numerical feature holds non-numbers")
    try:
        stattest = default_stattest(reference, current, categorical, reference_unique)
        if prepared is not None and stattest is stattests.wasserstein_stat_test:
            threshold = stattest.default_threshold
            score = wasserstein_normed(prepared, current)
            return ColumnDrift(score, stattest.name, threshold, bool(score >= threshold))
        result = stattest(reference, current, column_type, None)
    except (ValueError, TypeError, ZeroDivisionError) as error:
        return ColumnDrift(None, None, None, False, f"drift test failed: {error}")
    score = float(result.drift_score)
    if not np.isfinite(score):
        return ColumnDrift(
            None, stattest.name, result.actual_threshold, False, "score is not finite"
        )
    return ColumnDrift(score, stattest.name, float(result.actual_threshold), bool(result.drifted))
