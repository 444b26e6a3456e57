"""`driftwise notify`: fan out new events and send every notification that is due, once."""

from __future__ import annotations

import json

import click

BATCH = 100
MAX_BATCHES = 1000  # a bound, should receivers keep answering `retry in 1 s`


@click.command("notify")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def notify(as_json: bool) -> None:
    """Send pending notifications that are due; failures are retried later with backoff."""
    from monitor.cli import require_schema
    from monitor.notify.dispatch import dispatch_due
    from monitor.notify.outbox import enqueue_pending
    from monitor.store import session_scope

    require_schema()
    with session_scope() as session:
        enqueue_pending(session)
    totals: dict[str, int] = {"sent": 0, "retrying": 0, "failed": 0, "skipped": 0}
    for _ in range(MAX_BATCHES):
        counts = dispatch_due(limit=BATCH)  # one thread: one worker id
        for key in totals:
            totals[key] += counts[key]
        # Retried ones are due later, so a short batch means nothing more is due now.
        if counts["due"] < BATCH:
            break
    if as_json:
        click.echo(json.dumps(totals))
    else:
        click.echo(", ".join(f"{count} {key}" for key, count in totals.items()))


@click.group("alerts")
def alerts() -> None:
    """Alert rules: list them, send a test message through one."""


@alerts.command("list")
def list_rules() -> None:
    """Every alert rule with its id, channel, targets and events."""
    from sqlalchemy import select

    from monitor.cli import require_schema
    from monitor.store import session_scope
    from monitor.store.models import AlertRule

    require_schema()
    with session_scope() as session:
        for rule in session.scalars(select(AlertRule).order_by(AlertRule.id)):
            state = "" if rule.enabled else f" [disabled: {rule.disabled_reason}]"
            targets = ", ".join(_shown(rule.channel, target) for target in rule.targets or [])
            events = ", ".join(rule.events or ["*"])
            click.echo(f"{rule.id}  {rule.channel}  {targets}  events {events}{state}")


@alerts.command("test")
@click.option("--rule", "rule_id", type=int, help="The rule's id (see `alerts list`); all without.")
def test_alerts(rule_id: int | None) -> None:
    """Send a test message through a configured rule now and say how it went."""
    from monitor.cli import require_schema
    from monitor.notify.dispatch import deliver
    from monitor.notify.outbox import claim, mark_failed
    from monitor.notify.probe import queue_tests, rules_to_test
    from monitor.service.claims import worker_id
    from monitor.settings import load_settings
    from monitor.store import session_scope
    from monitor.store.models import Notification
    from monitor.timeutil import utcnow

    require_schema()
    settings = load_settings()
    with session_scope() as session:
        probes = queue_tests(session, rules_to_test(session, rule_id))
    failed = 0
    for probe in probes:
        with session_scope() as session:
            claim(session, probe.notification_id, worker_id(), utcnow())
        outcome = deliver(None, probe.notification_id, settings, utcnow)
        with session_scope() as session:
            row = session.get(Notification, probe.notification_id)
            if outcome != "sent":
                failed += 1
                mark_failed(session, row.id, row.last_error or outcome)  # no retry: a test
            error = row.last_error
        where = f"rule {probe.rule_id} {probe.channel} {_shown(probe.channel, probe.target)}"
        click.echo(f"{where}: sent" if outcome == "sent" else f"{where}: failed: {error}")
    if failed:
        raise click.ClickException(f"{failed} of {len(probes)} test messages failed")


def _shown(channel: str, target: str) -> str:
    """A target as it may be printed: webhook URLs of chat services carry their secret."""
    from urllib.parse import urlsplit

    if channel in ("slack", "teams") and not target.startswith("env:"):
        return f"{urlsplit(target).netloc}/…"
    return target
