"""Alerts people act on, through the public commands on a breaching deployment: one message
per breaching window with every breach in it, one resolve message when it recovers, by
email (a real SMTP server) and to Slack, Teams, PagerDuty and signed webhooks (real local
HTTP servers), each payload checked against the service's documented format."""

from __future__ import annotations

import json
from datetime import timedelta

from standardwebhooks import Webhook

from monitor.store import get_engine
from tests.commands import run_cli
from tests.factories import churn_frame
from tests.monitor.channel_formats import check_pagerduty, check_slack, check_teams
from tests.monitor.notify_support import MailHandler, Receiver, start_smtp
from tests.monitor.runs_support import DAY, add_window, deploy

DAYS = timedelta(days=1)
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, as PagerDuty issues them
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PLAIN = "a plain secret from a password manager"


def spec(tmp_path, slack, teams, pagerduty, hook, plain_hook) -> str:
    path = tmp_path / "alerts.toml"
    path.write_text(
        f"""
[[alerts]]
channel = "email"
to = ["ml-team@example.com"]
events = ["drift", "performance", "retrain.*"]

[[alerts]]
channel = "slack"
url = "{slack.url}"

[[alerts]]
channel = "teams"
url = "{teams.url}"

[[alerts]]
channel = "pagerduty"
routing_key_env = "PAGERDUTY_ROUTING_KEY"
url = "{pagerduty.url}"
events = ["drift", "performance"]

[[webhooks]]
url = "{hook.url}"
secret_env = "HOOK_SECRET"

[[webhooks]]
url = "{plain_hook.url}"
secret = "{PLAIN}"
"""
    )
    return str(path)


def test_breaching_windows_send_one_message_each_and_recovery_one_resolve(
    sqlite_url, tmp_path, monkeypatch
):
    engine = get_engine(sqlite_url)
    deployment_id = deploy(
        engine, window_seconds=86400, policy={"drift_share": 0.5, "features": {"tenure": 0.2}}
    )
    for day, shift in enumerate([1.0, 1.0, 0.0]):
        add_window(
            engine, deployment_id, DAY + day * DAYS, churn_frame(150, 20 + day, shift), f"d{day}"
        )
    handler = MailHandler()
    smtp = start_smtp(handler)
    accepted = [(202, {})] * 10
    receivers = [
        Receiver(),
        Receiver(list(accepted)),
        Receiver(list(accepted)),
        Receiver(),
        Receiver(),
    ]
    slack, teams, pagerduty, hook, plain_hook = receivers
    monkeypatch.setenv("DRIFTWISE_SMTP_URL", f"smtp://127.0.0.1:{smtp.port}")
    monkeypatch.setenv("DRIFTWISE_BASE_URL", "http://driftwise.example")
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("HOOK_SECRET", WHSEC)
    try:
        for receiver in receivers:
            receiver.__enter__()
        run_cli("apply", spec(tmp_path, *receivers))
        run_cli(
            "monitor",
            "--deployment",
            "churn-online",
            "--start",
            "2026-01-05",
            "--end",
            "2026-01-07",
            "--no-reports",
        )
        assert "sent" in run_cli("notify")
        breaching = json.loads(run_cli("status", "--json"))["deployments"][0]
        run_cli(
            "monitor",
            "--deployment",
            "churn-online",
            "--start",
            "2026-01-07",
            "--end",
            "2026-01-08",
            "--no-reports",
        )
        run_cli("notify")
        recovered = json.loads(run_cli("status", "--json"))["deployments"][0]
    finally:
        smtp.stop()
        for receiver in receivers:
            receiver.__exit__()

    assert breaching["health"] == "drift" and len(breaching["open_incidents"]) == 1
    assert recovered["health"] == "healthy" and recovered["open_incidents"] == []

    mails = [received.message for received in handler.received]
    subjects = [mail["Subject"] for mail in mails]
    assert len(mails) == 3, subjects
    assert subjects[0].startswith("[Driftwise] churn-online: drift (")
    assert subjects[0].endswith(" features) — window 2026-01-05")
    assert subjects[1].endswith(" — window 2026-01-06")
    assert subjects[2] == "[Driftwise] churn-online: drift resolved — window 2026-01-07"
    for mail in mails[:2]:
        text = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert "drift share" in text and "feature tenure drift" in text  # every breach, one mail
        assert "feature  method       score  threshold" in text and "tenure   wasserstein" in text
        assert "What Driftwise is doing" in text
        assert "  - alert only (the policy's actions do not include retrain)" in text
        assert "http://driftwise.example/runs/" in text
        assert "http://driftwise.example/deployments/churn-online" in text
        assert "<table" in html and "Drifted features" in html
        assert "False" not in text and "True" not in text
    resolved = mails[2].get_body(("plain",)).get_content()
    assert "Lasted: 2 days, 2 breaching window(s)" in resolved
    assert "What fixed it: recovered with no new version, still v1" in resolved

    assert len(slack.deliveries) == 3 and len(teams.deliveries) == 3
    for delivery in slack.deliveries:
        check_slack(delivery.json)
    assert "drift resolved" in slack.deliveries[2].json["text"]
    cards = [check_teams(delivery.json) for delivery in teams.deliveries]
    assert "Drifted features" in json.dumps(cards[0])
    assert "resolved" in cards[2]["body"][0]["text"]

    sent = [delivery.json for delivery in pagerduty.deliveries]
    for body in sent:
        check_pagerduty(body, ROUTING_KEY)
    assert [body["event_action"] for body in sent] == ["trigger", "trigger", "resolve"]
    assert len({body["dedup_key"] for body in sent}) == 1  # one incident, one PagerDuty alert
    assert sent[0]["payload"]["severity"] == "warning"
    assert sent[0]["payload"]["summary"].startswith("churn-online: drift (")

    for receiver, verifier in ((hook, Webhook(WHSEC)), (plain_hook, Webhook(PLAIN.encode()))):
        bodies = [verifier.verify(d.body, d.headers) for d in receiver.deliveries]
        assert [body["type"] for body in bodies] == [
            "window.breached",
            "window.breached",
            "incident.resolved",
        ]
    assert len({d.headers["webhook-id"] for d in hook.deliveries}) == 3
