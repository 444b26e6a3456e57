"""Inbound webhooks, authenticated by Standard Webhooks signatures instead of a login.

`POST /hooks/retrain` with a JSON body `{"model": "churn", "deployment": "churn-online",
"reason": "..."}`: the signature is checked over the raw body (constant time, 5-minute
tolerance), and `webhook-id` is the idempotency key, so a replayed delivery answers with
the job it already started and starts nothing new.
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from monitor.store.models import Deployment, Model, WebhookReceipt

bp = Blueprint("hooks", __name__, url_prefix="/hooks")

MAX_BODY = 64 * 1024
TOLERANCE = 300


def _secrets() -> list[str]:
    # Several secrets, separated by spaces or commas, are all accepted while one is rotated.
    configured = current_app.config.get("RETRAIN_WEBHOOK_SECRET") or ""
    return [part for part in re.split(r"[\s,]+", configured) if part]


@bp.post("/retrain")
def retrain():
    from monitor.errors import WebhookSignatureError
    from monitor.notify.signing import verify
    from web import db

    secrets = _secrets()
    if not secrets:
        return _error(503, "the retrain webhook is off: set DRIFTWISE_RETRAIN_WEBHOOK_SECRET")
    if (request.content_length or 0) > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        return _error(413, f"body larger than {MAX_BODY} bytes")
    try:
        webhook_id = verify(request.headers, raw, secrets, tolerance=TOLERANCE)
    except WebhookSignatureError as error:
        return _error(401, f"signature refused: {error}")
    session = db()
    receipt = session.scalar(select(WebhookReceipt).where(WebhookReceipt.webhook_id == webhook_id))
    if receipt is not None:
        return jsonify(job_id=receipt.retrain_job_id, replayed=True), 202
    try:
        body = json.loads(raw)
    except ValueError:
        return _error(400, "body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return _error(400, 'body must be a JSON object with "model" (a model name)')
    model = session.scalar(select(Model).where(Model.name == body["model"]))
    if model is None:
        return _error(404, f"no model named {body['model']!r}")
    deployment_id = None
    if isinstance(body.get("deployment"), str):
        deployment = session.scalar(select(Deployment).where(Deployment.name == body["deployment"]))
        if deployment is None or deployment.model_id != model.id:
            return _error(404, f"no deployment {body['deployment']!r} of model {model.name!r}")
        deployment_id = deployment.id
    return _start_job(webhook_id, model, deployment_id, body.get("reason"))


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
        reason=str(reason)[:1000] if reason else "inbound webhook",
        requested_by="webhook",
    )
    session.flush()
    try:
        with session.begin_nested():
            session.add(WebhookReceipt(webhook_id=webhook_id[:300], retrain_job_id=job.id))
    except IntegrityError:
        pass  # the same delivery raced in; the job is the same one by its idempotency key
    return jsonify(job_id=job.id, status=job.status, replayed=False), 202


def _error(status: int, message: str):
    return jsonify(error=message), status
