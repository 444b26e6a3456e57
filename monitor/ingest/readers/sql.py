"""`sql` sources: a query against another database, read in order of a watermark column.

Rows are read with watermark greater than the saved one; a batch never ends inside a run
of equal watermarks, so rows sharing a watermark are never split and never skipped.

The query is the spec's, wrapped as a subquery, so it must stay one statement that only
reads: `query_problem` refuses a `;` (no second statement can follow without one) and a
watermark that is not a plain column name, at apply and again before each read, and every
read runs in a read-only transaction (PostgreSQL `SET TRANSACTION READ ONLY`, SQLite
`PRAGMA query_only`), always with a bound parameter, so PostgreSQL takes one statement.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import Engine

from monitor.ingest.kinds import load_kind
from monitor.store.db import session_scope
from monitor.store.models import Source

BATCH_ROWS = 50_000
COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class QueryRefused(ValueError):
    """A source query that could do more than read one result."""


def query_problem(query: str, watermark: str) -> tuple[str, str] | None:
    """(key, what is wrong) when a source's query or watermark is unsafe to run, else None."""
    if ";" in query:
        return "query", "must be one statement: remove ';' (inside text, write chr(59))"
    if not query.strip():
        return "query", "is empty"
    if not COLUMN.fullmatch(watermark):
        return "watermark", f"must be a column name (letters, digits, '_'), got {watermark!r}"
    return None


def _wrapped(config: dict) -> str:
    problem = query_problem(config["query"], config["watermark"])
    if problem is not None:
        raise QueryRefused(f"{problem[0]}: {problem[1]}")
    # Newlines keep a trailing `--` comment in the query from swallowing the wrapper.
    return f"SELECT * FROM (\n{config['query']}\n) AS source_rows"


def _read(remote: Engine, query: str, params: dict[str, Any]) -> list[dict]:
    with remote.connect() as connection:
        _read_only(connection)
        return [dict(row) for row in connection.execute(text(query), params).mappings()]


def _read_only(connection: Connection) -> None:
    """Whatever the query says, its transaction cannot write (rolled back at the end too)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA query_only = ON")
    else:
        connection.exec_driver_sql("SET TRANSACTION READ ONLY")


def _fetch(remote: Engine, config: dict, after: Any, limit: int) -> list[dict]:
    column = config["watermark"]
    query = _wrapped(config)
    params: dict[str, Any] = {"limit": int(limit)}
    if after is not None:
        query += f" WHERE {column} > :after"
        params["after"] = after
    return _read(remote, query + f" ORDER BY {column} LIMIT :limit", params)


def _equal_to(remote: Engine, config: dict, value: Any) -> list[dict]:
    query = _wrapped(config) + f" WHERE {config['watermark']} = :value"
    return _read(remote, query, {"value": value})


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def read_source(engine: Engine, job, tally) -> None:
    remote = create_engine(job.config["url"])
    limit = int(job.config.get("batch_size", BATCH_ROWS))
    kind, features = load_kind(job.kind), job.context.schema.features
    try:
        with session_scope(engine) as session:
            after = session.get(Source, job.source_id).cursor.get("watermark")
        while True:
            rows = _fetch(remote, job.config, after, limit)
            if not rows:
                return
            last = rows[-1][job.config["watermark"]]
            if len(rows) == limit:
                kept = [row for row in rows if row[job.config["watermark"]] != last]
                # A full batch may end inside a run of equal watermarks: take that run whole.
                rows = kept + _equal_to(remote, job.config, last)
            batch = job.new_batch()
            for row in rows:
                location = f"{job.name}@{_jsonable(row[job.config['watermark']])}"
                fallback = f"{job.name}:{_jsonable(row[job.config['watermark']])}"
                try:
                    batch.add(
                        kind.canonical(row, job.role, job.config, features, fallback),
                        location,
                        repr(row).encode(),
                    )
                except Exception as error:  # noqa: BLE001
                    batch.quarantine(location, repr(row).encode(), str(error))
            with session_scope(engine) as session:
                tally.add(*batch.write(session), batch.newest_timestamp)
                source = session.get(Source, job.source_id)
                source.cursor = {**source.cursor, "watermark": _jsonable(last)}
            after = _jsonable(last)
    finally:
        remote.dispose()
