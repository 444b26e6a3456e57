"""Bulk writes of ingested rows: skip duplicates, count what was new.

Plain DB-API executemany with the dialect's "skip on conflict" is the fastest path both
SQLite and PostgreSQL offer; the unique (deployment, request_id) keys make it exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from sqlalchemy import Connection

from monitor.ingest.records import LabelRow, PredictionRow
from monitor.timeutil import utcnow

_PREDICTION_COLUMNS = (
    "deployment_id, model_version_id, request_id, timestamp, features, prediction, "
    "probability, sample_key, ingested_at, probabilities"
)
_LABEL_COLUMNS = "deployment_id, request_id, value, timestamp, ingested_at"
# PostgreSQL types of those columns, for inserting whole columns as arrays (`unnest`).
_ARRAY_TYPES = {
    _PREDICTION_COLUMNS: (
        "integer, integer, varchar, timestamp, text, text, float8, bigint, timestamp, text"
    ),
    _LABEL_COLUMNS: "integer, varchar, text, timestamp, timestamp",
}
# The columns of a prepared prediction row, in order (`prepare_predictions`).
_PREPARED_COLUMNS = (
    "model_version_id",
    "request_id",
    "timestamp",
    "features",
    "prediction",
    "probability",
    "sample_key",
    "probabilities",
)
# Columns that hold one value for a whole push: sent once, not as an array.
_SAME_FOR_A_PUSH = {"deployment_id", "ingested_at"}
# Rows per multi-row INSERT … RETURNING on SQLite: 10 columns × 500 stays under its limit.
RETURNING_CHUNK = 500


def _is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def _sql(connection: Connection, table: str, columns: str, skip_conflicts: bool = True) -> str:
    count = columns.count(",") + 1
    sqlite = _is_sqlite(connection)
    marks = ", ".join(["?" if sqlite else "%s"] * count)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    return sql


def _text_time(moment: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DateTime stores this exact text."""
    return None if moment is None else moment.isoformat(" ", timespec="microseconds")


def _time(connection: Connection):
    """As SQLite stores a time; PostgreSQL takes datetimes."""
    return _text_time if _is_sqlite(connection) else (lambda moment: moment)


def _executemany(connection: Connection, sql: str, rows: list[tuple]) -> int:
    if not rows:
        return 0
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.executemany(sql, rows)
        return max(cursor.rowcount, 0)
    finally:
        cursor.close()


def _insert_returning(connection: Connection, table: str, columns: str, rows: list[tuple]) -> set:
    """Insert, skipping conflicts, and return the request ids the insert itself stored:
    the database decides which of two concurrent writers of an id stored it, not a check
    made before."""
    if not rows:
        return set()
    cursor = connection.connection.driver_connection.cursor()
    try:
        if _is_sqlite(connection):
            return _returning_in_chunks(cursor, table, columns, rows)
        # One short statement with a column per array: PostgreSQL plans it once, and the
        # driver need not rewrite a statement of thousands of placeholders on every push.
        pushed = dict(zip(columns.split(", "), zip(*rows, strict=True), strict=True))
        once = [values[0] for name, values in pushed.items() if name in _SAME_FOR_A_PUSH]
        arrays = [list(values) for name, values in pushed.items() if name not in _SAME_FOR_A_PUSH]
        cursor.execute(_unnest_insert_sql(table, columns), once + arrays)
        return {request_id for (request_id,) in cursor.fetchall()}
    finally:
        cursor.close()


@cache
def _unnest_insert_sql(table: str, columns: str) -> str:
    """`INSERT … SELECT … FROM unnest(…)`: a binary array per column (no quoting per value),
    one value for those the same in every row of a push; the values first, then the arrays."""
    values, arrays, names = [], [], []
    for name, kind in zip(columns.split(", "), _ARRAY_TYPES[columns].split(", "), strict=True):
        if name in _SAME_FOR_A_PUSH:
            values.append(f"%b::{kind}")
        else:
            values.append(f"pushed.{name}")
            arrays.append(f"%b::{kind}[]")
            names.append(name)
    return (
        f"INSERT INTO {table} ({columns}) SELECT {', '.join(values)}"
        f" FROM unnest({', '.join(arrays)}) AS pushed({', '.join(names)})"
        " ON CONFLICT DO NOTHING RETURNING request_id"
    )


def _returning_in_chunks(cursor, table: str, columns: str, rows: list[tuple]) -> set:
    """SQLite: multi-row VALUES in chunks (it returns the rows of one statement)."""
    inserted: set[str] = set()
    group = "(" + ", ".join(["?"] * (columns.count(",") + 1)) + ")"
    for start in range(0, len(rows), RETURNING_CHUNK):
        chunk = rows[start : start + RETURNING_CHUNK]
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {', '.join([group] * len(chunk))}"
            " ON CONFLICT DO NOTHING RETURNING request_id",
            [value for row in chunk for value in row],
        )
        inserted.update(request_id for (request_id,) in cursor.fetchall())
    return inserted


