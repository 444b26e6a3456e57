"""The migrated schema is the ORM's schema, on every backend."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from monitor.errors import SchemaBehind
from monitor.store import db as store_db
from monitor.store import schema
from monitor.store.models import Base


def test_upgrading_an_empty_database_gives_exactly_the_orm_schema(empty_db_url: str) -> None:
    engine = store_db.get_engine(empty_db_url)
    schema.upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        difference = compare_metadata(context, Base.metadata)
    assert difference == []
    schema.check(engine)


def test_downgrade_to_base_removes_every_table(empty_db_url: str) -> None:
    engine = store_db.get_engine(empty_db_url)
    schema.upgrade(engine)
    schema.downgrade(engine, "base")
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set()


def test_check_refuses_a_schema_that_is_behind_and_names_the_command(empty_db_url: str) -> None:
    engine = store_db.get_engine(empty_db_url)
    with pytest.raises(SchemaBehind, match="driftwise db upgrade"):
        schema.check(engine)


def test_the_check_knows_the_newest_migration_without_importing_alembic() -> None:
    # The start-up check compares the version table with this constant: a new migration
    # must move it, or every command would refuse the upgraded database.
    assert schema.HEAD_REVISIONS == schema.head_revisions(store_db.get_engine("sqlite://"))


def test_the_check_reads_the_revision_the_upgrade_wrote(empty_db_url: str) -> None:
    engine = store_db.get_engine(empty_db_url)
    assert schema.current_revisions(engine) == set()
    schema.upgrade(engine, "0011")
    assert schema.current_revisions(engine) == {"0011"}
    heads = ", ".join(sorted(schema.HEAD_REVISIONS))
    with pytest.raises(SchemaBehind, match=f"at 0011, this Driftwise needs {heads}:"):
        schema.check(engine)
