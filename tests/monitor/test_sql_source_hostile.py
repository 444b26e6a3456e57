"""A sql source's query only ever reads: several statements, a writable CTE or a function
that writes leave the source database's table as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from monitor.ingest.engine import ingest
from monitor.store import session_scope
from monitor.store.models import Prediction
from tests.factories import add_source, make_deployment, scores_table

# The read is rolled back at its end, so the breakout commits its own DELETE.
BREAKOUT = (
    "SELECT * FROM scores) AS a; DELETE FROM scores; COMMIT; SELECT * FROM (SELECT * FROM scores"
)
WRITABLE_CTE = "WITH gone AS (DELETE FROM scores RETURNING *) SELECT * FROM gone"
WRITING_FUNCTION = "SELECT scores.*, wipe() AS wiped FROM scores"


@pytest.fixture
def remote(engine: Engine, tmp_path: Path) -> Engine:
    """A scoring database on the same backend as the store, holding 5 rows."""
    url = engine.url if engine.dialect.name == "postgresql" else f"sqlite:///{tmp_path}/s.db"
    remote = create_engine(url)
    scores_table(
        remote, [{"id": f"s-{n}", "ts": "2026-01-01T00:00:00Z", "seq": n} for n in range(5)]
    )
    if remote.dialect.name == "postgresql":
        with remote.begin() as connection:
            connection.execute(
                text(
                    "CREATE FUNCTION wipe() RETURNS integer LANGUAGE sql AS "
                    "'DELETE FROM scores; SELECT 1'"
                )
            )
    yield remote
    remote.dispose()


def _rows(remote: Engine) -> int:
    with remote.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM scores"))


def _sources(engine: Engine, remote: Engine, queries: list[str]) -> None:
    with session_scope(engine) as session:
        deployment = make_deployment(session)
        for n, query in enumerate(queries):
            add_source(session, deployment.id, f"scores-{n}", "sql", **_config(remote, query))


def _config(remote: Engine, query: str) -> dict:
    return {
        "url": remote.url.render_as_string(hide_password=False),
        "query": query,
        "watermark": "seq",
        "request_id": "id",
        "timestamp": "ts",
    }


def _attacks(dialect: str) -> list[str]:
    return [BREAKOUT] + ([WRITABLE_CTE, WRITING_FUNCTION] if dialect == "postgresql" else [])


def test_a_query_that_writes_leaves_the_source_table_whole(engine: Engine, remote: Engine) -> None:
    """On SQLite and PostgreSQL, for a source that skipped `apply`'s checks."""
    _sources(engine, remote, _attacks(remote.dialect.name))
    tallies = ingest(engine)
    assert len(tallies) == len(_attacks(remote.dialect.name))
    assert _rows(remote) == 5
    assert all(tally.errors and tally.inserted == 0 for tally in tallies), tallies


def test_a_plain_query_still_reads_in_its_read_only_transaction(
    engine: Engine, remote: Engine
) -> None:
    _sources(engine, remote, ["SELECT * FROM scores -- every row"])
    [tally] = ingest(engine)
    assert (tally.errors, tally.inserted) == ([], 5)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 5
