"""What every API module shares: the blueprint, its route table (the OpenAPI document
is written from it) and the query-argument readers."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, jsonify, request

from web.api.openapi import Query, RouteTable

bp = Blueprint("api", __name__, url_prefix="/api/v1")
table = RouteTable(bp)
PAGE = (Query("limit", "integer", "at most 500"), Query("offset", "integer"))


def int_arg(name: str, default: int, maximum: int = 500) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, description=f"{name}: expected an integer")
    if value < 0:
        abort(400, description=f"{name}: must not be negative")
    return min(value, maximum)


def time_arg(name: str) -> datetime | None:
    from monitor.timeutil import parse_timestamp

    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return parse_timestamp(raw)
    except (ValueError, TypeError, OverflowError):
        abort(400, description=f"{name}: not an ISO 8601 time")


@bp.get("/openapi.json")
def openapi():
    return jsonify(table.document("/api/v1", "Driftwise API", "1"))
