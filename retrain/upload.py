"""Externally trained artifacts: checked, registered and handed to a waiting retrain job."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import ArtifactRefused, RegistryError, VersionNotFound
from monitor.registry.artifacts import load_artifact, sha256
from monitor.registry.reference import load_reference
from monitor.registry.versions import champion_of, promote, register_version
from monitor.store.models import Model, ModelVersion, RetrainJob
from retrain.training import reference_frame


def upload_version(
    session: Session,
    model: Model,
    artifact: bytes,
    job_id: int | None = None,
    reference: pd.DataFrame | None = None,
    origin: str = "upload",
    lineage: dict | None = None,
) -> ModelVersion:
    """Register an externally trained artifact (refused if it names untrusted types).

    With a waiting job it becomes that job's challenger and the job goes back to `pending`
    to be evaluated like any other; without one it waits as a candidate.
    """
    estimator = load_artifact(artifact)
    if not hasattr(estimator, "predict"):
        raise ArtifactRefused(f"artifact holds {type(estimator).__name__}, not an estimator")
    job = session.get(RetrainJob, job_id) if job_id is not None else None
    if job_id is not None and (job is None or job.model_id != model.id):
        raise VersionNotFound(f"model {model.name} has no retrain job {job_id}")
    parent = champion_of(session, model, job.deployment_id if job else None)
    if reference is None:
        # Re-baseline on the champion's reference rows, scored by the new version.
        reference = load_reference(session, parent.id)
    version = register_version(
        session,
        model,
        artifact,
        reference_frame(estimator, reference, model),
        origin=origin,
        parent=parent,
        job=job,
        lineage=lineage,
    )
    if job is not None and job.status in ("waiting", "pending"):
        job.challenger_version_id = version.id
        job.status, job.claimed_by, job.lease_until = "pending", None, None
    return version


def upload_registry_version(
    session: Session, model: Model, number: int, job_id: int | None = None
) -> ModelVersion:
    """Register version `number` of the model's MLflow registered model, as an upload would
    (the `external` recipe's way of handing in a version without sending bytes)."""
    from monitor.registry.mlflow import fetch

    if not model.artifact_uri:
        raise RegistryError(f"model {model.name} does not come from an MLflow registry")
    found = fetch(model.artifact_uri, version=number)
    known = _known(session, model, found.artifact)
    if known is not None:
        return known
    return upload_version(
        session, model, found.artifact, job_id=job_id, origin="mlflow", lineage=found.lineage
    )


def follow_registry(session: Session, model: Model) -> ModelVersion | None:
    """If the model's MLflow alias points at a version Driftwise does not serve yet, register
    it (re-baselined on the champion's reference, scored by it) and promote it: the one
    version-switching path, with history and events. The version promoted, else None."""
    from monitor.registry.mlflow import fetch

    found = fetch(model.artifact_uri)
    version = _known(session, model, found.artifact)
    if version is None:
        version = upload_version(
            session, model, found.artifact, origin="mlflow", lineage=found.lineage
        )
    elif version.status == "champion":
        return None
    promote(session, version, reason="mlflow alias")
    return version


def _known(session: Session, model: Model, artifact: bytes) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.model_id == model.id, ModelVersion.sha256 == sha256(artifact))
        .order_by(ModelVersion.version.desc())
    )
