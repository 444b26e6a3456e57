"""Line-oriented sources (JSONL in its several dialects), read from a saved byte offset.

Large files are parsed in a second process while this one writes the previous chunk:
parsing and inserting each take about half the time, and the machine has two cores. The
parse process hands over rows ready for the insert (`Batch.prepare`), so the writer only
binds them.
"""

from __future__ import annotations

import ctypes
import gc
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from multiprocessing import get_context

import orjson
from fsspec.implementations.local import LocalFileSystem
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.errors import BadHalf, BadRecord
from monitor.ingest.batch import Batch, version_ids
from monitor.ingest.cursor import file_cursor
from monitor.ingest.kinds import load_kind
from monitor.ingest.records import Half
from monitor.settings import current_settings
from monitor.store.db import session_scope
from monitor.timeutil import parse_duration, utcnow

DEFAULT_COMPLETE_AFTER = "5m"
# 16 chunks of the default 4 MiB: about 120,000 canonical records per commit at most.
MAX_CHUNKS_PER_COMMIT = 16


def chunk_bytes() -> int:
    """Input read per transaction: tens of thousands of records by default, since each
    commit (and the WAL checkpoints that follow) costs about as much as many inserts."""
    return current_settings().ingest_chunk_bytes


def read_file(engine: Engine, job, fs, path: str, tally) -> None:
    """Read `path` from its cursor to its last complete line, one transaction per chunk."""
    with session_scope(engine) as session:
        cursor = file_cursor(session, job.source_id, path)
        offset, line_no = cursor.offset, cursor.line
        # Rows are made ready for the insert where they are parsed; each write checks
        # that the registry still maps version numbers this way.
        prepare = (engine.dialect.name == "sqlite", version_ids(session, job.deployment_id))
    size = fs.size(path)
    if size < offset:
        # The file was replaced by a shorter one: read it again; duplicates are skipped.
        offset, line_no = 0, 0
    if size == offset:
        return
    chunk = chunk_bytes()
    pool = _pool() if size - offset > 2 * chunk else None
    pending: deque[tuple[Future | Batch, int, int]] = deque()
    complete = is_complete(fs, path, job.config)
    last_end = offset
    try:
        with fs.open(path, "rb") as handle, _Commits(engine, job, path, size, tally) as commits:
            for data, end, first_line, last_line in _chunks(
                handle, offset, line_no, chunk, complete
            ):
                last_end = end
                if pool is None:
                    parsed: Future | Batch = parse_chunk(job, data, path, first_line, prepare)
                else:
                    parsed = pool.submit(parse_chunk, job, data, path, first_line, prepare)
                pending.append((parsed, end, last_line))
                if len(pending) > 1:
                    commits.write(*pending.popleft())
            while pending:
                commits.write(*pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if last_end < size:
        tally.files_waiting += 1


def is_complete(fs, path: str, config: dict) -> bool:
    """Whether a last line without a newline is final: an object in an object store is
    complete once listed (objects are written whole); a local file once it has not
    changed for the source's `complete_after`. A file still growing is not."""
    if not isinstance(fs, LocalFileSystem):
        return True
    settle = parse_duration(config.get("complete_after") or DEFAULT_COMPLETE_AFTER)
    modified = fs.modified(path)
    if modified.tzinfo is not None:
        modified = modified.replace(tzinfo=None) - (modified.utcoffset() or timedelta(0))
    return utcnow() - modified >= timedelta(seconds=settle)


def _pool() -> ProcessPoolExecutor | None:
    if not current_settings().ingest_parse_process:
        return None
    return ProcessPoolExecutor(1, mp_context=get_context("fork"), initializer=_start_parser)


def _start_parser() -> None:
    """A parser whose reader was killed (even with SIGKILL) must not linger. What it
    inherited is never garbage: the collector need not walk it again and again while
    the parser makes its rows (that walk cost a fifth of the parse)."""
    gc.freeze()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _chunks(
    handle, offset: int, line_no: int, chunk: int, complete: bool = False
) -> Iterator[tuple[bytes, int, int, int]]:
    """Blocks of whole lines: (bytes, offset after them, number of the line before them,
    number of their last line). In a complete file the last line needs no newline."""
    handle.seek(offset)
    while True:
        data = handle.read(chunk)
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) == chunk:
                raise BadRecord(f"line {line_no + 1} is longer than {chunk} bytes")
            if complete and data:
                yield data + b"\n", offset + len(data), line_no, line_no + 1
            return  # nothing complete yet: a truncated last line waits
        consumed = data[: end + 1]
        offset += len(consumed)
        handle.seek(offset)
        first, line_no = line_no, line_no + consumed.count(b"\n")
        yield consumed, offset, first, line_no


