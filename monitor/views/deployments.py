"""A deployment's status as JSON: `driftwise status --json`, the API and the deployment page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor.incidents import deployment_health, open_incidents
from monitor.runs.waiting import held_windows
from monitor.settings import current_settings
from monitor.store.models import (
    Deployment,
    Label,
    Model,
    ModelVersion,
    PendingHalf,
    Prediction,
    Quarantine,
    Run,
    Source,
)
from monitor.timeutil import format_duration, iso, utcnow


def newest_run(session: Session, deployment_id: int, kind: str | None = None) -> Run | None:
    """The run of the newest window (of `kind`, when given); the latest of a window's runs."""
    query = select(Run).where(Run.deployment_id == deployment_id)
    if kind is not None:
        query = query.where(Run.kind == kind)
    return session.scalar(query.order_by(Run.window_start.desc(), Run.id.desc()).limit(1))


def _count(session: Session, table, deployment_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(table).where(table.deployment_id == deployment_id)
        )
        or 0
    )


def _halves(session: Session, source_id: int, before: datetime) -> tuple[int, int]:
    """(halves waiting, of which waiting since before `before`); the markers of
    quarantined halves, waiting only to send their partner to quarantine, do not count."""
    waiting, old = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((PendingHalf.created_at < before, 1), else_=0)), 0),
        ).where(
            PendingHalf.source_id == source_id,
            PendingHalf.payload.not_like('{"quarantined":%'),
        )
    ).one()
    return int(waiting or 0), int(old or 0)


def source_status_view(session: Session, source: Source, bound: int) -> dict[str, Any]:
    """`bound`: seconds a half may wait for its partner before it counts as too long."""
    from monitor.ingest.quarantine import top_reasons

    waiting, old = _halves(session, source.id, utcnow() - timedelta(seconds=bound))
    return {
        "name": source.name,
        "role": source.role,
        "kind": source.kind,
        "enabled": source.enabled,
        "read": source.records_read,
        "inserted": source.records_inserted,
        "duplicate": source.records_duplicate,
        "quarantined": source.records_quarantined,
        "top_reasons": top_reasons(session, source.id),
        "halves_waiting": waiting,
        "halves_waiting_too_long": old,
        "files_waiting": source.files_waiting,
        "last_read_at": iso(source.last_read_at),
        "read_to": iso(source.read_to),
        "caught_up_at": iso(source.caught_up_at),
        "last_error": source.last_error,
    }


def _last_run(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.id,
        "window_start": iso(run.window_start),
        "window_end": iso(run.window_end),
        "kind": run.kind,
        "status": run.status,
        "drift_share": run.drift_share,
        "breaches": run.breaches,
    }


def deployment_status_view(session: Session, deployment: Deployment) -> dict[str, Any]:
    """Version, health, open incidents, counts, sources and the last run. Health reads the
    newest monitor run; `last_run` is the newest of any kind (a backfill included)."""
    model = session.get(Model, deployment.model_id)
    version = (
        session.get(ModelVersion, deployment.active_version_id)
        if deployment.active_version_id
        else None
    )
    monitored = newest_run(session, deployment.id, "monitor")
    bound = int(current_settings().half_wait_seconds)
    sources = [
        source_status_view(session, source, bound)
        for source in session.scalars(
            select(Source).where(Source.deployment_id == deployment.id).order_by(Source.id)
        )
    ]
    held = held_windows(session, deployment, utcnow())
    return {
        "name": deployment.name,
        "model": model.name,
        "mode": deployment.mode,
        "active_version": version.version if version else None,
        "health": deployment_health(session, deployment, monitored),
        "open_incidents": [
            {
                "id": incident.id,
                "reason": incident.reason,
                "title": incident.title,
                "since": iso(incident.first_window_start),
                "windows": incident.windows,
            }
            for incident in open_incidents(session, deployment.id)
        ],
        "predictions": _count(session, Prediction, deployment.id),
        "labels": _count(session, Label, deployment.id),
        "quarantined": _count(session, Quarantine, deployment.id),
        "sources": sources,
        "waiting": held,
        "warnings": [
            f"source {s['name']}: {s['halves_waiting_too_long']} half(s) waiting longer than "
            f"{format_duration(bound)} for their partner"
            for s in sources
            if s["halves_waiting_too_long"]
        ]
        + ([held["message"]] if held else []),
        "last_run": _last_run(newest_run(session, deployment.id)),
        "last_run_id": monitored.id if monitored else None,
        "window_seconds": deployment.window_seconds,
        "policy": deployment.policy or {},
    }
