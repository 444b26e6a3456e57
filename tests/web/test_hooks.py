"""The inbound retrain webhook: a signed request starts exactly one job; anything else none."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from monitor.notify.signing import signed_headers
from monitor.store import get_engine, session_scope
from monitor.store.models import RetrainJob, WebhookReceipt
from tests.web.conftest import WEBHOOK_SECRET, add_history, build_app

BODY = json.dumps({"model": "churn-online-model", "deployment": "churn-online", "reason": "CI"})


def _jobs(url: str) -> list[RetrainJob]:
    with session_scope(get_engine(url)) as session:
        return list(session.scalars(select(RetrainJob).where(RetrainJob.trigger == "webhook")))


def _post(client, body: str = BODY, secret: str = WEBHOOK_SECRET, webhook_id: str = "msg_1", **kw):
    headers = signed_headers(secret, webhook_id, body, **kw)
    return client.post(
        "/hooks/retrain", data=body, headers=headers, content_type="application/json"
    )


@pytest.fixture
def hooked(db_url):
    app = build_app(db_url)
    add_history(db_url)
    return app.test_client(), db_url


def test_a_signed_request_starts_exactly_one_job_and_a_replay_none(hooked):
    """On SQLite and PostgreSQL."""
    client, url = hooked
    response = _post(client)
    assert response.status_code == 202
    job_id = response.json["job_id"]
    assert [job.id for job in _jobs(url)] == [job_id]
    replay = _post(client)
    assert replay.status_code == 202
    assert replay.json == {"job_id": job_id, "replayed": True}
    assert len(_jobs(url)) == 1
    with session_scope(get_engine(url)) as session:
        assert session.scalar(select(func.count()).select_from(WebhookReceipt)) == 1


def test_a_new_webhook_id_is_a_new_request(client, sqlite_url):
    add_history(sqlite_url)
    assert _post(client, webhook_id="msg_a").status_code == 202
    assert _post(client, webhook_id="msg_b").status_code == 202
    assert len(_jobs(sqlite_url)) == 2


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "tampered body", "stale timestamp", "future timestamp", "unsigned"],
)
def test_a_bad_signature_is_401_and_starts_nothing(client, sqlite_url, case):
    add_history(sqlite_url)
    if case == "wrong secret":
        response = _post(client, secret="another-secret")
    elif case == "tampered body":
        headers = signed_headers(WEBHOOK_SECRET, "msg_1", BODY)
        response = client.post("/hooks/retrain", data=BODY.replace("CI", "XX"), headers=headers)
    elif case == "stale timestamp":
        response = _post(client, timestamp=int(time.time()) - 301)
    elif case == "future timestamp":
        response = _post(client, timestamp=int(time.time()) + 400)
    else:
        response = client.post("/hooks/retrain", data=BODY, content_type="application/json")
    assert response.status_code == 401
    assert "signature refused" in response.json["error"]
    assert _jobs(sqlite_url) == []


def test_a_timestamp_within_five_minutes_is_accepted(client, sqlite_url):
    add_history(sqlite_url)
    assert _post(client, timestamp=int(time.time()) - 290).status_code == 202


def test_unknown_model_malformed_and_oversized_bodies(client, sqlite_url):
    add_history(sqlite_url)
    unknown = _post(client, body=json.dumps({"model": "nope"}), webhook_id="m1")
    assert unknown.status_code == 404
    malformed = _post(client, body="not json", webhook_id="m2")
    assert malformed.status_code == 400
    oversized = _post(client, body=json.dumps({"model": "x" * 70_000}), webhook_id="m3")
    assert oversized.status_code == 413
    assert _jobs(sqlite_url) == []


def test_a_rotated_secret_is_accepted_alongside_the_old_one(sqlite_url):
    from tests.web.conftest import build_app as build

    app = build(sqlite_url)
    app.config["RETRAIN_WEBHOOK_SECRET"] = f"new-secret {WEBHOOK_SECRET}"
    add_history(sqlite_url)
    client = app.test_client()
    assert _post(client, secret="new-secret", webhook_id="n1").status_code == 202
    assert _post(client, webhook_id="n2").status_code == 202


def test_the_hook_is_off_without_a_secret(client, app, sqlite_url):
    app.config["RETRAIN_WEBHOOK_SECRET"] = ""
    add_history(sqlite_url)
    assert _post(client).status_code == 503
    assert _jobs(sqlite_url) == []
