"""Acting on breaches: only after `consecutive` breaching windows, at most once per rule
per `cooldown` (measured in window time, so replaying history behaves like living it),
and idempotently: the event's dedup key and the retrain request's idempotency key are
derived from the breach, so a rerun or a backfill of the same window never asks twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.events import emit
from monitor.incidents import note_breaches, resolve_recovered
from monitor.jobs import request_retrain
from monitor.policy.notice import announce
from monitor.policy.rules import Breach, breaches
from monitor.store.models import Deployment, Event, Run
from monitor.timeutil import deployment_calendar, iso, parse_duration, parse_timestamp

FINISHED = ("ok",)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def breach_key(deployment: Deployment, rule: str, window_start: datetime) -> str:
    return f"breach:{deployment.id}:{rule}:{stamp(window_start)}"


def retrain_key(deployment: Deployment, window_start: datetime) -> str:
    return f"policy:{deployment.id}:{stamp(window_start)}"


def evaluate(session: Session, deployment: Deployment, run: Run, baseline: dict) -> list[dict]:
    """The run's breaches as stored on it, each saying whether it was acted on, why not,
    and what Driftwise is doing (`doing`). Opens or extends the incident of each breach,
    resolves incidents this healthy window ends, and announces the window's breaches in
    one event (see monitor.policy.notice)."""
    policy = deployment.policy or {}
    consecutive = max(1, int(policy.get("consecutive", 1)))
    cooldown = parse_duration(policy["cooldown"]) if policy.get("cooldown") else 0
    actions = policy.get("actions") or ["alert"]
    found = breaches(policy, run, baseline)
    history = _previous_breaches(session, deployment, run, consecutive - 1)
    incidents = note_breaches(session, deployment, run, [b.as_dict() for b in found])
    result = []
    job = None
    for breach in found:
        incident = incidents[breach.type]
        entry = breach.as_dict() | {"acted": False, "incident_id": incident.id}
        streak = 1 + _streak(history, breach.rule)
        if streak < consecutive:
            entry["held"] = f"breaching {streak} of {consecutive} consecutive windows"
            more = consecutive - streak
            entry["doing"] = f"waiting for {more} more breaching window{'s' if more > 1 else ''}"
        elif (
            (last := _last_action(session, deployment, breach.rule, run))
            and cooldown
            and (run.window_end - last < timedelta(seconds=cooldown))
        ):
            entry["held"] = f"cooldown: acted on the window ending {stamp(last)}"
            entry["doing"] = f"in cooldown until {stamp(last + timedelta(seconds=cooldown))}"
        else:
            event = _act(session, deployment, run, breach, incident.id)
            entry |= {"acted": True, "event_id": event.id, "doing": ALERT_ONLY}
            if "retrain" in actions and job is None:
                job = _retrain(session, deployment, run, breach)
            if job is not None:
                entry["retrain_job_id"] = job.id
                entry["doing"] = f"retrain job {job.id} {_job_state(job)}"
        result.append(entry)
    resolve_recovered(session, deployment, run, {breach.type for breach in found})
    if result:
        announce(session, deployment, run, result)
    return result


ALERT_ONLY = "alert only (the policy's actions do not include retrain)"


def _job_state(job) -> str:
    return {"pending": "requested", "running": "running"}.get(job.status, job.status)


def _previous_breaches(
    session: Session, deployment: Deployment, run: Run, windows: int
) -> list[set[str] | None]:
    """Rules breached in each of the `windows` windows before the run's, newest first;
    None for a window without a finished run (which breaks any streak)."""
    calendar = deployment_calendar(deployment)
    result: list[set[str] | None] = []
    start = run.window_start
    for _ in range(windows):
        start = calendar.before(start)
        latest = session.scalars(
            select(Run)
            .where(
                Run.deployment_id == deployment.id,
                Run.window_start == start,
                Run.status.in_(FINISHED),
                Run.id != run.id,
            )
            .order_by(Run.finished_at.desc(), Run.id.desc())
            .limit(1)
        ).first()
        result.append(
            None if latest is None else {entry["rule"] for entry in latest.breaches or []}
        )
    return result


def _streak(history: list[set[str] | None], rule: str) -> int:
    count = 0
    for rules in history:
        if rules is None or rule not in rules:
            break
        count += 1
    return count


def _last_action(session: Session, deployment: Deployment, rule: str, run: Run) -> datetime | None:
    """The end of the latest earlier window whose breach of `rule` was acted on."""
    prefix = f"breach:{deployment.id}:{rule}:"
    events = session.scalars(
        select(Event)
        .where(
            Event.deployment_id == deployment.id,
            Event.dedup_key.startswith(prefix, autoescape=True),
        )
        .order_by(Event.created_at.desc())
        .limit(50)
    )
    ends = [
        parse_timestamp(event.data["window_end"])
        for event in events
        if event.data.get("window_end")
        and event.dedup_key != breach_key(deployment, rule, run.window_start)
    ]
    earlier = [end for end in ends if end <= run.window_end]
    return max(earlier) if earlier else None


def _act(
    session: Session, deployment: Deployment, run: Run, breach: Breach, incident_id: int
) -> Event:
    severity = "critical" if breach.type in ("performance", "estimated_performance") else "warning"
    return emit(
        session,
        breach.type,
        breach_key(deployment, breach.rule, run.window_start),
        f"{deployment.name}: {breach.message}",
        severity,
        deployment=deployment,
        run_id=run.id,
        incident_id=incident_id,
        data={
            "rule": breach.rule,
            "value": breach.value,
            "threshold": breach.threshold,
            "window_start": iso(run.window_start),
            "window_end": iso(run.window_end),
            "run_kind": run.kind,
            "estimate": breach.type == "estimated_performance",
        },
    )


def _retrain(session: Session, deployment: Deployment, run: Run, breach: Breach):
    job = request_retrain(
        session,
        deployment.model_id,
        "policy",
        retrain_key(deployment, run.window_start),
        deployment_id=deployment.id,
        run_id=run.id,
        reason=f"{deployment.name}: {breach.message} (window {stamp(run.window_start)})",
    )
    if job.status == "pending":
        emit(
            session,
            "retrain.requested",
            f"retrain.requested:{job.id}",
            f"{deployment.name}: retrain requested ({breach.message})",
            "info",
            deployment=deployment,
            run_id=run.id,
            retrain_job_id=job.id,
            data={"job_id": job.id, "trigger": "policy", "reason": job.reason},
        )
    return job
