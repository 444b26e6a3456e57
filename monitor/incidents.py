"""Incidents: a deployment's problem of one reason, from the breach that opens it to the
first healthy window after it (or a person) that resolves it.

The reason is the breach's type (`drift`, `data_quality`, `performance`,
`estimated_performance`). A window is healthy for a reason when its run finished, measured
what the reason is about (drift scores, quality, the policy's metric) and breached nothing
of that reason. Health everywhere (overview, deployment page, API, `driftwise status`) reads
the open incidents, so a red event never outlives the problem it reported.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.errors import IncidentClosed, IncidentNotFound
from monitor.events import emit
from monitor.store.models import Deployment, Event, Incident, ModelVersion, Run
from monitor.timeutil import iso, utcnow

# Worst first: the word health shows when several incidents are open.
REASONS = ("performance", "estimated_performance", "data_quality", "drift")
WORDS = {
    "performance": "performance",
    "estimated_performance": "performance",  # the incident itself says estimated
    "data_quality": "data quality",
    "drift": "drift",
}
SEVERITY = {"performance": "critical", "estimated_performance": "critical"}


def open_incidents(session: Session, deployment_id: int) -> list[Incident]:
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.deployment_id == deployment_id, Incident.status == "open")
            .order_by(Incident.id)
        )
    )


def note_breaches(
    session: Session, deployment: Deployment, run: Run, breaches: list[dict]
) -> dict[str, Incident]:
    """The open incident of each reason the run breaches, opened by this run if needed."""
    found: dict[str, Incident] = {}
    for reason in dict.fromkeys(str(entry["type"]) for entry in breaches):
        titles = [entry["message"] for entry in breaches if entry["type"] == reason]
        found[reason] = _open(session, deployment, run, reason, "; ".join(titles))
    return found


def _open(session: Session, deployment: Deployment, run: Run, reason: str, title: str):
    # A window run again (late labels, a rerun) that breaches inside a resolved incident's
    # span belongs to that incident: its recovery is already known.
    covering = _covering(session, deployment.id, reason, run)
    if covering is not None:
        return covering
    incident = _current(session, deployment.id, reason)
    if incident is not None:
        if run.window_end > incident.last_window_end:
            incident.last_window_end = run.window_end
            incident.windows += 1
        incident.first_window_start = min(incident.first_window_start, run.window_start)
        return incident
    incident = Incident(
        deployment_id=deployment.id,
        reason=reason,
        severity=SEVERITY.get(reason, "warning"),
        title=f"{deployment.name}: {WORDS.get(reason, reason)}: {title}"[:500],
        first_window_start=run.window_start,
        last_window_end=run.window_end,
        opened_run_id=run.id,
        opened_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(incident)
    except IntegrityError:  # another worker opened it first: the partial unique index
        return _current(session, deployment.id, reason)
    return incident


def _covering(session: Session, deployment_id: int, reason: str, run: Run) -> Incident | None:
    """The resolved incident of this reason whose windows, up to the one that resolved it,
    include the run's window."""
    return session.scalars(
        select(Incident)
        .where(
            Incident.deployment_id == deployment_id,
            Incident.reason == reason,
            Incident.status == "resolved",
            Incident.first_window_start <= run.window_start,
            func.coalesce(Incident.resolved_window_start, Incident.last_window_end)
            > run.window_start,
        )
        .order_by(Incident.id.desc())
    ).first()


def _current(session: Session, deployment_id: int, reason: str) -> Incident | None:
    return session.scalars(
        select(Incident).where(
            Incident.deployment_id == deployment_id,
            Incident.reason == reason,
            Incident.status == "open",
        )
    ).first()


def resolve_recovered(
    session: Session, deployment: Deployment, run: Run, breached: set[str]
) -> list[Incident]:
    """Resolve each open incident for which this run is the first healthy window after it."""
    resolved = []
    for incident in open_incidents(session, deployment.id):
        if incident.reason in breached or run.window_start < incident.last_window_end:
            continue
        if not measured(deployment, run, incident.reason):
            continue
        resolve(session, incident, "window", run=run)
        resolved.append(incident)
    return resolved


