"""Row metrics (ROC AUC, MAE, RMSE, MAPE, R²) of many bootstrap resamples at once.

A resample is a weight per holdout row, the number of times the row is drawn: Poisson(1),
independently per row (the Poisson bootstrap: Hanley & MacGibbon 2006; Chamandy et al.
2012). Resampling n rows with replacement gives multinomial counts instead; the intervals
agree within sampling noise (tests/retrain/test_bootstrap.py) and the Poisson weights cost a
quarter as much: 16 random bits and a few vectorised comparisons per row, about 0.2 s of CPU
per 10**8 weights measured here, where drawing bounded row indices and counting them with
`np.bincount` cost about 0.8 s. Every metric here is a ratio of weighted sums, so a
resample's metric is the metric of its rows repeated `weight` times, exactly (same tests).

Weights come `CHUNK_CELLS` (rows × resamples) at a time, so memory stays bounded at any
holdout size. Paired resamples apply one weight matrix to both versions.

ROC AUC (one binary problem, or one per class for a multiclass macro average) sorts its
scores once into segments of one class (`rank_plan`); a resample is then one sparse product
of the weights into segment sums, in uint16 while a segment cannot reach 2**16 (half the
bytes of float32 to read, the cost that dominates), a running total of the negatives and
one dot product, every number an integer summed exactly. Most of the rest is the draw.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import sparse
from threadpoolctl import ThreadpoolController

CHUNK_CELLS = 1 << 21  # weights used at a time (rows × resamples): tens of MB at most
DRAW_CELLS = 1 << 19  # weights drawn at a time: the bits and their comparisons stay in cache
# Poisson(1) cumulative probabilities in steps of 2**-16: a weight is the number of
# thresholds its 16 random bits reach. Mean 1, variance 0.99997, no probability off by
# more than 1.2e-5, weights 0 to 8.
THRESHOLDS = tuple(
    int(round(sum(math.exp(-1) / math.factorial(j) for j in range(k + 1)) * 65536))
    for k in range(8)
)
MAX_WEIGHT = len(THRESHOLDS)
NARROW_ROWS = ((1 << 16) - 1) // MAX_WEIGHT  # rows whose weights always sum below 2**16


def weight_chunks(rng: np.random.Generator, rows: int, resamples: int) -> Iterator[np.ndarray]:
    """Poisson(1) weights, shape (rows, resamples in this chunk), a chunk at a time."""
    per_chunk = max(1, CHUNK_CELLS // max(rows, 1))
    for start in range(0, resamples, per_chunk):
        yield poisson_weights(rng, rows, min(per_chunk, resamples - start))


def poisson_weights(rng: np.random.Generator, rows: int, resamples: int) -> np.ndarray:
    weights = np.empty((rows, resamples), np.uint8)
    step = max(1, DRAW_CELLS // max(resamples, 1))
    for start in range(0, rows, step):
        _draw(rng, weights[start : start + step])
    return weights


def _draw(rng: np.random.Generator, weights: np.ndarray) -> None:
    cells = weights.size
    bits = rng.bit_generator.random_raw(-(-cells // 4)).view(np.uint16)[:cells]
    bits = bits.reshape(weights.shape)
    reached = np.empty(weights.shape, np.uint8)
    np.greater_equal(bits, THRESHOLDS[0], out=weights.view(bool))
    for threshold in THRESHOLDS[1:]:
        np.greater_equal(bits, threshold, out=reached.view(bool))
        np.add(weights, reached, out=weights)  # uint8 + uint8: no cast from bool on the way


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager:
    """One BLAS thread for the weighted sums: a thread pool spinning on a busy machine costs
    more than it saves on these shapes (several times the single-thread time, measured)."""
    return _blas().limit(limits=1, user_api="blas")


@dataclass(frozen=True)
class RankPlan:
    """One binary problem's holdout in score order, cut into segments of one class each, so a
    resample's ROC AUC needs only each segment's total weight.

    Segments alternate negatives, positives (`pairs` of each, some empty); a tie group that
    holds both classes is cut into its positives and then its negatives, the `tied` pairs,
    whose positives meet the next pair's negatives at half a win each. Pair i sits at row
    `_pair_rows(i)` of each half, so that `running_total` adds long contiguous rows."""

    segments: sparse.csr_matrix  # (2 × pairs, rows): a row's weight into its segment
    pairs: int  # slabs × block, the last ones empty
    block: int
    tied: np.ndarray  # rows of the tied pairs' positives
    tied_next: np.ndarray  # rows of the negatives of the pair after each


def exact_dtype(rows: int) -> type:
    """float32 holds every sum of `rows` weights exactly below 2**24, at half float64's cost."""
    return np.float32 if rows * MAX_WEIGHT < 1 << 24 else np.float64


