"""`sql` sources: a query against another database, read in order of a watermark column.

Rows are read with watermark greater than the saved one; a batch never ends inside a run
of equal watermarks, so rows sharing a watermark are never split and never skipped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from monitor.ingest.kinds import load_kind
from monitor.store.db import session_scope
from monitor.store.models import Source

BATCH_ROWS = 50_000


def _fetch(remote: Engine, config: dict, after: Any, limit: int | None) -> list[dict]:
    column = config["watermark"]
    query = f"SELECT * FROM ({config['query']}) AS source_rows"
    params: dict[str, Any] = {}
    if after is not None:
        query += f" WHERE {column} > :after"
        params["after"] = after
    query += f" ORDER BY {column}"
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    with remote.connect() as connection:
        return [dict(row) for row in connection.execute(text(query), params).mappings()]


def _equal_to(remote: Engine, config: dict, value: Any) -> list[dict]:
    column = config["watermark"]
    query = f"SELECT * FROM ({config['query']}) AS source_rows WHERE {column} = :value"
    with remote.connect() as connection:
        return [dict(row) for row in connection.execute(text(query), {"value": value}).mappings()]


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
                tally.add(*batch.write(session))
                source = session.get(Source, job.source_id)
                source.cursor = {**source.cursor, "watermark": _jsonable(last)}
            after = _jsonable(last)
    finally:
        remote.dispose()
