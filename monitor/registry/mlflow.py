"""MLflow's model registry as a source of versions and a target of promotions.

A model whose `artifact` is `models:/<name>@<alias>` (or `models:/<name>/<version>`)
takes its versions from MLflow: the sklearn flavour's skops file, checked with the same
trusted types as any artifact. Following the alias, Driftwise registers and switches to
whatever version the alias points at; promoting a version Driftwise trained registers it
in MLflow (with its holdout metrics and the job's evaluation as tags) and moves the alias,
and a rollback moves the alias back. MLflow is optional (`driftwise[mlflow]`), imported
only here and only when used; the tracking server comes from `MLFLOW_TRACKING_URI`.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from monitor.errors import ArtifactRefused, RegistryError
from monitor.registry.artifacts import dump_artifact, load_artifact
from monitor.settings import current_settings
from monitor.store.models import Model, ModelVersion, RetrainJob

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[A-Za-z0-9_\-]+)|/(?P<version>\d+))$")
PICKLE_FORMATS = ("pickle", "cloudpickle")


@dataclass(frozen=True)
class RegistryVersion:
    """One MLflow model version, fetched: its skops bytes and where they came from."""

    artifact: bytes
    lineage: dict[str, Any]


def is_registry_uri(text: str) -> bool:
    return text.startswith("models:/")


def parse_uri(uri: str) -> tuple[str, str | None, int | None]:
    """(name, alias, version) of `models:/name@alias` or `models:/name/3`."""
    match = _URI.match(uri)
    if match is None:
        raise RegistryError(
            f"not a registry URI like models:/name@alias or models:/name/3: {uri!r}"
        )
    version = match.group("version")
    return match.group("name"), match.group("alias"), int(version) if version else None


def fetch(uri: str, version: int | None = None) -> RegistryVersion:
    """The version `uri` names now (or `version` of its model), as a checked skops artifact."""
    client = _client()
    name, alias, pinned = parse_uri(uri)
    try:
        if version is None and alias is not None:
            found = client.get_model_version_by_alias(name, alias)
        else:
            found = client.get_model_version(name, str(version or pinned))
        with tempfile.TemporaryDirectory() as folder:
            local = _download(f"models:/{name}/{found.version}", folder)
            artifact = _skops_bytes(Path(local), uri)
    except (RegistryError, ArtifactRefused):
        raise
    except Exception as error:  # noqa: BLE001 - any MLflow failure, named
        raise RegistryError(f"{uri}: {type(error).__name__}: {error}") from None
    lineage = {
        "name": name,
        "version": int(found.version),
        "run_id": found.run_id,
        "alias": alias,
        "uri": uri,
    }
    return RegistryVersion(artifact, {"mlflow": lineage})


def _download(model_uri: str, folder: str) -> str:
    import mlflow

    return mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder)


def _skops_bytes(folder: Path, uri: str) -> bytes:
    """The sklearn flavour's model file, as skops bytes that passed the trusted-type check."""
    import yaml

    manifest = yaml.safe_load((folder / "MLmodel").read_text())
    flavor = (manifest.get("flavors") or {}).get("sklearn")
    if not flavor:
        raise ArtifactRefused(
            f"{uri}: not an MLflow sklearn model (flavors: {', '.join(manifest.get('flavors', {}))})"
        )
    path = folder / flavor["pickled_model"]
    form = flavor.get("serialization_format", "cloudpickle")
    if form in PICKLE_FORMATS:
        return _from_pickle(path, uri, form)
    data = path.read_bytes()
    load_artifact(data)  # refuses untrusted types, naming each
    return data


def _from_pickle(path: Path, uri: str, form: str) -> bytes:
    if not current_settings().mlflow_trust_pickle:
        raise ArtifactRefused(
            f"{uri}: stored as a {form} file, which runs code when loaded; log it with "
            "serialization_format='skops', or set DRIFTWISE_MLFLOW_TRUST_PICKLE=true if you "
            "trust everyone who can write to this registry"
        )
    import cloudpickle

    with path.open("rb") as handle:
        estimator = cloudpickle.load(handle)  # trusted by the operator's explicit setting
    return dump_artifact(estimator)


def publish(session: Session, model: Model, version: ModelVersion) -> None:
    """After `version` became the champion: make MLflow agree. A version Driftwise trained
    is registered there first; the alias (if the URI has one) then points at it."""
    if not model.artifact_uri:
        return
    name, alias, _ = parse_uri(model.artifact_uri)
    client = _client()
    try:
        number = (version.lineage or {}).get("mlflow", {}).get("version")
        if number is None or (version.lineage["mlflow"].get("name") != name):
            number = _register(session, name, model, version)
        if alias is not None:
            client.set_registered_model_alias(name, alias, str(number))
    except (RegistryError, ArtifactRefused):
        raise
    except Exception as error:  # noqa: BLE001
        raise RegistryError(f"{model.artifact_uri}: {type(error).__name__}: {error}") from None


def _register(session: Session, name: str, model: Model, version: ModelVersion) -> int:
    import mlflow
    import mlflow.sklearn
    import skops.io as sio

    estimator = load_artifact(version.artifact)
    tags = _tags(session, model, version)
    mlflow.set_tracking_uri(_tracking_uri())
    with mlflow.start_run(run_name=f"driftwise {model.name} v{version.version}") as run:
        mlflow.log_metrics({f"holdout_{k}": v for k, v in _numbers(version.metrics)})
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            serialization_format="skops",
            # Our own check passed these when the version was registered.
            skops_trusted_types=sio.get_untrusted_types(data=version.artifact),
        )
        registered = mlflow.register_model(info.model_uri, name, tags=tags)
        run_id = run.info.run_id
    number = int(registered.version)
    version.lineage = {
        "mlflow": {"name": name, "version": number, "run_id": run_id, "uri": model.artifact_uri}
    }
    session.flush()
    return number


def _tags(session: Session, model: Model, version: ModelVersion) -> dict[str, str]:
    tags = {"driftwise.model": model.name, "driftwise.version": str(version.version)}
    for key, value in _numbers(version.metrics):
        tags[f"driftwise.holdout.{key}"] = repr(value)
    job = session.get(RetrainJob, version.retrain_job_id) if version.retrain_job_id else None
    if job is not None:
        tags["driftwise.job"] = str(job.id)
        tags["driftwise.decision"] = str(job.decision)
        for key, value in (job.evaluation or {}).items():
            if isinstance(value, int | float | str | list) and not isinstance(value, bool):
                tags[f"driftwise.evaluation.{key}"] = str(value)[:5000]
    return tags


def _numbers(values: dict | None):
    for key, value in (values or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield key, float(value)


def _tracking_uri() -> str:
    import os

    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        raise RegistryError("MLFLOW_TRACKING_URI is not set: it names the MLflow tracking server")
    return uri


def _client():
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise RegistryError(
            "models:/ artifacts need MLflow: pip install 'driftwise[mlflow]'"
        ) from None
    return MlflowClient(tracking_uri=_tracking_uri(), registry_uri=_tracking_uri())