def rank_plan(positive: np.ndarray, score: np.ndarray) -> RankPlan:
    order = np.lexsort((~positive, score))  # by score, positives first within a tie
    ranked, positive = score[order], positive[order]
    group_start = np.r_[True, ranked[1:] != ranked[:-1]]
    group = np.cumsum(group_start) - 1
    positives_in, sizes = np.bincount(group, weights=positive), np.bincount(group)
    mixed = ((positives_in > 0) & (positives_in < sizes))[group]
    starts = np.r_[True, positive[1:] != positive[:-1]]
    starts |= group_start & (mixed | np.r_[False, mixed[:-1]])
    starts |= _cut(starts) & ~mixed
    is_positive = positive[starts]
    # Slot 2i holds pair i's negatives, 2i+1 its positives; a class repeating skips a slot.
    step = np.where(np.r_[True, is_positive[1:] != is_positive[:-1]], 1, 2)
    step[0] = int(is_positive[0])
    slot = np.cumsum(step)
    used = int(slot[-1]) // 2 + 1
    block = math.isqrt(used // 16) + 1  # few slabs' steps, and few slabs to add up after
    slabs = -(-used // block)
    pairs = slabs * block
    segment_row = _pair_rows(slot // 2, block, slabs) + pairs * (slot % 2)
    longest = int(np.diff(np.r_[np.flatnonzero(starts), len(order)]).max())
    segments = sparse.csr_matrix(
        (
            np.ones(len(order), _sum_dtype(len(order), longest)),
            (segment_row[np.cumsum(starts) - 1], order),
        ),
        shape=(2 * pairs, len(order)),
    )
    tied = slot[is_positive & mixed[starts]] // 2
    return RankPlan(
        segments, pairs, block, _pair_rows(tied, block, slabs), _pair_rows(tied + 1, block, slabs)
    )


def _cut(starts: np.ndarray) -> np.ndarray:
    """Where to cut segments so that none is longer than NARROW_ROWS (a run of one class
    cut in pieces scores the same; a tie group's halves are not cut)."""
    first = np.flatnonzero(starts)
    offset = np.arange(len(starts)) - first[np.cumsum(starts) - 1]
    return (offset > 0) & (offset % NARROW_ROWS == 0)


def _sum_dtype(rows: int, longest: int) -> type:
    """What drawn weights are summed in: uint16 (half float32's bytes to read, the cost here)
    while no segment can reach 2**16, which only a tie group can."""
    return np.uint16 if longest <= NARROW_ROWS else exact_dtype(rows)


def _pair_rows(pairs: np.ndarray, block: int, slabs: int) -> np.ndarray:
    """Pair i of slab i // block sits at row (i % block) × slabs + i // block: each row of
    `running_total`'s steps holds one pair of every slab."""
    return (pairs % block) * slabs + pairs // block


def roc_aucs(plans: list[RankPlan], weights: np.ndarray) -> list[np.ndarray]:
    """Each plan's weighted Mann–Whitney ROC AUC of each weight column (ties count half);
    NaN for a resample without both classes. Drawn weights (uint8, at most MAX_WEIGHT) are
    summed exactly in each plan's dtype, cast once for all the plans that share it; others
    in float64. Every sum and product is an integer."""
    cast: dict[type, np.ndarray] = {}
    aucs = []
    for plan in plans:
        dtype = plan.segments.dtype.type if weights.dtype == np.uint8 else np.float64
        if dtype not in cast:
            cast[dtype] = weights.astype(dtype)
        aucs.append(_roc_auc(plan, cast[dtype]))
    return aucs


def _roc_auc(plan: RankPlan, weights: np.ndarray) -> np.ndarray:
    sums = plan.segments @ weights
    if sums.dtype == np.uint16:
        sums = sums.astype(exact_dtype(len(weights)))
    negatives, positives = sums[: plan.pairs], sums[plan.pairs :]
    ties = np.einsum("ij,ij->j", positives[plan.tied], negatives[plan.tied_next], dtype=np.float64)
    below = running_total(negatives, plan.block)
    wins = np.einsum("ij,ij->j", positives, below, dtype=np.float64)
    pairs = (np.ones(plan.pairs, positives.dtype) @ positives).astype(np.float64) * below[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (wins + ties / 2) / pairs, np.nan)


def running_total(negatives: np.ndarray, block: int) -> np.ndarray:
    """Each pair's negatives and all before it, in place (pairs laid out by `_pair_rows`).
    NumPy's cumsum down the rows is a strided loop over single numbers; here each step adds
    one long row: down the `block` positions of every slab at once, then each slab gets the
    slabs' totals before it."""
    steps = negatives.reshape(block, -1)
    for k in range(1, block):
        np.add(steps[k], steps[k - 1], out=steps[k])
    totals = steps[-1].reshape(-1, negatives.shape[1])
    steps += (np.cumsum(totals, axis=0) - totals).reshape(1, -1)
    return negatives


def moments(metric: str, truth: np.ndarray, predictions: list[np.ndarray]) -> np.ndarray:
    """What a regression metric sums over rows, one row of this matrix each: the count, the
    truth (centred, for R²'s total sum of squares without cancellation), each version's
    errors."""
    truth = truth.astype(float)
    centred = truth - truth.mean()
    rows = [np.ones_like(truth)] + ([centred, centred**2] if metric == "r2" else [])
    for prediction in predictions:
        error = prediction.astype(float) - truth
        if metric == "mae":
            rows.append(np.abs(error))
        elif metric == "mape":  # as scikit-learn: |error| / max(|truth|, eps)
            rows.append(np.abs(error) / np.maximum(np.abs(truth), np.finfo(float).eps))
        else:
            rows.append(error**2)
    return np.stack(rows)


def weighted_sums(moments_: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return moments_ @ weights.astype(np.float64)


def regression_scores(metric: str, sums: np.ndarray) -> list[np.ndarray]:
    """Each version's metric per resample from `weighted_sums` of `moments`."""
    count, versions = sums[0], sums[3:] if metric == "r2" else sums[1:]
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of no rows is NaN
        if metric == "r2":
            total = sums[2] - sums[1] ** 2 / count
            return [np.where(total > 1e-12 * count, 1 - s / total, np.nan) for s in versions]
        if metric == "rmse":
            return [np.sqrt(s / count) for s in versions]
        return [s / count for s in versions]
