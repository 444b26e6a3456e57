"""A push, a `/predict` and a batch-scoring run go through one write path: the same model
version number is stored as the same version row id, whichever way the records came."""

from __future__ import annotations

from sqlalchemy import select

from monitor.demo.sample_data import churn_frame
from monitor.store import get_engine, session_scope
from monitor.store.models import Prediction
from retrain.scoring import score
from tests.factories import churn_artifact, make_deployment
from tests.web.conftest import bearer, build_app
from tests.web.test_predict_duplicates import FEATURES
from web.auth import create_token

BASE = "/api/v1/deployments/churn-online"


def test_push_predict_and_batch_scoring_store_the_same_version_row_id(db_url, tmp_path):
    app = build_app(db_url)
    engine = get_engine(db_url)
    with session_scope(engine) as session:
        make_deployment(session, name="first")  # its version takes row id 1
        deployment = make_deployment(session, artifact=churn_artifact())
        version_id = deployment.active_version_id
        headers = bearer(create_token(session, "pusher", "client"))
    assert version_id != 1  # version number 1 is not its row id: the mapping is visible
    client = app.test_client()
    record = {
        "request_id": "pushed",
        "timestamp": "2026-01-01T10:00:00Z",
        "features": FEATURES,
        "prediction": 1,
        "probability": 0.8,
        "model_version": 1,
    }
    pushed = client.post(f"{BASE}/predictions", json={"records": [record]}, headers=headers)
    assert pushed.status_code == 200 and pushed.json["inserted"] == 1, pushed.json
    predicted = client.post(
        f"{BASE}/predict", json={"features": FEATURES, "request_id": "predicted"}, headers=headers
    )
    assert predicted.status_code == 200, predicted.json
    assert predicted.json["predictions"][0]["model_version"] == 1
    frame = churn_frame(3, seed=2).drop(columns="churned").assign(request_id=["s-0", "s-1", "s-2"])
    frame.to_csv(tmp_path / "in.csv", index=False)
    scored = score(engine, "churn-online", str(tmp_path / "in.csv"), str(tmp_path / "out.csv"))
    assert (scored.version, scored.logged) == (1, 3)

    with session_scope(engine) as session:
        query = select(Prediction.request_id, Prediction.model_version_id)
        stored = dict(session.execute(query).all())
    assert stored == {rid: version_id for rid in ("pushed", "predicted", "s-0", "s-1", "s-2")}


def test_a_version_number_the_registry_does_not_know_is_stored_as_unknown(db_url):
    app = build_app(db_url)
    with session_scope(get_engine(db_url)) as session:
        make_deployment(session)
        headers = bearer(create_token(session, "pusher", "client"))
    record = {
        "request_id": "from-the-future",
        "timestamp": "2026-01-01T10:00:00Z",
        "features": FEATURES,
        "prediction": 0,
        "model_version": 7,
    }
    answer = app.test_client().post(f"{BASE}/predictions", json=[record], headers=headers)
    assert answer.status_code == 200 and answer.json["inserted"] == 1, answer.json
    with session_scope(get_engine(db_url)) as session:
        assert session.scalar(select(Prediction.model_version_id)) is None
