"""The outbox on SQLite and PostgreSQL: fan-out, folding, claims, backoff, racing dispatchers."""

from __future__ import annotations

import threading
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import func, select

from monitor.errors import NotifierError
from monitor.notify import enqueue, enqueue_pending, outbox
from monitor.notify.dispatch import dispatch_due
from monitor.store import session_scope
from monitor.store.models import DeliveryAttempt, Notification
from monitor.timeutil import utcnow
from tests.monitor.notify_support import (
    Receiver,
    make_deployment,
    make_event,
    make_rule,
    make_settings,
)


def _notifications(engine) -> list[Notification]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_it_fans_out_to_every_matching_rule_and_target(engine):
    with session_scope(engine) as session:
        online = make_deployment(session, "churn-online")
        batch = make_deployment(session, "churn-batch")
        make_rule(session, targets=["a@example.com", "b@example.com"], events=["drift"])
        make_rule(session, targets=["online@example.com"], deployments=["*-online"])
        make_rule(session, targets=["pager@example.com"], min_severity="critical")
        make_rule(session, channel="webhook", targets=["http://x/h"], events=["retrain.*"])
        off = make_rule(session, targets=["off@example.com"])
        off.enabled = False
        drift_online = make_event(session, online, "drift", "warning")
        drift_batch = make_event(session, batch, "drift", "critical")
        promoted = make_event(session, None, "retrain.promoted", "info", "Version 2 promoted")
        first = enqueue(session, drift_online)
        assert enqueue(session, drift_online) == first  # a second fan-out adds nothing
        targets = {
            event.id: sorted(n.target for n in enqueue(session, event))
            for event in (drift_online, drift_batch, promoted)
        }
    assert targets[drift_online.id] == ["a@example.com", "b@example.com", "online@example.com"]
    assert targets[drift_batch.id] == ["a@example.com", "b@example.com", "pager@example.com"]
    assert targets[promoted.id] == ["http://x/h"]
    assert len(_notifications(engine)) == 7


def test_enqueue_pending_fans_out_recent_events_that_have_none(engine):
    with session_scope(engine) as session:
        deployment = make_deployment(session)
        make_rule(session)
        recent = make_event(session, deployment)
        make_event(session, deployment, created_at=utcnow() - timedelta(days=3))
    with session_scope(engine) as session:
        assert enqueue_pending(session) == 1
        assert enqueue_pending(session) == 0
    assert [n.event_id for n in _notifications(engine)] == [recent.id]


def test_it_folds_repeated_alerts_within_cooldown(engine, db_url, tmp_path: Path):
    settings = make_settings(tmp_path, db_url, smtp_url=(tmp_path / "mail").as_uri())
    start = utcnow()
    with session_scope(engine) as session:
        online = make_deployment(session, "churn-online")
        other = make_deployment(session, "churn-batch")
        make_rule(session, config={"cooldown": "1h"})
        for minutes in (0, 10, 20):
            enqueue(session, make_event(session, online), now=start + timedelta(minutes=minutes))
        enqueue(session, make_event(session, other), now=start + timedelta(minutes=30))
        enqueue(session, make_event(session, online, "performance", title="F1 below 0.7"))
    statuses = [n.status for n in _notifications(engine)]
    assert statuses == ["pending", "folded", "folded", "pending", "pending"]
    head = _notifications(engine)[0]
    assert [n.folded_into_id for n in _notifications(engine)[1:3]] == [head.id, head.id]

    counts = dispatch_due(engine, "w", now=start + timedelta(minutes=31), settings=settings)
    assert counts["sent"] == 3
    mail = message_from_bytes(
        (tmp_path / "mail" / f"notification-{head.id:08d}.eml").read_bytes(), policy=policy.default
    )
    assert mail["Subject"] == "[Driftwise] churn-online: Drift detected, 3 times (warning)"
    assert "3 times within the cooldown" in mail.get_body(("plain",)).get_content()

    # After the message went out, a repeat within the cooldown still folds; the first
    # alert after the cooldown is sent and counts the repeat it missed.
    with session_scope(engine) as session:
        late = enqueue(session, make_event(session, online), now=start + timedelta(minutes=40))
        assert late[0].status == "folded"
        fresh = enqueue(session, make_event(session, online), now=start + timedelta(minutes=90))
        assert fresh[0].status == "pending"
    dispatch_due(engine, "w", now=start + timedelta(minutes=91), settings=settings)
    mail = (tmp_path / "mail" / f"notification-{fresh[0].id:08d}.eml").read_text()
    assert "1 more like it were folded" in mail


