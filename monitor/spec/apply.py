"""`driftwise apply`: make the store say what the spec says, idempotently.

Everything is checked first (the spec, every artifact, every reference file); only then
is anything written, in the caller's one transaction. A changed artifact registers a new
version and promotes it (monitor/registry/versions.py), so the model's deployments switch
to it with their history written and `model.promoted` / `deployment.updated` emitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import ArtifactRefused, ReferenceInvalid, RegistryError, SpecError
from monitor.registry.artifacts import load_artifact, sha256
from monitor.registry.reference import (
    read_table,
    store_reference,
    to_parquet_bytes,
    validate_reference,
)
from monitor.registry.versions import model_champion, promote, register_version, switch_version
from monitor.spec.parse import AlertSpec, DeploymentSpec, ModelSpec, Spec
from monitor.store.lookup import model_named
from monitor.store.models import (
    AlertRule,
    Deployment,
    Model,
    ModelVersion,
    ReferenceSet,
    Source,
)


@dataclass
class Loaded:
    """A model's artifact bytes and validated reference frame, read before any write."""

    artifact: bytes
    reference: pd.DataFrame
    lineage: dict = field(default_factory=dict)  # where a registry artifact came from


@dataclass
class Changes:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


def load_files(spec: Spec) -> dict[str, Loaded]:
    loaded = {}
    for i, model in enumerate(spec.models):
        try:
            artifact, lineage = _read_artifact(model)
        except (ArtifactRefused, RegistryError) as error:
            raise SpecError(
                str(spec.file), f"models[{i}].artifact", f"{model.artifact}: {error}"
            ) from None
        try:
            frame = read_table(str(model.reference))
            reference = validate_reference(frame, _model_row(model), str(model.reference))
        except ReferenceInvalid as error:
            raise SpecError(str(spec.file), f"models[{i}].reference", str(error)) from None
        except Exception as error:  # noqa: BLE001 - unreadable files of any sort
            raise SpecError(
                str(spec.file), f"models[{i}].reference", f"cannot read: {error}"
            ) from None
        loaded[model.name] = Loaded(artifact, reference, lineage)
    return loaded


def _read_artifact(model: ModelSpec) -> tuple[bytes, dict]:
    """The artifact's checked bytes and, from MLflow's registry, their lineage."""
    if isinstance(model.artifact, str):
        from monitor.registry.mlflow import fetch

        found = fetch(model.artifact)
        return found.artifact, found.lineage
    artifact = model.artifact.read_bytes()
    load_artifact(artifact)
    return artifact, {}


def apply_spec(session: Session, spec: Spec, loaded: dict[str, Loaded]) -> list[str]:
    changes = Changes()
    for model in spec.models:
        _apply_model(session, model, loaded[model.name], changes)
    for deployment in spec.deployments:
        _apply_deployment(session, deployment, changes)
    _apply_alerts(session, spec.alerts, changes)
    return changes.lines or ["no changes"]


def _model_row(spec: ModelSpec, row: Model | None = None) -> Model:
    row = row or Model(name=spec.name)
    values = {
        "task": spec.task,
        "target": spec.target,
        "prediction": spec.prediction,
        "probability": spec.probability,
        "probabilities": spec.probabilities,
        "numerical": spec.numerical,
        "categorical": spec.categorical,
        "retrain": spec.retrain,
        "artifact_uri": spec.artifact if isinstance(spec.artifact, str) else None,
    }
    for key, value in values.items():
        if getattr(row, key, None) != value:
            setattr(row, key, value)
    return row


