"""Metrics per task, their direction, and the sanity checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from retrain.evaluate import Scored, compute_metrics, evaluate, improvement, sanity_problems


def test_lower_is_better_for_errors_and_higher_for_scores():
    assert improvement("rmse", 2.0, 1.5) == pytest.approx(0.5)
    assert improvement("roc_auc", 0.7, 0.8) == pytest.approx(0.1)
    assert improvement("mae", None, 1.0) is None


def test_classification_metrics_are_all_computed():
    truth = [0, 1, 1, 0, 1]
    scored = Scored(np.array([0, 1, 0, 0, 1]), np.array([0.1, 0.9, 0.4, 0.2, 0.8]))
    values = compute_metrics("classification", truth, scored)
    assert values["accuracy"] == pytest.approx(0.8)
    assert values["precision"] == pytest.approx(1.0)
    assert values["recall"] == pytest.approx(2 / 3)
    assert values["roc_auc"] == pytest.approx(1.0)


def test_sanity_catches_missing_nan_and_degenerate_output():
    assert sanity_problems(Scored(np.array([0, 1]), np.array([0.2, 0.7])), 2) == []
    problems = sanity_problems(Scored(np.array([1.0, np.nan]), None), 3)
    assert any("2 predictions for 3 rows" in p for p in problems)
    assert any("NaN" in p for p in problems)
    assert sanity_problems(Scored(np.array([1, 1, 1]), None), 3) == [
        "degenerate: the same output for every row"
    ]


def test_a_regression_challenger_is_judged_on_rmse():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400)})
    frame["y"] = 3 * frame["x"] + rng.normal(scale=0.1, size=400)
    champion = DummyRegressor().fit(frame[["x"]], frame["y"])
    challenger = LinearRegression().fit(frame[["x"]], frame["y"])
    result = evaluate(champion, challenger, frame, ["x"], "y", "regression", "rmse", 0.0)
    assert result["decision"] == "promote"
    assert result["challenger_score"] < 0.2 < 2 < result["champion_score"]
    assert result["champion"]["problems"] == ["degenerate: the same output for every row"]

    result = evaluate(challenger, champion, frame, ["x"], "y", "regression", "rmse", 0.0)
    assert result["decision"] == "reject" and "degenerate" in result["reason"]


def test_a_better_regression_challenger_below_the_margin_is_rejected():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    frame["y"] = 3 * frame["x"] + frame["z"] + rng.normal(scale=0.1, size=400)
    champion = LinearRegression().fit(frame[["x", "z"]].assign(z=0), frame["y"])
    challenger = LinearRegression().fit(frame[["x", "z"]], frame["y"])
    result = evaluate(champion, challenger, frame, ["x", "z"], "y", "regression", "rmse", 5.0)
    assert result["improvement"] > 0.5
    assert result["decision"] == "reject" and "below 5.0" in result["reason"]


def _three_classes(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "z": rng.normal(size=rows)})
    score = frame["x"] + 0.8 * frame["z"] + rng.normal(scale=0.5, size=rows)
    frame["y"] = np.digitize(score, [-0.6, 0.6])
    return frame.assign(y=frame["y"].map({0: "low", 1: "mid", 2: "high"}))


def test_a_multiclass_challenger_is_judged_on_macro_roc_auc_with_an_interval():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    train, holdout = _three_classes(600, seed=2), _three_classes(500, seed=3)
    champion = LogisticRegression().fit(train[["x", "z"]].assign(z=0), train["y"])  # blind to z
    challenger = LogisticRegression().fit(train[["x", "z"]], train["y"])
    result = evaluate(
        champion, challenger, holdout, ["x", "z"], "y", "classification", "roc_auc", 0.0
    )
    probabilities = challenger.predict_proba(holdout[["x", "z"]])
    expected = roc_auc_score(
        holdout["y"], probabilities, multi_class="ovr", labels=challenger.classes_
    )
    assert result["challenger_score"] == pytest.approx(expected, abs=1e-15)
    low, high = result["improvement_interval"]
    assert 0 < low < result["improvement"] < high and result["resamples"] == 1000
    assert result["decision"] == "promote" and "95% interval" in result["reason"]


def test_a_multiclass_tie_on_roc_auc_is_rejected():
    from sklearn.linear_model import LogisticRegression

    frame = _three_classes(500, seed=4)
    model = LogisticRegression().fit(frame[["x", "z"]], frame["y"])
    result = evaluate(model, model, frame, ["x", "z"], "y", "classification", "roc_auc", 0.0)
    assert result["improvement"] == 0 and result["improvement_interval"] == [0.0, 0.0]
    assert result["decision"] == "reject" and "not shown to be better" in result["reason"]


def test_nan_class_probabilities_fail_the_sanity_checks():
    scored = Scored(np.array(["a", "b"]), None, np.array([[0.2, 0.8], [np.nan, 0.5]]), ("a", "b"))
    assert sanity_problems(scored, 2) == ["1 rows have a NaN class probability"]
