"""Schema upgrades and the start-up check that refuses a schema that is behind.

The check runs at the start of every command, so it reads the version table with one plain
query against `HEAD_REVISIONS` and never imports Alembic (a third of a second on a loaded
core); upgrading and downgrading do. `tests/monitor/test_schema.py` holds `HEAD_REVISIONS`
equal to Alembic's heads of `migrations/versions/`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

import migrations
from monitor.errors import SchemaBehind
from monitor.store.db import get_engine

if TYPE_CHECKING:
    from alembic.config import Config

UPGRADE_HINT = "run `driftwise db upgrade`"
# The newest migration's revision: a new migration changes it (the schema test says so).
HEAD_REVISIONS = frozenset({"0013"})
VERSION_TABLE = "alembic_version"


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    engine = engine or get_engine()
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revisions(engine: Engine | None = None) -> set[str]:
    """The heads of the migration scripts, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_revisions(engine: Engine | None = None) -> set[str]:
    """The revisions the database's version table holds (none for an empty database)."""
    with (engine or get_engine()).connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return set()
        return set(connection.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))


def upgrade(engine: Engine | None = None, revision: str = "heads") -> None:
    from alembic import command

    _migrate(command.upgrade, engine, revision)


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    from alembic import command

    _migrate(command.downgrade, engine, revision)


def _migrate(move: Callable[[Config, str], None], engine: Engine | None, revision: str) -> None:
    """Move the schema to `revision` in one transaction on the engine's own connection."""
    engine = engine or get_engine()
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        move(config, revision)


def check(engine: Engine | None = None) -> None:
    """Raise SchemaBehind unless the database is at the code's head revision."""
    current = current_revisions(engine)
    if current != HEAD_REVISIONS:
        where = ", ".join(sorted(current)) or "empty"
        raise SchemaBehind(
            f"database schema is at {where}, this Driftwise needs "
            f"{', '.join(sorted(HEAD_REVISIONS))}: {UPGRADE_HINT}"
        )
