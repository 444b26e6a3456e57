"""Values the store cannot hold: whatever passes validation is stored on SQLite and
PostgreSQL, anything else is quarantined with a reason naming the field, and no request
answers 5xx (a Hypothesis property over every field of pushes, labels and /predict)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from monitor.store import get_engine, session_scope
from monitor.store.models import Label, Prediction, Quarantine
from tests.factories import churn_artifact, make_deployment
from tests.web.conftest import bearer, build_app
from tests.web.push_support import FEATURES, stored
from tests.web.push_support import record as _record
from web.auth import create_token

BASE = "/api/v1/deployments/churn-online"


def _post(client, path: str, body, headers):
    """Bodies as text: json.dumps keeps lone surrogates and big integers as a client sends them."""
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


@pytest.fixture
def pushing(db_url):
    app = build_app(db_url)
    with session_scope(get_engine(db_url)) as session:
        make_deployment(session, name="churn-online", artifact=churn_artifact())
        token = create_token(session, "pusher", "admin")
    return app.test_client(), db_url, bearer(token)


def test_values_no_column_holds_are_quarantined_by_field_and_the_rest_stored(pushing):
    client, url, headers = pushing
    big = "x" * (64 * 1024 + 1)
    bad = [
        ("request_id", _record("nul\x00id")),
        ("request_id", _record("lone-\ud800")),
        ("request_id", _record(10**300)),
        ("features.plan", _record("long-plan", features=FEATURES | {"plan": big})),
        ("prediction", _record("long-prediction", prediction=big)),
        ("record", _record("odd-key") | {"\ud800\x00" * 5000: 1}),
    ]
    records = [_record("good-1"), *(record for _, record in bad), _record("good-2")]
    response = _post(client, f"{BASE}/predictions", {"records": records}, headers)
    assert response.status_code == 207, response.get_data(as_text=True)
    for (field, _), result in zip(bad, response.json["results"][1:-1], strict=True):
        assert result["status"] == "quarantined" and result["reason"].startswith(f"{field}:")
        assert len(result["reason"]) <= 1001
    assert response.json["inserted"] == 2 and stored(url, Quarantine) == len(bad)
    label = _post(client, f"{BASE}/labels", [{"request_id": "good-1", "label": big}], headers)
    assert label.status_code == 400 and label.json["results"][0]["reason"].startswith("label:")


def test_the_value_size_limit_is_a_setting(pushing, monkeypatch):
    client, url, headers = pushing
    monkeypatch.setenv("DRIFTWISE_MAX_VALUE_BYTES", "8")
    records = [_record("short", features=FEATURES | {"plan": "é" * 4}), _record("long")]
    records[1]["features"]["plan"] = "é" * 5  # 10 bytes of UTF-8
    response = _post(client, f"{BASE}/predictions", records, headers)
    assert [r["status"] for r in response.json["results"]] == ["inserted", "quarantined"]
    assert "8-byte limit" in response.json["results"][1]["reason"]


@pytest.mark.parametrize("field", ["reason", "idempotency_key", "deployment"])
def test_a_retrain_request_with_text_no_column_holds_is_refused_with_400(pushing, field):
    client, _, headers = pushing
    body = {field: "lone \ud800 surrogate"}
    response = _post(client, "/api/v1/models/churn-online-model/retrain", body, headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["error"].startswith(f"{field}:")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = ["request_id", "timestamp", "prediction", "probability", "model_version"]


@st.composite
def _records(draw) -> list[tuple[dict, bool]]:
    """Records with arbitrary JSON in one field each (or in a feature), and a good one."""
    records = [(_record(f"good-{draw(st.uuids()).hex}"), True)]
    for _ in range(draw(st.integers(1, 4))):
        record = _record(f"any-{draw(st.uuids()).hex}")
        where = draw(st.sampled_from([*FIELDS, "label", "features.plan", "features.tenure"]))
        if where.startswith("features."):
            record["features"][where.removeprefix("features.")] = draw(JSON)
        else:
            record[where] = draw(JSON)
        records.append((record, False))
    return records


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(drawn=_records(), role=st.sampled_from(["predictions", "labels", "predict"]))
def _property(pushing, drawn, role) -> None:
    client, url, headers = pushing
    with session_scope(get_engine(url)) as session:
        for table in (Prediction, Label, Quarantine):
            session.execute(delete(table))
    if role == "predict":
        rows = [record["features"] for record, _ in drawn]
        ids = [record["request_id"] for record, _ in drawn]
        response = _post(client, f"{BASE}/predict", {"features": rows, "request_id": ids}, headers)
        assert response.status_code in (200, 400), response.get_data(as_text=True)
        if response.status_code == 200:  # scored rows are logged once
            assert stored(url, Prediction) == len(set(ids))
            assert {row["status"] for row in response.json["predictions"]} <= {
                "logged",
                "duplicate",
            }
        return
    if role == "labels":
        records = [
            {"request_id": r["request_id"], "label": r.get("label", 1), "timestamp": r["timestamp"]}
            for r, _ in drawn
        ]
    else:
        records = [{k: v for k, v in r.items() if k != "label"} for r, _ in drawn]
    response = _post(client, f"{BASE}/{role}", {"records": records}, headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    results = response.json["results"]
    table = Prediction if role == "predictions" else Label
    inserted = [r for r in results if r["status"] == "inserted"]
    quarantined = [r for r in results if r["status"] == "quarantined"]
    assert results[0]["status"] == "inserted"  # the good record is never lost
    assert all(r["reason"] for r in quarantined)
    assert stored(url, table) == len(inserted) and stored(url, Quarantine) == len(quarantined)
    assert len(inserted) + len(quarantined) + response.json["duplicate"] == len(records)


def test_arbitrary_json_in_any_field_never_answers_5xx_and_loses_no_good_record(pushing):
    _property(pushing)
