"""A batch of canonical records on its way into the store, validated as they are added."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from monitor.errors import BadRecord, LeaseLost
from monitor.ingest import store
from monitor.ingest.labels import capture_rows, cast_label
from monitor.ingest.records import (
    Half,
    LabelRow,
    ParseContext,
    PredictionRow,
    max_value_bytes,
    storable_reason,
    validate_label,
    validate_prediction,
)
from monitor.service.claims import delete_claimed
from monitor.store.models import Deployment, ModelVersion, PendingHalf, Source


@dataclass
class Batch:
    deployment_id: int
    source_id: int | None
    role: str
    context: ParseContext
    predictions: list[PredictionRow] = field(default_factory=list)
    labels: list[LabelRow] = field(default_factory=list)
    bad: list[tuple[str, bytes, str]] = field(default_factory=list)
    halves: list[tuple[Half, str, bytes]] = field(default_factory=list)
    guard: Callable[[Session], None] | None = None
    # When set, the insert reports which request ids it stored (each client is told the truth).
    new_ids: set[str] | None = None
    # Records that label a capture's rows: (request id, first label's index, labels, where, raw).
    row_labels: list[tuple[str, int, int, str, bytes]] = field(default_factory=list)
    # Predictions already turned into the insert's rows (`prepare`), where they were parsed.
    prepared: store.PreparedPredictions | None = None
    # The longest text value a record may hold, read once per batch rather than per record.
    value_limit: int = field(default_factory=max_value_bytes)

    def __len__(self) -> int:
        return self.prediction_count + len(self.labels) + len(self.bad) + len(self.halves)

    @property
    def prediction_count(self) -> int:
        return len(self.predictions) + (len(self.prepared) if self.prepared else 0)

    @property
    def newest_timestamp(self) -> datetime | None:
        """The newest prediction timestamp in the batch: how far its source was read."""
        stamps = [row.timestamp for row in self.predictions]
        if self.prepared is not None and self.prepared.newest is not None:
            stamps.append(self.prepared.newest)
        return max(stamps, default=None)

    def prepare(self, sqlite: bool, versions: dict[int, int]) -> None:
        """Turn the predictions into the insert's rows now (in the parse process): the
        writer then only binds them. `versions` maps version numbers as the registry did."""
        self.prepared = store.prepare_predictions(self.predictions, sqlite, versions)
        self.predictions = []

    def add(self, record: Any, location: str, raw: bytes) -> None:
        try:
            if isinstance(record, Half):
                self.halves.append((record, location, raw))
            else:
                self.accept(record)
        except BadRecord as error:
            self.quarantine(location, raw, str(error))

    def add_records(self, records: list, location: str, raw: bytes) -> None:
        """The records of one line. Labels it gives to the rows of one capture (`<id>#0`,
        `<id>#1`, …) must be as many as that capture's rows: checked when written."""
        first = len(self.labels)
        for record in records:
            self.add(record, location, raw)
        ids = [row.request_id for row in self.labels[first:]]
        request_id = ids[0].rpartition("#")[0] if ids else ""
        if len(ids) > 1 and ids == [f"{request_id}#{row}" for row in range(len(ids))]:
            self.row_labels.append((request_id, first, len(ids), location, raw))

    def accept(self, record: Any) -> str:
        """Validate a whole record and keep it for the insert; its request id, or BadRecord."""
        if self.role == "labels":
            label = validate_label(cast_label(record, self.context.config))
            self.labels.append(label)
            return label.request_id
        prediction = validate_prediction(record, self.context.schema, self.value_limit)
        self.predictions.append(prediction)
        return prediction.request_id

    def quarantine(self, location: str, raw: bytes, reason: str) -> None:
        self.bad.append((location, raw, storable_reason(reason)))

    def write(self, session: Session, join=None) -> tuple[int, int, int]:
        """Insert everything; returns (records read, inserted, quarantined)."""
        if self.guard is not None:
            self.guard(session)
        if self.halves:
            self._pair_halves(session, join)
        if self.row_labels:
            self._check_capture_rows(session)
        connection = session.connection()
        inserted = 0
        if self.prepared:
            versions = self.prepared.versions
            if any(number is not None for number in self.prepared.numbers):
                versions = version_ids(session, self.deployment_id)
            inserted += store.insert_prepared(
                connection, self.deployment_id, self.prepared, versions
            )
        inserted += store.insert_predictions(
            connection,
            self.deployment_id,
            self.predictions,
            self._version_ids(session),
            new_ids=self.new_ids,
        )
        inserted += store.insert_labels(
            connection, self.deployment_id, self.labels, new_ids=self.new_ids
        )
        store.insert_quarantine(connection, self.deployment_id, self.source_id, self.bad)
        read = self.prediction_count + len(self.labels) + len(self.bad)
        return read, inserted, len(self.bad)

    def _check_capture_rows(self, session: Session) -> None:
        """Quarantine the labels of a record whose count is not its capture's rows."""
        counts = {request_id: labels for request_id, _, labels, _, _ in self.row_labels}
        wrong = capture_rows(session, self.deployment_id, counts)
        for request_id, first, labels, location, raw in reversed(self.row_labels):
            if request_id in wrong:
                del self.labels[first : first + labels]
                self.quarantine(
                    location,
                    raw,
                    f"labels: {labels} values for request {request_id!r}, whose capture has "
                    f"{wrong[request_id]}: give one label per row of the capture",
                )
        self.row_labels = []

    def _version_ids(self, session: Session) -> dict[int, int] | None:
        """Logs name a model version by its number; the store keeps the version's row id.
        A number the registry does not know is kept as unknown (null), not guessed."""
        if all(row.model_version is None for row in self.predictions):
            return None
        return version_ids(session, self.deployment_id)

    def _pair_halves(self, session: Session, join) -> None:
        """Join each half with its other half, from this batch or from earlier reads of
        any source of the same kind in this deployment (Azure ML logs inputs and outputs
        to separate folders, usually declared as two sources)."""
        waiting: dict[tuple[str, str], tuple[Half, str, bytes]] = {}
        for half, location, raw in self.halves:
            waiting[(half.key, half.part)] = (half, location, raw)
        keys = {key for key, _ in waiting}
        siblings = sibling_sources(self.source_id)
        earlier = session.scalars(
            select(PendingHalf).where(
                PendingHalf.source_id.in_(siblings), PendingHalf.key.in_(keys)
            )
        ).all()
        for row in earlier:
            half = Half(row.key, row.part, orjson.loads(row.payload))
            waiting.setdefault((row.key, row.part), (half, "", row.raw or b""))
        matched = set()
        for key in keys:
            request, response = waiting.get((key, "request")), waiting.get((key, "response"))
            if request is None or response is None:
                continue
            matched.add(key)
            self.join_pair(request, response, join)
        if matched:
            session.execute(
                delete(PendingHalf)
                .where(PendingHalf.source_id.in_(siblings), PendingHalf.key.in_(matched))
                .execution_options(synchronize_session=False)
            )
        stored = {(row.key, row.part) for row in earlier}
        for (key, part), (half, _, raw) in waiting.items():
            if key not in matched and (key, part) not in stored:
                session.add(
                    PendingHalf(
                        source_id=self.source_id,
                        key=key,
                        part=part,
                        payload=orjson.dumps(half.payload).decode(),
                        raw=raw or None,
                    )
                )
        self.halves = []

    def join_pair(self, request: tuple, response: tuple, join) -> None:
        """Records from a pair; a pair with a quarantined half follows it into quarantine."""
        location = request[1] or response[1]
        raw = b"\n".join(part[2] for part in (request, response) if part[2])
        if all("quarantined" in part[0].payload for part in (request, response)):
            return  # both lines are in quarantine already
        for part, (half, _, _) in (("request", request), ("response", response)):
            if "quarantined" in half.payload:
                self.quarantine(
                    location, raw, f"its {part} was quarantined: {half.payload['quarantined']}"
                )
                return
        try:
            for record in join(request[0].payload, response[0].payload, self.context):
                self.add(record, location, raw)
        except BadRecord as error:
            self.quarantine(location, raw, str(error))


