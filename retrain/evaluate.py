"""Champion against challenger on the same holdout: every metric, sanity checks, a decision.

The challenger is promoted only when the lower bound of a paired bootstrap confidence
interval of its improvement on the deciding metric exceeds `min_improvement`: a tie, or a
gain the holdout cannot tell from noise, is rejected. `confidence = 0` decides on the point
estimate alone (improvement at least `min_improvement`), as Driftwise did before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as sk

from monitor.report.performance import LOWER_IS_BETTER, METRICS
from retrain.bootstrap import Interval, Side, improvement_interval, weighted_score

RESAMPLES = 1000
SEED = 20260101


@dataclass
class Scored:
    """One estimator's output on some rows: labels, and positive-class probabilities
    (binary) or one column of probabilities per class of `classes` (multiclass)."""

    prediction: np.ndarray
    probability: np.ndarray | None  # binary classification only
    probabilities: np.ndarray | None = None  # multiclass only: rows × classes
    classes: tuple = ()

    def side(self, truth: Any) -> Side:
        """These results against `truth`, as the bootstrap resamples them."""
        return Side(
            np.asarray(truth), self.prediction, self.probability, self.probabilities, self.classes
        )


def predict(estimator: Any, features: pd.DataFrame, task: str) -> Scored:
    """Predictions (and probabilities) in one pass through the estimator."""
    if task == "classification" and hasattr(estimator, "predict_proba"):
        proba = np.asarray(estimator.predict_proba(features))
        classes = np.asarray(estimator.classes_)
        prediction = classes[proba.argmax(axis=1)]
        if proba.shape[1] > 2:
            return Scored(prediction, None, proba, tuple(classes.tolist()))
        return Scored(prediction, proba[:, 1] if proba.shape[1] == 2 else None)
    return Scored(np.asarray(estimator.predict(features)), None)


def metric_names(task: str) -> tuple[str, ...]:
    return METRICS[task]


def compute_metrics(task: str, truth: Any, scored: Scored) -> dict[str, float | None]:
    """Every metric of the task; one that cannot be computed here is None, not an error."""
    truth = np.asarray(truth)
    if task == "regression":
        pred = scored.prediction.astype(float)
        return {
            "rmse": _safe(lambda: math.sqrt(sk.mean_squared_error(truth, pred))),
            "mae": _safe(lambda: sk.mean_absolute_error(truth, pred)),
            "r2": _safe(lambda: sk.r2_score(truth, pred)),
            "mape": _safe(lambda: sk.mean_absolute_percentage_error(truth, pred)),
        }
    labels = sorted(set(truth.tolist()) | set(scored.prediction.tolist()), key=str)
    binary = len(labels) <= 2
    averaged = {"average": "binary", "pos_label": labels[-1]} if binary else {"average": "macro"}
    pred = scored.prediction
    try:
        precision, recall, f1, _ = sk.precision_recall_fscore_support(
            truth, pred, zero_division=0, **averaged
        )
    except (ValueError, TypeError):
        precision = recall = f1 = None
    return {
        "roc_auc": _roc_auc(truth, scored),
        "f1": _safe(lambda: f1),
        "accuracy": _safe(lambda: sk.accuracy_score(truth, pred)),
        "precision": _safe(lambda: precision),
        "recall": _safe(lambda: recall),
    }


def _roc_auc(truth: np.ndarray, scored: Scored) -> float | None:
    """Binary ROC AUC, or macro one-vs-rest over the classes in the truth (the monitor's
    realized ROC AUC; scikit-learn's `multi_class="ovr"` when every class is there): what
    the bootstrap resamples, with every row once."""
    if scored.probabilities is not None:
        ones = np.ones((len(truth), 1), dtype=np.uint8)
        return _safe(lambda: weighted_score("roc_auc", scored.side(truth), ones)[0])
    if scored.probability is None:
        return None
    return _safe(lambda: sk.roc_auc_score(truth, scored.probability))


def _safe(compute) -> float | None:
    try:
        value = float(compute())
    except (ValueError, TypeError):
        return None
    return value if math.isfinite(value) else None


def sanity_problems(scored: Scored, rows: int) -> list[str]:
    """Why these predictions cannot be trusted; empty when they can."""
    problems = []
    if len(scored.prediction) != rows:
        problems.append(f"{len(scored.prediction)} predictions for {rows} rows")
    values = pd.Series(scored.prediction)
    if values.isna().any():
        problems.append(f"{int(values.isna().sum())} predictions are missing or NaN")
    probability = pd.Series(scored.probability) if scored.probability is not None else None
    if probability is not None and probability.isna().any():
        problems.append(f"{int(probability.isna().sum())} probabilities are NaN")
    if scored.probabilities is not None and np.isnan(scored.probabilities).any():
        missing = int(np.isnan(scored.probabilities).any(axis=1).sum())
        problems.append(f"{missing} rows have a NaN class probability")
    spread = probability if probability is not None else values
    if rows > 1 and spread.nunique(dropna=True) <= 1:
        problems.append("degenerate: the same output for every row")
    return problems


def improvement(metric: str, champion: float | None, challenger: float | None) -> float | None:
    if champion is None or challenger is None:
        return None
    gain = challenger - champion
    return -gain if metric in LOWER_IS_BETTER else gain


def evaluate(
    champion: Any,
    challenger: Any,
    holdout: pd.DataFrame,
    features: list[str],
    target: str,
    task: str,
    metric: str,
    min_improvement: float,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict[str, Any]:
    """The evaluation recorded on the job: both sides' metrics and checks, the improvement
    with its confidence interval, and the decision."""
    if metric not in metric_names(task):
        raise ValueError(f"metric {metric} is not one of {', '.join(metric_names(task))}")
    truth, rows = holdout[target], len(holdout)
    sides: dict[str, Any] = {}
    outputs: dict[str, Scored] = {}
    for side, estimator in (("champion", champion), ("challenger", challenger)):
        if estimator is None:
            sides[side] = {"metrics": {}, "problems": ["no estimator"]}
            continue
        try:
            scored = predict(estimator, holdout[features], task)
        except Exception as error:  # noqa: BLE001 - a model that cannot score fails the check
            sides[side] = {"metrics": {}, "problems": [f"cannot predict: {error}"]}
            continue
        sides[side] = {
            "metrics": compute_metrics(task, truth, scored),
            "problems": sanity_problems(scored, rows),
        }
        outputs[side] = scored
    champion_score = sides["champion"]["metrics"].get(metric)
    challenger_score = sides["challenger"]["metrics"].get(metric)
    gain = improvement(metric, champion_score, challenger_score)
    interval = None
    if confidence > 0 and gain is not None and not _unusable(sides):
        interval = improvement_interval(
            metric,
            outputs["champion"].side(truth),
            outputs["challenger"].side(truth),
            confidence,
            resamples,
            seed,
        )
    decision, reason = _decide(
        sides, metric, champion_score, challenger_score, gain, min_improvement, interval
    )
    return {
        "metric": metric,
        "higher_is_better": metric not in LOWER_IS_BETTER,
        "holdout_rows": rows,
        "champion": sides["champion"],
        "challenger": sides["challenger"],
        "champion_score": champion_score,
        "challenger_score": challenger_score,
        **evidence(gain, interval, confidence, min_improvement),
        "seed": seed,
        "decision": decision,
        "reason": reason,
    }


def _unusable(sides: dict[str, Any]) -> bool:
    return any(sides[side]["problems"] for side in ("champion", "challenger"))


def evidence(
    gain: float | None, interval: Interval | None, confidence: float, min_improvement: float
) -> dict[str, Any]:
    """What a job's evaluation and a canary's decision record of the improvement."""
    return {
        "improvement": gain,
        "improvement_interval": interval.as_list() if interval else None,
        "confidence": confidence,
        "resamples": interval.resamples if interval else 0,
        "min_improvement": min_improvement,
    }


def shown_better(
    gain: float, interval: Interval | None, min_improvement: float
) -> tuple[bool, str]:
    """Whether the improvement clears `min_improvement`, and the words that say so: the
    interval's lower bound with a confidence, the point estimate without one."""
    if interval is None:
        verdict = gain >= min_improvement
        words = f"improvement {gain:+.4f}"
        return verdict, words + (
            f" meets {min_improvement}" if verdict else f" below {min_improvement}"
        )
    words = f"improvement {gain:+.4f}, {interval.confidence:.0%} interval " + (
        f"[{interval.low:+.4f}, {interval.high:+.4f}]"
        if interval.low is not None
        else "undefined on every resample"
    )
    if interval.low is not None and interval.low > min_improvement:
        return True, f"{words}: lower bound above {min_improvement}"
    below = interval.low is None or interval.low < min_improvement
    bound = "below" if below else "not above"
    return False, f"{words}: not shown to be better (lower bound {bound} {min_improvement})"


def _decide(
    sides: dict[str, Any],
    metric: str,
    champion_score: float | None,
    challenger_score: float | None,
    gain: float | None,
    min_improvement: float,
    interval: Interval | None,
) -> tuple[str, str]:
    if sides["challenger"]["problems"]:
        return "reject", "challenger fails sanity checks: " + "; ".join(
            sides["challenger"]["problems"]
        )
    if challenger_score is None:
        return "reject", f"challenger {metric} cannot be computed on the holdout"
    if champion_score is None or sides["champion"]["problems"]:
        return "promote", f"champion has no usable {metric}; challenger {challenger_score:.4f}"
    better, words = shown_better(gain, interval, min_improvement)
    scores = f"challenger {metric} {challenger_score:.4f} vs champion {champion_score:.4f}"
    return ("promote" if better else "reject"), f"{scores}: {words}"
