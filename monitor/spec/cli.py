"""`driftwise apply FILE`."""

from __future__ import annotations

import click

from monitor.cli import require_schema


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="Validate only; write nothing.")
def apply(file: str, check: bool) -> None:
    """Validate FILE completely, then make the store say what it says."""
    from monitor.spec.apply import apply_spec, load_files
    from monitor.spec.parse import load_spec
    from monitor.store import session_scope

    spec = load_spec(file)
    loaded = load_files(spec)
    if check:
        click.echo(
            f"{file}: valid ({len(spec.models)} models, {len(spec.deployments)} deployments)"
        )
        return
    require_schema()
    with session_scope() as session:
        lines = apply_spec(session, spec, loaded)
    for line in lines:
        click.echo(line)
