"""A bootstrap confidence interval of a challenger's improvement on one metric.

Paired (champion and challenger scored on the same holdout, so each resample takes the same
rows for both) or independent (a canary: each version has its own labeled results). The
interval is the percentile interval of the improvement over `resamples` resamples drawn with
a seeded generator.

Label metrics (accuracy, precision, recall, F1) depend only on how many rows fall in each
(truth, prediction) cell, so their resamples are drawn as multinomial cell counts: the same
distribution as resampling rows, at a cost independent of the row count. ROC AUC, RMSE, MAE,
MAPE and R² weigh every row by a Poisson(1) draw and compute each resample's metric from
weighted sums (`retrain/resample.py`), 1,000 resamples of 100,000 rows in well under a
second. A multiclass ROC AUC (class probabilities given) is the macro average of each
class against the rest over the classes a resample holds, as the monitor's realized one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from retrain.resample import (
    RankPlan,
    moments,
    one_blas_thread,
    rank_plan,
    regression_scores,
    roc_aucs,
    weight_chunks,
    weighted_sums,
)

LABEL_METRICS = {"accuracy", "precision", "recall", "f1"}
ROW_METRICS = {"roc_auc", "rmse", "mae", "r2", "mape"}
LOWER_IS_BETTER = {"rmse", "mae", "mape"}


@dataclass(frozen=True)
class Side:
    """One version's labeled results: truth, predictions, and what ROC AUC ranks by: the
    positive class's probability (binary), or one column per class of `classes`
    (multiclass: macro one-vs-rest, classes matched to the truth by their text)."""

    truth: np.ndarray
    prediction: np.ndarray
    probability: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    classes: tuple = ()


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    confidence: float
    resamples: int
    seed: int

    def as_list(self) -> list[float | None]:
        return [self.low, self.high]


def improvement_interval(
    metric: str,
    champion: Side,
    challenger: Side,
    confidence: float,
    resamples: int,
    seed: int,
    paired: bool = True,
) -> Interval:
    """The interval of the challenger's improvement: paired, both scored on the same rows
    (each resample takes the same rows for both), or not (a canary: each side resampled on
    its own rows)."""
    rng = np.random.default_rng(seed)
    if paired:
        scores = _paired_scores(metric, champion, challenger, rng, resamples)
    else:
        labels = _labels(champion, challenger) if metric in LABEL_METRICS else []
        scores = [_scores(metric, side, labels, rng, resamples) for side in (champion, challenger)]
    return _percentiles(metric, *scores, confidence, resamples, seed)


def _paired_scores(
    metric: str, champion: Side, challenger: Side, rng: np.random.Generator, resamples: int
) -> list[np.ndarray]:
    if metric not in LABEL_METRICS:
        return _row_resamples(metric, [champion, challenger], rng, resamples)
    labels = _labels(champion, challenger)
    k = len(labels)
    truth = _codes(champion.truth, labels) * k
    cells = [truth + _codes(side.prediction, labels) for side in (champion, challenger)]
    seen, counts = _resampled_cells(cells[0] * k * k + cells[1], rng, resamples)
    return [
        _label_metric(metric, _confusions(counts, cell, k))
        for cell in (seen // (k * k), seen % (k * k))
    ]


def _scores(
    metric: str, side: Side, labels: list, rng: np.random.Generator, resamples: int
) -> np.ndarray:
    if metric not in LABEL_METRICS:
        return _row_resamples(metric, [side], rng, resamples)[0]
    k = len(labels)
    cells = _codes(side.truth, labels) * k + _codes(side.prediction, labels)
    seen, counts = _resampled_cells(cells, rng, resamples)
    return _label_metric(metric, _confusions(counts, seen, k))


def weighted_score(metric: str, side: Side, weights: np.ndarray) -> np.ndarray:
    """`metric` of `side` with row i counted `weights[i, r]` times, for each column r: what
    the intervals compute per resample, exposed so it can be checked against scikit-learn
    on the rows repeated."""
    if metric not in LABEL_METRICS:
        return _row_scorer(metric, [side])(weights)[0]
    labels = _labels(side)
    k = len(labels)
    cells = _codes(side.truth, labels) * k + _codes(side.prediction, labels)
    return _label_metric(metric, _confusions(weights.T, cells, k))


def _percentiles(
    metric: str,
    champion: np.ndarray,
    challenger: np.ndarray,
    confidence: float,
    resamples: int,
    seed: int,
) -> Interval:
    gain = champion - challenger if metric in LOWER_IS_BETTER else challenger - champion
    gain = gain[np.isfinite(gain)]
    if not len(gain):
        return Interval(None, None, confidence, resamples, seed)
    tail = (1 - confidence) / 2
    low, high = np.quantile(gain, [tail, 1 - tail])
    return Interval(float(low), float(high), confidence, resamples, seed)


# Label metrics: multinomial cell counts.


def _labels(*sides: Side) -> list:
    values: set = set()
    for side in sides:
        values |= set(side.truth.tolist()) | set(side.prediction.tolist())
    return sorted(values, key=str)


def _codes(values: np.ndarray, labels: list) -> np.ndarray:
    position = {label: n for n, label in enumerate(labels)}
    return np.fromiter((position[value] for value in values.tolist()), int, len(values))


def _resampled_cells(codes: np.ndarray, rng: np.random.Generator, resamples: int):
    """The cells that hold rows, and their counts in each resample (resamples × cells):
    only those, so many classes (k**3 paired cells) cost no more than the rows they have."""
    seen, inverse = np.unique(codes, return_inverse=True)
    observed = np.bincount(inverse.ravel(), minlength=len(seen))
    return seen, rng.multinomial(len(codes), observed / observed.sum(), size=resamples)


def _confusions(counts: np.ndarray, cells: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrices (resamples, truth, prediction) from counts (resamples × columns)
    of columns falling in confusion cells `cells` (truth * k + prediction)."""
    into = sparse.csr_matrix(
        (np.ones(len(cells)), (cells, np.arange(len(cells)))), shape=(k * k, len(cells))
    )
    return np.asarray((into @ counts.T).T).reshape(-1, k, k)


