"""API actions: push predictions and labels, score, request a retrain, upload, promote,
roll back. Retraining lives in retrain/, imported inside each view; a build without it
answers 503 with a message instead of failing to start."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import abort, current_app, jsonify, request

from monitor.errors import BadRecord
from monitor.store.lookup import deployment_named, model_named
from monitor.store.models import Model
from monitor.views import job_view, version_view
from web import db
from web.api.reads import table
from web.auth import admin_required, current, writer_required

RECORD = {"type": "object", "additionalProperties": True}
RECORDS = {
    "type": "object",
    "required": ["records"],
    "properties": {"records": {"type": "array", "items": RECORD}},
}
PUSH_RESPONSES = {
    200: "Every record inserted or already present",
    207: "Per-record results: some records were quarantined",
}


def _json_body() -> Any:
    from monitor.ingest.records import load_document

    if not request.is_json:
        abort(400, description="body must be JSON (Content-Type: application/json)")
    try:
        return load_document(request.get_data(cache=True))
    except BadRecord as error:
        abort(400, description=f"body must be JSON (Content-Type: application/json): {error}")


def _records() -> list:
    body = _json_body()
    records = body.get("records") if isinstance(body, dict) else body
    if not isinstance(records, list):
        abort(400, description='body must be {"records": [...]} or a JSON array of records')
    limit = current_app.config["MAX_PUSH_RECORDS"]
    if len(records) > limit:
        abort(413, description=f"at most {limit} records per request")
    return records


def _unavailable(what: str, error: Exception):
    return jsonify(error=f"{what} is not available in this build: {error}"), 503


def _push(name: str, role: str):
    from monitor.ingest.batch import Batch
    from monitor.ingest.records import ModelSchema, ParseContext

    # The whole body is read and parsed before anything touches the store.
    records = _records()
    session = db()
    deployment = deployment_named(session, name)
    model = session.get(Model, deployment.model_id)
    schema = ModelSchema(tuple(model.numerical), tuple(model.categorical), model.task)
    # The batch a file's records go through: the same validation, version mapping, quarantine.
    batch = Batch(deployment.id, None, role, ParseContext(schema))
    rows = batch.predictions if role == "predictions" else batch.labels
    results = []
    for index, raw in enumerate(records):
        location = f"api:{role}#{index}"
        batch.add(raw, location, b"")
        if batch.bad and batch.bad[-1][0] == location:
            reason = batch.bad[-1][2]
            batch.bad[-1] = (location, json.dumps(raw, default=str).encode(), reason)
            results.append({"index": index, "status": "quarantined", "reason": reason})
        else:
            results.append(
                {"index": index, "request_id": rows[-1].request_id, "status": "inserted"}
            )
    batch.new_ids = set()
    _, inserted, quarantined = batch.write(session)
    session.commit()  # the write lock is held from the first insert to here: keep it short
    # Statuses come from the insert itself: across concurrent clients, one is told `inserted`.
    for entry in results:
        request_id = entry.get("request_id")
        if request_id is not None:
            if request_id in batch.new_ids:
                batch.new_ids.discard(request_id)
            else:
                entry["status"] = "duplicate"
    summary = {
        "received": len(records),
        "inserted": inserted,
        "duplicate": len(rows) - inserted,
        "quarantined": quarantined,
        "results": results,
    }
    status = 200 if not quarantined else (400 if not rows else 207)
    return jsonify(summary), status


@table.route(
    "POST",
    "/deployments/<name>/predictions",
    "Push canonical prediction records; bad ones go to quarantine",
    body=RECORDS,
    responses=PUSH_RESPONSES,
    writes=True,
    tag="ingest",
)
@writer_required
def push_predictions(name: str):
    return _push(name, "predictions")


@table.route(
    "POST",
    "/deployments/<name>/labels",
    "Push ground-truth labels, joined to predictions by request id",
    body=RECORDS,
    responses=PUSH_RESPONSES,
    writes=True,
    tag="ingest",
)
@writer_required
def push_labels(name: str):
    return _push(name, "labels")


@table.route(
    "POST",
    "/deployments/<name>/predict",
    "Score with the active version (real time); each prediction is logged",
    body={
        "type": "object",
        "required": ["features"],
        "properties": {
            "features": {"oneOf": [RECORD, {"type": "array", "items": RECORD}]},
            "request_id": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
            },
        },
    },
    responses={200: "Predictions, probabilities, versions and request ids"},
    writes=True,
    tag="serve",
)
@writer_required
def predict(name: str):
    body = _json_body()
    if not isinstance(body, dict) or not isinstance(body.get("features"), dict | list):
        abort(400, description='body must be {"features": {...}} or {"features": [{...}, ...]}')
    deployment_named(db(), name)
    try:
        from retrain.serving import predict as serve
    except ImportError as error:
        return _unavailable("real-time scoring", error)
    request_id = body.get("request_id")
    if not (
        request_id is None
        or isinstance(request_id, str)
        or (isinstance(request_id, list) and all(isinstance(r, str) for r in request_id))
    ):
        abort(400, description="request_id: expected a string or a list of strings")
    from monitor.store import get_engine

    # Scoring logs predictions in its own transaction: end ours first (SQLite has one writer).
    db().commit()
    engine = get_engine(current_app.config["DATABASE_URL"])
    result = serve(engine, name, body["features"], request_id=request_id)
    return jsonify(deployment=name, predictions=result)


@table.route(
    "POST",
    "/models/<name>/retrain",
    "Request a retrain job (idempotent by idempotency_key)",
    body={
        "type": "object",
        "properties": {
            "deployment": {"type": "string"},
            "reason": {"type": "string"},
            "idempotency_key": {"type": "string", "maxLength": 200},
        },
    },
    responses={202: "The job (new, or the one with this idempotency key)"},
    admin=True,
    tag="act",
)
@admin_required
def retrain(name: str):
    body = _json_body() if request.is_json and request.get_data(cache=True) else {}
    if not isinstance(body, dict):
        abort(400, description="body must be a JSON object")
    for field in ("deployment", "reason", "idempotency_key"):
        _text_field(body, field)
    job = request_job(
        model_named(db(), name),
        body.get("deployment"),
        body.get("reason"),
        body.get("idempotency_key"),
    )
    return jsonify(job_view(db(), job)), 202


def _text_field(body: dict, field: str) -> None:
    """A text field the store can hold: a string of UTF-8 text (no lone surrogate, no NUL)."""
    value = body.get(field)
    if not isinstance(value, str):
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        abort(400, description=f"{field}: not UTF-8 text (a lone surrogate)")
    if "\x00" in value:
        abort(400, description=f"{field}: contains a NUL character")


def request_job(model: Model, deployment_name: Any, reason: Any, key: Any):
    """A person's retrain request: ignores the cooldown, idempotent by key when given."""
    from monitor.jobs import request_retrain

    session = db()
    deployment_id = None
    if deployment_name:
        deployment = deployment_named(session, str(deployment_name))
        if deployment.model_id != model.id:
            abort(400, description=f"deployment {deployment.name} does not serve {model.name}")
        deployment_id = deployment.id
    principal = current()
    job = request_retrain(
        session,
        model.id,
        "manual" if principal and principal.kind == "user" else "api",
        idempotency_key=f"manual:{key}" if key else f"manual:{uuid.uuid4()}",
        deployment_id=deployment_id,
        reason=str(reason)[:1000] if reason else "requested by a person",
        requested_by=principal.name if principal else None,
        force=True,
    )
    session.flush()
    return job