def version_ids(session: Session, deployment_id: int) -> dict[int, int]:
    """The deployment's model's version numbers and their row ids."""
    return dict(
        session.execute(
            select(ModelVersion.version, ModelVersion.id)
            .join(Deployment, Deployment.model_id == ModelVersion.model_id)
            .where(Deployment.id == deployment_id)
        ).all()
    )


def sibling_sources(source_id: int):
    """The sources whose halves may pair with this one's: same deployment, same kind."""
    this = aliased(Source)
    return (
        select(Source.id)
        .join(this, (this.deployment_id == Source.deployment_id) & (this.kind == Source.kind))
        .where(this.id == source_id)
    )


def pair_stranded(session: Session, batch: Batch, join) -> None:
    """Join halves that both wait in the store. Two sources read at the same moment by
    two processes may each store one half of a pair, neither seeing the other's yet."""
    siblings = sibling_sources(batch.source_id)
    keys = select(PendingHalf.key).where(PendingHalf.source_id.in_(siblings))
    paired = keys.group_by(PendingHalf.key).having(func.count(func.distinct(PendingHalf.part)) > 1)
    rows = session.scalars(
        select(PendingHalf)
        .where(PendingHalf.source_id.in_(siblings), PendingHalf.key.in_(paired.limit(10_000)))
        .order_by(PendingHalf.id)
    ).all()
    if not rows:
        return
    if not delete_claimed(session, PendingHalf, [row.id for row in rows]):
        raise LeaseLost("another reader paired these halves first")
    by_key: dict[str, dict[str, tuple[Half, str, bytes]]] = {}
    for row in rows:
        half = Half(row.key, row.part, orjson.loads(row.payload))
        by_key.setdefault(row.key, {})[row.part] = (half, "", row.raw or b"")
    for parts in by_key.values():
        batch.join_pair(parts["request"], parts["response"], join)
