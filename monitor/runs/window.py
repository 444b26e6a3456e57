"""A window's rows, sampled deterministically inside the database.

Above the cap, only rows whose sample key (a CRC32 of the request id) falls below a
threshold leave the database, the lowest keys first: the same rows on every rerun, on
SQLite and PostgreSQL alike, and at most `cap` of them.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import Connection, and_, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from monitor.store.models import BUCKET_SIZE, Label, Model, Prediction, WindowCount
from monitor.timeutil import utcnow

KEY_SPACE = 2**32
# Over-sample so that the key bound yields at least `cap` rows (LIMIT trims the rest); a
# window whose keys happen to fall short is read again with a wider bound.
HEADROOMS = (1.1, 1.5, 3.0, None)
# Arrow types a category column may have for the column-wise decoding to type it as the
# row-wise one does (Python str, int, float or bool per value).
CATEGORY_TYPES = ("string", "int64", "double", "bool")
SPLIT_ROWS = 200_000  # windows larger than this are scanned as two halves at once
READ_CACHE_PAGES = 2048  # 8 MiB of SQLite page cache for a window's reading connections
# Longer than any transaction that inserts predictions (monitor.runs.late.MARGIN).
COMMIT_MARGIN = timedelta(minutes=15)
KEEP_WAIT_MS = 200  # how long keeping a window's count waits for a lock
MIN_BLOCK = 1 << 20  # bytes of JSON per block Arrow parses: smaller ones cost more than they save
CHUNK_BYTES = 4 << 20  # bytes of JSON parsed per call: the most of it held at once


@dataclass
class WindowRows:
    frame: pd.DataFrame
    total: int  # rows in the window
    sampled: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.frame)


def _halves(start: datetime, end: datetime, parts: int) -> list[tuple[datetime, datetime]]:
    if parts == 1:
        return [(start, end)]
    middle = start + (end - start) / 2
    return [(start, middle), (middle, end)]


def _run_all(session: Session, statements: list) -> list[list[tuple]]:
    """Each statement's rows as the driver's plain tuples (no Row object per row); two or
    more run at once on their own connections, since a window's index scan is the one cost
    that grows with the window and the drivers wait without holding the GIL."""
    engine = session.get_bind()
    if len(statements) == 1 or engine.url.database in (None, "", ":memory:"):
        return [_plain(session.connection(), statement) for statement in statements]

    def run(statement) -> list[tuple]:
        with engine.connect() as connection, _reading_once(connection):
            return _plain(connection, statement)

    with ThreadPoolExecutor(max_workers=len(statements)) as pool:
        return list(pool.map(run, statements))


@contextmanager
def _reading_once(connection: Connection) -> Iterator[None]:
    """A small SQLite page cache while a window is read: each page of a sample is read
    once, so the pool connection's large cache (kept for inserts) would only hold memory."""
    if connection.dialect.name != "sqlite":
        yield
        return
    with _sqlite_pragma(connection, "cache_size", READ_CACHE_PAGES):
        yield


@contextmanager
def _sqlite_pragma(connection: Connection, name: str, value: int) -> Iterator[None]:
    """SQLite's `name` set to `value` while the block runs, then back as it was."""
    kept = connection.exec_driver_sql(f"PRAGMA {name}").scalar()
    connection.exec_driver_sql(f"PRAGMA {name}={int(value)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA {name}={int(kept)}")


def _plain(connection: Connection, statement) -> list[tuple]:
    """The statement's rows straight from the DBAPI cursor: the columns read here need no
    result processing, and skipping it halves the cost of a large sample's fetch."""
    result = connection.execute(statement)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def count_rows(session: Session, deployment_id: int, start: datetime, end: datetime) -> int:
    """The window's predictions. The first count walks the window's index entries and keeps
    the count up to a committed id (`window_counts`); a later one adds only the predictions
    stored after that id, a range of the primary key, so it costs what arrived since."""
    window = _in_window(deployment_id, start, end)
    kept = session.execute(
        select(WindowCount.rows, WindowCount.counted_to_id).where(
            WindowCount.deployment_id == deployment_id,
            WindowCount.window_start == start,
            WindowCount.window_end == end,
        )
    ).first()
    since = kept.counted_to_id if kept else 0
    committed = _committed_id(session, since)
    if kept is None:
        # Each statement counts both in one snapshot: a row committed meanwhile is in both.
        statements = [
            select(func.count(), _past(committed)).where(*_in_window(deployment_id, *half))
            for half in _halves(start, end, 2)
        ]
        counts = [rows[0] for rows in _run_all(session, statements)]
        total = sum(count for count, _ in counts)
        beyond = sum(past or 0 for _, past in counts)
        _keep(session, deployment_id, start, end, total - beyond, committed, None)
        return total
    added, beyond = _stored_after(session, deployment_id, window, since, committed)
    if committed > since:
        _keep(session, deployment_id, start, end, kept.rows + added - beyond, committed, since)
    return kept.rows + added


