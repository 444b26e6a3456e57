"""What the push, predict and role tests send and serve: a prediction record, a fitted
champion to answer /predict, and a count of what was stored."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from monitor.store import get_engine
from tests.factories import churn_artifact
from tests.queries import rows_in

FEATURES = {"tenure": 5.0, "charges": 70.5, "plan": "pro", "region": "eu"}


def record(request_id: str, **changes) -> dict:
    """One prediction as a client pushes it; `changes` replace its fields."""
    pushed = {
        "request_id": request_id,
        "timestamp": "2026-01-01T10:00:00Z",
        "features": dict(FEATURES),
        "prediction": 1,
        "probability": 0.8,
    }
    return pushed | changes


def push_body(request_ids: list[str]) -> bytes:
    """A push of one record per id, as the bytes a client sends."""
    return json.dumps({"records": [record(request_id) for request_id in request_ids]}).encode()


def upload_fitted_version(client: FlaskClient, admin: dict[str, str]) -> dict:
    """Upload a real fitted pipeline to `churn-online-model`; the answer."""
    uploaded = client.post(
        "/api/v1/models/churn-online-model/versions",
        data=churn_artifact(),
        content_type="application/octet-stream",
        headers=admin,
    )
    assert uploaded.status_code == 201, uploaded.json
    return uploaded.json


def promote(client: FlaskClient, admin: dict[str, str], number: int) -> None:
    promoted = client.post(
        f"/api/v1/models/churn-online-model/versions/{number}/promote", headers=admin
    )
    assert promoted.status_code == 200, promoted.json


def serve_fitted_version(client: FlaskClient, admin: dict[str, str]) -> int:
    """A real fitted pipeline uploaded and promoted, so that /predict can answer; its
    version number."""
    number = upload_fitted_version(client, admin)["version"]
    promote(client, admin, number)
    return number


def stored(url: str, table) -> int:
    """How many rows `table` holds in the store at `url`."""
    return rows_in(get_engine(url), table)
