"""One recommendation per deployment, real-time or batch, with its reasons and costs.

The rule, in order:
1. Batch is possible only if some run interval keeps every result within the latency
   target: the spec's `latency_target`, else the median label delay (nobody acts on an
   outcome before its label says how it went), else batch is not considered.
2. Of the possible options, the cheaper one per month is recommended when it saves at
   least SAVING of the current option's cost; otherwise the deployment fits as it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitor.advice.compute import version_compute
from monitor.advice.cost import Pricing, batch_cost, realtime_cost
from monitor.advice.traffic import MIN_PREDICTIONS, deployment_profile
from monitor.events import emit
from monitor.store.models import Deployment, Model, ModelVersion
from monitor.timeutil import utcnow

SAVING = 0.25
HOLD = timedelta(days=7)  # a changed recommendation is announced once it has held this long
INTERVALS = (86400.0, 43200.0, 21600.0, 3600.0, 900.0)  # batch run intervals considered
TRAFFIC_KEYS = (
    "predictions",
    "per_day",
    "per_hour",
    "days_observed",
    "active_share",
    "busiest_hour",
    "busiest_hour_share",
    "burstiness",
    "request_rows",
    "median_batch",
    "by_hour",
    "runs",
)


def advise(session: Session, deployment: Deployment, measure: bool = True) -> dict[str, Any]:
    """The advice for `deployment` now. Its active version's compute is measured once
    (`measure`); pages pass False and say so, so that no page view waits for a model."""
    profile = deployment_profile(session, deployment)
    serving = deployment.serving or {}
    pricing = Pricing.from_config(serving.get("pricing") or {})
    base = {
        "deployment": deployment.name,
        "mode": deployment.mode,
        "recommendation": None,
        "fits": None,
        "costs": {"realtime": None, "batch": None},
        "currency": pricing.currency,
        "placeholder_prices": list(pricing.placeholders),
        "inputs": {
            "traffic": {key: profile.get(key) for key in TRAFFIC_KEYS},
            "label_delay": profile["label_delay"],
            "latency_target_seconds": serving.get("latency_target"),
            "pricing": pricing.as_dict(),
            "version": None,
            "compute": None,
        },
    }
    version = session.get(ModelVersion, deployment.active_version_id or -1)
    if profile["predictions"] < MIN_PREDICTIONS or version is None:
        why = "no active version" if version is None else "too few predictions yet"
        return base | {"summary": f"No advice yet: {why}.", "reasons": []}
    if not version.compute and not measure:
        return base | {
            "summary": f"No advice yet: v{version.version}'s compute has not been measured "
            "(the daemon measures it; or run `driftwise advise`).",
            "reasons": [],
        }
    model = session.get(Model, deployment.model_id)
    compute = version_compute(session, model, version, profile["request_rows"] or 1)
    base["inputs"] |= {"version": version.version, "compute": compute}
    return base | decide(deployment.mode, profile, compute, pricing, serving, version.version)


def decide(
    mode: str,
    traffic: dict[str, Any],
    compute: dict[str, Any],
    pricing: Pricing,
    serving: dict[str, Any],
    version: int,
) -> dict[str, Any]:
    """The recommendation from measured inputs alone (no database): what the tests check."""
    target, target_from = _target(serving, traffic)
    realtime = realtime_cost(traffic, compute, pricing)
    batch = _batch(traffic, compute, pricing, target)
    current = realtime if mode == "realtime" else batch
    recommendation = mode
    if batch is None:
        recommendation = "realtime"
    else:
        cheaper = "batch" if batch["monthly"] < realtime["monthly"] else "realtime"
        other = batch if cheaper == "batch" else realtime
        if current is None or other["monthly"] <= (1 - SAVING) * current["monthly"]:
            recommendation = cheaper
    words = _Words(pricing.currency)
    reasons = _reasons(words, traffic, compute, version)
    compute_hours = traffic["per_day"] * compute["per_row_seconds"] / 3600
    if compute_hours >= 0.5 * realtime["node_hours_per_day"]:
        reasons.append(
            f"compute dominates: scoring a day's {words.count(traffic['per_day'])} predictions "
            f"takes {compute_hours:.1f} node-hours either way"
        )
    if target_from == "target" and compute["warm_request_seconds"] > target:
        reasons.append(
            f"model v{version} alone takes {words.duration(compute['warm_request_seconds'])} per "
            f"request, beyond your {words.duration(target)} target"
        )
    reasons.append(_cost_reason(words, recommendation, realtime, batch))
    if batch is not None:
        reasons.append(_age_reason(words, batch, target, target_from))
    elif target is not None:
        reasons.append(
            f"a batch job cannot keep results within {words.duration(target)} "
            f"(start-up alone takes {words.duration(pricing.batch_startup_seconds)})"
        )
    else:
        reasons.append(
            "no latency_target is set and no labels show how soon results are used, "
            "so batch serving was not considered"
        )
    fits = recommendation == mode
    head = (
        f"Fits as it is ({_mode_words(mode)})"
        if fits
        else f"Serve as {'a batch job' if recommendation == 'batch' else 'a real-time endpoint'}"
    )
    return {
        "recommendation": recommendation,
        "fits": fits,
        "headline": head,
        "summary": f"{head}: {'; '.join(reasons)}.",
        "reasons": reasons,
        "costs": {"realtime": realtime, "batch": batch},
        "running_by_hour": _running_by_hour(traffic, realtime, batch),
    }


def _target(serving: dict[str, Any], traffic: dict[str, Any]) -> tuple[float | None, str]:
    if serving.get("latency_target"):
        return float(serving["latency_target"]), "target"
    delay = (traffic.get("label_delay") or {}).get("median_seconds")
    if delay:
        return float(delay), "labels"
    return None, ""


def _batch(
    traffic: dict[str, Any], compute: dict[str, Any], pricing: Pricing, target: float | None
) -> dict | None:
    """The cheapest batch schedule that keeps results within the target, if any does."""
    if target is None:
        return None
    observed = (traffic.get("runs") or {}).get("gap_seconds")
    candidates = sorted({*INTERVALS, *([float(observed)] if observed else [])}, reverse=True)
    for interval in candidates:
        cost = batch_cost(traffic, compute, pricing, interval)
        if cost["max_result_age_seconds"] <= target:
            return cost
    return None


def _running_by_hour(traffic: dict, realtime: dict, batch: dict | None) -> dict[str, list]:
    """Per hour of the day: predictions, and machines each option keeps running (batch runs
    start after the busiest hour, when the most work has arrived)."""
    sample = traffic.get("predictions") or 1
    per_hour = [count / sample * traffic["per_day"] for count in traffic.get("by_hour", [0] * 24)]
    nodes = [0.0] * 24
    if batch is not None:
        start = batch["first_run_hour"]
        hours_between = batch["interval_seconds"] / 3600
        for run in range(max(int(round(batch["runs_per_day"])), 1)):
            hour = (start + run * hours_between) % 24
            left = batch["billed_seconds_per_run"] / 3600
            while left > 0:
                nodes[int(hour) % 24] += min(left, 1.0)
                hour, left = hour + 1, left - 1.0
    return {
        "predictions": per_hour,
        "realtime": [float(realtime["instances"])] * 24,
        "batch": [min(value, 24.0) for value in nodes],
    }


class _Words:
    def __init__(self, currency: str) -> None:
        self.currency = currency

    def money(self, amount: float) -> str:
        text = f"{amount:,.2f}" if amount < 10 else f"{amount:,.0f}"
        return f"${text}" if self.currency == "USD" else f"{text} {self.currency}"

    @staticmethod
    def duration(seconds: float) -> str:
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
            if seconds >= size * (2 if unit == "d" else 1):
                value = seconds / size
                return f"{value:.0f} {unit}" if value >= 10 else f"{value:.3g} {unit}"
        if seconds >= 0.001:
            return f"{seconds * 1000:.3g} ms"
        return f"{seconds * 1e6:.3g} µs"

    @staticmethod
    def count(value: float) -> str:
        return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def _reasons(
    words: _Words, traffic: dict[str, Any], compute: dict[str, Any], version: int
) -> list[str]:
    reasons = [_traffic_reason(words, traffic)]
    delay = (traffic.get("label_delay") or {}).get("median_seconds")
    if delay:
        reasons.append(f"labels take {words.duration(delay)}")
    per_row = compute["per_row_seconds"]
    reasons.append(
        f"model v{version} scores a row in {words.duration(per_row)} in batches and answers a "
        f"{words.count(compute['request_rows'])}-row request in "
        f"{words.duration(compute['warm_request_seconds'])} (measured)"
    )
    return reasons


def _traffic_reason(words: _Words, traffic: dict[str, Any]) -> str:
    share, hour = traffic.get("busiest_hour_share") or 0.0, traffic.get("busiest_hour") or 0
    burst = traffic.get("median_batch") or 1
    if share >= 0.5:
        text = f"{share:.0%} of requests arrive between {hour:02d}:00 and {(hour + 1) % 24:02d}:00"
        return text + (f" in bursts of {words.count(burst)}" if burst >= 2 else "")
    return (
        f"about {words.count(traffic['per_hour'])} predictions an hour arrive across "
        f"{traffic.get('active_share', 0) * 24:.0f} hours of the day"
    )


def _cost_reason(words: _Words, recommendation: str, realtime: dict, batch: dict | None) -> str:
    always_on = (
        f"{words.money(realtime['monthly'])}/month always-on "
        f"({realtime['instances']} instance{'s' if realtime['instances'] != 1 else ''})"
    )
    if batch is None:
        return f"a real-time endpoint costs about {always_on}"
    as_batch = f"as {_interval_words(batch['interval_seconds'])} batch job"
    if recommendation == "batch":
        return f"{as_batch} this costs about {words.money(batch['monthly'])}/month instead of {always_on}"
    return f"{always_on}; {as_batch} it would cost about {words.money(batch['monthly'])}/month"


def _age_reason(words: _Words, batch: dict, target: float | None, target_from: str) -> str:
    age = words.duration(batch["max_result_age_seconds"])
    if target_from == "target":
        return f"results would be up to {age} old, within your {words.duration(target)} target"
    return f"results would be up to {age} old, within the {words.duration(target)} labels take"


def _interval_words(seconds: float) -> str:
    if seconds == 86400:
        return "a nightly"
    if seconds == 3600:
        return "an hourly"
    return f"a {_Words.duration(seconds)}"


def _mode_words(mode: str) -> str:
    return "real-time" if mode == "realtime" else "batch"


def record_advice(
    session: Session, deployment: Deployment, result: dict, now: datetime | None = None
) -> bool:
    """Remember the recommendation; once a change has held for HOLD, emit `serving.advice`
    (announced once per change). True when the event was emitted now."""
    now = now or utcnow()
    recommendation = result.get("recommendation")
    state = dict(deployment.advice or {})
    if recommendation is None:
        return False
    if state.get("recommendation") != recommendation:
        state = {"recommendation": recommendation, "since": now.isoformat(), "announced": False}
    held = now - datetime.fromisoformat(state["since"])
    emitted = False
    if not result.get("fits") and not state["announced"] and held >= HOLD:
        emit(
            session,
            "serving.advice",
            f"serving.advice:{deployment.id}:{recommendation}:{state['since']}",
            f"{deployment.name}: consider {_mode_words(recommendation)} serving",
            "info",
            deployment=deployment,
            data={
                "recommendation": recommendation,
                "summary": result["summary"],
                "costs": {
                    option: (cost or {}).get("monthly") for option, cost in result["costs"].items()
                },
                "since": state["since"],
            },
        )
        state["announced"], emitted = True, True
    deployment.advice = state
    return emitted
