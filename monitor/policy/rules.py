"""A deployment's policy (the spec's [deployments.policy] table) read against one run.

Each rule that the run breaks gives a Breach; whether anyone acts on it (consecutive
windows, cooldown) is decided in monitor.policy.evaluate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from monitor.report.methods import is_drifted
from monitor.store.models import Run

HIGHER_IS_BETTER = {"accuracy", "precision", "recall", "f1", "roc_auc", "r2"}


@dataclass
class Breach:
    rule: str  # stable key: "drift_share", "feature:tenure", "performance:f1", ...
    type: str  # the event type: drift | data_quality | performance | estimated_performance
    message: str
    value: float | None = None
    threshold: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def breaches(policy: dict, run: Run, baseline: dict) -> list[Breach]:
    """Every rule of `policy` that `run` breaks; `baseline` is the reference's performance."""
    found: list[Breach] = []
    share = policy.get("drift_share")
    if share is not None and run.drift_share is not None and run.drift_share >= share:
        found.append(
            Breach(
                "drift_share",
                "drift",
                f"{run.drift_share:.0%} of features drifted",
                run.drift_share,
                share,
            )
        )
    for name, threshold in (policy.get("features") or {}).items():
        entry = (run.features or {}).get(name) or {}
        score, method = entry.get("score"), entry.get("method")
        if score is not None and is_drifted(method, score, float(threshold)):
            found.append(
                Breach(
                    f"feature:{name}",
                    "drift",
                    f"{name} drifted ({method} {score:.4g})",
                    score,
                    threshold,
                )
            )
    prediction = run.prediction_drift or {}
    if policy.get("prediction_drift") and prediction.get("drifted"):
        found.append(
            Breach(
                "prediction_drift",
                "drift",
                f"prediction drifted ({prediction.get('method')} {prediction.get('score'):.4g})",
                prediction.get("score"),
                prediction.get("threshold"),
            )
        )
    found.extend(_quality(policy, run))
    for key, kind in (
        ("performance", "performance"),
        ("estimated_performance", "estimated_performance"),
    ):
        rule = policy.get(key)
        values = getattr(run, key) or {}
        if rule and values:
            breach = _performance(kind, rule, values, baseline)
            if breach:
                found.append(breach)
    return found


def _quality(policy: dict, run: Run) -> list[Breach]:
    found = []
    limit = policy.get("missing_share")
    new = policy.get("new_categories")
    for name, entry in (run.quality or {}).items():
        missing = entry.get("missing_share")
        if limit is not None and missing is not None and missing > limit:
            found.append(
                Breach(
                    f"missing_share:{name}",
                    "data_quality",
                    f"{name}: {missing:.1%} missing",
                    missing,
                    limit,
                )
            )
        share = entry.get("new_category_share")
        if new is None or new is False or share is None or not entry.get("new_category_count"):
            continue
        allowed = 0.0 if new is True else float(new)
        if share > allowed:
            shown = ", ".join(map(str, entry.get("new_categories", [])[:5]))
            found.append(
                Breach(
                    f"new_categories:{name}",
                    "data_quality",
                    f"{name}: new categories {shown}",
                    share,
                    allowed,
                )
            )
    return found


def _performance(kind: str, rule: dict, values: dict, baseline: dict) -> Breach | None:
    metric = rule.get("metric")
    value = values.get(metric)
    if value is None:
        return None
    label = "estimated " + metric if kind == "estimated_performance" else metric
    key = f"{kind}:{metric}"
    if "min" in rule and value < rule["min"]:
        return Breach(key, kind, f"{label} {value:.4g} below {rule['min']}", value, rule["min"])
    if "max" in rule and value > rule["max"]:
        return Breach(key, kind, f"{label} {value:.4g} above {rule['max']}", value, rule["max"])
    reference = baseline.get(metric)
    if "max_drop" in rule and reference is not None:
        drop = reference - value if metric in HIGHER_IS_BETTER else value - reference
        if drop > rule["max_drop"]:
            return Breach(
                key,
                kind,
                f"{label} {value:.4g} is {drop:.4g} worse than the reference's {reference:.4g}",
                value,
                rule["max_drop"],
            )
    return None
