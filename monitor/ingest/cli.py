"""`driftwise ingest`."""

from __future__ import annotations

import json

import click

from monitor.cli import require_schema
from monitor.errors import SourcesFailed


@click.command()
@click.option("--deployment", help="Only this deployment's sources.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def ingest(deployment: str | None, as_json: bool) -> None:
    """Read every source once from its cursor; print what was read, per source. Exits
    with code 3 when a source failed (what was read before the failure is kept)."""
    from dataclasses import asdict

    from monitor.ingest.engine import ingest as run_ingest
    from monitor.store import get_engine

    require_schema()
    tallies = run_ingest(get_engine(), deployment)
    if as_json:
        click.echo(json.dumps([asdict(tally) for tally in tallies], indent=2))
    else:
        _print(tallies)
    failed = [tally.source for tally in tallies if tally.failed]
    if failed:
        raise SourcesFailed(f"{len(failed)} source(s) failed: {', '.join(failed)}")


def _print(tallies: list) -> None:
    if not tallies:
        click.echo("no sources")
    for t in tallies:
        click.echo(
            f"{t.deployment} {t.role} {t.source}: read {t.read}, inserted {t.inserted}, "
            f"duplicate {t.duplicate}, quarantined {t.quarantined}"
        )
        if t.files_waiting:
            click.echo(f"  {t.files_waiting} file(s) waiting to be complete (last line unfinished)")
        for note in t.notes:
            click.echo(f"  {note}")
        for error in t.errors:
            click.echo(f"  error: {error}", err=True)


@click.group(invoke_without_command=True)
@click.option("--deployment", help="Only this deployment's records.")
@click.option("--source", help="Only this source's records (by name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def quarantine(ctx: click.Context, deployment: str | None, source: str | None, as_json: bool):
    """What could not be ingested, grouped by reason with counts and examples."""
    ctx.ensure_object(dict).update(deployment=deployment, source=source, as_json=as_json)
    if ctx.invoked_subcommand is not None:
        return
    from monitor.ingest.quarantine import summary
    from monitor.store import session_scope

    require_schema()
    with session_scope() as session:
        groups = summary(session, deployment, source)
    if as_json:
        click.echo(json.dumps({"groups": groups}, indent=2))
        return
    if not groups:
        click.echo("nothing quarantined")
    for group in groups:
        click.echo(
            f"{group['count']} × {group['reason']}  ({group['deployment']}, {group['source']})"
        )
        for example in group["examples"]:
            click.echo(f"    {example['location']}: {example['raw'][:120]}")


@quarantine.command("retry")
@click.option("--deployment", help="Only this deployment's records.")
@click.option("--source", help="Only this source's records (by name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_context
def retry(ctx: click.Context, deployment: str | None, source: str | None, as_json: bool) -> None:
    """Re-read quarantined records with the current spec: those that pass are ingested
    exactly once, the rest stay with their new reason."""
    from dataclasses import asdict

    from monitor.ingest.quarantine import retry as run_retry
    from monitor.store import get_engine

    require_schema()
    outer = ctx.obj or {}
    deployment = deployment or outer.get("deployment")
    source = source or outer.get("source")
    done = run_retry(get_engine(), deployment, source)
    if as_json or outer.get("as_json"):
        click.echo(json.dumps([asdict(item) for item in done], indent=2))
        return
    for item in done:
        click.echo(
            f"{item.deployment} {item.source}: retried {item.retried}, inserted {item.inserted}, "
            f"duplicate {item.duplicate}, still quarantined {item.quarantined}"
        )
        for error in item.errors:
            click.echo(f"  error: {error}", err=True)
