"""A batch of canonical records on its way into the store, validated as they are added."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor.errors import BadRecord
from monitor.ingest import store
from monitor.ingest.records import (
    Half,
    LabelRow,
    ParseContext,
    PredictionRow,
    validate_label,
    validate_prediction,
)
from monitor.store.models import Deployment, ModelVersion, PendingHalf


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

    def __len__(self) -> int:
        return len(self.predictions) + len(self.labels) + len(self.bad) + len(self.halves)

    def add(self, record: Any, location: str, raw: bytes) -> None:
        try:
            if isinstance(record, Half):
                self.halves.append((record, location, raw))
            elif self.role == "labels":
                self.labels.append(validate_label(record))
            else:
                self.predictions.append(validate_prediction(record, self.context.schema))
        except BadRecord as error:
            self.quarantine(location, raw, str(error))

    def quarantine(self, location: str, raw: bytes, reason: str) -> None:
        self.bad.append((location, raw, reason))

    def write(self, session: Session, join=None) -> tuple[int, int, int]:
        """Insert everything; returns (records read, inserted, quarantined)."""
        if self.guard is not None:
            self.guard(session)
        if self.halves:
            self._pair_halves(session, join)
        connection = session.connection()
        inserted = store.insert_predictions(
            connection, self.deployment_id, self.predictions, self._version_ids(session)
        )
        inserted += store.insert_labels(connection, self.deployment_id, self.labels)
        store.insert_quarantine(connection, self.deployment_id, self.source_id, self.bad)
        read = len(self.predictions) + len(self.labels) + len(self.bad)
        return read, inserted, len(self.bad)

    def _version_ids(self, session: Session) -> dict[int, int] | None:
        """Logs name a model version by its number; the store keeps the version's row id.
        A number the registry does not know is kept as unknown (null), not guessed."""
        if all(row.model_version is None for row in self.predictions):
            return None
        return dict(
            session.execute(
                select(ModelVersion.version, ModelVersion.id)
                .join(Deployment, Deployment.model_id == ModelVersion.model_id)
                .where(Deployment.id == self.deployment_id)
            ).all()
        )

    def _pair_halves(self, session: Session, join) -> None:
        """Join each half with its other half, from this batch or from earlier reads."""
        waiting: dict[tuple[str, str], tuple[Half, str, bytes]] = {}
        for half, location, raw in self.halves:
            waiting[(half.key, half.part)] = (half, location, raw)
        keys = {key for key, _ in waiting}
        earlier = session.scalars(
            select(PendingHalf).where(
                PendingHalf.source_id == self.source_id, PendingHalf.key.in_(keys)
            )
        ).all()
        for row in earlier:
            waiting.setdefault(
                (row.key, row.part), (Half(row.key, row.part, orjson.loads(row.payload)), "", b"")
            )
        matched = set()
        for key in keys:
            request, response = waiting.get((key, "request")), waiting.get((key, "response"))
            if request is None or response is None:
                continue
            matched.add(key)
            location, raw = request[1] or response[1], request[2] + b"\n" + response[2]
            try:
                for record in join(request[0].payload, response[0].payload, self.context):
                    self.add(record, location, raw)
            except BadRecord as error:
                self.quarantine(location, raw, str(error))
        if matched:
            session.execute(
                delete(PendingHalf)
                .where(PendingHalf.source_id == self.source_id, PendingHalf.key.in_(matched))
                .execution_options(synchronize_session=False)
            )
        stored = {(row.key, row.part) for row in earlier}
        for (key, part), (half, _, _) in waiting.items():
            if key not in matched and (key, part) not in stored:
                session.add(
                    PendingHalf(
                        source_id=self.source_id,
                        key=key,
                        part=part,
                        payload=orjson.dumps(half.payload).decode(),
                    )
                )
        self.halves = []
