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
