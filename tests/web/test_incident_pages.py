"""Health reads the open incidents on every view: the overview, the deployment page's header
and the API say the same, also when the newest window measured nothing. On SQLite and
PostgreSQL."""

from __future__ import annotations

import re

from monitor.runs.job import monitor_deployment
from monitor.store import get_engine, session_scope
from tests.factories import churn_frame
from tests.monitor.runs_support import DAY, HOUR, add_labels, add_window, deploy, runs_of
from tests.web.conftest import bearer, build_app, login

DRIFTED, CLEAR = 1.0, 0.0


def header_health(page: str) -> str:
    return re.search(r'<h1>churn-online <span class="badge h-[\w-]+">([\w ]+)</span>', page)[1]


def overview_health(page: str) -> str:
    row = re.search(r">churn-online</a></td>(.*?)</tr>", page, re.S)[1]
    return re.findall(r'<span class="badge h-[\w-]+">([\w ]+)</span>', row)[0]


def test_health_reads_the_open_incident_on_the_pages_and_the_api_until_it_resolves(db_url):
    from web.auth import create_token

    engine = get_engine(db_url)
    app = build_app(db_url)
    person, machine = app.test_client(), app.test_client()
    assert login(person).status_code == 302
    with session_scope(engine) as session:
        viewer = bearer(create_token(session, "reader", "viewer"))
    deployment_id = deploy(engine, policy={"drift_share": 0.5})
    add_window(engine, deployment_id, DAY, churn_frame(150, 40, DRIFTED), "w0")

    # The drifted window opens an incident; the next window has no predictions, so the
    # newest run says "no data" while the incident stays open.
    monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)
    summary = machine.get("/api/v1/deployments/churn-online", headers=viewer).json
    page = person.get("/deployments/churn-online").get_data(as_text=True)
    overview = person.get("/").get_data(as_text=True)
    assert summary["health"] == header_health(page) == overview_health(overview) == "drift"
    assert "no data" in page  # the newest run's own row
    (incident,) = machine.get("/api/v1/deployments/churn-online/incidents", headers=viewer).json[
        "incidents"
    ]
    assert incident["status"] == "open"
    assert incident["title"] in page and incident["title"] in overview
    assert '<span class="badge h-open">open</span>' in page

    # The first healthy window resolves it: every view says healthy, the page says why.
    add_window(engine, deployment_id, DAY + 2 * HOUR, churn_frame(150, 42, CLEAR), "w2")
    monitor_deployment(engine, "churn-online", now=DAY + 3 * HOUR, report_rows=0)
    summary = machine.get("/api/v1/deployments/churn-online", headers=viewer).json
    page = person.get("/deployments/churn-online").get_data(as_text=True)
    overview = person.get("/").get_data(as_text=True)
    assert summary["health"] == header_health(page) == overview_health(overview) == "healthy"
    assert "No open incidents." in page
    assert '<span class="badge h-resolved">resolved</span>' in page
    assert "recovered with no new version, still v1" in page
    row = re.search(r">churn-online</a></td>(.*?)</tr>", overview, re.S)[1]
    assert incident["title"] not in row


def test_a_backfill_of_a_window_of_a_resolved_incident_opens_no_other(db_url):
    from web.auth import create_token

    engine = get_engine(db_url)
    machine = build_app(db_url).test_client()
    with session_scope(engine) as session:
        viewer = bearer(create_token(session, "reader", "viewer"))
    deployment_id = deploy(engine, policy={"drift_share": 0.5})
    frames = [churn_frame(150, 40, DRIFTED), churn_frame(150, 42, CLEAR)]
    ids = add_window(engine, deployment_id, DAY, frames[0], "w0")
    add_window(engine, deployment_id, DAY + HOUR, frames[1], "w1")
    monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)

    # Late labels run the drifted window again: it breaches again, within the incident
    # that the next window resolved already.
    add_labels(engine, deployment_id, list(zip(ids, frames[0]["churned"].tolist(), strict=True)))
    monitor_deployment(engine, "churn-online", now=DAY + 2 * HOUR, report_rows=0)
    kinds = [(run.kind, bool(run.breaches)) for run in runs_of(engine, deployment_id)]
    assert ("backfill", True) in kinds

    listed = machine.get("/api/v1/incidents", headers=viewer).json["incidents"]
    assert [(i["status"], i["first_window_start"]) for i in listed] == [
        ("resolved", "2026-01-05T00:00:00Z")
    ]
    summary = machine.get("/api/v1/deployments/churn-online", headers=viewer).json
    assert summary["health"] == "healthy"
