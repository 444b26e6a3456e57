"""Inbound webhooks, authenticated by Standard Webhooks signatures instead of a login.

`POST /hooks/retrain` with `{"model": "churn", "deployment": "churn-online", "reason": ...}`
starts a retrain job. `POST /hooks/labels-ready` with `{"deployment": "churn-online"}`
schedules reading that deployment's label sources and the backfill of the windows the
new labels cover. Each endpoint has its own secret (several, separated by spaces or
commas, while one is rotated); the signature is checked over the raw body in constant
time with a 5-minute tolerance, and `webhook-id` is the idempotency key, so a replayed
delivery answers as the first did and starts nothing new. An id longer than MAX_WEBHOOK_ID
is refused (it is stored and looked up whole, never cut), and so is a body nested deeper
than the records' MAX_DEPTH.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from monitor.store.lookup import deployment_named, model_named
from monitor.store.models import Model, Source, WebhookReceipt

bp = Blueprint("hooks", __name__, url_prefix="/hooks")

MAX_BODY = 64 * 1024
TOLERANCE = 300
MAX_WEBHOOK_ID = 256  # fits webhook_receipts.webhook_id and "webhook:<id>" as a job key
_SURROGATES = re.compile("[\ud800-\udfff]")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _secrets(setting: str) -> list[str]:
    configured = current_app.config.get(setting) or ""
    return [part for part in re.split(r"[\s,]+", configured) if part]


def _signed_body(setting: str) -> tuple[str, dict[str, Any]]:
    """The delivery's webhook-id and JSON body, or Refused saying why not."""
    from monitor.errors import BadRecord, WebhookSignatureError
    from monitor.ingest.records import load_document
    from monitor.notify.signing import verify

    secrets = _secrets(setting)
    if not secrets:
        raise Refused(503, f"this webhook is off: set DRIFTWISE_{setting}")
    if (request.content_length or 0) > MAX_BODY:
        raise Refused(413, f"body larger than {MAX_BODY} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise Refused(413, f"body larger than {MAX_BODY} bytes")
    try:
        webhook_id = verify(request.headers, raw, secrets, tolerance=TOLERANCE)
    except WebhookSignatureError as error:
        raise Refused(401, f"signature refused: {error}") from None
    if len(webhook_id) > MAX_WEBHOOK_ID:
        raise Refused(400, f"webhook-id: longer than {MAX_WEBHOOK_ID} characters")
    try:
        body = load_document(raw)
    except BadRecord as error:
        if "nested deeper" in str(error):
            raise Refused(400, f"body: {error}") from None
        body = None
    return webhook_id, body


def _text(value: Any) -> str | None:
    """A string the database can hold (UTF-8, so no lone surrogate), else None."""
    if not isinstance(value, str) or _SURROGATES.search(value):
        return None
    return value


def _earlier(webhook_id: str) -> WebhookReceipt | None:
    from web import db

    return db().scalar(select(WebhookReceipt).where(WebhookReceipt.webhook_id == webhook_id))


def _remember(webhook_id: str, job_id: int | None = None) -> None:
    from web import db

    try:
        with db().begin_nested():
            db().add(WebhookReceipt(webhook_id=webhook_id, retrain_job_id=job_id))
    except IntegrityError:
        pass  # the same delivery raced in; what it asked for is keyed the same way


def _handle(setting: str, handler: Callable[[str, dict], Any]):
    try:
        webhook_id, body = _signed_body(setting)
        return handler(webhook_id, body)
    except Refused as refused:
        return jsonify(error=refused.message), refused.status


@bp.post("/retrain")
def retrain():
    return _handle("RETRAIN_WEBHOOK_SECRET", _retrain)


def _retrain(webhook_id: str, body: Any):
    from web import db

    receipt = _earlier(webhook_id)
    if receipt is not None:
        return jsonify(job_id=receipt.retrain_job_id, replayed=True), 202
    model = _required(body, "model", model_named)
    deployment_id = None
    if isinstance(body.get("deployment"), str):
        deployment = _named(deployment_named, db(), _text(body["deployment"]))
        if not deployment or deployment.model_id != model.id:
            raise Refused(404, f"no deployment {body['deployment']!r} of model {model.name!r}")
        deployment_id = deployment.id
    return _start_job(webhook_id, model, deployment_id, body.get("reason"))


def _required(body: Any, key: str, lookup: Callable):
    """The model or deployment the body names under `key`, or Refused (400: not named,
    404: no such one)."""
    from web import db

    if not isinstance(body, dict) or not isinstance(body.get(key), str):
        raise Refused(400, f'body must be a JSON object with "{key}" (a {key} name)')
    found = _named(lookup, db(), _text(body[key]))
    if not found:
        raise Refused(404, f"no {key} named {body[key]!r}")
    return found


def _named(lookup: Callable, session, name: str | None):
    """The row by name, or None: a hook answers its own 404, naming what it was sent."""
    try:
        return lookup(session, name) if name else None
    except LookupError:
        return None


def _start_job(webhook_id: str, model: Model, deployment_id: int | None, reason):
    from monitor.jobs import request_retrain
    from web import db

    session = db()
    job = request_retrain(
        session,
        model.id,
        "webhook",
        idempotency_key=f"webhook:{webhook_id}",
        deployment_id=deployment_id,
        reason=_SURROGATES.sub("\ufffd", str(reason))[:1000] if reason else "inbound webhook",
        requested_by="webhook",
    )
    session.flush()
    _remember(webhook_id, job.id)
    return jsonify(job_id=job.id, status=job.status, replayed=False), 202


@bp.post("/labels-ready")
def labels_ready():
    return _handle("LABELS_WEBHOOK_SECRET", _labels_ready)


def _labels_ready(webhook_id: str, body: Any):
    from web import db

    if _earlier(webhook_id) is not None:
        return jsonify(scheduled=[], replayed=True), 202
    deployment = _required(body, "deployment", deployment_named)
    session = db()
    sources = session.scalars(
        select(Source.id).where(
            Source.deployment_id == deployment.id,
            Source.role == "labels",
            Source.enabled.is_(True),
        )
    ).all()
    tasks = [("ingest_source", source_id) for source_id in sources]
    tasks.append(("monitor_deployment", deployment.name))  # runs the backfills
    _remember(webhook_id)
    session.commit()  # the receipt is kept before any work starts
    _schedule(tasks)
    return jsonify(scheduled=[f"{name}:{arg}" for name, arg in tasks], replayed=False), 202


def _schedule(tasks: list[tuple[str, Any]]) -> None:
    """Hand the tasks to the configured executor; the local one runs them off the request."""
    from monitor.service.executors import make_executor
    from monitor.settings import current_settings

    executor = make_executor(current_settings().executor)
    if executor.name != "local":
        for name, arg in tasks:
            executor.submit(name, arg)
        return

    def run() -> None:
        for name, arg in tasks:
            executor.submit(name, arg)

    threading.Thread(target=run, name="labels-ready", daemon=True).start()
