"""The one write path for records that arrive whole: a push to the API, the predictions
`/predict` logs and those batch scoring logs.

`write_records` goes through the same `Batch` as a file's lines: each record is validated,
its model version number mapped to the version's row id, a bad one quarantined with its
reason, and the insert (`INSERT … ON CONFLICT DO NOTHING RETURNING request_id`) says which
ids it stored, so across concurrent writers each id is told `inserted` exactly once.
"""

from __future__ import annotations

import fcntl
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, event, select
from sqlalchemy.orm import Session, SessionTransaction

from monitor.errors import BadRecord, DeploymentNotFound
from monitor.ingest.batch import Batch
from monitor.ingest.records import ModelSchema, ParseContext
from monitor.store.models import Deployment, Model

_deployments, _models = Deployment.__table__.c, Model.__table__.c
# Built once: this runs on every push, and building a statement costs more than running it.
_PUSH_TARGET = (
    select(_deployments.id, _models.numerical, _models.categorical, _models.task)
    .join_from(Deployment.__table__, Model.__table__, _models.id == _deployments.model_id)
    .where(_deployments.name == bindparam("name"))
)


class RecordStatus(NamedTuple):
    """What became of one record: `inserted`, `duplicate` (its request id was stored
    already, or came earlier in the same call) or `quarantined` (with the reason)."""

    index: int
    status: str
    request_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Written:
    statuses: list[RecordStatus]

    def count(self, status: str) -> int:
        return sum(1 for entry in self.statuses if entry.status == status)


def schema_of(model: Model) -> ModelSchema:
    """What the model's records must look like."""
    return ModelSchema(tuple(model.numerical), tuple(model.categorical), model.task)


# What a push needs of its deployment, per engine and name: read at most every few seconds,
# not on every push (a round trip of the database's each). A deployment moved to another
# model, or a model's features changed, is checked the new way within this time.
PUSH_TARGET_SECONDS = 5.0
_push_targets: dict[tuple[Engine, str], tuple[float, int, ModelSchema]] = {}  # read at


def push_target(session: Session, deployment_name: str) -> tuple[int, ModelSchema]:
    """The deployment's id and what its records must look like."""
    key = (session.get_bind(), deployment_name)
    known = _push_targets.get(key)
    if known is not None and time.monotonic() - known[0] < PUSH_TARGET_SECONDS:
        return known[1], known[2]
    found = session.execute(_PUSH_TARGET, {"name": deployment_name}).first()
    if found is None:
        _push_targets.pop(key, None)
        raise DeploymentNotFound(f"no deployment named {deployment_name!r}")
    deployment_id, numerical, categorical, task = found
    schema = ModelSchema(tuple(numerical), tuple(categorical), task)
    if len(_push_targets) > 1000:  # deployments are few; engines come and go in tests
        _push_targets.clear()
    _push_targets[key] = (time.monotonic(), deployment_id, schema)
    return deployment_id, schema


def write_records(
    session: Session,
    deployment_id: int,
    schema: ModelSchema,
    role: str,
    records: Sequence[Any],
    origin: str,
    first_index: int = 0,
) -> Written:
    """Validate, map versions, quarantine the bad and insert the rest; a status per record.
    A quarantined record is located as `origin#index`. The caller owns the transaction."""
    batch = Batch(deployment_id, None, role, ParseContext(schema), new_ids=set())
    accepted: list[tuple[int, str | None, str | None]] = []  # index, request id, reason
    for index, record in enumerate(records, start=first_index):
        try:
            accepted.append((index, batch.accept(record), None))
        except BadRecord as error:
            batch.quarantine(f"{origin}#{index}", _raw(record), str(error))
            accepted.append((index, None, batch.bad[-1][2]))
    wait_for_sqlite_writer_turn(session)
    batch.write(session)
    new_ids = batch.new_ids or set()
    statuses = []
    for index, request_id, reason in accepted:
        if request_id is None:
            statuses.append(RecordStatus(index, "quarantined", reason=reason))
        elif request_id in new_ids:
            new_ids.discard(request_id)  # a repeat later in this call is a duplicate
            statuses.append(RecordStatus(index, "inserted", request_id))
        else:
            statuses.append(RecordStatus(index, "duplicate", request_id))
    return Written(statuses)


_TURN = "sqlite_writer_turn"
_holders: set[int] = set()  # threads holding a turn, which must not wait for another


def wait_for_sqlite_writer_turn(session: Session) -> None:
    """On SQLite, queue for the database's one writer on a lock file beside it, held until
    the session's transaction ends: writers that wait in SQLite's busy timeout poll with
    growing sleeps, so under load some waited seconds; on the lock each is woken in turn.
    Held no longer than SQLite's own write lock would be (first insert to commit)."""
    engine = session.get_bind()
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    thread = threading.get_ident()
    if not database or database == ":memory:" or _TURN in session.info or thread in _holders:
        return
    turn = open(f"{database}-writers.lock", "ab")  # noqa: SIM115 - closed when the turn ends
    fcntl.flock(turn, fcntl.LOCK_EX)
    session.info[_TURN] = (turn, thread)
    _holders.add(thread)


@event.listens_for(Session, "after_transaction_end")
def _end_turn(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and _TURN in session.info:
        turn, thread = session.info.pop(_TURN)
        _holders.discard(thread)
        turn.close()  # closing the file releases its lock


def _raw(record: Any) -> bytes:
    """The record as sent, for the quarantine: ASCII JSON, so a lone surrogate or an
    integer beyond 64 bits (what could not be stored) is kept as written."""
    return json.dumps(record, default=str).encode()
