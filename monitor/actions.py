"""What people and clients ask Driftwise to do: push records, request a retrain, promote a
version (rolling back is `monitor.registry.versions.rollback`). The API, the pages and the
CLI call these; each takes a Session and never commits, and refuses with a domain error
that web/ turns into an HTTP status and the CLI into an exit code.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from monitor.errors import WrongDeployment
from monitor.ingest.write import push_target, write_records
from monitor.jobs import request_retrain
from monitor.store.lookup import deployment_named, model_named
from monitor.store.models import DeploymentHistory, Model, ModelVersion, RetrainJob


def push_records(session: Session, deployment_name: str, role: str, records: list) -> dict:
    """Store a client's predictions or labels; the summary says what became of each."""
    deployment_id, schema = push_target(session, deployment_name)
    written = write_records(session, deployment_id, schema, role, records, f"api:{role}")
    results: list[dict[str, Any]] = []
    for entry in written.statuses:
        if entry.status == "quarantined":
            results.append({"index": entry.index, "status": entry.status, "reason": entry.reason})
        else:
            results.append(
                {"index": entry.index, "request_id": entry.request_id, "status": entry.status}
            )
    return {
        "received": len(records),
        "inserted": written.count("inserted"),
        "duplicate": written.count("duplicate"),
        "quarantined": written.count("quarantined"),
        "results": results,
    }


def request_retrain_now(
    session: Session,
    model: Model,
    *,
    requested_by: str | None,
    trigger: str = "manual",
    deployment: str | None = None,
    reason: str | None = None,
    key: str | None = None,
) -> RetrainJob:
    """A person's retrain request: ignores the cooldown; asking twice with one key makes
    one job. `deployment`, when named, must serve the model."""
    deployment_id = None
    if deployment:
        found = deployment_named(session, deployment)
        if found.model_id != model.id:
            raise WrongDeployment(f"deployment {found.name} does not serve {model.name}")
        deployment_id = found.id
    job = request_retrain(
        session,
        model.id,
        trigger,
        idempotency_key=f"manual:{key}" if key else f"manual:{uuid.uuid4()}",
        deployment_id=deployment_id,
        reason=reason[:1000] if reason else "requested by a person",
        requested_by=requested_by,
        force=True,
    )
    session.flush()
    return job


def promote_version(
    session: Session, model_name: str, number: int, *, reason: str, by: str | None
) -> tuple[ModelVersion, list[DeploymentHistory]]:
    """Make version `number` of the model its champion, served by every deployment of it."""
    # Imported here: the registry brings pandas and skops, which a push never needs.
    from monitor.registry.versions import promote, version_of

    version = version_of(session, model_named(session, model_name), number)
    return version, promote(session, version, reason=reason, by=by)
