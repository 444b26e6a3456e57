"""A bootstrap confidence interval of a challenger's improvement on one metric.

Paired (champion and challenger scored on the same holdout, so each resample takes the same
rows for both) or independent (a canary: each version has its own labeled results). The
interval is the percentile interval of the improvement over `resamples` resamples drawn with
a seeded generator.

Label metrics (accuracy, precision, recall, F1) depend only on how many rows fall in each
(truth, prediction) cell, so their resamples are drawn as multinomial cell counts: the same
distribution as resampling rows, at a cost independent of the row count. ROC AUC, RMSE, MAE,
MAPE and R² resample row indices in chunks; ROC AUC per resample comes from class counts per
distinct score (a rank statistic), never from sorting a resample.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

LABEL_METRICS = {"accuracy", "precision", "recall", "f1"}
ROW_METRICS = {"roc_auc", "rmse", "mae", "r2", "mape"}
LOWER_IS_BETTER = {"rmse", "mae", "mape"}
CHUNK_CELLS = 250_000  # row indices drawn at a time (resamples × rows): small enough for the cache


@dataclass(frozen=True)
class Side:
    """One version's labeled results: truth, predictions, positive-class probabilities."""

    truth: np.ndarray
    prediction: np.ndarray
    probability: np.ndarray | None = None


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None
    confidence: float
    resamples: int
    seed: int

    def as_list(self) -> list[float | None]:
        return [self.low, self.high]


def paired_interval(
    metric: str,
    champion: Side,
    challenger: Side,
    confidence: float,
    resamples: int,
    seed: int,
) -> Interval:
    """The interval of the challenger's improvement, both scored on the same rows."""
    rng = np.random.default_rng(seed)
    if metric in LABEL_METRICS:
        labels = _labels(champion, challenger)
        cells = _paired_cells(champion, challenger, labels, rng, resamples)
        scores = (
            _label_metric(metric, cells.sum(axis=3)),
            _label_metric(metric, cells.sum(axis=2)),
        )
    else:
        champion_rows, challenger_rows = _per_row(metric, champion), _per_row(metric, challenger)
        champion_scores, challenger_scores = [], []
        for rows in _row_chunks(rng, len(champion.truth), resamples):
            champion_scores.append(_row_metric(metric, champion_rows, rows))
            challenger_scores.append(_row_metric(metric, challenger_rows, rows))
        scores = (np.concatenate(champion_scores), np.concatenate(challenger_scores))
    return _percentiles(metric, *scores, confidence, resamples, seed)


def independent_interval(
    metric: str,
    champion: Side,
    challenger: Side,
    confidence: float,
    resamples: int,
    seed: int,
) -> Interval:
    """The interval of the challenger's improvement, each side resampled on its own rows."""
    rng = np.random.default_rng(seed)
    scores = []
    labels = _labels(champion, challenger) if metric in LABEL_METRICS else []
    for side in (champion, challenger):
        if metric in LABEL_METRICS:
            scores.append(_label_metric(metric, _cells(side, labels, rng, resamples)))
        else:
            rows_of, chunks = _per_row(metric, side), _row_chunks(rng, len(side.truth), resamples)
            scores.append(np.concatenate([_row_metric(metric, rows_of, rows) for rows in chunks]))
    return _percentiles(metric, scores[0], scores[1], confidence, resamples, seed)


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


