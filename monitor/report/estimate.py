"""Label-free performance estimates from predicted probabilities (confidence-based
performance estimation, as NannyML's CBPE describes it).

For a calibrated positive-class probability p, a row predicted positive is a true positive
with probability p and a false positive with 1 - p; a row predicted negative is a false
negative with p and a true negative with 1 - p. Summing those expectations gives an
expected confusion matrix, hence accuracy, precision, recall and F1; sweeping the decision
threshold over the sorted probabilities gives an expected ROC curve and so ROC AUC.
Probabilities are first mapped through an isotonic calibration fitted on the reference set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitor.report.performance import positive_class

MIN_ROWS = 1


@dataclass
class Estimate:
    metrics: dict[str, float]
    warnings: list[str] = field(default_factory=list)


def calibration_map(probability: pd.Series, target: pd.Series, classes: list) -> dict | None:
    """Isotonic calibration of `probability` on the reference, as interpolation points."""
    positive = positive_class(classes)
    keep = probability.notna() & target.notna()
    if positive is None or keep.sum() < 2:
        return None
    outcome = (target[keep] == positive).to_numpy(dtype=float)
    if outcome.min() == outcome.max():
        return None
    from sklearn.isotonic import IsotonicRegression  # fitting is the reference's, once

    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    isotonic.fit(probability[keep].to_numpy(dtype=float), outcome)
    return {
        "x": [float(value) for value in isotonic.X_thresholds_],
        "y": [float(value) for value in isotonic.y_thresholds_],
    }


def calibrate(probability: np.ndarray, mapping: dict | None) -> np.ndarray:
    if not mapping:
        return probability
    return np.interp(probability, mapping["x"], mapping["y"])


def estimate_performance(
    prediction: pd.Series, probability: pd.Series, classes: list, mapping: dict | None
) -> Estimate:
    """Expected accuracy, precision, recall, F1 and ROC AUC of a binary classifier."""
    positive = positive_class(classes)
    if positive is None:
        return Estimate({}, ["estimates need a binary classifier"])
    keep = probability.notna() & prediction.notna()
    if keep.sum() < MIN_ROWS:
        return Estimate({}, ["no rows with a probability to estimate from"])
    p = calibrate(probability[keep].to_numpy(dtype=float), mapping)
    predicted = (prediction[keep] == positive).to_numpy(dtype=bool)
    tp = float(p[predicted].sum())
    fp = float((1 - p[predicted]).sum())
    fn = float(p[~predicted].sum())
    tn = float((1 - p[~predicted]).sum())
    metrics = {"accuracy": (tp + tn) / len(p)}
    metrics["precision"] = tp / (tp + fp) if tp + fp > 0 else 0.0
    metrics["recall"] = tp / (tp + fn) if tp + fn > 0 else 0.0
    metrics["f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0
    warnings = []
    auc = _expected_roc_auc(p)
    if auc is None:
        warnings.append("roc_auc cannot be estimated: probabilities are all 0 or all 1")
    else:
        metrics["roc_auc"] = auc
    return Estimate({key: float(value) for key, value in metrics.items()}, warnings)


def _expected_roc_auc(p: np.ndarray) -> float | None:
    """Area under the ROC curve of expected true and false positive rates."""
    positives, negatives = p.sum(), (1 - p).sum()
    if positives <= 0 or negatives <= 0:
        return None
    order = np.argsort(-p, kind="stable")
    ranked = p[order]
    # Rows with equal probability move together along the curve (ties count half).
    _, first = np.unique(-ranked, return_index=True)
    ends = np.r_[first[1:], len(ranked)] - 1
    tpr = np.r_[0.0, np.cumsum(ranked)[ends] / positives]
    fpr = np.r_[0.0, np.cumsum(1 - ranked)[ends] / negatives]
    # The curve pairs every row with itself as half a win; a row is never both a positive
    # and a negative, so take those pairs out of the wins and out of the pair count.
    own = float((p * (1 - p)).sum())
    pairs = positives * negatives - own
    if pairs <= 0:
        return None
    return float((np.trapezoid(tpr, fpr) * positives * negatives - own / 2) / pairs)


def class_calibration(probabilities: pd.DataFrame, target: pd.Series, classes: list) -> dict:
    """Per-class isotonic calibration on the reference, one class against the rest (as
    NannyML's multiclass CBPE calibrates): `{str(class): mapping or None}`."""
    mappings = {}
    for label, column in zip(classes, probabilities.columns, strict=True):
        outcome = (target == label).map({True: 1, False: 0})
        mappings[str(label)] = calibration_map(probabilities[column], outcome, [0, 1])
    return mappings


def estimate_multiclass(
    prediction: pd.Series, probabilities: pd.DataFrame, classes: list, mappings: dict | None
) -> Estimate:
    """Expected accuracy, macro precision, recall, F1 and macro one-vs-rest ROC AUC.

    Each class is a binary problem (predicted that class or not; its calibrated probability
    the chance the row is that class): the expected confusion matrix per class gives that
    class's precision, recall and F1, the expected ROC curve its AUC; the macro figures are
    their means. Expected accuracy is the mean calibrated probability of the predicted class.
    """
    keep = probabilities.notna().all(axis=1) & prediction.notna()
    if keep.sum() < MIN_ROWS:
        return Estimate({}, ["no estimated performance: no rows with every class probability"])
    predicted = prediction[keep].to_numpy()
    known = {str(label) for label in classes}
    calibrated = {
        str(label): calibrate(
            probabilities.loc[keep, column].to_numpy(dtype=float), (mappings or {}).get(str(label))
        )
        for label, column in zip(classes, probabilities.columns, strict=True)
    }
    as_text = np.array([str(value) for value in predicted])
    correct = np.zeros(len(as_text))
    per_class: dict[str, list[float]] = {"precision": [], "recall": [], "f1": [], "roc_auc": []}
    for label, p in calibrated.items():
        chosen = as_text == label
        correct[chosen] = p[chosen]
        tp, fp, fn = p[chosen].sum(), (1 - p[chosen]).sum(), p[~chosen].sum()
        per_class["precision"].append(tp / (tp + fp) if tp + fp > 0 else 0.0)
        per_class["recall"].append(tp / (tp + fn) if tp + fn > 0 else 0.0)
        per_class["f1"].append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0)
        auc = _expected_roc_auc(p)
        if auc is not None:
            per_class["roc_auc"].append(auc)
    warnings = []
    unknown = sorted(set(as_text) - known)
    if unknown:
        warnings.append(f"predictions of classes without a probability: {', '.join(unknown)}")
    metrics = {"accuracy": float(correct.mean())}
    metrics |= {name: float(np.mean(values)) for name, values in per_class.items() if values}
    return Estimate(metrics, warnings)
