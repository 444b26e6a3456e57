"""Alembic environment. Version files never import the ORM; only autogenerate reads it."""

from alembic import context
from sqlalchemy import Connection

config = context.config


def _target_metadata():
    if config.attributes.get("autogenerate"):
        from monitor.store.models import Base

        return Base.metadata
    return None


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=_target_metadata(),
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from monitor.store.db import get_engine

    with get_engine(config.get_main_option("sqlalchemy.url")).connect() as conn:
        run(conn)
        conn.commit()