def test_a_claim_is_taken_by_one_dispatcher_and_a_stale_one_taken_over(engine):
    with session_scope(engine) as session:
        make_rule(session)
        (notification,) = enqueue(session, make_event(session))
    now = utcnow()
    with session_scope(engine) as session:
        assert outbox.claim(session, notification.id, "a", now)
    with session_scope(engine) as session:
        assert not outbox.claim(session, notification.id, "b", now)
        assert outbox.due_ids(session, now, 10) == []
    later = now + outbox.LEASE + timedelta(seconds=1)
    with session_scope(engine) as session:
        assert outbox.due_ids(session, later, 10) == [notification.id]
        assert outbox.claim(session, notification.id, "b", later)
    (row,) = _notifications(engine)
    assert (row.status, row.claimed_by, row.attempts) == ("sending", "b", 2)


def test_failures_back_off_exponentially_with_jitter_then_fail_for_good(engine):
    with session_scope(engine) as session:
        make_rule(session)
        (notification,) = enqueue(session, make_event(session))
    now, delays = utcnow(), []
    for _ in range(outbox.MAX_ATTEMPTS):
        with session_scope(engine) as session:
            assert outbox.claim(session, notification.id, "w", now)
            status = outbox.record_failure(
                session, notification.id, now, 0.01, NotifierError("451 busy")
            )
        row = _notifications(engine)[0]
        if status == "pending":
            delays.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
    assert status == "failed" and row.status == "failed" and row.last_error == "451 busy"
    assert len(delays) == outbox.MAX_ATTEMPTS - 1
    for attempt, delay in enumerate(delays, start=1):
        step = min(outbox.BACKOFF_BASE * 2 ** (attempt - 1), outbox.BACKOFF_CAP)
        assert step / 2 <= delay <= step + 1
    assert delays[5] > delays[0] * 8
    with session_scope(engine) as session:
        attempts = session.scalar(select(func.count()).select_from(DeliveryAttempt))
    assert attempts == outbox.MAX_ATTEMPTS


def test_a_permanent_failure_is_not_retried(engine):
    with session_scope(engine) as session:
        make_rule(session)
        (notification,) = enqueue(session, make_event(session))
        now = utcnow()
        outbox.claim(session, notification.id, "w", now)
        error = NotifierError("550 no such mailbox", permanent=True)
        assert outbox.record_failure(session, notification.id, now, 0.1, error) == "failed"
    assert _notifications(engine)[0].attempts == 1


def test_two_dispatchers_racing_send_each_notification_exactly_once(engine, db_url, tmp_path):
    settings = make_settings(tmp_path, db_url)
    with Receiver(delay=0.005) as receiver:
        with session_scope(engine) as session:
            deployment = make_deployment(session)
            make_rule(session, channel="webhook", targets=[receiver.url], config={"secret": "s"})
            for _ in range(30):
                enqueue(session, make_event(session, deployment))
        counts = {}

        def run(worker: str) -> None:
            counts[worker] = dispatch_due(engine, worker, limit=100, settings=settings)

        threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ids = [delivery.headers["webhook-id"] for delivery in receiver.deliveries]
    assert len(ids) == len(set(ids)) == 30
    assert counts["one"]["sent"] + counts["two"]["sent"] == 30
    # Both really competed: each lost some compare-and-sets to the other.
    assert counts["one"]["skipped"] + counts["two"]["skipped"] > 0
    rows = _notifications(engine)
    assert {row.status for row in rows} == {"sent"} and {row.attempts for row in rows} == {1}
