"""Retrain requests: idempotent by key, and held back by the model's retrain cooldown.

The job runner (retrain/) claims pending jobs; this module only records requests.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.errors import ModelNotFound
from monitor.events import stored_key
from monitor.service.leases import live_holder
from monitor.store.models import Model, RetrainJob
from monitor.timeutil import iso, parse_duration, utcnow

TRIGGERS = ("policy", "webhook", "manual", "schedule", "api")
# Jobs that do not hold the cooldown: nothing was trained.
NOT_COUNTING = ("skipped", "failed", "cancelled")
SCHEDULER_LEASE = "scheduler"  # the daemon's leader lease (monitor.daemon.LEASE)
NO_DAEMON = "no daemon is running: start `driftwise run` or `driftwise daemon`"


def request_retrain(
    session: Session,
    model_id: int,
    trigger: str,
    idempotency_key: str,
    deployment_id: int | None = None,
    run_id: int | None = None,
    reason: str | None = None,
    requested_by: str | None = None,
    force: bool = False,
) -> RetrainJob:
    """The job for `idempotency_key`: the existing one if this key was seen, else a new
    `pending` job, or a `skipped` one (decision `cooldown`) while the model's retrain
    cooldown runs from its last job. `force` (a person asking) ignores the cooldown."""
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return existing
    model = session.get(Model, model_id)
    if model is None:
        raise ModelNotFound(f"no model with id {model_id}")
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}: {trigger!r}")
    job = RetrainJob(
        model_id=model_id,
        deployment_id=deployment_id,
        run_id=run_id,
        trigger=trigger,
        idempotency_key=stored_key(idempotency_key),
        status="pending",
        reason=reason,
        requested_by=requested_by,
    )
    blocker = None if force else in_cooldown(session, model)
    if blocker is not None:
        job.status, job.decision = "skipped", "cooldown"
        job.error = f"retrain cooldown: job {blocker.id} was requested at {blocker.created_at}"
        job.finished_at = utcnow()
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:  # the same key raced in from another worker
        return _by_key(session, idempotency_key)
    return job


def in_cooldown(session: Session, model: Model) -> RetrainJob | None:
    """The model's last job that trained or is training if it was requested within the retrain cooldown."""
    cooldown = (model.retrain or {}).get("cooldown")
    if not cooldown:
        return None
    since = utcnow() - timedelta(seconds=parse_duration(cooldown))
    return session.scalars(
        select(RetrainJob)
        .where(
            RetrainJob.model_id == model.id,
            RetrainJob.created_at >= since,
            RetrainJob.status.notin_(NOT_COUNTING),
        )
        .order_by(RetrainJob.created_at.desc())
        .limit(1)
    ).first()


def _by_key(session: Session, key: str) -> RetrainJob | None:
    return session.scalar(select(RetrainJob).where(RetrainJob.idempotency_key == stored_key(key)))


def pending_jobs(session: Session, model_id: int | None = None) -> list[dict]:
    """Jobs waiting for a worker, oldest first, with how long they have waited."""
    query = select(RetrainJob, Model.name).join(Model, Model.id == RetrainJob.model_id)
    query = query.where(RetrainJob.status == "pending")
    if model_id is not None:
        query = query.where(RetrainJob.model_id == model_id)
    now = utcnow()
    return [
        {
            "id": job.id,
            "model": name,
            "trigger": job.trigger,
            "created_at": iso(job.created_at),
            "age_seconds": round((now - job.created_at).total_seconds()),
        }
        for job, name in session.execute(query.order_by(RetrainJob.created_at, RetrainJob.id))
    ]


def unattended(session: Session, model_id: int | None = None) -> str | None:
    """Why pending jobs will not run (no scheduler holds the lease), or None."""
    if live_holder(session, SCHEDULER_LEASE) is not None:
        return None
    return NO_DAEMON if pending_jobs(session, model_id) else None
