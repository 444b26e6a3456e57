"""`driftwise notify`: fans out new events and sends what is due, once."""

from __future__ import annotations

import json

from click.testing import CliRunner

from monitor.cli import main
from monitor.store import session_scope
from tests.monitor.notify_support import make_deployment, make_event, make_rule


def test_notify_sends_what_is_due_and_prints_counts(sqlite_url, tmp_path, monkeypatch):
    mail_dir = tmp_path / "mail"
    monkeypatch.setenv("DRIFTWISE_SMTP_URL", mail_dir.as_uri())
    with session_scope() as session:
        deployment = make_deployment(session)
        make_rule(session, targets=["a@example.com", "b@example.com"])
        make_event(session, deployment)  # emitted without fan-out: notify catches it up
    first = CliRunner().invoke(main, ["notify"])
    assert first.exit_code == 0, first.output
    assert first.output.strip() == "2 sent, 0 retrying, 0 failed, 0 skipped"
    assert len(list(mail_dir.glob("*.eml"))) == 2
    again = CliRunner().invoke(main, ["notify", "--json"])
    assert json.loads(again.output) == {"sent": 0, "retrying": 0, "failed": 0, "skipped": 0}


def test_notify_refuses_a_database_that_is_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(main, ["notify"])
    assert result.exit_code != 0
    assert "upgrade" in result.output
