"""The whole loop as one system: `driftwise demo --exit` in a subprocess, then the outcome
read back from the store, on SQLite and on PostgreSQL."""

from __future__ import annotations

import email
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.store import db as store_db
from monitor.store import session_scope
from monitor.store.models import (
    Deployment,
    Label,
    ModelVersion,
    Prediction,
    Quarantine,
    RetrainJob,
    Run,
)
from tests.conftest import postgres_database

DRIFTWISE = str(Path(sys.executable).parent / "driftwise")
DEPLOYMENTS = ("churn-online", "churn-nightly")
STORY_SECONDS = 180


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path) -> Iterator[str | None]:
    """None: the demo's own SQLite; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def story(database_url: str | None, tmp_path: Path, monkeypatch) -> dict:
    """Run the demo once; its summary, plus where its data and database are."""
    folder = tmp_path / "demo"
    env = {key: value for key, value in os.environ.items() if not key.startswith("DRIFTWISE_")}
    if database_url:
        env["DRIFTWISE_DATABASE_URL"] = database_url
    result = subprocess.run(
        [DRIFTWISE, "demo", "--exit", "--port", "0", "--data-dir", str(folder)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=STORY_SECONDS + 60,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((folder / "summary.json").read_text())
    url = database_url or f"sqlite:///{folder / 'driftwise.db'}"
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", url)
    monkeypatch.setenv("DRIFTWISE_DATA_DIR", str(folder))
    return summary | {"folder": folder, "url": url, "output": result.stdout}


@pytest.mark.slow
def test_the_demo_closes_the_loop(story: dict) -> None:
    engine = store_db.get_engine(story["url"])
    assert story["seconds"] < STORY_SECONDS, story["seconds"]
    with session_scope(engine) as session:
        deployments = {row.name: row for row in session.scalars(select(Deployment)).all()}
        _every_prediction_once(session, story, deployments)
        _drift_in_the_drifted_days_only(session, story, deployments)
        promoted = _a_better_model_promoted(session, deployments)
        _performance_recovers(session, story, deployments)
        _both_deployments_have_advice(session, deployments)
    _an_alert_email_written(story["folder"])
    _the_endpoint_serves(promoted.version)


def _both_deployments_have_advice(session, deployments: dict) -> None:
    """The daemon's advise job ran in the story: each active version's compute is measured
    and each deployment has a recommendation its page can show."""
    from monitor.advice.advise import advise

    for name, deployment in deployments.items():
        version = session.get(ModelVersion, deployment.active_version_id)
        assert version.compute.get("per_row_seconds", 0) > 0, name
        result = advise(session, deployment, measure=False)
        assert result["recommendation"] in ("realtime", "batch"), (name, result["summary"])
        assert deployment.advice["recommendation"] == result["recommendation"], name
    # The nightly job's traffic fits batch; the real-time endpoint's 1 s target keeps it.
    assert advise(session, deployments["churn-nightly"], measure=False)["fits"] is True
    assert advise(session, deployments["churn-online"], measure=False)["fits"] is True


def _every_prediction_once(session, story: dict, deployments: dict) -> None:
    days, rows = story["days"], story["rows"]
    for name, deployment in deployments.items():
        stored = session.scalar(
            select(func.count())
            .select_from(Prediction)
            .where(Prediction.deployment_id == deployment.id)
        )
        distinct = session.scalar(
            select(func.count(func.distinct(Prediction.request_id))).where(
                Prediction.deployment_id == deployment.id
            )
        )
        assert stored == distinct == story["sent"][name] == days * rows, name
    labels = session.scalar(select(func.count()).select_from(Label))
    assert labels == story["sent"]["labels"] == 2 * days * rows
    assert session.scalar(select(func.count()).select_from(Quarantine)) == 0


def _runs_by_day(session, story: dict, deployment: Deployment, kind: str) -> dict[int, Run]:
    first = datetime.fromisoformat(story["first_day"])
    runs = session.scalars(
        select(Run).where(Run.deployment_id == deployment.id, Run.kind == kind)
    ).all()
    return {(run.window_start - first).days + 1: run for run in runs}


def _drift_in_the_drifted_days_only(session, story: dict, deployments: dict) -> None:
    drift_day = story["drift_day"]
    for name, deployment in deployments.items():
        by_day = _runs_by_day(session, story, deployment, "monitor")
        assert sorted(by_day) == list(range(1, story["days"] + 1)), name
        assert all(run.status == "ok" for run in by_day.values()), name
        drifted = {day for day, run in by_day.items() if (run.drift_share or 0) >= 0.5}
        breached = {
            day
            for day, run in by_day.items()
            if any(entry["type"] == "drift" for entry in run.breaches or [])
        }
        # Drift from its first day until the retrained version (re-baselined on the new
        # customers) takes over on the second day after it.
        assert drifted == breached == {drift_day, drift_day + 1}, (name, drifted, breached)


def _a_better_model_promoted(session, deployments: dict) -> ModelVersion:
    jobs = session.scalars(select(RetrainJob).order_by(RetrainJob.id)).all()
    promoted = [job for job in jobs if job.decision == "promoted"]
    assert len(promoted) == 1, [(job.id, job.status, job.decision, job.error) for job in jobs]
    job = promoted[0]
    assert job.trigger == "policy" and job.status == "succeeded"
    evaluation = job.evaluation
    assert evaluation["metric"] == "accuracy"
    assert evaluation["challenger_score"] > evaluation["champion_score"] + 0.02, evaluation
    version = session.get(ModelVersion, job.challenger_version_id)
    assert version.status == "champion" and version.version == 2
    for deployment in deployments.values():
        assert deployment.active_version_id == version.id, deployment.name
    return version


def _performance_recovers(session, story: dict, deployments: dict) -> None:
    drift_day = story["drift_day"]
    for name, deployment in deployments.items():
        runs = _runs_by_day(session, story, deployment, "backfill")
        accuracy = {day: (run.performance or {}).get("accuracy") for day, run in runs.items()}
        assert all(accuracy[day] > 0.7 for day in range(1, drift_day)), (name, accuracy)
        assert accuracy[drift_day] < 0.55 and accuracy[drift_day + 1] < 0.55, (name, accuracy)
        later = range(drift_day + 2, story["days"] + 1)
        assert all(accuracy[day] > 0.55 for day in later), (name, accuracy)


def _an_alert_email_written(folder: Path) -> None:
    files = sorted((folder / "mail").glob("*.eml"))
    kinds = {email.message_from_bytes(f.read_bytes())["X-Driftwise-Event"] for f in files}
    assert {"drift", "performance", "retrain.promoted"} <= kinds, kinds


def _the_endpoint_serves(version: int) -> None:
    from web import create_app

    app = create_app({"TESTING": True})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {"email": "admin@example.com", "password": "driftwise-demo", "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    with client.session_transaction() as session:
        csrf = session["csrf"]
    response = client.post(
        "/api/v1/deployments/churn-online/predict",
        json={"features": {"tenure": 40.0, "charges": 95.0, "plan": "basic", "region": "eu"}},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    reply = response.get_json()
    predictions = reply["predictions"] if isinstance(reply, dict) else reply
    assert predictions[0]["model_version"] == version


def test_it_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    from click import ClickException

    from monitor.demo.command import fresh_folder

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ClickException, match="not made by `driftwise demo`"):
        fresh_folder(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    demo = fresh_folder(tmp_path / "demo")
    (demo / "old.csv").write_text("stale")
    assert list(fresh_folder(demo).iterdir()) == [demo / ".driftwise-demo"]


def test_it_refuses_a_database_that_holds_models(sqlite_url: str) -> None:
    from click import ClickException

    from monitor.demo.command import prepare_database
    from tests.factories import make_deployment

    with session_scope(store_db.get_engine(sqlite_url)) as session:
        make_deployment(session)
    with pytest.raises(ClickException, match="already holds models"):
        prepare_database()
