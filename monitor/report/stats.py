"""Evidently 0.7's drift statistics in NumPy and SciPy, step for step, so that a verdict
never imports Evidently (whose package pulls in the whole library). Each function mirrors
one of evidently.legacy.calculations.stattests and returns the same number, to 1e-12
(tests/monitor/test_stats.py holds them against Evidently's own functions); the reference
side can be prepared once per version (`ReferenceColumn`) and reused for every window.

Every function takes cleaned columns: no missing values, no infinities (drift.clean).
SciPy is imported only by the tests that need it (ks, chisquare, z, kl_div): the tests a
large reference gets (wasserstein, jensenshannon) are NumPy alone, so a verdict's process
never loads scipy.stats, which takes seconds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from math import log, sqrt

import numpy as np
import pandas as pd

BINNED_UNIQUE = 20  # above this many reference values a numerical column is histogrammed


@dataclass(frozen=True)
class ReferenceColumn:
    """One cleaned reference column as every statistic needs it, computed once per version."""

    values: pd.Series  # the cleaned reference (numerical: in any order, every use is a count)
    sorted: np.ndarray | None  # numerical: the values as float64, sorted
    norm: float | None  # numerical: max(np.std(reference), 0.001), as Evidently computes it
    unique: int  # distinct values
    # value -> rows, as Series.value_counts gives them (its order is the bins' order); None:
    # counted when first needed (a column of many numbers, where no test reads the order)
    known_counts: pd.Series | None = None

    @property
    def size(self) -> int:
        return len(self.values)

    @cached_property
    def counts(self) -> pd.Series:
        return self.known_counts if self.known_counts is not None else self.values.value_counts()


def prepare(values: pd.Series, numerical: bool) -> ReferenceColumn:
    counts = values.value_counts()
    if not numerical:
        return ReferenceColumn(values, None, None, len(counts), counts)
    return ReferenceColumn(
        values,
        np.sort(np.asarray(values, dtype=float)),
        max(float(np.std(values)), 0.001),
        len(counts),
        counts,
    )


def default_method(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> str:
    """The test Evidently 0.7 picks (stattests.registry._get_default_stattest), counting the
    distinct values of both columns only when the reference's own count does not settle it."""

    def distinct() -> int:
        if not categorical and reference.unique > 5:
            return reference.unique  # the union has at least as many: "more than 5" is known
        return int(pd.concat([reference.values, current]).nunique())

    if reference.size <= 1000:
        values = distinct()
        if not categorical and values > 5:
            return "ks"
        return "chisquare" if values > 2 else "z"
    if categorical:
        return "jensenshannon"
    return "wasserstein" if distinct() > 5 else "jensenshannon"


def _vecdot(x1: np.ndarray, x2: np.ndarray) -> float:
    # What scipy.stats.wasserstein_distance ends with (scipy._lib._util.np_vecdot).
    return float(np.vecdot(x1, x2) if hasattr(np, "vecdot") else np.sum(x1 * x2))