def _committed_id(session: Session, since: int) -> int:
    """An id below which every prediction is committed, as far as can be told: ids are
    handed out when a transaction inserts, not when it commits, so it trails the newest
    by `COMMIT_MARGIN` (as the late-window checkpoint does)."""
    top = session.scalar(  # the newest first: the scan stops at the first old enough
        select(Prediction.id)
        .where(Prediction.id > since, Prediction.ingested_at < utcnow() - COMMIT_MARGIN)
        .order_by(Prediction.id.desc())
        .limit(1)
    )
    return max(since, top or 0)


def _stored_after(
    session: Session, deployment_id: int, window: list, after: int, committed: int
) -> tuple[int, int]:
    """The window's predictions with ids past `after`, and how many of them are past
    `committed`."""
    # `+ 0` keeps the databases on the primary key's range instead of the window's index.
    added, beyond = session.execute(
        select(func.count(), _past(committed)).where(
            Prediction.id > after, (Prediction.deployment_id + 0) == deployment_id, *window[1:]
        )
    ).one()
    return added, beyond or 0


def _past(committed: int):
    return func.sum(case((Prediction.id > committed, 1), else_=0))


def _keep(
    session: Session,
    deployment_id: int,
    start: datetime,
    end: datetime,
    rows: int,
    counted_to_id: int,
    was: int | None,
) -> None:
    """Keep the count in a short transaction of its own: a run's session writes only at
    its end (an early write would hold back its heartbeat). The count is only a shortcut,
    so a busy database, or another process keeping it first, leaves it as it is."""
    engine = session.get_bind()
    if engine.url.database in (None, "", ":memory:"):
        return
    key = {"deployment_id": deployment_id, "window_start": start, "window_end": end}
    try:
        with engine.begin() as connection, _short_waits(connection):
            if was is None:
                connection.execute(
                    insert(WindowCount).values(**key, rows=rows, counted_to_id=counted_to_id)
                )
            else:
                connection.execute(
                    update(WindowCount)
                    .where(*(getattr(WindowCount, name) == value for name, value in key.items()))
                    .where(WindowCount.counted_to_id == was)
                    .values(rows=rows, counted_to_id=counted_to_id)
                )
    except (IntegrityError, OperationalError):
        pass


