"""MLflow's model registry as the home of a model's versions, against a real `mlflow server`
started here on a loopback port with a SQLite backend and a local artifact folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import main
from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame, churn_pipeline
from monitor.errors import ArtifactRefused
from monitor.registry.artifacts import dump_artifact
from monitor.store import session_scope
from monitor.store.models import Deployment, Event, Model, ModelVersion
from tests.conftest import IN_CI

EXAMPLE = Path(__file__).parents[2] / "examples" / "churn"

mlflow = pytest.importorskip("mlflow") if not IN_CI else __import__("mlflow")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """A real MLflow tracking server, started once for this module (it takes a while)."""
    tmp_path = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    log = (tmp_path / "mlflow.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--artifacts-destination", str(tmp_path / "mlartifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, "MLFLOW_TRACKING_URI": ""},
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            break
    else:
        os.killpg(server.pid, 9)  # the server and its workers
        pytest.fail("mlflow server did not start: " + (tmp_path / "mlflow.log").read_text()[-2000:])
    if server.poll() is not None:
        pytest.fail("mlflow server exited: " + (tmp_path / "mlflow.log").read_text()[-2000:])
    try:
        yield uri
    finally:
        os.killpg(server.pid, 9)
        server.wait(10)
        log.close()


@pytest.fixture
def tracking(server: str, monkeypatch) -> str:
    """MLFLOW_TRACKING_URI pointing at the module's server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    mlflow.set_tracking_uri(server)
    return server


def log_version(name: str, seed: int, alias: str | None = "champion", form: str = "skops") -> int:
    """Train a churn pipeline, log it to MLflow in `form` and register it under `name`."""
    import mlflow.sklearn
    import skops.io as sio

    frame = churn_frame(800, seed)
    estimator = churn_pipeline().fit(frame[NUMERICAL + CATEGORICAL], frame["churned"])
    extra = {}
    if form == "skops":
        extra["skops_trusted_types"] = sio.get_untrusted_types(data=dump_artifact(estimator))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(estimator, name="model", serialization_format=form, **extra)
    version = int(mlflow.register_model(info.model_uri, name).version)
    if alias:
        mlflow.MlflowClient().set_registered_model_alias(name, alias, str(version))
    return version


def spec(tmp_path: Path, artifact: str) -> Path:
    folder = tmp_path / "spec"
    folder.mkdir(exist_ok=True)
    (folder / "reference.csv").write_bytes((EXAMPLE / "reference.csv").read_bytes())
    text = (EXAMPLE / "spec.toml").read_text().replace("../../tests/samples/", "/nowhere/")
    text = text.replace('artifact = "churn.skops"', f'artifact = "{artifact}"')
    assert f'artifact = "{artifact}"' in text
    (folder / "spec.toml").write_text(text)
    return folder / "spec.toml"


def versions() -> list[ModelVersion]:
    with session_scope() as session:
        return list(session.scalars(select(ModelVersion).order_by(ModelVersion.version)))


