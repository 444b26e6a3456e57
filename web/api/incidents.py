"""Incidents in the API: list them (all, or a deployment's) and resolve one by hand."""

from __future__ import annotations

from flask import abort, jsonify, request
from sqlalchemy import select

from monitor.incidents import incident_by_id, resolve
from monitor.store.lookup import deployment_named
from monitor.store.models import Incident
from monitor.views import incident_view
from web import db
from web.api.openapi import Query
from web.api.routes import PAGE, int_arg, table
from web.auth import admin_required, current

STATUS = Query("status", enum=("open", "resolved"))


def _page(query):
    status = request.args.get("status")
    if status:
        if status not in ("open", "resolved"):
            abort(400, description="status: must be open or resolved")
        query = query.where(Incident.status == status)
    limit, offset = int_arg("limit", 100), int_arg("offset", 0, maximum=10**9)
    rows = db().scalars(query.order_by(Incident.id.desc()).limit(limit).offset(offset))
    return jsonify(incidents=[incident_view(db(), row) for row in rows])


@table.route(
    "GET",
    "/incidents",
    "Incidents, newest first: open ones are what health reports",
    query=(Query("deployment"), STATUS, *PAGE),
)
def incidents():
    query = select(Incident)
    if request.args.get("deployment"):
        deployment = deployment_named(db(), request.args["deployment"])
        query = query.where(Incident.deployment_id == deployment.id)
    return _page(query)


@table.route(
    "GET", "/deployments/<name>/incidents", "A deployment's incidents", query=(STATUS, *PAGE)
)
def deployment_incidents(name: str):
    deployment = deployment_named(db(), name)
    return _page(select(Incident).where(Incident.deployment_id == deployment.id))


@table.route("GET", "/incidents/<int:incident_id>", "One incident with its events' ids")
def incident(incident_id: int):
    return jsonify(incident_view(db(), incident_by_id(db(), incident_id)))


@table.route(
    "POST",
    "/incidents/<int:incident_id>/resolve",
    "Resolve an open incident by hand; its recipients hear that it is over",
    body={"type": "object", "properties": {"note": {"type": "string", "maxLength": 500}}},
    responses={200: "The resolved incident", 409: "Already resolved"},
    admin=True,
    tag="act",
)
@admin_required
def resolve_incident(incident_id: int):
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        abort(400, description="body must be a JSON object")
    note = body.get("note") or ""
    if not isinstance(note, str):
        abort(400, description="note: expected a string")
    session = db()
    found = incident_by_id(session, incident_id)
    principal = current()
    resolve(session, found, principal.name if principal else "a person", note=note[:500])
    session.flush()
    return jsonify(incident_view(session, found))
