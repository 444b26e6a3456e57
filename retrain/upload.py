"""Externally trained artifacts: checked, registered and handed to a waiting retrain job."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.orm import Session

from monitor.errors import ArtifactRefused, VersionNotFound
from monitor.registry.artifacts import load_artifact
from monitor.registry.reference import load_reference
from monitor.registry.versions import champion_of, register_version
from monitor.store.models import Model, ModelVersion, RetrainJob
from retrain.training import reference_frame


def upload_version(
    session: Session,
    model: Model,
    artifact: bytes,
    job_id: int | None = None,
    reference: pd.DataFrame | None = None,
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
        origin="upload",
        parent=parent,
        job=job,
    )
    if job is not None and job.status in ("waiting", "pending"):
        job.challenger_version_id = version.id
        job.status, job.claimed_by, job.lease_until = "pending", None, None
    return version
