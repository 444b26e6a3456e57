"""A model's versions: registering one, switching a deployment to one, promoting, rolling back.

This is the only place a deployment's active version changes. `switch_version` writes a
`deployment_history` row and emits `deployment.updated`, so serving systems listening to
our webhooks hear of every change, whether it came from `driftwise apply`, a promotion, a
rollback, a retrain or a canary. Rollback replays that history to find what was active before.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.errors import PromotionError, VersionNotFound
from monitor.events import emit
from monitor.registry.artifacts import check_artifact, sha256
from monitor.registry.reference import store_reference
from monitor.store.lookup import deployment_named
from monitor.store.models import Deployment, DeploymentHistory, Model, ModelVersion, RetrainJob


def version_of(session: Session, model: Model, number: int) -> ModelVersion:
    version = None
    if 0 < number < 2**31:  # beyond the column's range there is no such version
        version = session.scalar(
            select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.version == number
            )
        )
    if version is None:
        raise VersionNotFound(f"model {model.name} has no version {number}")
    return version


def champion_of(session: Session, model: Model, deployment_id: int | None = None) -> ModelVersion:
    """The version a challenger must beat: the deployment's active one, else the model's champion."""
    if deployment_id is not None:
        deployment = session.get(Deployment, deployment_id)
        if deployment is not None and deployment.active_version_id is not None:
            return session.get(ModelVersion, deployment.active_version_id)
    champion = model_champion(session, model)
    if champion is None:
        raise VersionNotFound(f"model {model.name} has no champion version")
    return champion


def model_champion(session: Session, model: Model) -> ModelVersion | None:
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.model_id == model.id, ModelVersion.status == "champion")
        .order_by(ModelVersion.version.desc())
    )


def register_version(
    session: Session,
    model: Model,
    artifact: bytes,
    reference: pd.DataFrame,
    *,
    origin: str,
    status: str = "candidate",
    parent: ModelVersion | None = None,
    job: RetrainJob | None = None,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
) -> ModelVersion:
    """A new version row with its artifact, lineage and reference set.

    The artifact is checked here too, so no path (a recipe's output, an upload, the spec)
    stores one that serving would refuse to load.
    """
    check_artifact(artifact)
    latest = session.scalar(
        select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
    )
    training = training or {}
    version = ModelVersion(
        model_id=model.id,
        version=(latest or 0) + 1,
        artifact=artifact,
        sha256=sha256(artifact),
        status=status,
        origin=origin,
        parent_version_id=parent.id if parent else None,
        retrain_job_id=job.id if job else None,
        training_start=_moment(training.get("training_start")),
        training_end=_moment(training.get("training_end")),
        train_rows=training.get("train_rows"),
        holdout_rows=training.get("holdout_rows"),
        metrics=metrics or {},
        lineage=lineage or {},
    )
    session.add(version)
    session.flush()
    store_reference(session, version, reference)
    return version


def _moment(value: Any):
    return None if value is None else pd.Timestamp(value).to_pydatetime()


def promote(
    session: Session, version: ModelVersion, reason: str = "promote", by: str | None = None
) -> list[DeploymentHistory]:
    """Make `version` the champion and every deployment of its model serve it, at once."""
    model = session.get(Model, version.model_id)
    for other in session.scalars(
        select(ModelVersion).where(
            ModelVersion.model_id == model.id,
            ModelVersion.status == "champion",
            ModelVersion.id != version.id,
        )
    ):
        other.status = "archived"
    version.status = "champion"
    deployments = session.scalars(
        select(Deployment).where(Deployment.model_id == model.id).order_by(Deployment.id)
    ).all()
    history = [switch_version(session, deployment, version, reason) for deployment in deployments]
    _publish(session, model, version)
    first = history[0].id if history else version.id
    emit(
        session,
        "model.promoted",
        f"model.promoted:{model.id}:{version.id}:{first}",
        f"{model.name} version {version.version} promoted",
        "info",
        model_id=model.id,
        retrain_job_id=version.retrain_job_id,
        data={"version": version.version, "reason": reason, "by": by},
    )
    return history


def switch_version(
    session: Session, deployment: Deployment, version: ModelVersion, reason: str
) -> DeploymentHistory:
    """Make `deployment` serve `version`: a history row and a `deployment.updated` event."""
    row = DeploymentHistory(
        deployment_id=deployment.id,
        version_id=version.id,
        previous_version_id=deployment.active_version_id,
        reason=reason,
    )
    session.add(row)
    deployment.active_version_id = version.id
    if deployment.candidate_version_id == version.id:
        deployment.candidate_version_id, deployment.canary_share = None, 0.0
    session.flush()
    previous = (
        session.get(ModelVersion, row.previous_version_id) if row.previous_version_id else None
    )
    emit(
        session,
        "deployment.updated",
        f"deployment.updated:{deployment.id}:{row.id}",
        f"{deployment.name} now serves version {version.version} ({reason})",
        "info",
        deployment=deployment,
        retrain_job_id=version.retrain_job_id,
        data={
            "deployment": deployment.name,
            "mode": deployment.mode,
            "version": version.version,
            "version_id": version.id,
            "sha256": version.sha256,
            "previous_version": previous.version if previous else None,
            "reason": reason,
        },
    )
    return row


def _publish(session: Session, model: Model, version: ModelVersion) -> None:
    """A model kept in MLflow's registry hears of its new champion (alias moved)."""
    if model.artifact_uri:
        from monitor.registry.mlflow import publish

        publish(session, model, version)


def previous_version_id(session: Session, deployment: Deployment) -> int | None:
    """What was active before the current version: history replayed as a stack, where a
    rollback pops, so rolling back twice goes two versions back rather than toggling."""
    stack: list[int] = []
    rows = session.scalars(
        select(DeploymentHistory)
        .where(DeploymentHistory.deployment_id == deployment.id)
        .order_by(DeploymentHistory.id)
    )
    for row in rows:
        if row.reason == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(row.version_id)
    stack = [vid for i, vid in enumerate(stack) if i == 0 or vid != stack[i - 1]]
    return stack[-2] if len(stack) >= 2 else None


def rollback(session: Session, deployment_name: str, by: str | None = None) -> DeploymentHistory:
    """Put back the version the deployment served before its current one."""
    deployment = deployment_named(session, deployment_name)
    target_id = previous_version_id(session, deployment)
    if target_id is None:
        raise PromotionError(f"{deployment_name} has no earlier version to roll back to")
    current = session.get(ModelVersion, deployment.active_version_id)
    target = session.get(ModelVersion, target_id)
    row = switch_version(session, deployment, target, "rollback")
    target.status = "champion"
    still_served = session.scalar(
        select(func.count())
        .select_from(Deployment)
        .where(Deployment.active_version_id == current.id)
    )
    if not still_served:
        current.status = "archived"
    _publish(session, session.get(Model, target.model_id), target)
    emit(
        session,
        "deployment.rolled_back",
        f"deployment.rolled_back:{deployment.id}:{row.id}",
        f"{deployment.name} rolled back from version {current.version} to {target.version}",
        "warning",
        deployment=deployment,
        data={"from": current.version, "to": target.version, "by": by},
    )
    return row