def _row_chunks(rng: np.random.Generator, rows: int, resamples: int) -> Iterator[np.ndarray]:
    """Row indices of each resample, a chunk of resamples at a time (one resample a row)."""
    per_chunk = max(1, CHUNK_CELLS // max(rows, 1))
    for start in range(0, resamples, per_chunk):
        yield rng.integers(0, rows, size=(min(per_chunk, resamples - start), rows))


# Label metrics: multinomial cell counts.


def _labels(*sides: Side) -> list:
    values: set = set()
    for side in sides:
        values |= set(side.truth.tolist()) | set(side.prediction.tolist())
    return sorted(values, key=str)


def _codes(values: np.ndarray, labels: list) -> np.ndarray:
    position = {label: n for n, label in enumerate(labels)}
    return np.fromiter((position[value] for value in values.tolist()), int, len(values))


def _multinomial(codes: np.ndarray, cells: int, rng: np.random.Generator, resamples: int):
    observed = np.bincount(codes, minlength=cells)
    return rng.multinomial(len(codes), observed / observed.sum(), size=resamples)


def _cells(side: Side, labels: list, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Resampled confusion matrices, shape (resamples, truth, prediction)."""
    k = len(labels)
    codes = _codes(side.truth, labels) * k + _codes(side.prediction, labels)
    return _multinomial(codes, k * k, rng, resamples).reshape(resamples, k, k)


def _paired_cells(
    champion: Side, challenger: Side, labels: list, rng: np.random.Generator, resamples: int
) -> np.ndarray:
    """Resampled joint counts, shape (resamples, truth, champion's, challenger's prediction)."""
    k = len(labels)
    truth = _codes(champion.truth, labels)
    codes = (truth * k + _codes(champion.prediction, labels)) * k
    codes += _codes(challenger.prediction, labels)
    return _multinomial(codes, k**3, rng, resamples).reshape(resamples, k, k, k)


def _label_metric(metric: str, confusion: np.ndarray) -> np.ndarray:
    """`metric` of each resampled confusion matrix (truth × prediction), as scikit-learn
    computes it: binary for two labels (the last positive), macro otherwise, 0 for 0/0."""
    confusion = confusion.astype(float)
    if metric == "accuracy":
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


# Row metrics: resampled row indices.


def _per_row(metric: str, side: Side) -> dict[str, np.ndarray]:
    """What a row metric needs of each row, computed once for every resample."""
    if metric == "roc_auc":
        if side.probability is None:
            return {}
        positive = side.truth == _labels(Side(side.truth, side.truth))[-1]
        _, rank = np.unique(side.probability, return_inverse=True)
        return {"codes": rank.ravel() * 2 + positive, "groups": np.array(rank.max() + 1)}
    truth = side.truth.astype(float)
    error = side.prediction.astype(float) - truth
    # As scikit-learn's mean_absolute_percentage_error: |error| / max(|truth|, eps).
    relative = np.abs(error) / np.maximum(np.abs(truth), np.finfo(float).eps)
    return {"absolute": np.abs(error), "squared": error**2, "truth": truth, "relative": relative}


def _row_metric(metric: str, rows_of: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    if metric == "roc_auc":
        return _roc_auc(rows_of, rows)
    if metric in ("mae", "mape"):
        return rows_of["absolute" if metric == "mae" else "relative"][rows].mean(axis=1)
    squared = rows_of["squared"][rows].sum(axis=1)
    if metric == "rmse":
        return np.sqrt(squared / rows.shape[1])
    resampled = rows_of["truth"][rows]
    total = (resampled**2).sum(axis=1) - resampled.sum(axis=1) ** 2 / rows.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 1e-12 * rows.shape[1], 1 - squared / total, np.nan)


def _roc_auc(rows_of: dict[str, np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Mann–Whitney ROC AUC of each resample (ties count half), from the positives and
    negatives at each distinct probability; NaN for a resample with a single class."""
    if not rows_of:
        return np.full(len(rows), np.nan)
    codes, groups = rows_of["codes"], int(rows_of["groups"])
    offsets = np.arange(len(rows))[:, None] * (2 * groups)
    counts = np.bincount((codes[rows] + offsets).ravel(), minlength=len(rows) * 2 * groups)
    counts = counts.reshape(len(rows), groups, 2)
    negatives, positives = counts[:, :, 0], counts[:, :, 1]
    below = np.cumsum(negatives, axis=1)
    below -= negatives
    # Twice the wins, in integers: a negative below counts 2, a tie counts 1.
    wins = 2 * np.einsum("ij,ij->i", positives, below) + np.einsum("ij,ij->i", positives, negatives)
    pairs = 2.0 * positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)