@table.route(
    "POST",
    "/models/<name>/versions",
    "Upload a skops artifact as a new candidate version (the `external` recipe); or, for a "
    'model kept in MLflow, send JSON `{"mlflow_version": N}` to register that MLflow version',
    query=(),
    body={"binary": True},
    responses={201: "The new version"},
    admin=True,
    tag="act",
)
@admin_required
def upload(name: str):
    model = model_named(db(), name)
    raw_job = request.args.get("job_id")
    job_id = None
    if raw_job:
        if not raw_job.isdigit() or len(raw_job) > 12:
            abort(400, description="job_id: expected an integer")
        job_id = int(raw_job)
    if request.mimetype == "application/json":
        version = _registry_version(model, job_id)
        db().flush()
        return jsonify(version_view(db(), version)), 201
    artifact = request.get_data()
    if not artifact:
        abort(400, description="body must be the skops artifact's bytes")
    try:
        from retrain.upload import upload_version
    except ImportError as error:
        return _unavailable("version upload", error)
    version = upload_version(db(), model, artifact, job_id=job_id)
    db().flush()
    return jsonify(version_view(db(), version)), 201


def _registry_version(model: Model, job_id: int | None):
    from retrain.upload import upload_registry_version

    body = request.get_json(silent=True)
    number = body.get("mlflow_version") if isinstance(body, dict) else None
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 2**31:
        abort(400, description='body must be {"mlflow_version": <a positive integer>}')
    return upload_registry_version(db(), model, number, job_id=job_id)


@table.route(
    "POST",
    "/models/<name>/versions/<int:number>/promote",
    "Make a version the champion: every deployment of the model serves it",
    responses={200: "The deployments switched"},
    admin=True,
    tag="act",
)
@admin_required
def promote(name: str, number: int):
    return jsonify(promote_version(model_named(db(), name), number))


def promote_version(model: Model, number: int) -> dict:
    try:
        from monitor.registry.versions import promote as promote_
        from monitor.registry.versions import version_of
    except ImportError as error:
        abort(503, description=f"promotion is not available in this build: {error}")
    version = version_of(db(), model, min(number, 2**31 - 1))
    principal = current()
    switched = promote_(db(), version, reason="promote", by=principal.name if principal else None)
    return {"version": version.version, "deployments_switched": len(switched or [])}


@table.route(
    "POST",
    "/deployments/<name>/rollback",
    "Put back the version the deployment served before",
    responses={200: "The version now active"},
    admin=True,
    tag="act",
)
@admin_required
def rollback(name: str):
    return jsonify(rollback_deployment(name))


def rollback_deployment(name: str) -> dict:
    try:
        from monitor.registry.versions import rollback as rollback_
    except ImportError as error:
        abort(503, description=f"rollback is not available in this build: {error}")
    deployment_named(db(), name)
    principal = current()
    row = rollback_(db(), name, by=principal.name if principal else None)
    return {"deployment": name, "active_version_id": row.version_id}
