"""Line-oriented sources (JSONL in its several dialects), read from a saved byte offset."""

from __future__ import annotations

from sqlalchemy import Engine

from monitor.errors import BadRecord
from monitor.ingest.batch import Batch
from monitor.ingest.kinds import load_kind
from monitor.store.db import session_scope

CHUNK_BYTES = 8 * 1024 * 1024


def read_file(engine: Engine, job, fs, path: str, tally) -> None:
    """Read `path` from its cursor to its last complete line, one transaction per chunk."""
    from monitor.ingest.engine import file_cursor

    kind = load_kind(job.kind)
    with session_scope(engine) as session:
        cursor = file_cursor(session, job.source_id, path)
        offset, line_no = cursor.offset, cursor.line
    size = fs.size(path)
    if size < offset:
        # The file was replaced by a shorter one: read it again; duplicates are skipped.
        offset, line_no = 0, 0
    if size == offset:
        return
    with fs.open(path, "rb") as handle:
        handle.seek(offset)
        while True:
            data = handle.read(CHUNK_BYTES)
            end = data.rfind(b"\n")
            if end < 0:
                if len(data) == CHUNK_BYTES:
                    raise BadRecord(f"line {line_no + 1} is longer than {CHUNK_BYTES} bytes")
                return  # nothing complete yet: a truncated last line waits
            consumed = data[: end + 1]
            handle.seek(offset + len(consumed))
            batch = job.new_batch()
            for line in consumed.split(b"\n")[:-1]:
                line_no += 1
                _add_line(batch, kind, job, line.rstrip(b"\r"), f"{path}:{line_no}")
            offset += len(consumed)
            with session_scope(engine) as session:
                read, inserted, quarantined = batch.write(session, getattr(kind, "join", None))
                cursor = file_cursor(session, job.source_id, path)
                cursor.offset, cursor.line, cursor.size = offset, line_no, size
                cursor.records += read
            tally.add(read, inserted, quarantined)


def _add_line(batch: Batch, kind, job, line: bytes, location: str) -> None:
    if not line.strip():
        return
    try:
        records = kind.parse(line, job.context)
    except BadRecord as error:
        batch.quarantine(location, line, str(error))
        return
    for record in records:
        batch.add(record, location, line)