def test_a_model_follows_its_mlflow_alias_and_publishes_its_promotions(
    db_url: str, tracking: str, tmp_path: Path
) -> None:
    name = f"churn-follow-{db_url[:5]}"
    first = log_version(name, seed=1)
    result = CliRunner().invoke(main, ["apply", str(spec(tmp_path, f"models:/{name}@champion"))])
    assert result.exit_code == 0, result.output
    [v1] = versions()
    assert v1.origin == "mlflow" and v1.status == "champion"
    assert v1.lineage["mlflow"]["name"] == name and v1.lineage["mlflow"]["version"] == first
    assert v1.lineage["mlflow"]["alias"] == "champion"

    # Someone moves @champion in MLflow: the daemon's check switches every deployment.
    second = log_version(name, seed=2)
    from monitor.service.tasks import follow_registry

    assert follow_registry() == {"switched": ["churn v2"], "errors": []}
    assert follow_registry() == {"switched": [], "errors": []}  # nothing moved since
    v1, v2 = versions()
    assert v2.lineage["mlflow"]["version"] == second and v2.status == "champion"
    with session_scope() as session:
        served = {d.name: d.active_version_id for d in session.scalars(select(Deployment))}
        assert set(served.values()) == {v2.id}
        updated = session.scalars(
            select(Event).where(Event.type == "deployment.updated").order_by(Event.id)
        ).all()
        assert [event.data["reason"] for event in updated][-2:] == ["mlflow alias"] * 2

    # A version Driftwise made (a retrain, an upload) is registered in MLflow on promotion.
    client = mlflow.MlflowClient()
    from monitor.registry.versions import promote, rollback
    from retrain.upload import upload_version

    frame = churn_frame(900, 3)
    estimator = churn_pipeline().fit(frame[NUMERICAL + CATEGORICAL], frame["churned"])
    with session_scope() as session:
        model = session.scalars(select(Model)).one()
        v3 = upload_version(session, model, dump_artifact(estimator))
        v3.metrics = {"roc_auc": 0.81}
        promote(session, v3, reason="promote")
        published = v3.lineage["mlflow"]["version"]
    assert published == 3
    registered = client.get_model_version(name, "3")
    assert registered.tags["driftwise.version"] == "3"
    assert registered.tags["driftwise.holdout.roc_auc"] == "0.81"
    assert client.get_model_version_by_alias(name, "champion").version == "3"

    # Rollback moves the alias back to what was served before.
    with session_scope() as session:
        rollback(session, "churn-online")
    assert client.get_model_version_by_alias(name, "champion").version == str(second)


def test_an_external_recipe_hands_in_an_mlflow_version(db_url: str, tracking: str, tmp_path):
    name = f"churn-recipe-{db_url[:5]}"
    log_version(name, seed=1)
    applied = CliRunner().invoke(main, ["apply", str(spec(tmp_path, f"models:/{name}@champion"))])
    assert applied.exit_code == 0, applied.output
    later = log_version(name, seed=5, alias=None)
    from tests.web.conftest import build_app
    from web.auth import create_token

    app = build_app(db_url)
    with session_scope() as session:
        token = create_token(session, "recipe", "admin")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    answer = client.post(
        "/api/v1/models/churn/versions", json={"mlflow_version": later}, headers=headers
    )
    assert answer.status_code == 201, answer.json
    assert answer.json["version"] == 2 and answer.json["status"] == "candidate"
    assert versions()[1].lineage["mlflow"]["version"] == later
    bad = client.post(
        "/api/v1/models/churn/versions", json={"mlflow_version": "two"}, headers=headers
    )
    assert bad.status_code == 400 and "mlflow_version" in bad.json["error"]
    missing = client.post(
        "/api/v1/models/churn/versions", json={"mlflow_version": 99}, headers=headers
    )
    assert missing.status_code == 502 and f"models:/{name}@champion" in missing.json["error"]


def test_a_pickle_only_mlflow_model_is_refused_unless_the_registry_is_trusted(
    db_url: str, tracking: str, monkeypatch
) -> None:
    name = f"churn-pickled-{db_url[:5]}"
    log_version(name, seed=1, form="cloudpickle")
    from monitor.registry.mlflow import fetch

    with pytest.raises(ArtifactRefused, match="cloudpickle file, which runs code when loaded"):
        fetch(f"models:/{name}@champion")
    monkeypatch.setenv("DRIFTWISE_MLFLOW_TRUST_PICKLE", "true")
    found = fetch(f"models:/{name}@champion")
    assert found.artifact[:2] == b"PK"  # stored as skops from then on
    assert found.lineage["mlflow"]["version"] == 1


def test_apply_names_the_registry_problem(db_url: str, tracking: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["apply", str(spec(tmp_path, "models:/nobody@champion"))])
    assert result.exit_code == 2
    assert "models[0].artifact" in result.output and "models:/nobody@champion" in result.output
    bad = CliRunner().invoke(main, ["apply", str(spec(tmp_path, "models:/churn@"))])
    assert bad.exit_code == 2 and "not a registry URI" in bad.output
