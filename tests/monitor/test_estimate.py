"""Label-free estimates (CBPE): close to the truth when the model is calibrated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from monitor.report.estimate import calibration_map, estimate_performance


def calibrated(rows: int, seed: int, mean: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    probability = 1 / (1 + np.exp(-rng.normal(mean, 1.5, rows)))
    label = (rng.random(rows) < probability).astype(int)
    return pd.DataFrame(
        {"probability": probability, "label": label, "prediction": (probability > 0.5).astype(int)}
    )


def test_the_estimate_is_close_to_the_realized_performance_of_a_calibrated_model():
    reference = calibrated(20000, seed=1)
    mapping = calibration_map(reference["probability"], reference["label"], [0, 1])
    window = calibrated(20000, seed=2, mean=-0.7)  # a shifted population, still calibrated

    estimate = estimate_performance(window["prediction"], window["probability"], [0, 1], mapping)

    truth, predicted = window["label"], window["prediction"]
    realized = {
        "accuracy": skm.accuracy_score(truth, predicted),
        "precision": skm.precision_score(truth, predicted),
        "recall": skm.recall_score(truth, predicted),
        "f1": skm.f1_score(truth, predicted),
        "roc_auc": skm.roc_auc_score(truth, window["probability"]),
    }
    for metric, value in realized.items():
        assert estimate.metrics[metric] == pytest.approx(value, abs=0.02), metric


def test_without_calibration_the_expected_auc_matches_the_exact_formula():
    window = calibrated(500, seed=3)
    p = window["probability"].to_numpy()
    estimate = estimate_performance(window["prediction"], window["probability"], [0, 1], None)
    # Expected AUC over pairs of distinct rows: one the positive, the other the negative.
    wins = (p[:, None] > p[None, :]) * p[:, None] * (1 - p[None, :])
    exact = wins.sum() / (p.sum() * (1 - p).sum() - (p * (1 - p)).sum())
    assert estimate.metrics["roc_auc"] == pytest.approx(exact, rel=1e-9)


def test_a_multiclass_model_gets_no_estimate_and_says_why():
    estimate = estimate_performance(
        pd.Series([0, 1, 2]), pd.Series([0.2, 0.5, 0.9]), [0, 1, 2], None
    )
    assert estimate.metrics == {} and "binary" in estimate.warnings[0]
