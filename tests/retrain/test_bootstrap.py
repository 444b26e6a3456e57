"""The bootstrap interval against a slow loop written from scratch, with the same seed."""

from __future__ import annotations

import math
import tracemalloc
from functools import partial

import numpy as np
import pytest
from sklearn import metrics as sk

from retrain.bootstrap import LABEL_METRICS, Side, improvement_interval, weighted_score
from retrain.resample import CHUNK_CELLS, THRESHOLDS, weight_chunks

RESAMPLES = 300


def _binary(rows: int, seed: int):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, rows)
    champion = np.clip(truth * 0.25 + rng.random(rows) * 0.75, 0, 1).round(2)  # ties
    challenger = np.clip(truth * 0.35 + rng.random(rows) * 0.65, 0, 1)
    return truth, champion, challenger


def _resampled_rows(order: np.ndarray, resamples: int, seed: int) -> list[np.ndarray]:
    """Each resample's rows, a row repeated as many times as the bootstrap weighs it: weight
    i for row `order[i]`."""
    chunks = weight_chunks(np.random.default_rng(seed), len(order), resamples)
    weights = np.concatenate(list(chunks), axis=1)
    return [np.repeat(order, column) for column in weights.T]


def _slow_interval(metric, truth, champion, challenger, seed, lower_is_better=False):
    """One resample at a time with scikit-learn, rows repeated as the bootstrap weighs them
    (for ROC AUC, in the champion's score order)."""
    order = np.argsort(champion, kind="stable") if metric == "roc_auc" else np.arange(len(truth))
    rows = _resampled_rows(order, RESAMPLES, seed)
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
    interval = improvement_interval(
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
    interval = improvement_interval(
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
    interval = improvement_interval(
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
        assert improvement_interval(metric, side, side, 0.95, 1000, seed=0).as_list() == [0.0, 0.0]


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    truth, champion, challenger = _binary(200, seed=2)
    sides = (Side(truth, truth, champion), Side(truth, truth, challenger))
    first = improvement_interval("roc_auc", *sides, 0.95, 1000, seed=7)
    assert improvement_interval("roc_auc", *sides, 0.95, 1000, seed=7) == first
    assert improvement_interval("roc_auc", *sides, 0.95, 1000, seed=8) != first


def test_independent_samples_give_a_wider_interval_than_paired_ones():
    """Pairing cancels what both versions get right or wrong together: with a challenger
    that is the champion a little sharpened, the paired interval is the narrower."""
    truth, champion, _ = _binary(400, seed=4)
    noise = np.random.default_rng(9).normal(0, 0.03, 400)
    challenger = np.clip(champion + 0.05 * truth + noise, 0, 1)
    sides = (Side(truth, truth, champion), Side(truth, truth, challenger))
    paired = improvement_interval("roc_auc", *sides, 0.95, 1000, seed=1)
    independent = improvement_interval("roc_auc", *sides, 0.95, 1000, seed=1, paired=False)
    assert independent.high - independent.low > paired.high - paired.low > 0
    assert independent.low < paired.low


def test_an_interval_undefined_on_every_resample_has_no_bounds():
    truth = np.ones(50, dtype=int)
    side = Side(truth, truth, np.linspace(0, 1, 50))
    interval = improvement_interval("roc_auc", side, side, 0.95, 200, seed=0)
    assert interval.as_list() == [None, None]


SCORERS = {
    "accuracy": sk.accuracy_score,
    "precision": sk.precision_score,
    "recall": sk.recall_score,
    "f1": sk.f1_score,
    "roc_auc": sk.roc_auc_score,
    "rmse": sk.root_mean_squared_error,
    "mae": sk.mean_absolute_error,
    "r2": sk.r2_score,
    "mape": sk.mean_absolute_percentage_error,
}


def _side(metric: str, classes: int, rows: int, seed: int) -> Side:
    """A version's results with ties in every column, for `metric`."""
    rng = np.random.default_rng(seed)
    if metric in ("rmse", "mae", "r2", "mape"):
        truth = rng.normal(10, 3, rows).round(1)
        return Side(truth, truth + rng.normal(0, 2, rows).round(1))
    truth = rng.integers(0, classes, rows)
    prediction = np.where(rng.random(rows) < 0.6, truth, rng.integers(0, classes, rows))
    return Side(truth, prediction, np.clip(truth * 0.3 + rng.random(rows) * 0.7, 0, 1).round(2))


def _sklearn(metric: str, side: Side, rows: np.ndarray) -> float:
    truth = side.truth[rows]
    if metric == "roc_auc":
        return SCORERS[metric](truth, side.probability[rows])
    options = {}
    if metric in ("precision", "recall", "f1"):
        binary = len(set(side.truth) | set(side.prediction)) <= 2
        options = {"average": "binary" if binary else "macro", "zero_division": 0}
    return SCORERS[metric](truth, side.prediction[rows], **options)


CASES = [(metric, 2) for metric in SCORERS] + [
    (metric, 4) for metric in ("accuracy", "precision", "recall", "f1")
]


@pytest.mark.parametrize(("metric", "classes"), CASES)
def test_every_weight_one_gives_scikit_learns_metric(metric, classes):
    side = _side(metric, classes, 500, seed=1)
    score = weighted_score(metric, side, np.ones((500, 1), dtype=np.uint8))[0]
    expected = _sklearn(metric, side, np.arange(500))
    if metric in LABEL_METRICS or metric == "roc_auc":
        assert score == expected  # integer counts, one division: exactly scikit-learn's
    else:
        assert score == pytest.approx(expected, rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("metric", "classes"), CASES)
def test_a_weighted_metric_is_the_metric_of_the_rows_repeated(metric, classes, seed):
    side = _side(metric, classes, 300, seed=seed)
    weights = np.concatenate(list(weight_chunks(np.random.default_rng(seed), 300, 8)), axis=1)
    scores = weighted_score(metric, side, weights)
    expected = [_sklearn(metric, side, np.repeat(np.arange(300), w)) for w in weights.T]
    assert scores == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("metric", "classes"), CASES)
@pytest.mark.parametrize("paired", [True, False])
def test_every_metric_gives_the_same_interval_for_the_same_seed(metric, classes, paired):
    champion = _side(metric, classes, 400, seed=3)
    challenger = _side(metric, classes, 400, seed=4)
    challenger = Side(champion.truth, challenger.prediction, challenger.probability)
    interval = partial(improvement_interval, metric, champion, challenger, 0.95, 500, paired=paired)
    first = interval(seed=5)
    assert first.low is not None and first.low < first.high
    assert interval(seed=5) == first
    assert interval(seed=6) != first


@pytest.mark.parametrize("metric", ["roc_auc", "rmse", "r2"])
def test_poisson_weights_agree_with_resampling_rows(metric):
    """The Poisson bootstrap against the classical one (rows drawn with replacement; their
    counts as weights, which the test above holds to scikit-learn on the rows repeated):
    within 0.012 of each other on 400 rows and 3,000 resamples."""
    truth, champion, challenger = _binary(400, seed=6)
    sides = (Side(truth, truth, champion), Side(truth, truth, challenger))
    if metric != "roc_auc":
        truth = np.random.default_rng(6).normal(0, 1, 400)
        sides = (Side(truth, truth + champion), Side(truth, truth + challenger / 1.2))
    interval = improvement_interval(metric, *sides, 0.95, 3000, seed=2)
    drawn = np.random.default_rng(2).integers(0, 400, size=(3000, 400))
    counts = np.stack([np.bincount(rows, minlength=400) for rows in drawn], axis=1)
    old, new = (weighted_score(metric, side, counts) for side in sides)
    gains = old - new if metric == "rmse" else new - old
    assert interval.as_list() == pytest.approx(list(np.quantile(gains, [0.025, 0.975])), abs=0.012)


def test_the_weights_are_poisson_one_to_a_sixteen_bit_step():
    law = np.diff([0, *THRESHOLDS, 65536]) / 65536
    poisson = [math.exp(-1) / math.factorial(k) for k in range(len(law))]
    assert np.abs(law - poisson).max() < 1.3e-5
    k = np.arange(len(law))
    assert (k * law).sum() == pytest.approx(1, abs=1e-6)
    assert (k**2 * law).sum() - 1 == pytest.approx(1, abs=1e-4)
    drawn = np.concatenate(list(weight_chunks(np.random.default_rng(0), 1000, 2000)), axis=1)
    assert np.bincount(drawn.ravel(), minlength=len(law)) / drawn.size == pytest.approx(
        law, abs=1e-3
    )


def test_weights_come_a_bounded_chunk_at_a_time_whatever_the_holdout():
    for rows in (10, 100_000, 3_000_000):
        chunks = list(weight_chunks(np.random.default_rng(0), rows, 1000))
        assert sum(chunk.shape[1] for chunk in chunks) == 1000
        assert max(chunk.size for chunk in chunks) <= max(CHUNK_CELLS, rows)


def test_a_large_holdout_needs_little_memory():
    """100,000 rows × 300 resamples of ROC AUC: the weights alone, all at once, would be
    120 MB as float32; the interval's peak stays under 60 MB."""
    truth, champion, challenger = _binary(100_000, seed=7)
    sides = (Side(truth, truth, champion), Side(truth, truth, challenger))
    tracemalloc.start()
    try:
        improvement_interval("roc_auc", *sides, 0.95, 300, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 60e6


def _multiclass(rows: int, seed: int, classes: int = 3, sharpness: float = 2.0) -> Side:
    """A version's class probabilities (softmax of noisy scores, rounded: ties), columns in
    the order of `classes`."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, rows)
    logits = rng.normal(0, 1, (rows, classes)) + sharpness * np.eye(classes)[truth]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities = probabilities.round(3)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return Side(truth, probabilities.argmax(axis=1), None, probabilities, tuple(range(classes)))


def _drawn(rows: int, resamples: int, seed: int) -> np.ndarray:
    return np.concatenate(list(weight_chunks(np.random.default_rng(seed), rows, resamples)), axis=1)


def _macro_ovr(side: Side, weights: np.ndarray | None = None) -> float:
    return sk.roc_auc_score(
        side.truth, side.probabilities, multi_class="ovr", average="macro", sample_weight=weights
    )


@pytest.mark.parametrize("classes", [3, 5])
def test_a_weighted_multiclass_roc_auc_is_scikit_learns_macro_one_vs_rest(classes):
    side = _multiclass(400, seed=classes, classes=classes)
    weights = _drawn(400, 6, seed=1)
    scores = weighted_score("roc_auc", side, weights)
    assert scores == pytest.approx([_macro_ovr(side, w) for w in weights.T], abs=1e-12)
    ones = weighted_score("roc_auc", side, np.ones((400, 1), dtype=np.uint8))[0]
    assert ones == pytest.approx(_macro_ovr(side), abs=1e-15)


def test_a_weighted_binary_roc_auc_is_scikit_learns_with_sample_weights():
    truth, champion, _ = _binary(300, seed=5)
    side = Side(truth, truth, champion)
    weights = _drawn(300, 6, seed=2)
    expected = [sk.roc_auc_score(truth, champion, sample_weight=w) for w in weights.T]
    assert weighted_score("roc_auc", side, weights) == pytest.approx(expected, abs=1e-12)


def test_a_resample_without_a_class_averages_the_classes_it_holds_as_the_monitor_does():
    import pandas as pd

    from monitor.report.performance import macro_roc_auc

    side = _multiclass(300, seed=2, classes=4)
    weights = _drawn(300, 3, seed=3)
    weights[side.truth == 1, 0] = 0  # the first resample holds no row of class 1
    weights[side.truth >= 1, 1] = 0  # the second only class 0: undefined
    scores = weighted_score("roc_auc", side, weights)
    picked = np.repeat(np.arange(300), weights[:, 0])
    columns = pd.DataFrame(side.probabilities[picked], columns=list("abcd"))
    expected, _ = macro_roc_auc(pd.Series(side.truth[picked]), columns, [0, 1, 2, 3])
    assert scores[0] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(scores[1]) and np.isfinite(scores[2])


def test_classes_meet_the_truth_by_their_text_and_a_missing_column_leaves_no_score():
    side = _multiclass(200, seed=4)
    named = Side(side.truth, side.prediction, None, side.probabilities, ("0", "1", "2"))
    ones = np.ones((200, 1), dtype=np.uint8)
    assert weighted_score("roc_auc", named, ones)[0] == pytest.approx(_macro_ovr(side), abs=1e-15)
    short = Side(side.truth, side.prediction, None, side.probabilities[:, :2], (0, 1))
    assert np.isnan(weighted_score("roc_auc", short, ones)[0])
    interval = improvement_interval("roc_auc", side, short, 0.95, 100, seed=0)
    assert interval.as_list() == [None, None]


@pytest.mark.parametrize("paired", [True, False])
def test_a_multiclass_roc_auc_interval_matches_a_slow_scikit_learn_loop(paired):
    """Each resample's macro one-vs-rest ROC AUC by scikit-learn with the drawn weights as
    sample weights (paired: in the champion's first-class score order; independent: each
    version's own draw, one after the other)."""
    champion = _multiclass(250, seed=6)
    other = _multiclass(250, seed=7, sharpness=2.5)
    challenger = Side(champion.truth, other.prediction, None, other.probabilities, other.classes)
    interval = improvement_interval("roc_auc", champion, challenger, 0.95, 200, 9, paired=paired)
    rng = np.random.default_rng(9)
    scores = []
    for side in (champion, challenger):
        if paired and scores:
            break
        order = np.argsort(side.probabilities[:, 0], kind="stable")
        weights = np.concatenate(list(weight_chunks(rng, 250, 200)), axis=1)
        by_row = np.empty_like(weights)
        by_row[order] = weights
        sides = (champion, challenger) if paired else (side,)
        scores += [[_macro_ovr(s, w) for w in by_row.T] for s in sides]
    gains = np.subtract(scores[1], scores[0])
    expected = np.quantile(gains, [0.025, 0.975])
    assert interval.as_list() == pytest.approx(list(expected), abs=1e-12)
    assert interval.low < interval.high


def test_long_runs_of_one_class_and_huge_ties_score_as_scikit_learn():
    """A run of one class longer than a uint16 segment sum allows is cut in pieces; a tie
    group that long cannot be, and is summed in floating point instead."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 30_000)
    separated = np.where(rng.random(30_000) < 0.6, truth * 2 - 1, 0) + rng.random(30_000) / 10
    lumped = np.where(rng.random(30_000) < 0.7, 0.5, rng.random(30_000))  # 21,000 rows tie
    weights = _drawn(30_000, 4, seed=4)
    for score in (separated, lumped):
        expected = [sk.roc_auc_score(truth, score, sample_weight=w) for w in weights.T]
        assert weighted_score("roc_auc", Side(truth, truth, score), weights) == pytest.approx(
            expected, abs=1e-12
        )
