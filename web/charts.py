"""What a deployment page's charts draw: drift as "up = more drift" for every method, the
policy's metric first with its threshold, and a timeline of what happened.

Drift strength is a feature's score relative to its threshold, so that 1 is the threshold
for every method and more is more drift: `score / threshold` for a distance (Wasserstein,
Jensen-Shannon, PSI: drift when the score reaches the threshold) and
`log(p) / log(threshold)` for a p-value test (KS, chi-square, Z: drift when the p-value
falls below the threshold), which reads 1 at the threshold, 2 at its square (p = 0.0025
for 0.05), 0 for p = 1.
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.report.methods import P_VALUE_METHODS
from monitor.report.performance import CLASSIFICATION_METRICS
from monitor.store.models import Deployment, Event, ModelVersion, Notification, Run
from monitor.timeutil import zone_of

TOP_FEATURES = 6
SMALLEST_P = 1e-300  # a p-value of 0 (underflow) is drawn as this
LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1 score",
    "roc_auc": "ROC AUC",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    "r2": "R²",
    "mape": "Mean absolute percentage error",
}
SHARES = set(CLASSIFICATION_METRICS) | {"mape"}  # drawn from 0 to 100%
# Event types drawn on the timeline, with the words a mark carries.
MARKS = {
    "drift": "drift breach",
    "data_quality": "data quality breach",
    "performance": "performance breach",
    "estimated_performance": "estimated performance breach",
    "retrain.requested": "retrain requested",
    "retrain.promoted": "promoted",
    "retrain.rejected": "rejected",
    "deployment.updated": "deployed",
    "deployment.rolled_back": "rolled back",
}


def is_p_value(method: str | None) -> bool:
    return bool(method) and ("p_value" in method or method in P_VALUE_METHODS)


def drift_strength(score: float | None, method: str | None, threshold: float | None):
    """The score relative to its threshold: 1 at the threshold, more is more drift."""
    if score is None or not threshold or threshold <= 0:
        return None
    if is_p_value(method):
        if threshold >= 1:
            return None
        return math.log(max(score, SMALLEST_P)) / math.log(threshold)
    return score / threshold


def local_time(moment: datetime, zone: str | None) -> str:
    """An ISO time in the deployment's zone, without offset: what the chart axis shows."""
    from datetime import UTC

    shown = moment.replace(tzinfo=UTC).astimezone(zone_of(zone)).replace(tzinfo=None)
    return shown.isoformat()


def newest_runs(session: Session, deployment_id: int, since: datetime | None) -> list[Run]:
    """Each window's newest finished run (a backfill or rerun replaces the one before),
    oldest window first."""
    query = select(Run).where(Run.deployment_id == deployment_id, Run.status != "running")
    if since is not None:
        query = query.where(Run.window_start >= since)
    newest: dict[datetime, Run] = {}
    for run in session.scalars(query.order_by(Run.window_start, Run.id)):
        newest[run.window_start] = run
    return list(newest.values())


def feature_drift(runs: list[Run], zone: str | None, top: int = TOP_FEATURES) -> list[dict]:
    """The `top` features that drifted most strongly over these windows, strongest first,
    each with its strength per window and the raw score, method and threshold for the hover."""
    lines: dict[str, dict] = {}
    for run in runs:
        for name, entry in (run.features or {}).items():
            strength = drift_strength(
                entry.get("score"), entry.get("method"), entry.get("threshold")
            )
            if strength is None:
                continue
            line = lines.setdefault(name, {"name": name, "points": [], "hover": [], "peak": 0.0})
            line["points"].append([local_time(run.window_start, zone), strength])
            line["hover"].append(
                f"{name}: {entry.get('method')} {entry['score']:.4g} "
                f"(threshold {entry['threshold']:.4g}{', drifted' if entry.get('drifted') else ''})"
            )
            line["peak"] = max(line["peak"], strength)
    ranked = sorted(lines, key=lambda name: lines[name]["peak"], reverse=True)[:top]
    return [lines[name] for name in ranked]


