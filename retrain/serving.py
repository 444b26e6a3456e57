"""Real-time scoring: a per-process model cache that swaps versions without stopping.

A request takes one immutable snapshot of its deployment (versions and estimators) and uses
only that, so it is never half old, half new. The cache looks at the deployment row at most
every `refresh_seconds`; when the active or canary version changed, a background thread loads
the new artifact while requests go on with the old snapshot, then swaps the reference in one
assignment. Only the first request of a deployment waits for a load.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from monitor.errors import BadRecord, DeploymentNotFound, VersionNotFound
from monitor.ingest.records import ModelSchema, validate_features
from monitor.ingest.write import schema_of, write_records
from monitor.registry.artifacts import load_artifact
from monitor.store import session_scope
from monitor.store.lookup import deployment_named
from monitor.store.models import Deployment, Model, ModelVersion
from monitor.timeutil import utcnow
from retrain.canary import routes_to_candidate
from retrain.evaluate import Scored
from retrain.evaluate import predict as score_rows

REFRESH_SECONDS = 1.0
# What a scored row's log entry became, as /predict answers it.
STATUSES = {"inserted": "logged", "duplicate": "duplicate", "quarantined": "quarantined"}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    version_id: int
    version: int
    estimator: Any


@dataclass(frozen=True)
class Snapshot:
    deployment_id: int
    task: str
    schema: ModelSchema
    active: Served
    candidate: Served | None
    share: float

    @property
    def key(self) -> tuple[int, int | None, float]:
        return (self.active.version_id, self.candidate and self.candidate.version_id, self.share)


class ModelCache:
    def __init__(self, engine: Engine, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._snapshots: dict[str, Snapshot] = {}
        self._checked: dict[str, float] = {}
        self._estimators: dict[int, Served] = {}
        self._loading: set[str] = set()
        self._lock = threading.Lock()

    def snapshot(self, name: str) -> Snapshot:
        current = self._snapshots.get(name)
        if current is None:
            return self._load(name)
        if time.monotonic() - self._checked.get(name, 0.0) >= self.refresh_seconds:
            self._checked[name] = time.monotonic()
            self._refresh_in_background(name, current)
        return self._snapshots[name]

    def _refresh_in_background(self, name: str, current: Snapshot) -> None:
        wanted = self._wanted(name)
        if wanted == current.key:
            return
        with self._lock:
            if name in self._loading:
                return
            self._loading.add(name)

        def load() -> None:
            try:
                self._load(name)
            except Exception:  # noqa: BLE001 - requests go on with the old snapshot
                log.exception("cannot load the new version of %s; still serving the old", name)
            finally:
                with self._lock:
                    self._loading.discard(name)

        threading.Thread(target=load, name=f"load-{name}", daemon=True).start()

    def _wanted(self, name: str) -> tuple[int, int | None, float]:
        with session_scope(self.engine) as session:
            row = session.execute(
                select(
                    Deployment.active_version_id,
                    Deployment.candidate_version_id,
                    Deployment.canary_share,
                ).where(Deployment.name == name)
            ).first()
        if row is None:
            raise DeploymentNotFound(f"no deployment named {name!r}")
        canary = bool(row[1]) and row[2] > 0
        return (row[0], row[1] if canary else None, row[2] if canary else 0.0)

    def _load(self, name: str) -> Snapshot:
        with session_scope(self.engine) as session:
            deployment = deployment_named(session, name)
            if deployment.active_version_id is None:
                raise VersionNotFound(f"{name} has no active version")
            model = session.get(Model, deployment.model_id)
            active = self._served(session, deployment.active_version_id)
            candidate = None
            if deployment.candidate_version_id and deployment.canary_share > 0:
                candidate = self._served(session, deployment.candidate_version_id)
            snapshot = Snapshot(
                deployment_id=deployment.id,
                task=model.task,
                schema=schema_of(model),
                active=active,
                candidate=candidate,
                share=deployment.canary_share if candidate else 0.0,
            )
        self._snapshots[name] = snapshot  # one assignment: the swap
        self._checked[name] = time.monotonic()
        return snapshot

    def _served(self, session, version_id: int) -> Served:
        served = self._estimators.get(version_id)
        if served is None:
            version = session.get(ModelVersion, version_id)
            served = Served(version.id, version.version, load_artifact(version.artifact))
            self._estimators[version_id] = served
        return served


_caches: dict[str, ModelCache] = {}
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> ModelCache:
    key = engine.url.render_as_string(hide_password=False)
    with _caches_lock:
        if key not in _caches:
            _caches[key] = ModelCache(engine)
        return _caches[key]


def predict(
    engine: Engine,
    deployment_name: str,
    features: dict | list[dict],
    request_id: str | list[str] | None = None,
) -> list[dict[str, Any]]:
    """Score one row or many with the deployment's version (or its canary) and log each
    prediction like an ingested one. BadRecord names a missing or mistyped feature."""
    rows = [features] if isinstance(features, dict) else list(features)
    if not rows:
        raise BadRecord("features: no rows")
    ids = _request_ids(request_id, len(rows))
    snapshot = cache_for(engine).snapshot(deployment_name)
    clean = []
    for i, row in enumerate(rows):
        try:
            clean.append(validate_features(row, snapshot.schema))
        except BadRecord as error:
            raise BadRecord(f"row {i}: {error}" if len(rows) > 1 else str(error)) from None
    routes: dict[Served, list[int]] = {}
    for i, rid in enumerate(ids):
        candidate = snapshot.candidate and routes_to_candidate(rid, snapshot.share)
        routes.setdefault(snapshot.candidate if candidate else snapshot.active, []).append(i)
    results: list[dict[str, Any]] = [{} for _ in rows]
    now = utcnow()
    for served, positions in routes.items():
        frame = pd.DataFrame([clean[i] for i in positions], columns=list(snapshot.schema.features))
        scored = score_rows(served.estimator, frame, snapshot.task)
        for n, i in enumerate(positions):
            probability = None if scored.probability is None else float(scored.probability[n])
            results[i] = {
                "request_id": ids[i],
                "prediction": _plain(scored.prediction[n]),
                "probability": probability,
                "model_version": served.version,
                "model_version_id": served.version_id,
            } | _class_probabilities(scored, n)
    _log(engine, snapshot, clean, results, now)
    return results


def _class_probabilities(scored: Scored, row: int) -> dict[str, dict[str, float]]:
    """A multiclass row's probability of each class, as its log and answer carry it (the
    label-free estimates and a canary's ROC AUC read them)."""
    if scored.probabilities is None:
        return {}
    values = scored.probabilities[row].tolist()
    return {"probabilities": dict(zip(map(str, scored.classes), values, strict=True))}


