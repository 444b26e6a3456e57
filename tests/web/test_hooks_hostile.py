"""Hostile signed deliveries: over-long ids refused, replays recognised by exactly what is
stored, bodies nested too deeply refused, odd values never a 500."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from monitor.notify.signing import signed_headers
from monitor.store import get_engine, session_scope
from monitor.store.models import RetrainJob, WebhookReceipt
from tests.web.conftest import WEBHOOK_SECRET, add_history, build_app
from web.hooks import MAX_WEBHOOK_ID

BODY = json.dumps({"model": "churn-online-model", "deployment": "churn-online", "reason": "CI"})
HOOKS = ("/hooks/retrain", "/hooks/labels-ready")


def _post(client, hook: str = "/hooks/retrain", body: str = BODY, webhook_id: str = "msg_1"):
    headers = signed_headers(WEBHOOK_SECRET, webhook_id, body)
    return client.post(hook, data=body, headers=headers, content_type="application/json")


def _counts(url: str) -> tuple[int, int]:
    with session_scope(get_engine(url)) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table))
            for table in (RetrainJob, WebhookReceipt)
        )


@pytest.fixture
def hooked(db_url):
    app = build_app(db_url)
    app.config["LABELS_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    add_history(db_url)
    return app.test_client(), db_url


def test_an_over_long_webhook_id_is_refused_and_starts_nothing(hooked):
    """On SQLite and PostgreSQL."""
    client, url = hooked
    before = _counts(url)
    for hook in HOOKS:
        response = _post(client, hook, webhook_id="m" * (MAX_WEBHOOK_ID + 1))
        assert response.status_code == 400, response.json
        assert f"webhook-id: longer than {MAX_WEBHOOK_ID}" in response.json["error"]
    assert _counts(url) == before


def test_a_replay_of_the_longest_allowed_id_is_recognised(hooked):
    """On SQLite and PostgreSQL: the id is looked up exactly as it was stored."""
    client, url = hooked
    webhook_id = "m" * MAX_WEBHOOK_ID
    first = _post(client, webhook_id=webhook_id)
    assert first.status_code == 202 and first.json["replayed"] is False
    replay = _post(client, webhook_id=webhook_id)
    assert replay.status_code == 202
    assert replay.json == {"job_id": first.json["job_id"], "replayed": True}
    with session_scope(get_engine(url)) as session:
        assert session.scalar(select(WebhookReceipt.webhook_id)) == webhook_id


@pytest.mark.parametrize("depth", [40, 30_000])
def test_a_body_nested_too_deeply_is_refused_with_400(client, app, sqlite_url, depth):
    app.config["LABELS_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    add_history(sqlite_url)
    body = '{"model": "churn-online-model", "reason": ' + "[" * depth + "]" * depth + "}"
    for n, hook in enumerate(HOOKS):
        response = _post(client, hook, body=body, webhook_id=f"deep-{n}")
        assert response.status_code == 400, response.get_data(as_text=True)
        assert "nested deeper than" in response.json["error"]
    assert _counts(sqlite_url) == (1, 0)  # the seeded job only


def test_big_integers_and_lone_surrogates_in_a_body_are_never_a_500(hooked):
    """On SQLite and PostgreSQL."""
    client, url = hooked
    big = json.dumps({"model": "churn-online-model", "reason": 2**70, "deployment": 2**70})
    assert _post(client, body=big, webhook_id="big").status_code == 202
    unknown = _post(client, body='{"model": "\\ud800"}', webhook_id="lone-model")
    assert unknown.status_code == 404
    missing = _post(client, "/hooks/labels-ready", '{"deployment": "\\ud800"}', "lone-d")
    assert missing.status_code == 404
    reason = '{"model": "churn-online-model", "reason": "a\\ud800b"}'
    assert _post(client, body=reason, webhook_id="lone-reason").status_code == 202
    with session_scope(get_engine(url)) as session:
        reasons = set(session.scalars(select(RetrainJob.reason)))
    assert str(2**70) in reasons and "a\ufffdb" in reasons
