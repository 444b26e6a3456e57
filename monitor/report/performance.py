"""Realized performance on labeled rows, computed with scikit-learn (as Evidently does).
scikit-learn is imported only when labeled rows are scored: a window without labels, the
common case, never pays for it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
# What a policy's `performance` rule and a retrain's `metric` may name, per task.
METRICS = {"classification": CLASSIFICATION_METRICS, "regression": REGRESSION_METRICS}
# What a policy's `estimated_performance` rule may name: the label-free estimates.
ESTIMATED_METRICS = {"classification": CLASSIFICATION_METRICS, "regression": ("mae", "rmse")}
LOWER_IS_BETTER = {"mae", "rmse", "mape"}


@dataclass
class Performance:
    metrics: dict[str, float]
    warnings: list[str] = field(default_factory=list)


def classes_of(labels: pd.Series) -> list:
    """The classes seen, sorted; for two classes the second is the positive one."""
    values = [value.item() if hasattr(value, "item") else value for value in labels.dropna()]
    try:
        return sorted(set(values))
    except TypeError:  # mixed types: compare as text
        return sorted(set(values), key=str)


def positive_class(classes: list):
    return classes[-1] if len(classes) == 2 else None


def realized_performance(
    target: pd.Series,
    prediction: pd.Series,
    probability: pd.Series | None,
    classes: list | None,
    probabilities: pd.DataFrame | None = None,
) -> Performance:
    """Classification metrics when `classes` is given, else regression metrics.
    `probabilities` (multiclass) holds one column per class, in the order of `classes`."""
    keep = target.notna() & prediction.notna()
    target, prediction = target[keep], prediction[keep]
    if probability is not None:
        probability = probability[keep]
    if probabilities is not None:
        probabilities = probabilities[keep]
    if target.empty:
        return Performance({}, ["no labeled rows with a prediction"])
    if classes is None:
        return _regression(target.astype(float), prediction.astype(float))
    performance = _classification(target, prediction, probability, classes)
    if probabilities is not None and positive_class(classes) is None:
        auc, warning = macro_roc_auc(target, probabilities, classes)
        if auc is None:
            performance.warnings.append(warning)
        else:
            performance.metrics["roc_auc"] = auc
    return performance


def macro_roc_auc(
    target: pd.Series, probabilities: pd.DataFrame, classes: list
) -> tuple[float | None, str]:
    """Macro one-vs-rest ROC AUC: each class's probability against that class, averaged."""
    from sklearn import metrics as skm

    complete = probabilities.notna().all(axis=1)
    if not complete.all():
        return None, f"{int((~complete).sum())} rows lack a class probability: roc_auc not computed"
    values = []
    for label, column in zip(classes, probabilities.columns, strict=True):
        actual = (target == label).to_numpy()
        if actual.all() or not actual.any():
            continue  # a class absent from the window has no curve
        values.append(skm.roc_auc_score(actual, probabilities[column].to_numpy()))
    if len(values) < 2:
        return None, "fewer than two classes in labels: roc_auc is undefined"
    return float(np.mean(values)), ""


def _classification(
    target: pd.Series, prediction: pd.Series, probability: pd.Series | None, classes: list
) -> Performance:
    from sklearn import metrics as skm

    y_true, y_pred = target.to_list(), prediction.to_list()
    seen = classes_of(target)
    warnings = []
    result = {"accuracy": float(skm.accuracy_score(y_true, y_pred))}
    positive = positive_class(classes)
    if positive is not None:
        options = {"pos_label": positive, "zero_division": 0}
        result["precision"] = float(skm.precision_score(y_true, y_pred, **options))
        result["recall"] = float(skm.recall_score(y_true, y_pred, **options))
        result["f1"] = float(skm.f1_score(y_true, y_pred, **options))
        if probability is not None and probability.notna().all():
            if len(seen) < 2:
                warnings.append(f"a single class in labels ({seen[0]!r}): roc_auc is undefined")
            else:
                positives = np.array([value == positive for value in y_true])
                result["roc_auc"] = float(skm.roc_auc_score(positives, probability.to_numpy()))
    else:
        options = {"average": "macro", "zero_division": 0}
        result["precision"] = float(skm.precision_score(y_true, y_pred, **options))
        result["recall"] = float(skm.recall_score(y_true, y_pred, **options))
        result["f1"] = float(skm.f1_score(y_true, y_pred, **options))
        if len(seen) < 2:
            warnings.append(f"a single class in labels ({seen[0]!r})")
    return Performance(result, warnings)


def _regression(target: pd.Series, prediction: pd.Series) -> Performance:
    from sklearn import metrics as skm

    y_true, y_pred = target.to_numpy(), prediction.to_numpy()
    result = {
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(skm.root_mean_squared_error(y_true, y_pred)),
        "mape": float(skm.mean_absolute_percentage_error(y_true, y_pred)),
    }
    warnings = []
    if len(y_true) >= 2 and np.ptp(y_true) > 0:
        result["r2"] = float(skm.r2_score(y_true, y_pred))
    else:
        warnings.append("constant target: r2 is undefined")
    return Performance(result, warnings)


def class_results(target: pd.Series, prediction: pd.Series, classes: list) -> dict | None:
    """Per-class precision, recall, f1 and support, and the confusion matrix (rows: the
    label, columns: the prediction), over `classes` and any other class seen."""
    from sklearn import metrics as skm

    keep = target.notna() & prediction.notna()
    y_true, y_pred = target[keep].to_list(), prediction[keep].to_list()
    if not y_true:
        return None
    labels = list(classes)
    for value in classes_of(pd.Series(y_true + y_pred, dtype=object)):
        if value not in labels:
            labels.append(value)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "labels": [str(label) for label in labels],
        "per_class": {
            str(label): {
                "precision": float(precision[index]),
                "recall": float(recall[index]),
                "f1": float(f1[index]),
                "support": int(support[index]),
            }
            for index, label in enumerate(labels)
        },
        "confusion": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
