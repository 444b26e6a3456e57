"""Hostile artifacts at retrain's entry points: a recipe's output, the serving cache, batch
scoring. Each is refused naming what it names; the payload never runs; nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.demo.sample_data import churn_frame
from monitor.errors import ArtifactRefused
from monitor.jobs import request_retrain
from monitor.store import get_engine, session_scope
from monitor.store.models import ModelVersion, Prediction
from retrain import serving
from retrain.jobs import run_job
from retrain.scoring import score
from tests import hostile_artifacts
from tests.hostile_artifacts import HOSTILE, hostile, refusal_mentions
from tests.retrain import support
from tests.retrain.support import log_traffic, make_model


def _count(engine, table) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(table))


def _poison_champion(engine, model_id: int, data: bytes) -> None:
    """The champion's stored bytes replaced, as if stored before artifacts were checked."""
    with session_scope(engine) as session:
        version = session.scalar(select(ModelVersion).where(ModelVersion.model_id == model_id))
        version.artifact = data


def test_a_recipe_returning_a_model_that_runs_code_fails_the_job_and_stores_nothing(
    engine, tmp_path: Path
):
    """On SQLite and PostgreSQL."""
    marker = tmp_path / "payload-ran"
    hostile_artifacts.RECIPE_MARKER.append(marker)
    recipe = "tests.hostile_artifacts:hostile_recipe"
    model_id = make_model(engine, {"recipe": recipe})
    log_traffic(engine, 600, shift=1.5)
    with session_scope(engine) as session:
        job = request_retrain(
            session,
            model_id,
            "policy",
            "breach:hostile",
            deployment_id=support.deployment_id(engine),
            force=True,
        )
        session.flush()
        job_id = job.id
    job = run_job(engine, job_id)
    assert job.status == "failed"
    assert f"recipe {recipe} returned a model that cannot be stored" in job.error
    assert "numpy.testing._private.utils.measure" in job.error
    assert not marker.exists()  # never evaluated, so never asked to predict
    assert _count(engine, ModelVersion) == 1


@pytest.mark.parametrize("case", list(HOSTILE))
def test_the_serving_cache_refuses_a_stored_hostile_artifact(case, sqlite_url, tmp_path: Path):
    engine = get_engine(sqlite_url)
    marker = tmp_path / "payload-ran"
    _poison_champion(engine, make_model(engine, batch=False), hostile(case, marker))
    row = churn_frame(1, seed=3).drop(columns="churned").iloc[0].to_dict()
    with pytest.raises(ArtifactRefused) as refused:
        serving.predict(engine, "churn-online", row, request_id="r-1")
    assert refusal_mentions(case) in str(refused.value)
    assert not marker.exists()
    assert _count(engine, Prediction) == 0


@pytest.mark.parametrize("case", list(HOSTILE))
def test_batch_scoring_refuses_a_stored_hostile_artifact(case, sqlite_url, tmp_path: Path):
    engine = get_engine(sqlite_url)
    marker = tmp_path / "payload-ran"
    _poison_champion(engine, make_model(engine), hostile(case, marker))
    churn_frame(50, seed=4).drop(columns="churned").to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(ArtifactRefused) as refused:
        score(engine, "churn-nightly", tmp_path / "in.csv", tmp_path / "out.csv")
    assert refusal_mentions(case) in str(refused.value)
    assert not marker.exists()
    assert not (tmp_path / "out.csv").exists()
    assert _count(engine, Prediction) == 0