def wasserstein(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> float:
    """The normed Wasserstein distance: scipy's `_cdf_distance` with p=1 over the reference's
    std, with the reference side sorted once per version. Where scipy finds each side's CDF
    at every value by binary search, this counts it along one stable merge of the two
    sorted sides: the counts differ only inside runs of equal values, whose gaps are zero,
    so every term of the sum, and the sum, are the very same."""
    current_sorted = np.sort(np.asarray(current, dtype=float))
    both = np.concatenate((reference.sorted, current_sorted))
    order = np.argsort(both, kind="stable")  # one merge: both halves are sorted
    current_count = np.cumsum(order[:-1] >= reference.sorted.size)
    reference_count = np.arange(1, both.size) - current_count
    reference_cdf = reference_count / reference.sorted.size
    current_cdf = current_count / current_sorted.size
    deltas = np.diff(both[order])
    return _vecdot(np.abs(reference_cdf - current_cdf), deltas) / reference.norm


def ks(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> float:
    """The two-sample Kolmogorov-Smirnov test's p-value."""
    from scipy import stats

    return float(stats.ks_2samp(reference.values, current)[1])


def _aligned(reference: ReferenceColumn, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Rows per value of either column, the two aligned on the union of their values."""
    current_counts = current.value_counts()
    keys = reference.counts.index.union(current_counts.index, sort=False)
    return (
        reference.counts.reindex(keys, fill_value=0).to_numpy(dtype=float),
        current_counts.reindex(keys, fill_value=0).to_numpy(dtype=float),
    )


def chisquare(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> float:
    """Pearson's chi-square p-value of the window's counts against the reference's, scaled."""
    from scipy import stats

    reference_counts, current_counts = _aligned(reference, current)
    expected = reference_counts * (current.shape[0] / reference.size)
    return float(stats.chisquare(current_counts, expected)[1])


def z(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> float:
    """The two-proportion z-test's two-sided p-value, the proportion being of rows other than
    the smallest value (Evidently's `proportions_diff_z_test`)."""
    from scipy.special import ndtr  # what scipy.stats.norm.cdf computes, without scipy.stats

    current_counts = current.value_counts()
    if reference.unique == 1 and len(current_counts) == 1:
        if reference.counts.index[0] == current_counts.index[0]:
            return 1.0
    first = sorted(set(reference.counts.index) | set(current_counts.index))[0]
    n1, n2 = reference.size, len(current)
    p1 = float(n1 - int(reference.counts.get(first, 0))) / n1
    p2 = float(n2 - int(current_counts.get(first, 0))) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    statistic = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - ndtr(np.abs(statistic))))


def _fill_zeroes(percents: np.ndarray) -> None:
    smallest = min(percents[percents != 0])
    np.place(percents, percents == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)


def binned(
    reference: ReferenceColumn, current: pd.Series, categorical: bool, fill_zeroes: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Each column's share of rows per bin (Evidently's `get_binned_data`): Sturges bins over
    both columns for a numerical column of many values, else one bin per value."""
    if not categorical and reference.unique > BINNED_UNIQUE:
        combined = np.asarray(pd.concat([reference.values, current], axis=0).values)
        bins = np.histogram_bin_edges(combined, bins="sturges")
        reference_percents = np.histogram(reference.values, bins)[0] / reference.size
        current_percents = np.histogram(current, bins)[0] / len(current)
    else:
        reference_counts, current_counts = _aligned(reference, current)
        reference_percents = reference_counts / reference.size
        current_percents = current_counts / len(current)
    if fill_zeroes:
        _fill_zeroes(reference_percents)
        _fill_zeroes(current_percents)
    return reference_percents, current_percents


def _relative_entropy(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """scipy.special.rel_entr for shares p and m with m > 0 wherever p > 0: the same
    `x * log(x / y)` with the C library's log, per bin (there are few)."""
    return np.array([x * log(x / y) if x > 0 else 0.0 for x, y in zip(p, m, strict=True)])


def jensenshannon(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> float:
    """scipy.spatial.distance.jensenshannon(p, q) step for step, without importing SciPy."""
    p, q = binned(reference, current, categorical, False)
    p = p / np.sum(p, axis=0, keepdims=True)
    q = q / np.sum(q, axis=0, keepdims=True)
    m = (p + q) / 2.0
    left = np.sum(_relative_entropy(p, m), axis=0)
    right = np.sum(_relative_entropy(q, m), axis=0)
    return float(np.sqrt((left + right) / 2.0))


def psi(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> float:
    """The population stability index."""
    reference_percents, current_percents = binned(reference, current, categorical)
    terms = (reference_percents - current_percents) * np.log(reference_percents / current_percents)
    return float(np.sum(terms))


def kl_div(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> float:
    """The Kullback-Leibler divergence of the window from the reference."""
    from scipy import stats

    reference_percents, current_percents = binned(reference, current, categorical)
    return float(stats.entropy(reference_percents, current_percents))


def hellinger(reference: ReferenceColumn, current: pd.Series, categorical: bool) -> float:
    """The Hellinger distance: of the value shares for a categorical column, of Sturges
    density histograms over the distinct values for a numerical one."""
    if categorical:
        current_share = current.value_counts() / len(current)
        reference_share = reference.counts / reference.size
        keys = reference_share.index.intersection(current_share.index)
        overlap = sum(sqrt(float(reference_share[key]) * float(current_share[key])) for key in keys)
    else:
        keys = np.union1d(reference.counts.index.to_numpy(), current.unique())
        bins = np.histogram_bin_edges(keys, bins="sturges")
        h1 = np.histogram(reference.values.to_numpy(), bins=bins, density=True)[0]
        h2 = np.histogram(current.to_numpy(), bins=bins, density=True)[0]
        width = (max(bins) - min(bins)) / (len(bins) - 1)
        overlap = sum(sqrt(float(p1) * float(p2)) * width for p1, p2 in zip(h1, h2, strict=True))
    return sqrt(1 - float(np.clip(overlap, 0, 1)))


STATISTICS: dict[str, Callable[[ReferenceColumn, pd.Series, bool], float]] = {
    "wasserstein": wasserstein,
    "ks": ks,
    "chisquare": chisquare,
    "z": z,
    "jensenshannon": jensenshannon,
    "psi": psi,
    "kl_div": kl_div,
    "hellinger": hellinger,
}


def evidently_drifted(method: str, score: float, threshold: float) -> bool:
    """The verdict exactly as each Evidently test states it (ks alone counts a tie as drift)."""
    if method == "ks":
        return score <= threshold
    if method in ("chisquare", "z"):
        return score < threshold
    return score >= threshold
