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
    from monitor.notify.dispatch import default_worker_id, dispatch_due
    from monitor.notify.outbox import enqueue_pending
    from monitor.store import session_scope

    require_schema()
    with session_scope() as session:
        enqueue_pending(session)
    worker_id = default_worker_id()
    totals: dict[str, int] = {"sent": 0, "retrying": 0, "failed": 0, "skipped": 0}
    for _ in range(MAX_BATCHES):
        counts = dispatch_due(worker_id=worker_id, limit=BATCH)
        for key in totals:
            totals[key] += counts[key]
        # Retried ones are due later, so a short batch means nothing more is due now.
        if counts["due"] < BATCH:
            break
    if as_json:
        click.echo(json.dumps(totals))
    else:
        click.echo(", ".join(f"{count} {key}" for key, count in totals.items()))
