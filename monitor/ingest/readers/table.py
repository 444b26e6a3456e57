"""The table reader: whole files (batch scoring outputs), each read at once into a frame
by its kind, its rows turned into canonical records by the kind. A file's cursor is the
number of rows consumed; its id column, or else `<file sha256>:<row>`, keeps every row
once even when the file is read again."""

from __future__ import annotations

import hashlib

import fsspec
import pandas as pd
from sqlalchemy import Engine

from monitor.errors import BadRecord
from monitor.ingest.cursor import file_cursor
from monitor.ingest.kinds import load_kind
from monitor.store.db import session_scope

CHUNK_ROWS = 50_000


def read_file(engine: Engine, job, fs, path: str, tally) -> None:
    with session_scope(engine) as session:
        cursor = file_cursor(session, job.source_id, path)
        done, size, sha, start = cursor.done, cursor.size, cursor.sha256, cursor.line
    current_size = fs.size(path)
    if done and current_size == size:
        return
    with fs.open(path, "rb") as handle:
        data = handle.read()
    digest = hashlib.sha256(data).hexdigest()
    if done and digest == sha:
        return
    if sha != digest:
        start = 0  # new or changed content: read it all, duplicates are skipped
    kind = load_kind(job.kind)
    try:
        frame = kind.read_frame(data, job.kind) if data else pd.DataFrame()
    except BadRecord as error:
        _quarantine_file(engine, job, path, data, digest, current_size, str(error), tally)
        return
    features = job.context.schema.features
    missing = (
        [] if job.role == "labels" else [name for name in features if name not in frame.columns]
    )
    if missing and len(frame):
        reason = f"missing feature column {', '.join(missing)}"
        _quarantine_file(engine, job, path, data, digest, current_size, reason, tally)
        return
    records = frame.to_dict("records")
    for first in range(start, max(len(records), 1), CHUNK_ROWS):
        batch = job.new_batch()
        for row_no in range(first, min(first + CHUNK_ROWS, len(records))):
            row = records[row_no]
            raw = repr(row).encode()
            try:
                batch.add(
                    kind.canonical(row, job.role, job.config, features, f"{digest}:{row_no}"),
                    f"{path}#{row_no + 1}",
                    raw,
                )
            except BadRecord as error:
                batch.quarantine(f"{path}#{row_no + 1}", raw, str(error))
        last = min(first + CHUNK_ROWS, len(records))
        with session_scope(engine) as session:
            tally.add(*batch.write(session), batch.newest_timestamp)
            _mark(
                file_cursor(session, job.source_id, path),
                current_size,
                digest,
                last,
                last >= len(records),
            )


def reread_rows(job, rows: list, batch) -> None:
    """Quarantined rows of batch files read again from their files, as they are now:
    a whole-file quarantine (location = the path) re-reads the whole file."""
    features, kind = job.context.schema.features, load_kind(job.kind)
    by_path: dict[str, list] = {}
    for row in rows:
        path, _, number = row.location.rpartition("#")
        if not path or not number.isdigit():
            path, number = row.location, ""
        by_path.setdefault(path, []).append((row, int(number) - 1 if number else None))
    for path, wanted in by_path.items():
        try:
            with fsspec.open(path, "rb") as handle:
                data = handle.read()
            frame = kind.read_frame(data, job.kind) if data else pd.DataFrame()
        except (OSError, BadRecord) as error:
            for row, _ in wanted:
                batch.quarantine(row.location, row.raw, f"cannot read the file again: {error}")
            continue
        digest, records = hashlib.sha256(data).hexdigest(), frame.to_dict("records")
        for row, number in wanted:
            numbers = range(len(records)) if number is None else [number]
            for row_no in numbers:
                if row_no >= len(records):
                    batch.quarantine(row.location, row.raw, f"the file has no row {row_no + 1} now")
                    continue
                record, location = records[row_no], f"{path}#{row_no + 1}"
                try:
                    batch.add(
                        kind.canonical(
                            record, job.role, job.config, features, f"{digest}:{row_no}"
                        ),
                        location,
                        repr(record).encode(),
                    )
                except BadRecord as error:
                    batch.quarantine(location, repr(record).encode(), str(error))


def _quarantine_file(
    engine: Engine, job, path: str, data: bytes, digest: str, size: int, reason: str, tally
) -> None:
    """A file that cannot be read at all: quarantined whole (its first 64 KiB kept)."""
    with session_scope(engine) as session:
        batch = job.new_batch()
        batch.quarantine(path, data[:65536], reason)
        tally.add(*batch.write(session))
        _mark(file_cursor(session, job.source_id, path), size, digest, 0, done=True)


def _mark(cursor, size: int, digest: str, line: int, done: bool) -> None:
    cursor.size, cursor.sha256, cursor.line, cursor.done = size, digest, line, done
    cursor.records = line
