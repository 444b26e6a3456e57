"""`/predict` says which of its rows were logged and which were duplicates: an id
already stored, or the same id twice in one request, is answered but not logged twice."""

from __future__ import annotations

from sqlalchemy import select

from monitor.store import get_engine, session_scope
from monitor.store.models import Prediction
from tests.factories import churn_artifact, make_deployment
from tests.web.conftest import bearer, build_app
from web.auth import create_token

FEATURES = {"tenure": 5.0, "charges": 70.0, "plan": "pro", "region": "eu"}
PREDICT = "/api/v1/deployments/churn-online/predict"


def test_predict_says_which_rows_were_logged_and_which_were_duplicates(db_url):
    app = build_app(db_url)
    with session_scope(get_engine(db_url)) as session:
        make_deployment(session, artifact=churn_artifact())
        headers = bearer(create_token(session, "scorer", "client"))
    client = app.test_client()
    first = client.post(
        PREDICT, json={"features": FEATURES, "request_id": "live-1"}, headers=headers
    )
    assert first.status_code == 200, first.json
    assert first.json["predictions"][0]["status"] == "logged"
    again = client.post(
        PREDICT,
        json={
            "features": [FEATURES, FEATURES, FEATURES],
            "request_id": ["live-1", "live-2", "live-2"],
        },
        headers=headers,
    )
    assert again.status_code == 200, again.json
    assert [row["status"] for row in again.json["predictions"]] == [
        "duplicate",
        "logged",
        "duplicate",
    ]
    assert all(row["prediction"] is not None for row in again.json["predictions"])
    with session_scope(get_engine(db_url)) as session:
        assert sorted(session.scalars(select(Prediction.request_id))) == ["live-1", "live-2"]
