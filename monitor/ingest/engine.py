"""Read every source once from its cursor, exactly once, losing nothing.

Each chunk of input is written in one transaction together with the cursor that says it
was read: a process killed at any moment leaves either the chunk and its cursor, or
neither. Duplicate request ids are skipped by the store's unique keys; bad records go to
quarantine with their reason; a truncated last line waits until it is complete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import fsspec
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from monitor.errors import BadRecord, DriftwiseError, LeaseLost
from monitor.ingest import watermark
from monitor.ingest.batch import Batch, pair_stranded
from monitor.ingest.kinds import kind_style, load_kind
from monitor.ingest.readers import lines as line_reader
from monitor.ingest.readers import sql as sql_reader
from monitor.ingest.readers import table as table_reader
from monitor.ingest.records import ModelSchema, ParseContext
from monitor.service import claims, leases
from monitor.settings import current_settings
from monitor.store.db import session_scope
from monitor.store.models import Deployment, Model, ReferenceSet, Source
from monitor.timeutil import utcnow


def lease_seconds() -> float:
    """How long a reader's claim on a source lasts without a heartbeat (one per chunk)."""
    return current_settings().ingest_lease_seconds


@dataclass
class Tally:
    """What one pass over a source did."""

    source: str
    deployment: str
    role: str
    files: int = 0
    read: int = 0
    inserted: int = 0
    duplicate: int = 0
    quarantined: int = 0
    files_waiting: int = 0  # a last line without newline, in a file not complete yet
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: bool = False  # another process was reading it, or this one is stopping
    read_to_end: bool = False  # the pass reached the source's end: its watermark moved

    def __post_init__(self) -> None:
        self.newest: datetime | None = None  # the newest prediction timestamp read

    @property
    def failed(self) -> bool:
        return bool(self.errors) and not self.skipped

    def add(
        self, read: int, inserted: int, quarantined: int, newest: datetime | None = None
    ) -> None:
        self.read += read
        self.inserted += inserted
        self.quarantined += quarantined
        self.duplicate += read - inserted - quarantined
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest


@dataclass(frozen=True)
class Job:
    """A source as the ingest pass needs it, detached from any session."""

    source_id: int
    deployment_id: int
    deployment: str
    role: str
    name: str
    kind: str
    config: dict
    context: ParseContext
    holder: str = ""

    @property
    def lease(self) -> str:
        return f"ingest:{self.source_id}"

    def new_batch(self) -> Batch:
        return Batch(self.deployment_id, self.source_id, self.role, self.context, guard=self.renew)

    def renew(self, session: Session) -> None:
        """Heartbeat inside each chunk's transaction: a reader that lost its lease writes nothing."""
        if not leases.acquire(session, self.lease, self.holder, lease_seconds()):
            raise LeaseLost(f"lost the lease on source {self.name}")


def ingest(engine: Engine, deployment: str | None = None) -> list[Tally]:
    """One pass over every enabled source (of one deployment, if named)."""
    with session_scope(engine) as session:
        jobs = load_jobs(session, deployment)
    return [ingest_source(engine, job) for job in jobs]


def load_jobs(session: Session, deployment: str | None = None) -> list[Job]:
    query = (
        select(Source, Deployment, Model)
        .join(Deployment, Source.deployment_id == Deployment.id)
        .join(Model, Deployment.model_id == Model.id)
        .where(Source.enabled.is_(True))
        .order_by(Deployment.name, Source.role.desc(), Source.id)
    )
    if deployment is not None:
        query = query.where(Deployment.name == deployment)
    jobs = []
    for source, dep, model in session.execute(query):
        schema = ModelSchema(tuple(model.numerical), tuple(model.categorical), model.task)
        config = {
            "prediction": model.prediction,
            "probability": model.probability,
            "probabilities": model.probabilities,
            "target": model.target,
            "task": model.task,
            "model_classes": model_classes(session, dep, model),
        }
        config.update(source.config)
        jobs.append(
            Job(
                source.id,
                dep.id,
                dep.name,
                source.role,
                source.name,
                source.kind,
                config,
                ParseContext(schema, config),
                claims.worker_id(),
            )
        )
    return jobs


def ingest_source(engine: Engine, job: Job) -> Tally:
    """Read one source under its lease; another process holding it means skip, not wait."""
    tally = Tally(job.name, job.deployment, job.role)
    if claims.stopping():
        tally.skipped = True
        tally.errors.append("skipped: this process is stopping")
        return tally
    with session_scope(engine) as session:
        if not leases.acquire(session, job.lease, job.holder, lease_seconds()):
            tally.skipped = True
            tally.errors.append("skipped: another process is reading this source")
            return tally
    began = utcnow()
    try:
        with _heartbeat(engine, job):
            _read(engine, job, tally)
    except Exception as error:  # noqa: BLE001 - recorded on the source, the pass goes on
        tally.errors.append(f"{type(error).__name__}: {error}")
    finally:
        try:
            with session_scope(engine) as session:
                _record(session, job, tally, began)
        except SQLAlchemyError as error:  # the store itself failed: say so
            tally.errors.append(f"could not record the pass: {type(error).__name__}: {error}")
        try:
            with session_scope(engine) as session:
                leases.release(session, job.lease, job.holder)
        except SQLAlchemyError:
            pass  # the lease lapses on its own
    return tally


