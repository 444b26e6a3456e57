"""Retrain jobs and model versions as JSON, the same for the CLI and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import Deployment, ModelVersion, RetrainJob
from monitor.timeutil import iso


def _number(session: Session, version_id: int | None) -> int | None:
    """The version's number within its model (what people say: v3), or None."""
    version = session.get(ModelVersion, version_id) if version_id else None
    return version.version if version else None


def job_view(session: Session, job: RetrainJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "trigger": job.trigger,
        "idempotency_key": job.idempotency_key,
        "status": job.status,
        "decision": job.decision,
        "reason": job.reason,
        "requested_by": job.requested_by,
        "error": job.error,
        "attempts": job.attempts,
        "champion_version_id": job.champion_version_id,
        "challenger_version_id": job.challenger_version_id,
        "champion_version": _number(session, job.champion_version_id),
        "challenger_version": _number(session, job.challenger_version_id),
        "evaluation": job.evaluation or {},
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def version_view(session: Session, version: ModelVersion) -> dict[str, Any]:
    serving = session.scalars(
        select(Deployment.name)
        .where(Deployment.active_version_id == version.id)
        .order_by(Deployment.name)
    )
    return {
        "id": version.id,
        "version": version.version,
        "status": version.status,
        "origin": version.origin,
        "sha256": version.sha256,
        "parent_version_id": version.parent_version_id,
        "parent_version": _number(session, version.parent_version_id),
        "retrain_job_id": version.retrain_job_id,
        "training_start": iso(version.training_start),
        "training_end": iso(version.training_end),
        "train_rows": version.train_rows,
        "holdout_rows": version.holdout_rows,
        "metrics": version.metrics or {},
        "compute": version.compute or {},
        "deployments": list(serving),
        "created_at": iso(version.created_at),
    }
