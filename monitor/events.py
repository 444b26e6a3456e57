"""Events: what happened, once. `emit` is idempotent by dedup key, so a rerun, a backfill
or a second worker never records (or announces) the same thing twice."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.store.models import Deployment, Event

SEVERITIES = ("info", "warning", "critical")
KEY_LENGTH = 300  # events.dedup_key and retrain_jobs.idempotency_key


def stored_key(key: str, limit: int = KEY_LENGTH) -> str:
    """The key as its column keeps it: itself when it fits, else a prefix and the sha256 of
    the whole key. Lookups use this too, so a long key is found again and two long keys
    that share a prefix stay apart."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: limit - len(digest) - 1]}#{digest}"


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
    incident_id: int | None = None,
    data: dict | None = None,
) -> Event:
    """The event for `dedup_key`: created (and queued for notification) the first time,
    returned unchanged every later time."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}: {severity!r}")
    dedup_key = stored_key(dedup_key)
    existing = session.scalar(select(Event).where(Event.dedup_key == dedup_key))
    if existing is not None:
        return existing
    event = Event(
        type=type,
        dedup_key=dedup_key,
        title=title[:500],
        severity=severity,
        deployment_id=deployment.id if deployment else None,
        model_id=model_id
        if model_id is not None
        else (deployment.model_id if deployment else None),
        run_id=run_id,
        retrain_job_id=retrain_job_id,
        incident_id=incident_id,
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
