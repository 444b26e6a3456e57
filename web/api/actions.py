"""API actions: push predictions and labels, score, request a retrain, upload, promote,
roll back. The actions themselves are domain functions (`monitor/actions.py`,
`monitor/registry/versions.py`, `retrain/`) that the pages and the CLI call too; a view
reads the request and answers."""

from __future__ import annotations

from typing import Any

import orjson
from flask import abort, current_app, jsonify, request

from monitor.errors import BadRecord
from monitor.store.lookup import deployment_named, model_named
from monitor.store.models import Model
from monitor.views import job_view, version_view
from web import db
from web.api.routes import table
from web.auth import acting_name, admin_required, current, writer_required

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


def _push(name: str, role: str):
    from monitor.actions import push_records

    # The whole body is read and parsed before anything touches the store.
    records = _records()
    summary = push_records(db(), name, role, records)
    db().commit()  # the write lock is held from the first insert to here: keep it short
    stored = summary["inserted"] + summary["duplicate"]
    status = 200 if not summary["quarantined"] else (400 if not stored else 207)
    # What jsonify writes, encoded by orjson: a summary names every record.
    body = orjson.dumps(summary, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
    return current_app.response_class(body, status=status, mimetype="application/json")


def _push_route(role: str, summary: str) -> None:
    """`POST /deployments/<name>/<role>`: push predictions or labels."""

    def push(name: str):
        return _push(name, role)

    push.__name__ = f"push_{role}"
    route = table.route(
        "POST",
        f"/deployments/<name>/{role}",
        summary,
        body=RECORDS,
        responses=PUSH_RESPONSES,
        writes=True,
        tag="ingest",
    )
    route(writer_required(push))


_push_route("predictions", "Push canonical prediction records; bad ones go to quarantine")
_push_route("labels", "Push ground-truth labels, joined to predictions by request id")


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
    request_id = body.get("request_id")
    if not (
        request_id is None
        or isinstance(request_id, str)
        or (isinstance(request_id, list) and all(isinstance(r, str) for r in request_id))
    ):
        abort(400, description="request_id: expected a string or a list of strings")
    from monitor.store import get_engine
    from retrain.serving import predict as serve

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
    from monitor.actions import request_retrain_now

    body = _json_body() if request.is_json and request.get_data(cache=True) else {}
    if not isinstance(body, dict):
        abort(400, description="body must be a JSON object")
    deployment, reason, key = (_text(body, f) for f in ("deployment", "reason", "idempotency_key"))
    principal = current()
    job = request_retrain_now(
        db(),
        model_named(db(), name),
        requested_by=acting_name(),
        trigger="manual" if principal and principal.kind == "user" else "api",
        deployment=deployment,
        reason=reason,
        key=key,
    )
    return jsonify(job_view(db(), job)), 202


def _text(body: dict, field: str) -> str | None:
    """A field as text the store can hold (UTF-8, no lone surrogate, no NUL), or None."""
    value = body.get(field)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            abort(400, description=f"{field}: not UTF-8 text (a lone surrogate)")
        if "\x00" in value:
            abort(400, description=f"{field}: contains a NUL character")
    return str(value) if value else None


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
    from retrain.upload import upload_version

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
    from monitor.actions import promote_version

    version, switched = promote_version(db(), name, number, reason="promote", by=acting_name())
    return jsonify(version=version.version, deployments_switched=len(switched))


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
    from monitor.registry.versions import rollback as rollback_deployment

    row = rollback_deployment(db(), name, by=acting_name())
    return jsonify(deployment=name, active_version_id=row.version_id)
