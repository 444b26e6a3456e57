"""`driftwise db upgrade | check`."""

from __future__ import annotations

import click

from monitor.store import schema


@click.group()
def db() -> None:
    """Upgrade or check the database schema."""


@db.command()
def upgrade() -> None:
    """Bring the schema to this version of Driftwise."""
    schema.upgrade()
    click.echo(f"database at {', '.join(sorted(schema.current_revisions()))}")


@db.command()
def check() -> None:
    """Exit non-zero if the schema is behind."""
    schema.check()
    click.echo(f"database is current ({', '.join(sorted(schema.current_revisions()))})")