def _apply_model(session: Session, spec: ModelSpec, loaded: Loaded, changes: Changes) -> None:
    row = session.scalar(select(Model).where(Model.name == spec.name))
    if row is None:
        row = _model_row(spec)
        session.add(row)
        changes.add(f"model {spec.name}: created")
    else:
        _model_row(spec, row)
        if session.is_modified(row):
            changes.add(f"model {spec.name}: updated")
    session.flush()
    digest = sha256(loaded.artifact)
    version = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.model_id == row.id, ModelVersion.sha256 == digest)
        .order_by(ModelVersion.version.desc())
    )
    if version is None:
        parent = model_champion(session, row)
        version = register_version(
            session,
            row,
            loaded.artifact,
            loaded.reference,
            origin="mlflow" if loaded.lineage else "spec",
            parent=parent,
            lineage=loaded.lineage,
        )
        changes.add(f"model {spec.name}: version {version.version} registered ({digest[:12]})")
        promote(session, version, reason="spec")
        return
    reference = session.scalar(
        select(ReferenceSet).where(ReferenceSet.model_version_id == version.id)
    )
    if reference is None or reference.data != to_parquet_bytes(loaded.reference):
        store_reference(session, version, loaded.reference)
        changes.add(f"model {spec.name}: version {version.version} reference replaced")


def _apply_deployment(session: Session, spec: DeploymentSpec, changes: Changes) -> None:
    model = model_named(session, spec.model)
    row = session.scalar(select(Deployment).where(Deployment.name == spec.name))
    champion = model_champion(session, model)
    values = {
        "model_id": model.id,
        "mode": spec.mode,
        "window_seconds": spec.window,
        "window": spec.window_text,
        "timezone": spec.timezone,
        "settle_seconds": spec.settle,
        "schedule_seconds": spec.schedule,
        "max_rows": spec.max_rows,
        "min_rows": spec.min_rows,
        "policy": spec.policy,
        "serving": spec.serving,
    }
    if row is None:
        row = Deployment(name=spec.name, **values)
        session.add(row)
        session.flush()
        if champion is not None:
            switch_version(session, row, champion, "spec")
        changes.add(f"deployment {spec.name}: created")
    else:
        moved = row.model_id != model.id
        for key, value in values.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
        if session.is_modified(row):
            changes.add(f"deployment {spec.name}: updated")
        if moved:
            session.flush()
            if champion is not None:
                switch_version(session, row, champion, "spec")
            else:
                row.active_version_id = None
    session.flush()
    _apply_sources(session, row, spec, changes)


def _apply_sources(
    session: Session, deployment: Deployment, spec: DeploymentSpec, changes: Changes
) -> None:
    existing = {
        (s.role, s.name): s
        for s in session.scalars(select(Source).where(Source.deployment_id == deployment.id))
    }
    for source in spec.sources:
        row = existing.pop((source.role, source.name), None)
        if row is None:
            session.add(
                Source(
                    deployment_id=deployment.id,
                    role=source.role,
                    name=source.name,
                    kind=source.kind,
                    config=source.config,
                )
            )
            changes.add(f"deployment {spec.name}: {source.role} source {source.name} added")
        elif (row.kind, row.config, row.enabled) != (source.kind, source.config, True):
            row.kind, row.config, row.enabled = source.kind, source.config, True
            changes.add(f"deployment {spec.name}: {source.role} source {source.name} updated")
    for row in existing.values():
        if row.enabled:
            # Kept, not deleted: its cursor says what was read if it comes back.
            row.enabled = False
            changes.add(f"deployment {spec.name}: {row.role} source {row.name} disabled")


def _apply_alerts(session: Session, alerts: list[AlertSpec], changes: Changes) -> None:
    existing = {(r.channel, tuple(r.targets)): r for r in session.scalars(select(AlertRule))}
    for alert in alerts:
        row = existing.pop((alert.channel, tuple(alert.targets)), None)
        values = {
            "events": alert.events,
            "deployments": alert.deployments,
            "min_severity": alert.min_severity,
            "config": alert.config,
        }
        if row is None:
            session.add(AlertRule(channel=alert.channel, targets=alert.targets, **values))
            changes.add(f"{alert.channel} alert to {', '.join(alert.targets)}: added")
            continue
        if any(getattr(row, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            changes.add(f"{alert.channel} alert to {', '.join(alert.targets)}: updated")
    for row in existing.values():
        session.delete(row)
        changes.add(f"{row.channel} alert to {', '.join(row.targets)}: removed")
