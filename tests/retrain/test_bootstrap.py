"""The bootstrap interval against a slow loop written from scratch, with the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from retrain.bootstrap import Side, independent_interval, paired_interval
from retrain.resample import weight_chunks

RESAMPLES = 300


def _binary(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, rows)
    champion = np.clip(truth * 0.25 + rng.random(rows) * 0.75, 0, 1).round(2)  # ties
    challenger = np.clip(truth * 0.35 + rng.random(rows) * 0.65, 0, 1)
    return truth, champion, challenger


def _resampled_rows(rows: int, resamples: int, seed: int) -> list[np.ndarray]:
    """Each resample's rows, a row repeated as many times as the bootstrap weighs it."""
    chunks = weight_chunks(np.random.default_rng(seed), rows, resamples)
    weights = np.concatenate(list(chunks), axis=1)
    return [np.repeat(np.arange(rows), column) for column in weights.T]


def _slow_interval(metric, truth, champion, challenger, seed, lower_is_better=False):
    """One resample at a time with scikit-learn, rows repeated as the bootstrap weighs them."""
    rows = _resampled_rows(len(truth), RESAMPLES, seed)
    gains = []
    for picked in rows:
        if metric == "roc_auc" and len(set(truth[picked])) < 2:
            continue
        score = {
            "roc_auc": sk.roc_auc_score,
            "rmse": lambda y, p: np.sqrt(sk.mean_squared_error(y, p)),
            "mae": sk.mean_absolute_error,
            "r2": sk.r2_score,
            "mape": sk.mean_absolute_percentage_error,
        }[metric]
        old, new = score(truth[picked], champion[picked]), score(truth[picked], challenger[picked])
        gains.append(old - new if lower_is_better else new - old)
    return np.quantile(gains, [0.025, 0.975])


def test_paired_roc_auc_matches_a_slow_scikit_learn_loop_with_the_same_seed():
    truth, champion, challenger = _binary(150, seed=3)
    interval = paired_interval(
        "roc_auc",
        Side(truth, (champion > 0.5).astype(int), champion),
        Side(truth, (challenger > 0.5).astype(int), challenger),
        0.95,
        RESAMPLES,
        seed=11,
    )
    expected = _slow_interval("roc_auc", truth, champion, challenger, seed=11)
    assert interval.as_list() == pytest.approx(list(expected), abs=1e-12)
    assert (interval.confidence, interval.resamples, interval.seed) == (0.95, RESAMPLES, 11)


@pytest.mark.parametrize("metric", ["rmse", "mae", "r2", "mape"])
def test_paired_regression_metrics_match_a_slow_loop(metric):
    rng = np.random.default_rng(5)
    truth = rng.normal(10, 3, 120)
    champion = truth + rng.normal(0, 2, 120)
    challenger = truth + rng.normal(0, 1.5, 120)
    interval = paired_interval(
        metric, Side(truth, champion), Side(truth, challenger), 0.95, RESAMPLES, seed=4
    )
    expected = _slow_interval(
        metric, truth, champion, challenger, seed=4, lower_is_better=metric != "r2"
    )
    assert interval.as_list() == pytest.approx(list(expected), rel=1e-9)


@pytest.mark.parametrize("metric", ["accuracy", "precision", "recall", "f1"])
@pytest.mark.parametrize("classes", [2, 3])
def test_label_metrics_drawn_as_cell_counts_agree_with_resampling_rows(metric, classes):
    """Cell counts are drawn from their multinomial, not from row indices, so the two
    intervals agree in distribution: within 0.015 on 400 rows and 1,500 resamples."""
    rng = np.random.default_rng(8)
    truth = rng.integers(0, classes, 400)
    champion = np.where(rng.random(400) < 0.7, truth, rng.integers(0, classes, 400))
    challenger = np.where(rng.random(400) < 0.8, truth, rng.integers(0, classes, 400))
    interval = paired_interval(
        metric, Side(truth, champion), Side(truth, challenger), 0.95, 1500, seed=2
    )
    score = {
        "accuracy": sk.accuracy_score,
        "precision": sk.precision_score,
        "recall": sk.recall_score,
        "f1": sk.f1_score,
    }[metric]
    options = {} if metric == "accuracy" else {"average": "binary" if classes == 2 else "macro"}
    slow = np.random.default_rng(2).integers(0, 400, size=(1500, 400))
    gains = [
        score(truth[p], challenger[p], **options) - score(truth[p], champion[p], **options)
        for p in slow
    ]
    expected = np.quantile(gains, [0.025, 0.975])
    assert interval.as_list() == pytest.approx(list(expected), abs=0.015)


def test_identical_versions_tie_on_every_resample():
    truth, champion, _ = _binary(300, seed=1)
    side = Side(truth, (champion > 0.5).astype(int), champion)
    for metric in ("roc_auc", "f1", "accuracy"):
        assert paired_interval(metric, side, side, 0.95, 1000, seed=0).as_list() == [0.0, 0.0]


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    truth, champion, challenger = _binary(200, seed=2)
    sides = (Side(truth, truth, champion), Side(truth, truth, challenger))
    first = paired_interval("roc_auc", *sides, 0.95, 1000, seed=7)
    assert paired_interval("roc_auc", *sides, 0.95, 1000, seed=7) == first
    assert paired_interval("roc_auc", *sides, 0.95, 1000, seed=8) != first


def test_independent_samples_give_a_wider_interval_than_paired_ones():
    """Pairing cancels what both versions get right or wrong together: with a challenger
    that is the champion a little sharpened, the paired interval is the narrower."""
    truth, champion, _ = _binary(400, seed=4)
    noise = np.random.default_rng(9).normal(0, 0.03, 400)
    challenger = np.clip(champion + 0.05 * truth + noise, 0, 1)
    sides = (Side(truth, truth, champion), Side(truth, truth, challenger))
    paired = paired_interval("roc_auc", *sides, 0.95, 1000, seed=1)
    independent = independent_interval("roc_auc", *sides, 0.95, 1000, seed=1)
    assert independent.high - independent.low > paired.high - paired.low > 0
    assert independent.low < paired.low


def test_an_interval_undefined_on_every_resample_has_no_bounds():
    truth = np.ones(50, dtype=int)
    side = Side(truth, truth, np.linspace(0, 1, 50))
    interval = paired_interval("roc_auc", side, side, 0.95, 200, seed=0)
    assert interval.as_list() == [None, None]
