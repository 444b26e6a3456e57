"""Rows by their user-facing names, raising the domain error when there is none."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import DeploymentNotFound, ModelNotFound
from monitor.store.models import Deployment, Model


def deployment_named(session: Session, name: str) -> Deployment:
    deployment = session.scalar(select(Deployment).where(Deployment.name == name))
    if deployment is None:
        raise DeploymentNotFound(f"no deployment named {name!r}")
    return deployment


def model_named(session: Session, name: str) -> Model:
    model = session.scalar(select(Model).where(Model.name == name))
    if model is None:
        raise ModelNotFound(f"no model named {name!r}")
    return model