def _request_ids(request_id: str | list[str] | None, count: int) -> list[str]:
    if isinstance(request_id, list):
        if len(request_id) != count:
            raise BadRecord(f"request_id: {len(request_id)} ids for {count} rows")
        return [str(rid) for rid in request_id]
    if request_id is None:
        return [uuid.uuid4().hex for _ in range(count)]
    return [str(request_id)] if count == 1 else [f"{request_id}-{i}" for i in range(count)]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _log(engine: Engine, snapshot: Snapshot, clean: list[dict], results: list[dict], now) -> None:
    """Log each scored row as a pushed prediction would be; the write says which rows it
    stored: a request id already logged, or repeated in this request, is a duplicate (its
    prediction is answered, not logged twice)."""
    records = [
        {
            "request_id": result["request_id"],
            "timestamp": now,
            "features": features,
            "prediction": result["prediction"],
            "probability": result["probability"],
            "model_version": result["model_version"],
            **({"probabilities": result["probabilities"]} if "probabilities" in result else {}),
        }
        for features, result in zip(clean, results, strict=True)
    ]
    with session_scope(engine) as session:
        written = write_records(
            session, snapshot.deployment_id, snapshot.schema, "predictions", records, "predict"
        )
    for result, entry in zip(results, written.statuses, strict=True):
        result["status"] = STATUSES[entry.status]
        if entry.reason:
            result["reason"] = entry.reason