def _label_metric(metric: str, confusion: np.ndarray) -> np.ndarray:
    """`metric` of each resampled confusion matrix (truth × prediction), as scikit-learn
    computes it: binary for two labels (the last positive), macro otherwise, 0 for 0/0."""
    confusion = confusion.astype(float)
    if metric == "accuracy":
        with np.errstate(invalid="ignore", divide="ignore"):  # a resample of no rows is NaN
            return np.trace(confusion, axis1=1, axis2=2) / confusion.sum(axis=(1, 2))
    true_positive = np.diagonal(confusion, axis1=1, axis2=2)
    predicted = confusion.sum(axis=1)
    actual = confusion.sum(axis=2)
    if confusion.shape[1] <= 2:
        true_positive, predicted, actual = (a[:, -1:] for a in (true_positive, predicted, actual))
    denominator = {"precision": predicted, "recall": actual, "f1": predicted + actual}[metric]
    numerator = 2 * true_positive if metric == "f1" else true_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(denominator > 0, numerator / denominator, 0.0)
    return per_class.mean(axis=1)


# Row metrics: Poisson weights per row.


def _row_resamples(
    metric: str, sides: list[Side], rng: np.random.Generator, resamples: int
) -> list[np.ndarray]:
    """Each side's metric on `resamples` resamples, the same weights for every side. For ROC
    AUC, weight i goes to the row ranked i-th by the first side's (first column's) score,
    which then reads its weights in sequence (faster; the weights are independent, so no
    less random)."""
    first = sides[0].probability if sides[0].probabilities is None else sides[0].probabilities
    if metric == "roc_auc" and first is not None:
        first = np.asarray(first, dtype=float)
        order = np.argsort(first if first.ndim == 1 else first[:, 0], kind="stable")
        sides = [_reordered(side, order) for side in sides]
    score = _row_scorer(metric, sides)
    with one_blas_thread():
        chunks = [score(w) for w in weight_chunks(rng, len(sides[0].truth), resamples)]
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def _row_scorer(metric: str, sides: list[Side]) -> Callable[[np.ndarray], list[np.ndarray]]:
    """Each side's metric for a chunk of weights (rows × resamples), the sides on the same
    rows; what does not depend on the weights is prepared once."""
    if metric == "roc_auc":
        plans = [_rank_plans(side) for side in sides]
        every = [plan for side_plans in plans for plan in side_plans or []]

        def score(weights: np.ndarray) -> list[np.ndarray]:
            aucs = iter(roc_aucs(every, weights))
            return [
                _side_roc_auc(side, [next(aucs) for _ in side_plans or []], weights)
                for side, side_plans in zip(sides, plans, strict=True)
            ]

        return score
    table = moments(metric, sides[0].truth, [side.prediction for side in sides])
    return lambda weights: regression_scores(metric, weighted_sums(table, weights))


def _one_vs_rest(side: Side) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """The binary problems a side's ROC AUC averages, as (positive rows, scores): the last
    label against the other (binary), or each class of the truth against the rest
    (multiclass); None without the probabilities they need."""
    truth = np.asarray(side.truth)
    present = _labels(Side(truth, truth))
    if not present:
        return None
    if side.probabilities is None:
        if side.probability is None:
            return None
        return [(truth == present[-1], np.asarray(side.probability, dtype=float))]
    column = {str(label): n for n, label in enumerate(side.classes)}
    if any(str(label) not in column for label in present):
        return None
    scores = np.asarray(side.probabilities, dtype=float)
    return [(truth == label, scores[:, column[str(label)]]) for label in present]


def _rank_plans(side: Side) -> list[RankPlan] | None:
    problems = _one_vs_rest(side)
    return None if problems is None else [rank_plan(*problem) for problem in problems]


def _side_roc_auc(side: Side, aucs: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    if not aucs:
        return np.full(weights.shape[1], np.nan)
    return aucs[0] if side.probabilities is None else _macro(aucs)


def _macro(aucs: list[np.ndarray]) -> np.ndarray:
    """The mean of each resample's one-vs-rest AUCs over the classes it holds (a class
    without weight has none), as the monitor's realized ROC AUC; NaN for fewer than two."""
    stacked = np.stack(aucs)
    held = np.isfinite(stacked)
    count = held.sum(axis=0)
    total = np.where(held, stacked, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= 2, total / count, np.nan)


def _reordered(side: Side, order: np.ndarray) -> Side:
    def rows(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.asarray(values)[order]

    return replace(
        side,
        truth=rows(side.truth),
        prediction=rows(side.prediction),
        probability=rows(side.probability),
        probabilities=rows(side.probabilities),
    )
