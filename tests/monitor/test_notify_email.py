"""Alert emails delivered to a real SMTP server (aiosmtpd) running in the test process."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from monitor.notify import enqueue
from monitor.notify.dispatch import dispatch_due
from monitor.store import session_scope
from monitor.store.models import DeliveryAttempt, Notification
from monitor.timeutil import utcnow
from tests.monitor.notify_support import (
    MailHandler,
    free_port,
    make_deployment,
    make_event,
    make_rule,
    make_settings,
    password_check,
    self_signed_cert,
    smtp_server,
    tls_context,
)

DRIFT = {
    "drift_share": 0.75,
    "drift_share_threshold": 0.5,
    "features": {
        "region": {"score": 0.01, "method": "chi2", "threshold": 0.05, "drifted": False},
        "<script>alert(1)</script>": {"score": 0.31, "method": "wasserstein", "drifted": True},
        "tenure": {"score": 0.42, "method": "wasserstein", "threshold": 0.1, "drifted": True},
    },
}


def _one_drift_alert(engine, data: dict | None = None, **rule) -> int:
    with session_scope(engine) as session:
        deployment = make_deployment(session, "churn-online")
        make_rule(session, targets=["ml-team@example.com"], **rule)
        event = make_event(session, deployment, data=data or DRIFT)
        (notification,) = enqueue(session, event)
    return notification.id


def _notification(engine, notification_id: int) -> Notification:
    with session_scope(engine) as session:
        return session.get(Notification, notification_id)


def test_an_alert_email_has_a_clear_subject_both_parts_and_a_link(sqlite_url, tmp_path):
    handler = MailHandler()
    with smtp_server(handler) as smtp:
        settings = make_settings(tmp_path, sqlite_url, f"smtp://127.0.0.1:{smtp.port}")
        notification_id = _one_drift_alert(None)
        assert dispatch_due(settings=settings)["sent"] == 1
    (received,) = handler.received
    mail = received.message
    assert received.recipients == ["ml-team@example.com"]
    assert mail["From"] == "driftwise@example.com"
    assert mail["Subject"] == "[Driftwise] churn-online: Drift detected (warning)"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Drift share: 75% (threshold 50%)" in text
    assert text.index("tenure") < text.index("region")  # drifted features first
    assert "http://driftwise.example/deployments/churn-online" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="http://driftwise.example/deployments/churn-online"' in html
    row = _notification(None, notification_id)
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1


def test_a_retrain_decision_shows_champion_and_challenger_metrics(sqlite_url, tmp_path):
    settings = make_settings(tmp_path, sqlite_url, (tmp_path / "mail").as_uri())
    decision = {
        "decision": "promoted",
        "metric": "roc_auc",
        "champion": {"version": 1, "metrics": {"roc_auc": 0.71, "f1": 0.6}},
        "challenger": {"version": 2, "metrics": {"roc_auc": 0.78, "f1": 0.66}},
    }
    notification_id = _one_drift_alert(None, data=decision)
    dispatch_due(settings=settings)
    path = tmp_path / "mail" / f"notification-{notification_id:08d}.eml"
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    text = mail.get_body(("plain",)).get_content()
    assert "Decision: promoted" in text
    assert "champion v1  challenger v2" in text
    assert "roc_auc  0.71  0.78" in text


def test_it_uses_starttls_and_logs_in(sqlite_url, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    handler = MailHandler()
    with smtp_server(
        handler,
        tls_context=tls_context(cert, key),
        require_starttls=True,
        auth_require_tls=True,
        authenticator=password_check("alerts", "p@ss word"),
    ) as smtp:
        url = f"smtp+starttls://alerts:p%40ss%20word@127.0.0.1:{smtp.port}?cafile={cert}"
        notification_id = _one_drift_alert(None)
        wrong = make_settings(tmp_path, sqlite_url, url.replace("p%40ss", "bad"))
        assert dispatch_due(settings=wrong)["retrying"] == 1
        assert "login refused" in _notification(None, notification_id).last_error
        right = make_settings(tmp_path, sqlite_url, url)
        assert dispatch_due(now=utcnow() + timedelta(hours=1), settings=right)["sent"] == 1
    (received,) = handler.received
    assert received.login == "alerts"


def test_it_sends_over_smtps(sqlite_url, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    handler = MailHandler()
    with smtp_server(handler, ssl_context=tls_context(cert, key)) as smtp:
        settings = make_settings(
            tmp_path, sqlite_url, f"smtps://127.0.0.1:{smtp.port}?cafile={cert}"
        )
        _one_drift_alert(None)
        assert dispatch_due(settings=settings)["sent"] == 1
    assert len(handler.received) == 1


def test_an_untrusted_certificate_is_not_accepted(sqlite_url, tmp_path):
    cert, key = self_signed_cert(tmp_path)
    with smtp_server(MailHandler(), ssl_context=tls_context(cert, key)) as smtp:
        settings = make_settings(tmp_path, sqlite_url, f"smtps://127.0.0.1:{smtp.port}")
        notification_id = _one_drift_alert(None)
        assert dispatch_due(settings=settings)["retrying"] == 1
    assert "CERTIFICATE_VERIFY_FAILED" in _notification(None, notification_id).last_error


def test_a_server_that_refuses_then_accepts_delivers_once(sqlite_url, tmp_path):
    handler = MailHandler(refuse=1)
    with smtp_server(handler) as smtp:
        settings = make_settings(tmp_path, sqlite_url, f"smtp://127.0.0.1:{smtp.port}")
        notification_id = _one_drift_alert(None)
        now = utcnow()
        assert dispatch_due(now=now, settings=settings)["retrying"] == 1
        assert dispatch_due(now=now, settings=settings)["due"] == 0  # not before the backoff
        assert dispatch_due(now=now + timedelta(minutes=2), settings=settings)["sent"] == 1
        assert dispatch_due(now=now + timedelta(hours=2), settings=settings)["due"] == 0
    assert handler.refused == 1 and len(handler.received) == 1
    with session_scope() as session:
        attempts = session.scalars(
            select(DeliveryAttempt).where(DeliveryAttempt.notification_id == notification_id)
        ).all()
        assert [attempt.ok for attempt in attempts] == [False, True]
        assert "451" in attempts[0].error and attempts[0].duration > 0


def test_a_server_that_is_down_delays_the_alert_and_loses_nothing(sqlite_url, tmp_path):
    port = free_port()
    settings = make_settings(tmp_path, sqlite_url, f"smtp://127.0.0.1:{port}")
    notification_id = _one_drift_alert(None)
    now = utcnow()
    for hours in range(3):
        assert dispatch_due(now=now + timedelta(hours=hours), settings=settings)["retrying"] == 1
    row = _notification(None, notification_id)
    assert (row.status, row.attempts) == ("pending", 3)
    assert row.next_attempt_at > now + timedelta(hours=2)
    assert "refused" in row.last_error.lower()

    handler = MailHandler()
    with smtp_server(handler, port=port):
        assert dispatch_due(now=now + timedelta(hours=4), settings=settings)["sent"] == 1
    assert [r.message["Subject"] for r in handler.received] == [
        "[Driftwise] churn-online: Drift detected (warning)"
    ]


def test_without_an_smtp_url_mail_is_written_as_eml_files(sqlite_url, tmp_path):
    settings = make_settings(tmp_path, sqlite_url, "")
    notification_id = _one_drift_alert(None)
    assert dispatch_due(settings=settings)["sent"] == 1
    (path,) = (tmp_path / "data" / "mail").glob("*.eml")
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert mail["To"] == "ml-team@example.com"
    assert mail["Message-ID"].startswith(f"<driftwise.{notification_id}.")


@pytest.mark.parametrize("code, status", [("550 5.1.1 no such user", "failed")])
def test_a_permanent_refusal_is_marked_failed(sqlite_url, tmp_path, code, status):
    class Refuse(MailHandler):
        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
            return code

    with smtp_server(Refuse()) as smtp:
        settings = make_settings(tmp_path, sqlite_url, f"smtp://127.0.0.1:{smtp.port}")
        notification_id = _one_drift_alert(None)
        assert dispatch_due(settings=settings)[status] == 1
    row = _notification(None, notification_id)
    assert row.status == "failed" and "no such user" in row.last_error


def test_a_subject_names_the_deployment_once_even_when_the_title_does_too():
    from monitor.notify.message import Alert, subject
    from monitor.store.models import Event

    event = Event(
        type="retrain.requested", severity="info", title="churn-online: retrain requested"
    )
    alert = Alert(
        event=event, deployment="churn-online", model="churn", url="http://x", occurrences=2
    )
    assert subject(alert) == "[Driftwise] churn-online: retrain requested, 2 times (info)"
