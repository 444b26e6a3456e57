"""Events: what happened, once. `emit` is idempotent by dedup key, so a rerun, a backfill
or a second worker never records (or announces) the same thing twice."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.store.models import Deployment, Event

SEVERITIES = ("info", "warning", "critical")


def emit(
    session: Session,
    type: str,
    dedup_key: str,
    title: str,
    severity: str = "warning",
    *,
    deployment: Deployment | None = None,
    model_id: int | None = None,
    run_id: int | None = None,
    retrain_job_id: int | None = None,
    data: dict | None = None,
) -> Event:
    """The event for `dedup_key`: created (and queued for notification) the first time,
    returned unchanged every later time."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}: {severity!r}")
    existing = session.scalar(select(Event).where(Event.dedup_key == dedup_key))
    if existing is not None:
        return existing
    event = Event(
        type=type,
        dedup_key=dedup_key[:300],
        title=title[:500],
        severity=severity,
        deployment_id=deployment.id if deployment else None,
        model_id=model_id
        if model_id is not None
        else (deployment.model_id if deployment else None),
        run_id=run_id,
        retrain_job_id=retrain_job_id,
        data=data or {},
    )
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:  # another worker emitted it first
        return session.scalars(select(Event).where(Event.dedup_key == dedup_key)).one()
    _enqueue(session, event)
    return event


def _enqueue(session: Session, event: Event) -> None:
    try:
        from monitor.notify.outbox import enqueue
    except ImportError:  # a build without notifications still records events
        return
    enqueue(session, event)
