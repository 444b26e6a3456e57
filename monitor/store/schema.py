"""Schema upgrades and the start-up check that refuses a schema that is behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations
from monitor.errors import SchemaBehind
from monitor.store.db import get_engine

UPGRADE_HINT = "run `driftwise db upgrade`"


def alembic_config(engine: Engine | None = None) -> Config:
    engine = engine or get_engine()
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revisions(engine: Engine | None = None) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())


def current_revisions(engine: Engine | None = None) -> set[str]:
    with (engine or get_engine()).connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(engine: Engine | None = None, revision: str = "heads") -> None:
    _migrate(command.upgrade, engine, revision)


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
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
    engine = engine or get_engine()
    current, heads = current_revisions(engine), head_revisions(engine)
    if current != heads:
        where = ", ".join(sorted(current)) or "empty"
        raise SchemaBehind(
            f"database schema is at {where}, this Driftwise needs {', '.join(sorted(heads))}: "
            f"{UPGRADE_HINT}"
        )