def policy_metric(policy: dict, task: str) -> str:
    for key in ("performance", "estimated_performance"):
        metric = (policy.get(key) or {}).get("metric")
        if metric:
            return metric
    return "accuracy" if task == "classification" else "rmse"


def performance(runs: list[Run], policy: dict, task: str, zone: str | None) -> dict:
    """Each metric's realized and estimated points, its label, axis and threshold; the
    policy's metric first. A window without numbers (no data, too few rows) is a gap,
    never the end of the history."""
    main = policy_metric(policy, task)
    metrics: dict[str, dict] = {}
    for run in runs:
        when = local_time(run.window_start, zone)
        for side, values in (
            ("realized", run.performance),
            ("estimated", run.estimated_performance),
        ):
            for name, value in (values or {}).items():
                if isinstance(value, int | float):
                    entry = metrics.setdefault(name, _metric(name, policy))
                    entry[side].append([when, value])
    order = sorted(
        metrics, key=lambda name: (name != main, list(LABELS).index(name) if name in LABELS else 99)
    )
    return {"main": main, "order": order, "metrics": metrics}


def _metric(name: str, policy: dict) -> dict:
    threshold = None
    for key in ("performance", "estimated_performance"):
        rule = policy.get(key) or {}
        if rule.get("metric") == name:
            threshold = rule.get("min", rule.get("max"))
    return {
        "label": LABELS.get(name, name.replace("_", " ")),
        "share": name in SHARES,
        "threshold": threshold,
        "realized": [],
        "estimated": [],
    }


_VERSION = re.compile(r"version (\d+)")


def timeline(session: Session, deployment: Deployment, since: datetime | None) -> list[dict]:
    """What happened, as marks for every time chart: breaches acted on, alerts sent,
    retrains requested, versions promoted, rejected or deployed, rollbacks."""
    zone = deployment.timezone
    query = select(Event).where(
        Event.type.in_(list(MARKS)),
        or_(
            Event.deployment_id == deployment.id,
            (Event.deployment_id.is_(None)) & (Event.model_id == deployment.model_id),
        ),
    )
    if since is not None:
        query = query.where(Event.created_at >= since)
    marks = []
    events = list(session.scalars(query.order_by(Event.created_at).limit(500)))
    for event in events:
        label = MARKS[event.type]
        version = _VERSION.search(event.title or "")
        if version and event.type.startswith(("retrain.p", "retrain.r", "deployment.")):
            numbers = _VERSION.findall(event.title)
            label = f"v{numbers[-1]} {label}" if event.type != "retrain.requested" else label
        marks.append(_mark(event.created_at, zone, label, event.type, event.title))
    sent = session.execute(
        select(Notification.sent_at, Notification.channel, Event.title)
        .join(Event, Event.id == Notification.event_id)
        .where(
            Event.deployment_id == deployment.id,
            Notification.status == "sent",
            Notification.sent_at.is_not(None),
        )
        .order_by(Notification.sent_at)
        .limit(200)
    ).all()
    seen = set()
    for sent_at, channel, title in sent:
        if (sent_at.replace(second=0, microsecond=0), channel) in seen:
            continue
        seen.add((sent_at.replace(second=0, microsecond=0), channel))
        if since is None or sent_at >= since:
            marks.append(_mark(sent_at, zone, f"alert sent ({channel})", "alert", title))
    return sorted(marks, key=lambda mark: mark["time"])


def _mark(moment: datetime, zone: str | None, label: str, kind: str, title: str) -> dict:
    return {"time": local_time(moment, zone), "label": label, "kind": kind, "title": title}


def version_numbers(session: Session, runs: list[Run]) -> dict[int, int]:
    """Version row id to its number (`v2`), for the runs shown."""
    ids = {run.model_version_id for run in runs if run.model_version_id}
    if not ids:
        return {}
    return dict(
        session.execute(
            select(ModelVersion.id, ModelVersion.version).where(ModelVersion.id.in_(ids))
        ).all()
    )
