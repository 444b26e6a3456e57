"""Incidents in the API: opened by a breach, resolved by the first healthy window after it
or by a person; health reads the open ones. On SQLite and PostgreSQL."""

from __future__ import annotations

from monitor.runs.job import monitor_deployment
from monitor.store import get_engine, session_scope
from tests.factories import churn_frame
from tests.monitor.runs_support import DAY, HOUR, add_window, deploy
from tests.web.conftest import bearer, build_app

DRIFTED, CLEAR = 1.0, 0.0


def _tokens(url: str) -> dict[str, str]:
    from web.auth import create_token

    with session_scope(get_engine(url)) as session:
        return {
            "admin": create_token(session, "ops", "admin"),
            "viewer": create_token(session, "reader", "viewer"),
        }


def test_incidents_open_on_a_breach_and_resolve_by_a_healthy_window_or_a_person(db_url):
    engine = get_engine(db_url)
    app = build_app(db_url)
    client = app.test_client()
    tokens = _tokens(db_url)
    admin, viewer = bearer(tokens["admin"]), bearer(tokens["viewer"])
    deployment_id = deploy(engine, policy={"drift_share": 0.5})
    for index, shift in enumerate([DRIFTED, DRIFTED, CLEAR, DRIFTED]):
        add_window(
            engine,
            deployment_id,
            DAY + index * HOUR,
            churn_frame(150, 40 + index, shift),
            f"w{index}",
        )

    monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)
    (opened,) = client.get("/api/v1/deployments/churn-online/incidents", headers=viewer).json[
        "incidents"
    ]
    assert (opened["reason"], opened["status"], opened["windows"]) == ("drift", "open", 2)
    assert opened["first_window_start"] == "2026-01-05T00:00:00Z"
    assert len(opened["event_ids"]) == 4  # two breach events and the two windows' announcements
    summary = client.get("/api/v1/deployments/churn-online", headers=viewer).json
    assert summary["health"] == "drift"

    monitor_deployment(engine, "churn-online", now=DAY + 3 * HOUR, report_rows=0)
    closed = client.get(f"/api/v1/incidents/{opened['id']}", headers=viewer).json
    assert (closed["status"], closed["resolved_by"]) == ("resolved", "window")
    assert closed["resolved_window_start"] == "2026-01-05T02:00:00Z"
    assert closed["resolution"] == "recovered with no new version, still v1"
    assert client.get("/api/v1/deployments/churn-online", headers=viewer).json["health"] == (
        "healthy"
    )

    monitor_deployment(engine, "churn-online", now=DAY + 4 * HOUR, report_rows=0)
    (again,) = client.get("/api/v1/incidents?status=open", headers=viewer).json["incidents"]
    assert again["id"] != opened["id"] and again["first_window_start"] == "2026-01-05T03:00:00Z"

    path = f"/api/v1/incidents/{again['id']}/resolve"
    assert client.post(path, json={}, headers=viewer).status_code == 403
    answer = client.post(path, json={"note": "a known upstream change"}, headers=admin)
    assert answer.status_code == 200, answer.json
    assert answer.json["status"] == "resolved" and answer.json["resolved_by"] == "ops"
    assert answer.json["resolution"] == "resolved by ops: a known upstream change"
    twice = client.post(path, json={}, headers=admin)
    assert twice.status_code == 409 and "already resolved" in twice.json["error"]
    assert client.post("/api/v1/incidents/999999/resolve", headers=admin).status_code == 404
    assert client.post(path, json={"note": 5}, headers=admin).status_code == 400

    events = client.get("/api/v1/events?type=incident.resolved", headers=viewer).json["events"]
    assert len(events) == 2
    assert client.get("/api/v1/incidents?status=open", headers=viewer).json["incidents"] == []
    assert client.get("/api/v1/incidents?status=closed", headers=viewer).status_code == 400
    assert client.get("/api/v1/deployments/churn-online", headers=viewer).json["health"] == (
        "healthy"
    )