def insert_predictions(
    connection: Connection,
    deployment_id: int,
    rows: Sequence[PredictionRow],
    version_ids: dict[int, int] | None = None,
    new_ids: set[str] | None = None,
) -> int:
    """Insert rows, skipping request ids the deployment already has; returns how many were new.
    With `version_ids`, each row's model_version is a version number mapped to its row id.
    With `new_ids`, the request ids this insert stored are added to it."""
    prepared = prepare_predictions(rows, _is_sqlite(connection), version_ids)
    now = _time(connection)(utcnow())
    values = [
        (deployment_id, version, request_id, stamp, *outputs, key, now, probabilities)
        for version, request_id, stamp, *outputs, key, probabilities in prepared.rows
    ]
    return _insert(connection, "predictions", _PREDICTION_COLUMNS, values, new_ids)


def insert_labels(
    connection: Connection,
    deployment_id: int,
    rows: Sequence[LabelRow],
    new_ids: set[str] | None = None,
) -> int:
    stamp, now = _time(connection), _time(connection)(utcnow())
    values = [(deployment_id, row.request_id, row.value, stamp(row.timestamp), now) for row in rows]
    return _insert(connection, "labels", _LABEL_COLUMNS, values, new_ids)


def _insert(
    connection: Connection, table: str, columns: str, values: list[tuple], new_ids: set | None
) -> int:
    """How many rows were new; with `new_ids`, the request ids stored are added to it."""
    if new_ids is None:
        return _executemany(connection, _sql(connection, table, columns), values)
    stored = _insert_returning(connection, table, columns, values)
    new_ids |= stored
    return len(stored)


@dataclass
class PreparedPredictions:
    """Prediction rows as the insert binds them, made in the process that parsed them
    (plain tuples also cross to the writer for half the cost of the named rows).
    `numbers` keeps each row's version number: the registry may change before the write."""

    sqlite: bool
    rows: list[tuple] = field(default_factory=list)
    versions: dict[int, int] | None = None
    numbers: list[int | None] = field(default_factory=list)
    newest: datetime | None = None

    def __len__(self) -> int:
        return len(self.rows)


def prepare_predictions(
    rows: Sequence[PredictionRow], sqlite: bool, versions: dict[int, int] | None
) -> PreparedPredictions:
    """`rows` as `insert_prepared` takes them, version numbers mapped by `versions`
    (None: each row's model_version is its version's row id already)."""
    stamp = _text_time if sqlite else (lambda moment: moment)
    version = (lambda number: number) if versions is None else versions.get
    numbers = [row.model_version for row in rows]
    values = [
        (
            version(row.model_version),
            row.request_id,
            stamp(row.timestamp),
            row.features,
            row.prediction,
            row.probability,
            row.sample_key,
            row.probabilities,
        )
        for row in rows
    ]
    newest = max((row.timestamp for row in rows), default=None)
    return PreparedPredictions(sqlite, values, versions, numbers, newest)


def insert_prepared(
    connection: Connection,
    deployment_id: int,
    prepared: PreparedPredictions,
    versions: dict[int, int],
) -> int:
    """Insert prepared rows, skipping request ids the deployment has; returns how many were
    new. `versions` is the registry now: rows mapped by an older one are mapped again."""
    rows = prepared.rows
    if versions != prepared.versions:
        rows = [
            (versions.get(number), *row[1:])
            for number, row in zip(prepared.numbers, rows, strict=True)
        ]
    # The deployment and the writer's clock are the same for every row: written once into
    # the statement (both are values this module made, never input) rather than bound per row.
    now = _time(connection)(utcnow())
    marks = ", ".join(["?" if _is_sqlite(connection) else "%s"] * len(_PREPARED_COLUMNS))
    sql = (
        f"INSERT INTO predictions (deployment_id, ingested_at, {', '.join(_PREPARED_COLUMNS)})"
        f" VALUES ({int(deployment_id)}, '{now}', {marks}) ON CONFLICT DO NOTHING"
    )
    return _executemany(connection, sql, rows)


def insert_quarantine(
    connection: Connection,
    deployment_id: int | None,
    source_id: int | None,
    bad: Sequence[tuple[str, bytes, str]],
) -> int:
    """`bad` holds (location, raw bytes, reason) triples."""
    stamp = _time(connection)
    now: datetime | str = stamp(utcnow())
    values = [
        (deployment_id, source_id, location[:1100], raw, reason, now)
        for location, raw, reason in bad
    ]
    columns = "deployment_id, source_id, location, raw, reason, created_at"
    return _executemany(
        connection, _sql(connection, "quarantine", columns, skip_conflicts=False), values
    )