def _heartbeat(engine: Engine, job: Job) -> claims.Heartbeat:
    """Keeps the source's lease between chunks too (a slow parse, a slow database)."""
    seconds = lease_seconds()

    def renew() -> bool:
        with session_scope(engine) as session:
            return leases.acquire(session, job.lease, job.holder, seconds)

    def release() -> None:
        with session_scope(engine) as session:
            leases.release(session, job.lease, job.holder)

    return claims.Heartbeat(f"source {job.name}", claims.heartbeat_every(seconds), renew, release)


def _read(engine: Engine, job: Job, tally: Tally) -> None:
    style = kind_style(job.kind)
    if style == "sql":
        sql_reader.read_source(engine, job, tally)
        tally.read_to_end = True
        return
    files = _files(job.config["path"])
    if not files:
        tally.notes.append(f"no files yet: {job.config['path']}")
    for path, fs in files:
        if claims.stopping():
            return  # what was read is committed with its cursor; the rest waits
        tally.files += 1
        try:
            if style == "lines":
                line_reader.read_file(engine, job, fs, path, tally)
            else:
                table_reader.read_file(engine, job, fs, path, tally)
        except (OSError, BadRecord) as error:
            tally.errors.append(f"{path}: {error}")
    if claims.stopping():
        return
    if style == "lines":
        _pair_stranded(engine, job, tally)
    tally.read_to_end = tally.files_waiting == 0


def _pair_stranded(engine: Engine, job: Job, tally: Tally) -> None:
    join = getattr(load_kind(job.kind), "join", None)
    if join is None:
        return
    with session_scope(engine) as session:
        batch = job.new_batch()
        pair_stranded(session, batch, join)
        tally.add(*batch.write(session), batch.newest_timestamp)


_CLASSES: dict[str, list | None] = {}


def model_classes(session: Session, deployment: Deployment, model: Model) -> list | None:
    """The classes of the deployment's active version, as its reference set has them:
    they name class-probability outputs and give labels their type. Read once per
    reference content and process: every ingest pass asks."""
    version = deployment.active_version_id
    if version is None or model.task != "classification":
        return None
    row = session.execute(
        select(ReferenceSet.sha256, ReferenceSet.profile).where(
            ReferenceSet.model_version_id == version
        )
    ).first()
    if row is None:
        return None
    if (row.profile or {}).get("classes"):
        return row.profile["classes"]
    if row.sha256 not in _CLASSES:
        _CLASSES[row.sha256] = _reference_classes(session, version, model.target)
    return _CLASSES[row.sha256]


def _reference_classes(session: Session, version: int, target: str) -> list | None:
    from monitor.registry.reference import load_reference

    try:
        frame = load_reference(session, version)
    except DriftwiseError:
        return None
    if target not in frame.columns:
        return None
    # As monitor.report.performance.classes_of sorts them, without importing scikit-learn
    # into every ingest pass.
    values = {v.item() if hasattr(v, "item") else v for v in frame[target].dropna()}
    try:
        return sorted(values) or None
    except TypeError:  # mixed types: compare as text
        return sorted(values, key=str) or None


def _files(pattern: str) -> list[tuple[str, fsspec.AbstractFileSystem]]:
    """The files a source's path names: none yet is normal for a glob, not for a file."""
    fs, _, paths = fsspec.get_fs_token_paths(pattern)
    globbed = any(char in pattern for char in "*?[")
    if not globbed and (not paths or not fs.exists(paths[0])):
        raise FileNotFoundError(pattern)
    return [(path, fs) for path in sorted(paths) if fs.isfile(path)]


def _record(session: Session, job: Job, tally: Tally, began: datetime) -> None:
    source = session.get(Source, job.source_id)
    source.last_read_at = utcnow()
    if tally.read_to_end and not tally.errors:
        watermark.advance(session, source, began, tally.newest)
    source.records_read += tally.read
    source.records_inserted += tally.inserted
    source.records_duplicate += tally.duplicate
    source.records_quarantined += tally.quarantined
    if kind_style(job.kind) == "lines":
        source.files_waiting = tally.files_waiting
    source.last_error = "; ".join(tally.errors)[:4000] or None
