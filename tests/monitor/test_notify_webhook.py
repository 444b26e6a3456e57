"""Signed outbound webhooks delivered to a real HTTP server in the test process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import select

from monitor.notify import enqueue
from monitor.notify.channels.base import parse_retry_after
from monitor.notify.dispatch import dispatch_due
from monitor.notify.signing import verify
from monitor.store import session_scope
from monitor.store.models import AlertRule, DeliveryAttempt, Notification
from monitor.timeutil import utcnow
from tests.monitor.notify_support import (
    Receiver,
    free_port,
    make_deployment,
    make_event,
    make_rule,
    make_settings,
)

SECRET = "whsec_c2VjcmV0LWZvci10aGUtZGVwbG95ZXI="


def _webhook_alerts(url: str, count: int = 1, **config) -> list[int]:
    with session_scope() as session:
        deployment = make_deployment(session)
        make_rule(session, channel="webhook", targets=[url], config=config or {"secret": SECRET})
        return [
            enqueue(session, make_event(session, deployment, data={"drift_share": 0.8}))[0].id
            for _ in range(count)
        ]


def _rows() -> list[Notification]:
    with session_scope() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_a_delivery_is_signed_and_verifies(db_url, tmp_path):
    settings = make_settings(tmp_path, db_url)
    with Receiver() as receiver:
        _webhook_alerts(receiver.url)
        assert dispatch_due(settings=settings)["sent"] == 1
    (delivery,) = receiver.deliveries
    assert verify(delivery.headers, delivery.body, SECRET) == delivery.headers["webhook-id"]
    assert delivery.headers["content-type"] == "application/json"
    body = delivery.json
    assert body["type"] == "drift"
    assert body["data"]["deployment"] == "churn-online"
    assert body["data"]["drift_share"] == 0.8
    assert body["data"]["url"] == "http://driftwise.example/deployments/churn-online"
    with session_scope() as session:
        (attempt,) = session.scalars(select(DeliveryAttempt)).all()
        assert attempt.ok and attempt.status_code == 200


def test_a_secret_from_the_environment_signs(sqlite_url, tmp_path, monkeypatch):
    settings = make_settings(tmp_path, sqlite_url)
    with Receiver() as receiver:
        _webhook_alerts(receiver.url, secret_env="DEPLOYER_WEBHOOK_SECRET")
        assert dispatch_due(settings=settings)["retrying"] == 1
        assert "DEPLOYER_WEBHOOK_SECRET is not set" in _rows()[0].last_error
        monkeypatch.setenv("DEPLOYER_WEBHOOK_SECRET", "plain-secret")
        assert dispatch_due(now=utcnow() + timedelta(hours=1), settings=settings)["sent"] == 1
    (delivery,) = receiver.deliveries
    assert verify(delivery.headers, delivery.body, "plain-secret")


def test_a_500_is_retried_after_the_receiver_s_retry_after(db_url, tmp_path):
    settings = make_settings(tmp_path, db_url)
    with Receiver([(500, {"Retry-After": "120"}), (503, {})]) as receiver:
        (notification_id,) = _webhook_alerts(receiver.url)
        now = utcnow()
        assert dispatch_due(now=now, settings=settings)["retrying"] == 1
        row = _rows()[0]
        assert row.next_attempt_at == now + timedelta(seconds=120)
        assert "answered 500" in row.last_error
        assert dispatch_due(now=now + timedelta(seconds=119), settings=settings)["due"] == 0
        assert dispatch_due(now=now + timedelta(seconds=120), settings=settings)["retrying"] == 1
        later = _rows()[0].next_attempt_at
        assert dispatch_due(now=later, settings=settings)["sent"] == 1
    ids = {delivery.headers["webhook-id"] for delivery in receiver.deliveries}
    assert len(receiver.deliveries) == 3 and len(ids) == 1  # one message, retried
    with session_scope() as session:
        codes = session.scalars(
            select(DeliveryAttempt.status_code)
            .where(DeliveryAttempt.notification_id == notification_id)
            .order_by(DeliveryAttempt.id)
        ).all()
    assert codes == [500, 503, 200]


def test_a_429_with_an_http_date_waits_that_long(sqlite_url, tmp_path):
    settings = make_settings(tmp_path, sqlite_url)
    when = _http_date(utcnow().replace(microsecond=0) + timedelta(minutes=10))
    with Receiver([(429, {"Retry-After": when})]) as receiver:
        _webhook_alerts(receiver.url)
        now = utcnow()
        assert dispatch_due(now=now, settings=settings)["retrying"] == 1
    wait = (_rows()[0].next_attempt_at - now).total_seconds()
    assert 590 <= wait <= 600


def test_410_disables_the_rule_and_its_waiting_notifications(db_url, tmp_path):
    settings = make_settings(tmp_path, db_url)
    with Receiver([(410, {})]) as receiver:
        _webhook_alerts(receiver.url, count=3)
        counts = dispatch_due(settings=settings)
    assert len(receiver.deliveries) == 1  # nothing more is sent to a gone endpoint
    assert counts["failed"] == 3
    with session_scope() as session:
        rule = session.scalars(select(AlertRule)).one()
        assert not rule.enabled and "answered 410" in rule.disabled_reason
        event = make_event(session)
        assert enqueue(session, event) == []  # a disabled rule hears of nothing new
    assert [row.last_error.startswith("rule disabled") for row in _rows()] == [False, True, True]


@pytest.mark.parametrize("status", [400, 404, 301])
def test_other_4xx_and_redirects_fail_for_good(sqlite_url, tmp_path, status):
    settings = make_settings(tmp_path, sqlite_url)
    with Receiver([(status, {"Location": "http://127.0.0.1:1/elsewhere"})]) as receiver:
        _webhook_alerts(receiver.url)
        assert dispatch_due(settings=settings)["failed"] == 1
    assert len(receiver.deliveries) == 1
    assert _rows()[0].status == "failed" and f"answered {status}" in _rows()[0].last_error


def test_a_receiver_that_is_down_is_retried_with_backoff(sqlite_url, tmp_path):
    settings = make_settings(tmp_path, sqlite_url)
    _webhook_alerts(f"http://127.0.0.1:{free_port()}/hook")
    now = utcnow()
    assert dispatch_due(now=now, settings=settings)["retrying"] == 1
    row = _rows()[0]
    assert row.status == "pending" and row.next_attempt_at > now


def test_retry_after_parses_seconds_and_dates():
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    past = _http_date(utcnow() - timedelta(hours=1))
    assert parse_retry_after(past) == 0.0


def _http_date(naive_utc: datetime) -> str:
    return format_datetime(naive_utc.replace(tzinfo=UTC), usegmt=True)
