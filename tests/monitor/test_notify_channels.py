"""Slack, Teams and PagerDuty channels against real local HTTP servers: the documented
payloads, and the outbox's guarantees (Retry-After honoured, every attempt recorded,
permanent errors kept on the notification). `driftwise alerts test` through each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from monitor.cli import main
from monitor.notify import enqueue
from monitor.notify.dispatch import dispatch_due
from monitor.store import session_scope
from monitor.store.models import DeliveryAttempt, Notification
from monitor.timeutil import utcnow
from tests.monitor.channel_formats import check_pagerduty, check_slack, check_teams
from tests.monitor.notify_support import (
    Receiver,
    make_deployment,
    make_event,
    make_rule,
    make_settings,
)

KEY = "0123456789abcdef0123456789abcdef"
CHECKS = {
    "slack": check_slack,
    "teams": check_teams,
    "pagerduty": lambda body: check_pagerduty(body, KEY),
}
HOSTILE = "churn-online: <!channel> & <https://evil.example|click> drifted"


def _alert(channel: str, url: str, title: str = "churn-online: drift detected") -> int:
    config = {"routing_key": KEY} if channel == "pagerduty" else {}
    with session_scope() as session:
        deployment = make_deployment(session)
        make_rule(session, channel=channel, targets=[url], config=config)
        event = make_event(session, deployment, title=title)
        (notification,) = enqueue(session, event)
        return notification.id


def _row(notification_id: int) -> Notification:
    with session_scope() as session:
        return session.get(Notification, notification_id)


def _codes(notification_id: int) -> list[int | None]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(DeliveryAttempt.status_code)
                .where(DeliveryAttempt.notification_id == notification_id)
                .order_by(DeliveryAttempt.id)
            )
        )


def _mrkdwn(value) -> list[str]:
    if isinstance(value, dict):
        found = [value["text"]] if value.get("type") == "mrkdwn" else []
        return found + [text for item in value.values() for text in _mrkdwn(item)]
    if isinstance(value, list):
        return [text for item in value for text in _mrkdwn(item)]
    return []


@pytest.mark.parametrize("channel", sorted(CHECKS))
def test_a_429_is_retried_after_retry_after_and_every_attempt_is_recorded(
    channel, db_url, tmp_path
):
    settings = make_settings(tmp_path, db_url)
    with Receiver([(429, {"Retry-After": "90"})]) as receiver:
        notification_id = _alert(channel, receiver.url, HOSTILE)
        now = utcnow()
        assert dispatch_due(now=now, settings=settings)["retrying"] == 1
        assert _row(notification_id).next_attempt_at == now + timedelta(seconds=90)
        assert dispatch_due(now=now + timedelta(seconds=89), settings=settings)["due"] == 0
        assert dispatch_due(now=now + timedelta(seconds=90), settings=settings)["sent"] == 1
    assert _codes(notification_id) == [429, 200]
    first, second = (delivery.json for delivery in receiver.deliveries)
    assert first == second  # the same message, retried
    CHECKS[channel](second)
    if channel == "slack":  # mrkdwn (the fallback and every mrkdwn object) is escaped
        marked = [second["text"], *_mrkdwn(second["blocks"])]
        assert not any("<!channel>" in text for text in marked)
        assert "&lt;!channel&gt; &amp; &lt;https" in second["text"]


@pytest.mark.parametrize("channel", sorted(CHECKS))
def test_a_refused_payload_is_a_permanent_error_shown_on_the_notification(
    channel, sqlite_url, tmp_path
):
    settings = make_settings(tmp_path, sqlite_url)
    with Receiver([(400, {})]) as receiver:
        notification_id = _alert(channel, receiver.url)
        assert dispatch_due(settings=settings)["failed"] == 1
        assert dispatch_due(now=utcnow() + timedelta(days=1), settings=settings)["due"] == 0
    row = _row(notification_id)
    assert row.status == "failed" and "answered 400" in row.last_error
    assert len(receiver.deliveries) == 1


def test_pagerduty_reads_its_routing_key_from_the_environment_when_sent(
    sqlite_url, tmp_path, monkeypatch
):
    settings = make_settings(tmp_path, sqlite_url)
    with Receiver([(202, {})]) as receiver:
        with session_scope() as session:
            deployment = make_deployment(session)
            rule = make_rule(
                session, "pagerduty", [receiver.url], config={"routing_key_env": "PD_KEY"}
            )
            (notification,) = enqueue(session, make_event(session, deployment))
            assert rule.config == {"routing_key_env": "PD_KEY"}
        assert dispatch_due(settings=settings)["retrying"] == 1
        assert "PD_KEY is not set" in _row(notification.id).last_error
        monkeypatch.setenv("PD_KEY", KEY)
        assert dispatch_due(now=utcnow() + timedelta(hours=1), settings=settings)["sent"] == 1
    (body,) = (delivery.json for delivery in receiver.deliveries)
    check_pagerduty(body, KEY)
    assert body["payload"]["severity"] == "warning" and body["payload"]["source"] == "churn-online"


def test_alerts_test_sends_through_the_chosen_rule_and_reports_failures(
    sqlite_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("PD_KEY", KEY)
    with Receiver() as slack, Receiver([(202, {})] * 2) as pagerduty, Receiver([(404, {})]) as gone:
        spec = tmp_path / "alerts.toml"
        spec.write_text(
            f'[[alerts]]\nchannel = "slack"\nurl = "{slack.url}"\n\n'
            f'[[alerts]]\nchannel = "pagerduty"\nrouting_key_env = "PD_KEY"\nurl = "{pagerduty.url}"\n\n'
            f'[[alerts]]\nchannel = "teams"\nurl = "{gone.url}"\n'
        )
        runner = CliRunner()
        assert runner.invoke(main, ["apply", str(spec)]).exit_code == 0
        listing = runner.invoke(main, ["alerts", "list"]).output
        assert "1  slack  127.0.0.1:" in listing and "/hooks" not in listing.split("\n")[0]
        one = runner.invoke(main, ["alerts", "test", "--rule", "1"])
        assert one.exit_code == 0, one.output
        assert one.output.startswith("rule 1 slack ") and one.output.strip().endswith(": sent")
        assert len(slack.deliveries) == 1 and pagerduty.deliveries == []
        check_slack(slack.deliveries[0].json)
        assert "test message" in slack.deliveries[0].json["text"]
        every = runner.invoke(main, ["alerts", "test"])
        unknown = runner.invoke(main, ["alerts", "test", "--rule", "9"])
    assert every.exit_code != 0 and "1 of 3 test messages failed" in every.output
    assert "rule 3 teams" in every.output and "answered 404" in every.output
    actions = [delivery.json["event_action"] for delivery in pagerduty.deliveries]
    assert actions == ["trigger", "resolve"]  # a test page closes itself
    keys = {delivery.json["dedup_key"] for delivery in pagerduty.deliveries}
    assert len(keys) == 1
    assert unknown.exit_code != 0 and "no alert rule 9 (rules: 1, 2, 3)" in unknown.output
    with session_scope() as session:
        statuses = sorted(session.scalars(select(Notification.status)))
    assert statuses == ["failed", "sent", "sent", "sent"]  # every test went through the outbox


@pytest.mark.parametrize("channel", sorted(CHECKS))
def test_a_loopback_address_is_refused_unless_private_receivers_are_allowed(
    channel, sqlite_url, tmp_path
):
    refusing = {"allow_private_webhooks": False}
    settings = make_settings(tmp_path, sqlite_url).model_copy(update=refusing)
    with Receiver() as receiver:
        notification_id = _alert(channel, receiver.url)
        assert dispatch_due(settings=settings)["failed"] == 1
    assert receiver.deliveries == []
    assert "DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS" in _row(notification_id).last_error