@contextmanager
def _short_waits(connection: Connection) -> Iterator[None]:
    """Wait at most a moment for a lock: the caller's own session may hold one."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {KEEP_WAIT_MS}")
        yield
        return
    with _sqlite_pragma(connection, "busy_timeout", KEEP_WAIT_MS):
        yield


def sample_threshold(total: int, cap: int, headroom: float | None = HEADROOMS[0]) -> int | None:
    """The sample key bound for a window of `total` rows, or None when it is not sampled."""
    if total <= cap or headroom is None:
        return None
    bound = math.ceil(KEY_SPACE * cap / total * headroom)
    return bound if bound < KEY_SPACE else None


def _in_window(deployment_id: int, start: datetime, end: datetime) -> list:
    return [
        Prediction.deployment_id == deployment_id,
        Prediction.timestamp >= start,
        Prediction.timestamp < end,
    ]


def _sample(
    deployment_id: int, start: datetime, end: datetime, total: int, cap: int, headroom: float | None
):
    """The sampled predictions' ids and keys as a subquery: read from the index alone, so
    only the sample's own rows are fetched from the table afterwards."""
    conditions = _in_window(deployment_id, start, end)
    threshold = sample_threshold(total, cap, headroom)
    if threshold is not None:
        # Naming the buckets lets the database seek straight to the sample's index entries
        # instead of walking every row of the window.
        buckets = list(range(threshold // BUCKET_SIZE + 1))
        conditions += [Prediction.sample_bucket.in_(buckets), Prediction.sample_key < threshold]
    return (
        select(Prediction.id, Prediction.sample_key)
        .where(*conditions)
        .order_by(Prediction.sample_key, Prediction.id)
        .limit(cap)
        .subquery()
    )


def _label_join(deployment_id: int):
    return and_(Label.deployment_id == deployment_id, Label.request_id == Prediction.request_id)


def count_labeled(
    session: Session, deployment_id: int, start: datetime, end: datetime, total: int, cap: int
) -> int:
    """Labeled rows among the window's sample: what a backfill run is numbered by."""
    for headroom in HEADROOMS:
        sample = _sample(deployment_id, start, end, total, cap, headroom)
        if headroom is None or session.scalar(select(func.count()).select_from(sample)) >= cap:
            break
    return session.scalar(
        select(func.count())
        .select_from(sample)
        .join(Prediction, Prediction.id == sample.c.id)
        .join(Label, _label_join(deployment_id))
    )


def load_window(
    session: Session,
    model: Model,
    deployment_id: int,
    start: datetime,
    end: datetime,
    cap: int,
    total: int | None = None,
) -> WindowRows:
    """The window's sample joined with its labels, as a frame of the model's columns, in
    sample key order."""
    if total is None:
        total = count_rows(session, deployment_id, start, end)
    parts = 2 if total > SPLIT_ROWS else 1
    for headroom in HEADROOMS:
        # Each half of the window gives its lowest keys; together they hold the window's.
        statements = [
            _rows(deployment_id, *half, total, cap, headroom) for half in _halves(start, end, parts)
        ]
        records = [record for rows in _run_all(session, statements) for record in rows]
        if len(records) >= min(cap, total):
            break
    frame, warnings = _frame(model, _in_key_order(records, cap))
    return WindowRows(frame=frame, total=total, sampled=total > cap, warnings=warnings)


def _in_key_order(records: list[tuple], keep: int) -> list[tuple]:
    """The records' columns after (sample key, id), the first `keep` records by those, as
    one tuple per column: sorted in NumPy rather than by a Python key per record."""
    if not records or keep < 1:
        return [()] * 5
    columns = list(zip(*records, strict=True))
    keys = np.fromiter(columns[0], dtype=np.int64, count=len(records))
    ids = np.fromiter(columns[1], dtype=np.int64, count=len(records))
    order = np.lexsort((ids, keys))[:keep].tolist()
    if len(order) == 1:  # itemgetter of one index gives the item, not a tuple
        return [(column[order[0]],) for column in columns[2:]]
    pick = itemgetter(*order)
    return [pick(column) for column in columns[2:]]


def _rows(deployment_id: int, start: datetime, end: datetime, total: int, cap: int, headroom):
    """The sample's rows with their labels; `id IN (...)` fetches them in table order."""
    sample = _sample(deployment_id, start, end, total, cap, headroom)
    return (
        select(
            Prediction.sample_key,
            Prediction.id,
            Prediction.features,
            Prediction.prediction,
            Prediction.probability,
            Label.value,
            Prediction.probabilities,
        )
        .outerjoin(Label, _label_join(deployment_id))
        .where(Prediction.id.in_(select(sample.c.id)))
    )


def decode_all(texts: list[str | None]) -> list:
    """Each stored JSON text decoded (None stays None), parsed as one document: one call
    into orjson instead of one per row."""
    return orjson.loads(
        "[" + ",".join([text if text is not None else "null" for text in texts]) + "]"
    )


def _class_probabilities(model: Model, stored: list[str | None]) -> dict[str, pd.Series]:
    """A multiclass model's logged probabilities as its declared columns (NaN when absent)."""
    if not model.probabilities:
        return {}
    decoded = [row or {} for row in decode_all([text or None for text in stored])]
    return {
        column: pd.Series([row.get(str(label)) for row in decoded], dtype=float)
        for label, column in model.probabilities.items()
    }


def features_by_column(model: Model, texts: list[str]) -> dict[str, pd.Series] | None:
    """The feature columns parsed column-wise by Arrow's JSON reader, with no Python object
    per value; None when a column holds what only the row-wise decoding types as Driftwise
    always has (text in a numerical feature, missing or mixed categories), so the two agree
    on every frame they both accept (tests/monitor/test_window_decode.py)."""
    import pyarrow as pa

    numbers = pa.schema([(name, pa.float64()) for name in model.numerical])
    try:
        table = pa.concat_tables(_parsed(texts, numbers))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a value Arrow cannot type, or chunks typed apart: decoded row-wise
    if table.num_rows != len(texts):
        return None
    columns = {
        name: pd.Series(table.column(name).to_numpy(), dtype=float, name=name)
        for name in model.numerical
    }
    for name in model.categorical:
        if name not in table.column_names:
            return None
        column = table.column(name)
        if column.null_count or str(column.type) not in CATEGORY_TYPES:
            return None
        columns[name] = pd.Series(column.to_pylist(), dtype=object, name=name)
    del table
    pa.default_memory_pool().release_unused()  # the parsed blocks, not kept for the run
    return columns


def _parsed(texts: list[str], numbers) -> Iterator:
    """The texts parsed a chunk at a time, so that only one chunk's JSON and Arrow's work
    on it are held at once; within a chunk a block per core, parsed at once outside the GIL."""
    import pyarrow.json as arrow_json

    size = sum(map(len, texts)) + len(texts)
    rows = max(1, len(texts) * CHUNK_BYTES // max(size, 1))
    for first in range(0, len(texts), rows):
        data = "\n".join(texts[first : first + rows]).encode()
        block = max(MIN_BLOCK, len(data) // (os.cpu_count() or 1) + 1)
        yield arrow_json.read_json(
            io.BytesIO(data),
            read_options=arrow_json.ReadOptions(use_threads=True, block_size=block),
            parse_options=arrow_json.ParseOptions(explicit_schema=numbers),
        )


def features_by_row(model: Model, texts: list[str]) -> tuple[dict[str, pd.Series], list[str]]:
    """The feature columns from each row's dict, typed as pandas infers them."""
    features = decode_all(texts)
    table = pd.DataFrame(features, columns=model.features) if features else None
    columns: dict[str, pd.Series] = {}
    warnings = []
    for name in model.numerical:
        raw = table[name] if table is not None else pd.Series([], dtype=float)
        if raw.dtype.kind in "fiu":
            columns[name] = raw.astype(float)
            continue
        numbers = pd.to_numeric(raw.astype(object), errors="coerce").astype(float)
        bad = int((numbers.isna() & raw.notna()).sum())
        if bad:
            warnings.append(f"{name}: {bad} values are not numbers; counted as missing")
        columns[name] = numbers
    for name in model.categorical:
        columns[name] = (
            table[name].astype(object) if table is not None else pd.Series([], dtype=object)
        )
    return columns, warnings


def to_frame(model: Model, records: list) -> tuple[pd.DataFrame, list[str]]:
    """Decode stored records (features, prediction, probability, label, probabilities)."""
    return _frame(model, list(zip(*records, strict=True)) if records else [()] * 5)


def _frame(model: Model, columns: list) -> tuple[pd.DataFrame, list[str]]:
    """Decode stored JSON, given per column (features, prediction, probability, label,
    probabilities), into typed columns."""
    texts, predictions, probabilities, labels, class_probabilities = columns
    decoded = features_by_column(model, texts) if texts else None
    warnings: list[str] = []
    if decoded is None:
        decoded, warnings = features_by_row(model, texts)
    sample = decode_all(list(texts[:1000]))
    missing = [name for name in model.features if sample and not any(name in row for row in sample)]
    if missing:
        warnings.append(f"records lack feature {', '.join(missing)}")
    decoded[model.prediction] = pd.Series(decode_all(predictions), dtype=object)
    if model.probability:
        decoded[model.probability] = pd.Series(
            np.array(probabilities, dtype=float) if probabilities else [], dtype=float
        )
    decoded.update(_class_probabilities(model, class_probabilities))
    decoded[model.target] = pd.Series(decode_all(labels), dtype=object)
    frame = pd.DataFrame(decoded)
    if model.task == "regression":
        for name in (model.prediction, model.target):
            frame[name] = pd.to_numeric(frame[name], errors="coerce")
    else:
        frame[model.prediction] = _tidy(frame[model.prediction])
        frame[model.target] = _tidy(frame[model.target])
    return frame, warnings


def _tidy(values: pd.Series) -> pd.Series:
    """Class labels as integers when they all are (JSON gives 1 and 1.0 alike), else as is."""
    present = values.dropna()
    kinds = set(map(type, present))
    if not len(present) or not kinds <= {int, float, bool}:
        return values
    if kinds != {int} and not all(float(value).is_integer() for value in present):
        return values
    if kinds == {int} and len(present) == len(values):
        return pd.Series(values.tolist(), index=values.index, dtype="int64")
    values = values.map(lambda value: None if value is None else int(value))
    return values.astype("int64") if values.notna().all() else values.astype(object)