def measured(deployment: Deployment, run: Run, reason: str) -> bool:
    """Whether the run measured what the reason is about, so no breach means healthy."""
    if run.status != "ok":
        return False
    if reason == "drift":
        return run.drift_share is not None or bool(run.features)
    if reason == "data_quality":
        return bool(run.quality)
    metric = ((deployment.policy or {}).get(reason) or {}).get("metric")
    values = run.performance if reason == "performance" else run.estimated_performance
    return metric is not None and (values or {}).get(metric) is not None


def resolve(
    session: Session, incident: Incident, by: str, run: Run | None = None, note: str = ""
) -> Event:
    """Close the incident and announce it: how long it lasted and what fixed it."""
    if incident.status != "open":
        raise IncidentClosed(f"incident {incident.id} is already resolved")
    deployment = session.get(Deployment, incident.deployment_id)
    incident.status = "resolved"
    incident.resolved_at = utcnow()
    incident.resolved_by = by
    incident.resolved_run_id = run.id if run else None
    incident.resolved_window_start = run.window_start if run else None
    if by == "window":
        incident.resolution = what_fixed(session, incident, run)
    else:
        incident.resolution = f"resolved by {by}" + (f": {note}" if note else "")
    end = incident.resolved_window_start or incident.last_window_end
    lasted = spell_duration((end - incident.first_window_start).total_seconds())
    return emit(
        session,
        "incident.resolved",
        f"incident.resolved:{incident.id}",
        f"{deployment.name}: {WORDS.get(incident.reason, incident.reason)} resolved "
        f"after {lasted}: {incident.resolution}",
        "info",
        deployment=deployment,
        run_id=run.id if run else None,
        incident_id=incident.id,
        data={
            "incident_id": incident.id,
            "reason": incident.reason,
            "lasted": lasted,
            "windows": incident.windows,
            "resolution": incident.resolution,
            "resolved_by": by,
            "first_window_start": iso(incident.first_window_start),
            "window_start": iso(end),
            "window_end": iso(run.window_end if run else end),
        },
    )


def what_fixed(session: Session, incident: Incident, run: Run | None) -> str:
    """In words: the version promoted since the incident opened, or that it passed alone."""
    opened = session.get(Run, incident.opened_run_id) if incident.opened_run_id else None
    before = opened.model_version_id if opened else None
    after = run.model_version_id if run else None
    version = session.get(ModelVersion, after) if after else None
    if version is None:
        return "the next window was healthy"
    if before is not None and before != after:
        promoted = session.scalar(
            select(Event.id).where(
                Event.type == "model.promoted",
                Event.model_id == version.model_id,
                Event.data["version"].as_integer() == version.version,
            )
        )
        return f"v{version.version} {'promoted' if promoted else 'deployed'}"
    return f"recovered with no new version, still v{version.version}"


def deployment_health(session: Session, deployment: Deployment, run: Run | None) -> str:
    """The deployment's health: its worst open incident, else what its last run says.
    A deployment that never had an incident (history from before incidents existed)
    reads its last run's breaches instead."""
    reasons = {incident.reason for incident in open_incidents(session, deployment.id)}
    if not reasons and run is not None and run.breaches and not _ever(session, deployment.id):
        reasons = {str(entry.get("type")) for entry in run.breaches if isinstance(entry, dict)}
    for reason in REASONS:
        if reason in reasons:
            return WORDS[reason]
    if reasons:
        return sorted(reasons)[0]
    return window_state(run)


def window_state(run: Run | None) -> str:
    """A window's health leaving its breaches aside: no data, error, running, too few rows
    or healthy."""
    if run is None:
        return "no data"
    if run.status in ("failed", "error"):
        return "error"
    if run.status == "running":
        return "running"
    if run.status == "no_data" or not run.rows:
        return "no data"
    if run.status == "insufficient_data":
        return "too few rows"
    return "healthy"


def _ever(session: Session, deployment_id: int) -> bool:
    found = select(Incident.id).where(Incident.deployment_id == deployment_id).limit(1)
    return session.scalar(found) is not None


def incident_by_id(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id) if 0 < incident_id < 2**31 else None
    if incident is None:
        raise IncidentNotFound(f"no incident {incident_id}")
    return incident


def spell_duration(seconds: float) -> str:
    """`1 day`, `2 days 6 hours`, `45 minutes`: the two largest units that are not zero."""
    left = int(round(seconds))
    parts = []
    for name, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    if not parts:
        return f"{int(seconds)} seconds"
    return " ".join(parts[:2])
