"""Hostile pushes: version numbers mapped as files map them, integers no column can hold
quarantined by field, JSON nested too deeply refused; the good records of a request stay."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from monitor.ingest.records import MAX_DEPTH
from monitor.store import get_engine, session_scope
from monitor.store.models import Label, Model, ModelVersion, Prediction, Quarantine
from tests.factories import make_deployment
from tests.web.conftest import add_history, bearer, build_app
from tests.web.push_support import FEATURES, record, serve_fitted_version

PUSH = "/api/v1/deployments/churn-online/predictions"


@pytest.fixture
def pushing(db_url):
    """Another model's version is created first, so its row id is 1: a version number
    stored as a row id would point at it."""
    app = build_app(db_url)
    with session_scope(get_engine(db_url)) as session:
        make_deployment(session, name="fraud")
    add_history(db_url)
    with session_scope(get_engine(db_url)) as session:
        from web.auth import create_token

        token = create_token(session, "pusher", "admin")
    return app.test_client(), db_url, bearer(token)


def _stored(url: str, table=Prediction) -> dict:
    with session_scope(get_engine(url)) as session:
        if table is Label:
            return dict(session.execute(select(Label.request_id, Label.value)).all())
        return dict(
            session.execute(select(Prediction.request_id, Prediction.model_version_id)).all()
        )


def _version_id(url: str, model: str, number: int) -> int:
    with session_scope(get_engine(url)) as session:
        return session.scalar(
            select(ModelVersion.id)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(ModelVersion.version == number, Model.name == model)
        )


def test_a_pushed_version_number_is_mapped_to_this_model_s_version(pushing):
    """On SQLite and PostgreSQL: known numbers become the version's row, unknown ones null,
    never a row of another model's version."""
    client, url, headers = pushing
    other = _version_id(url, "fraud-model", 1)
    records = [
        record("v1", model_version=1),
        record("v2", model_version=2),
        record("v-unknown", model_version=99),
        record("v-other", model_version=other),
        record("v-none"),
    ]
    response = client.post(PUSH, json={"records": records}, headers=headers)
    assert response.status_code == 200, response.json
    stored = _stored(url)
    assert stored["v1"] == _version_id(url, "churn-online-model", 1)
    assert stored["v2"] == _version_id(url, "churn-online-model", 2)
    assert stored["v-unknown"] is None and stored["v-none"] is None
    assert stored["v-other"] != other


BEYOND = 2**64
HOSTILE = [
    ("features.tenure", {"features": FEATURES | {"tenure": BEYOND}}),
    ("features.tenure", {"features": FEATURES | {"tenure": -(2**63) - 1}}),
    ("features.plan", {"features": FEATURES | {"plan": BEYOND}}),
    ("prediction", {"prediction": BEYOND}),
    ("probability", {"probability": 10**400}),
    ("model_version", {"model_version": BEYOND}),
    ("timestamp", {"timestamp": BEYOND}),
]


def test_integers_beyond_64_bits_are_quarantined_by_field_and_the_rest_is_stored(pushing):
    """On SQLite and PostgreSQL."""
    client, url, headers = pushing
    bad = [record(f"bad-{i}", **change) for i, (_, change) in enumerate(HOSTILE)]
    records = [record("good-1"), *bad, record("good-2", model_version=2**63 - 1)]
    response = client.post(PUSH, json={"records": records}, headers=headers)
    assert response.status_code == 207, response.get_data(as_text=True)
    results = response.json["results"]
    for (field, _), result in zip(HOSTILE, results[1:-1], strict=True):
        assert result["status"] == "quarantined"
        assert result["reason"].startswith(f"{field}:"), result
    assert response.json["inserted"] == 2
    stored = _stored(url)
    assert set(stored) == {"good-1", "good-2"}
    assert stored["good-2"] is None  # a number no version has
    with session_scope(get_engine(url)) as session:
        reasons = list(session.scalars(select(Quarantine.reason)))
        raws = list(session.scalars(select(Quarantine.raw)))
    assert len(reasons) == len(HOSTILE)
    assert any(str(BEYOND).encode() in raw for raw in raws)


def test_a_label_beyond_64_bits_is_quarantined_and_the_others_stored(pushing):
    client, url, headers = pushing
    labels = [
        {"request_id": "r-1", "label": 1},
        {"request_id": "r-2", "label": BEYOND},
        {"request_id": "r-3", "label": 0},
    ]
    response = client.post("/api/v1/deployments/churn-online/labels", json=labels, headers=headers)
    assert response.status_code == 207, response.get_data(as_text=True)
    assert response.json["results"][1]["reason"].startswith("label:")
    assert set(_stored(url, Label)) == {"r-1", "r-3"}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 50_000])
def test_json_nested_beyond_the_limit_is_refused_with_400_and_stores_nothing(
    client, tokens, sqlite_url, depth
):
    add_history(sqlite_url)
    nested = "[" * depth + "]" * depth
    body = '{"records": [' + json.dumps(record("good")) + ', {"features": ' + nested + "}]}"
    for url in (PUSH, "/api/v1/deployments/churn-online/labels"):
        response = client.post(
            url, data=body, content_type="application/json", headers=bearer(tokens["admin"])
        )
        assert response.status_code == 400, response.get_data(as_text=True)
        assert f"nested deeper than {MAX_DEPTH}" in response.json["error"]
    with session_scope(get_engine(sqlite_url)) as session:
        assert session.scalars(select(Prediction)).first() is None
        assert session.scalars(select(Quarantine)).first() is None


def test_nesting_within_the_limit_is_a_bad_record_not_a_refused_request(client, tokens, sqlite_url):
    add_history(sqlite_url)
    inside = json.loads("[" * (MAX_DEPTH - 4) + "]" * (MAX_DEPTH - 4))
    records = [record("good"), record("deep", features=FEATURES | {"plan": inside})]
    response = client.post(PUSH, json=records, headers=bearer(tokens["admin"]))
    assert response.status_code == 207
    assert response.json["results"][1]["reason"].startswith("features.plan:")


def test_predict_refuses_integers_beyond_64_bits_and_logs_the_version_it_served(
    client, tokens, sqlite_url
):
    add_history(sqlite_url)
    admin = bearer(tokens["admin"])
    number = serve_fitted_version(client, admin)
    url = "/api/v1/deployments/churn-online/predict"
    hostile = client.post(
        url, json={"features": FEATURES | {"tenure": BEYOND}, "request_id": "x"}, headers=admin
    )
    assert hostile.status_code == 400 and "features.tenure" in hostile.json["error"]
    scored = client.post(url, json={"features": FEATURES, "request_id": "ok"}, headers=admin)
    assert scored.status_code == 200, scored.json
    assert _stored(sqlite_url) == {"ok": _version_id(sqlite_url, "churn-online-model", number)}


def test_a_retrain_request_nested_too_deeply_is_refused_with_400(client, tokens, sqlite_url):
    add_history(sqlite_url)
    body = '{"reason": ' + "[" * 50_000 + "]" * 50_000 + "}"
    response = client.post(
        "/api/v1/models/churn-online-model/retrain",
        data=body,
        content_type="application/json",
        headers=bearer(tokens["admin"]),
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "nested deeper than" in response.json["error"]