def parse_chunk(
    job, data: bytes, path: str, line_no: int, prepare: tuple[bool, dict[int, int]]
) -> Batch:
    """The chunk's lines as a batch whose predictions are ready to insert; `prepare` is
    (SQLite or not, the version numbers' row ids)."""
    kind = load_kind(job.kind)
    batch = Batch(job.deployment_id, job.source_id, job.role, job.context)
    lines = data.split(b"\n")
    lines.pop()
    fast = getattr(kind, "prediction", None) if job.role == "predictions" else None
    with _collector_paused():
        if fast is None:
            for line in lines:
                line_no += 1
                add_line(batch, kind, job, line.rstrip(b"\r"), f"{path}:{line_no}")
        else:
            _add_predictions(batch, kind, job, lines, path, line_no, fast)
        batch.prepare(*prepare)
    return batch


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The rows a chunk makes all live until the chunk is written: the collector would
    walk them again and again for nothing (a twentieth of the parse); cycles made
    meanwhile are collected once it runs again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _add_predictions(batch: Batch, kind, job, lines: list[bytes], path: str, line_no: int, fast):
    """The common case without a call per layer: a line that is one valid record goes
    straight to the rows; any other takes `add_line`, which says what is wrong with it."""
    schema, limit, rows = job.context.schema, batch.value_limit, batch.predictions
    for number, line in enumerate(lines, start=line_no + 1):
        try:
            rows.append(fast(line, schema, limit))
        except (orjson.JSONDecodeError, BadRecord):
            add_line(batch, kind, job, line.rstrip(b"\r"), f"{path}:{number}")


class _Commits:
    """Chunks written with their cursor, one transaction for one chunk at first and then
    for twice as many each time, up to MAX_CHUNKS_PER_COMMIT: a commit rewrites every
    index page the transaction touched (the time indexes are touched all over), so
    fewer commits write the disk several times less, while the first chunks of a file
    are stored at once (a full disk or a kill keeps them)."""

    def __init__(self, engine: Engine, job, path: str, size: int, tally) -> None:
        self.engine, self.job, self.path, self.size, self.tally = engine, job, path, size, tally
        self.join = getattr(load_kind(job.kind), "join", None)
        self.per_commit = 1
        self.transaction: ExitStack | None = None
        self.session: Session | None = None
        self.written: list[tuple] = []  # each chunk's counts, told the tally once committed

    def __enter__(self) -> _Commits:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self.transaction is None:
            return
        transaction, self.transaction = self.transaction, None
        if error is None:
            transaction.close()  # commits
            for counts in self.written:
                self.tally.add(*counts)
            self.written = []
        else:
            transaction.__exit__(kind, error, trace)  # rolls back

    def write(self, parsed, offset: int, line_no: int) -> None:
        batch = parsed.result() if isinstance(parsed, Future) else parsed
        batch.guard = self.job.renew
        if self.transaction is None:
            self.transaction = ExitStack()
            self.session = self.transaction.enter_context(session_scope(self.engine))
        read, inserted, quarantined = batch.write(self.session, self.join)
        cursor = file_cursor(self.session, self.job.source_id, self.path)
        cursor.offset, cursor.line, cursor.size = offset, line_no, self.size
        cursor.records += read
        self.written.append((read, inserted, quarantined, batch.newest_timestamp))
        if len(self.written) >= self.per_commit:
            self.__exit__(None, None, None)
            self.per_commit = min(2 * self.per_commit, MAX_CHUNKS_PER_COMMIT)


def add_line(batch: Batch, kind, job, line: bytes, location: str) -> None:
    if not line.strip():
        return
    try:
        records = kind.parse(line, job.context)
    except BadHalf as error:
        batch.quarantine(location, line, str(error))
        # Its partner must not wait forever: a marker half makes it follow into quarantine.
        batch.add(Half(error.key, error.part, {"quarantined": str(error)}), location, b"")
        return
    except BadRecord as error:
        batch.quarantine(location, line, str(error))
        return
    batch.add_records(records, location, line)
