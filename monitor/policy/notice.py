"""One event per breaching run: every breach of the window, the drifted features, the
realized and estimated performance, and what Driftwise is doing about each breach.

Its notifications are the window's one message. The per-rule breach events stay (they
carry the dedup keys that keep actions idempotent) but are not announced on their own, nor
is the retrain request the policy made for them.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from monitor.events import emit
from monitor.incidents import SEVERITY
from monitor.report.methods import P_VALUE_METHODS
from monitor.store.models import Deployment, Event, Run
from monitor.timeutil import iso

TYPE = "window.breached"
BREACH_TYPES = ("drift", "data_quality", "performance", "estimated_performance")
MAX_FEATURES = 20  # rows in the drifted-features table
WORDS = {
    "drift": "drift",
    "data_quality": "data quality",
    "performance": "performance",
    "estimated_performance": "estimated performance",
}


def announced_by_window(event: Event) -> bool:
    """A per-rule breach event or the retrain request it made: the window's event tells of
    both, so neither is announced on its own."""
    data = event.data or {}
    if event.type == "retrain.requested":
        return data.get("trigger") == "policy" and event.run_id is not None
    return event.type in BREACH_TYPES and "rule" in data


def announce(session: Session, deployment: Deployment, run: Run, entries: list[dict]) -> Event:
    """The window's event; a rerun with the same breaches finds it instead of a new one."""
    rules = ",".join(sorted(str(entry["rule"]) for entry in entries))
    digest = hashlib.sha256(rules.encode()).hexdigest()[:16]
    window = run.window_start.strftime("%Y-%m-%dT%H:%M:%S")
    types = list(dict.fromkeys(str(entry["type"]) for entry in entries))
    severity = "critical" if any(SEVERITY.get(kind) for kind in types) else "warning"
    features = drifted_features(run)
    incident_ids = list(dict.fromkeys(entry["incident_id"] for entry in entries))
    return emit(
        session,
        TYPE,
        f"{TYPE}:{deployment.id}:{window}:{digest}",
        f"{deployment.name}: {headline(entries, features)}",
        severity,
        deployment=deployment,
        run_id=run.id,
        incident_id=incident_ids[0],
        data={
            "window_start": iso(run.window_start),
            "window_end": iso(run.window_end),
            "window_seconds": deployment.window_seconds,
            "run_kind": run.kind,
            "types": types,
            "incident_ids": incident_ids,
            "breaches": [_entry(entry) for entry in entries],
            "drifted_features": features[:MAX_FEATURES],
            "drifted_feature_count": len(features),
            "drift_share": run.drift_share,
            "performance": _scalars(run.performance),
            "estimated_performance": _scalars(run.estimated_performance),
            "metric": _policy_metric(deployment),
            "labeled_rows": run.labeled_rows,
        },
    )


def headline(entries: list[dict], features: list[dict]) -> str:
    """`drift (3 features), performance (f1)`: each reason once, worst details inside."""
    parts = []
    for kind in dict.fromkeys(str(entry["type"]) for entry in entries):
        word = WORDS.get(kind, kind)
        if kind == "drift" and features:
            count = len(features)
            parts.append(f"{word} ({count} feature{'s' if count != 1 else ''})")
        elif kind in ("performance", "estimated_performance"):
            metrics = [str(e["rule"]).partition(":")[2] for e in entries if e["type"] == kind]
            parts.append(f"{word} ({', '.join(metrics)})")
        elif kind == "data_quality":
            columns = {str(e["rule"]).partition(":")[2] for e in entries if e["type"] == kind}
            parts.append(f"{word} ({len(columns)} column{'s' if len(columns) != 1 else ''})")
        else:
            parts.append(word)
    return ", ".join(parts)


def drifted_features(run: Run) -> list[dict]:
    """The run's drifted features, most strongly drifted first."""
    rows = []
    for name, info in (run.features or {}).items():
        if isinstance(info, dict) and info.get("drifted"):
            rows.append(
                {
                    "feature": name,
                    "method": info.get("method"),
                    "score": info.get("score"),
                    "threshold": info.get("threshold"),
                }
            )
    return sorted(rows, key=_strength, reverse=True)


def _strength(row: dict) -> float:
    # p-value tests drift when the score is *below* the threshold, distances when above.
    score, threshold = row.get("score"), row.get("threshold")
    if not isinstance(score, int | float) or not isinstance(threshold, int | float):
        return 0.0
    if row.get("method") in P_VALUE_METHODS:
        return threshold / max(score, 1e-300)
    return score / threshold if threshold else score


def _entry(entry: dict) -> dict:
    keys = ("rule", "type", "message", "value", "threshold", "acted", "held", "doing")
    return {key: entry.get(key) for key in keys} | {
        "incident_id": entry.get("incident_id"),
        "retrain_job_id": entry.get("retrain_job_id"),
        "estimate": entry.get("type") == "estimated_performance",
    }


def _scalars(values: dict | None) -> dict:
    return {k: v for k, v in (values or {}).items() if isinstance(v, int | float)}


def _policy_metric(deployment: Deployment) -> str | None:
    policy = deployment.policy or {}
    for key in ("performance", "estimated_performance"):
        if isinstance(policy.get(key), dict) and policy[key].get("metric"):
            return str(policy[key]["metric"])
    return None
