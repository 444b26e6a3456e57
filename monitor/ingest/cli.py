"""`driftwise ingest`."""

from __future__ import annotations

import json

import click

from monitor.cli import require_schema


@click.command()
@click.option("--deployment", help="Only this deployment's sources.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def ingest(deployment: str | None, as_json: bool) -> None:
    """Read every source once from its cursor; print what was read, per source."""
    from dataclasses import asdict

    from monitor.ingest.engine import ingest as run_ingest
    from monitor.store import get_engine

    require_schema()
    tallies = run_ingest(get_engine(), deployment)
    if as_json:
        click.echo(json.dumps([asdict(tally) for tally in tallies], indent=2))
        return
    if not tallies:
        click.echo("no sources")
    for t in tallies:
        click.echo(
            f"{t.deployment} {t.role} {t.source}: read {t.read}, inserted {t.inserted}, "
            f"duplicate {t.duplicate}, quarantined {t.quarantined}"
        )
        for error in t.errors:
            click.echo(f"  error: {error}", err=True)
