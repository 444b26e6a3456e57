"""The one write path for records that arrive whole: a push to the API, the predictions
`/predict` logs and those batch scoring logs.

`write_records` goes through the same `Batch` as a file's lines: each record is validated,
its model version number mapped to the version's row id, a bad one quarantined with its
reason, and the insert (`INSERT … ON CONFLICT DO NOTHING RETURNING request_id`) says which
ids it stored, so across concurrent writers each id is told `inserted` exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from monitor.errors import BadRecord
from monitor.ingest.batch import Batch
from monitor.ingest.records import ModelSchema, ParseContext
from monitor.store.models import Model


@dataclass(frozen=True)
class RecordStatus:
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


def _raw(record: Any) -> bytes:
    """The record as sent, for the quarantine: ASCII JSON, so a lone surrogate or an
    integer beyond 64 bits (what could not be stored) is kept as written."""
    return json.dumps(record, default=str).encode()
