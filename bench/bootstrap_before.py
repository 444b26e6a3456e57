"""The paired bootstrap as it was before Poisson weights (commit d3637be), kept as the
baseline `bench.bootstrap` measures in the same run: row metrics resampled as row indices in
chunks, ROC AUC counted per distinct score of each resample; label metrics as multinomial
counts over every (truth, champion, challenger) cell, held or not."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from retrain.bootstrap import (
    LABEL_METRICS,
    Side,
    _codes,
    _label_metric,
    _labels,
    _percentiles,
)

CHUNK_CELLS = 250_000


def paired_interval(metric: str, champion: Side, challenger: Side, resamples: int, seed: int):
    rng = np.random.default_rng(seed)
    if metric in LABEL_METRICS:
        cells = _paired_cells(champion, challenger, _labels(champion, challenger), rng, resamples)
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
    return _percentiles(metric, *scores, 0.95, resamples, seed)


def _paired_cells(champion, challenger, labels, rng, resamples):
    k = len(labels)
    codes = (_codes(champion.truth, labels) * k + _codes(champion.prediction, labels)) * k
    codes += _codes(challenger.prediction, labels)
    observed = np.bincount(codes, minlength=k**3)
    counts = rng.multinomial(len(codes), observed / observed.sum(), size=resamples)
    return counts.reshape(resamples, k, k, k)


def _row_chunks(rng: np.random.Generator, rows: int, resamples: int) -> Iterator[np.ndarray]:
    per_chunk = max(1, CHUNK_CELLS // max(rows, 1))
    for start in range(0, resamples, per_chunk):
        yield rng.integers(0, rows, size=(min(per_chunk, resamples - start), rows))


def _per_row(metric: str, side: Side) -> dict[str, np.ndarray]:
    if metric == "roc_auc":
        positive = side.truth == _labels(Side(side.truth, side.truth))[-1]
        _, rank = np.unique(side.probability, return_inverse=True)
        return {"codes": rank.ravel() * 2 + positive, "groups": np.array(rank.max() + 1)}
    truth = side.truth.astype(float)
    error = side.prediction.astype(float) - truth
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
    codes, groups = rows_of["codes"], int(rows_of["groups"])
    offsets = np.arange(len(rows))[:, None] * (2 * groups)
    counts = np.bincount((codes[rows] + offsets).ravel(), minlength=len(rows) * 2 * groups)
    counts = counts.reshape(len(rows), groups, 2)
    negatives, positives = counts[:, :, 0], counts[:, :, 1]
    below = np.cumsum(negatives, axis=1)
    below -= negatives
    wins = 2 * np.einsum("ij,ij->i", positives, below) + np.einsum("ij,ij->i", positives, negatives)
    pairs = 2.0 * positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)
