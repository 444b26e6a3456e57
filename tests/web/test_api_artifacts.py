"""Hostile model artifacts through the API: refused with a 4xx naming them, never run, never stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, ModelVersion, Prediction
from tests.hostile_artifacts import HOSTILE, hostile, refusal_mentions, refusal_status
from tests.web.conftest import add_history, bearer

FEATURES = {"tenure": 5.0, "charges": 70.0, "plan": "pro", "region": "eu"}


def _count(url: str, table) -> int:
    with session_scope(get_engine(url)) as session:
        return session.scalar(select(func.count()).select_from(table))


@pytest.mark.parametrize("case", list(HOSTILE))
def test_an_uploaded_hostile_artifact_is_refused_and_nothing_stored(
    case, client, tokens, sqlite_url, tmp_path: Path
):
    add_history(sqlite_url)
    marker = tmp_path / "payload-ran"
    before = _count(sqlite_url, ModelVersion)
    response = client.post(
        "/api/v1/models/churn-online-model/versions",
        data=hostile(case, marker),
        content_type="application/octet-stream",
        headers=bearer(tokens["admin"]),
    )
    assert response.status_code == refusal_status(case), response.json
    assert refusal_mentions(case) in response.json["error"]
    assert not marker.exists()
    assert _count(sqlite_url, ModelVersion) == before


@pytest.mark.parametrize("case", list(HOSTILE))
def test_predict_refuses_a_stored_hostile_artifact_and_never_runs_it(
    case, client, tokens, sqlite_url, tmp_path: Path
):
    """An artifact stored before the check existed is refused by the serving cache."""
    deployment_id, _ = add_history(sqlite_url)
    marker = tmp_path / "payload-ran"
    with session_scope(get_engine(sqlite_url)) as session:
        deployment = session.get(Deployment, deployment_id)
        session.get(ModelVersion, deployment.active_version_id).artifact = hostile(case, marker)
    response = client.post(
        "/api/v1/deployments/churn-online/predict",
        json={"features": FEATURES, "request_id": "live-1"},
        headers=bearer(tokens["admin"]),
    )
    assert response.status_code == refusal_status(case), response.json
    assert refusal_mentions(case) in response.json["error"]
    assert not marker.exists()
    assert _count(sqlite_url, Prediction) == 0
