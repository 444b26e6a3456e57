"""One JSON view per object: the CLI's `--json` and the API give the same dict for the same
run, job, version and deployment, and every time in them is ISO 8601 in UTC ending in `Z`."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from monitor.cli import main
from monitor.store import get_engine, session_scope
from monitor.store.models import Incident
from monitor.timeutil import iso, utcnow
from tests.web.conftest import add_history, bearer, build_app

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
MODEL = "churn-online-model"  # tests.factories names the model after its deployment
TIME_KEYS = re.compile(r"(_at|_start|_end|^since)$")


def _times(value, found: list[str]) -> list[str]:
    """Every non-empty value under a key that names a time, anywhere in `value`."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if TIME_KEYS.search(key) and isinstance(inner, str):
                found.append(inner)
            else:
                _times(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _times(inner, found)
    return found


def _cli(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_iso_is_utc_with_z_for_naive_and_aware_times():
    assert iso(datetime(2026, 1, 5)) == "2026-01-05T00:00:00Z"
    assert iso(datetime(2026, 1, 5, 1, 2, 3, 450000)) == "2026-01-05T01:02:03.450000Z"
    aware = datetime(2026, 1, 5, 2, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert iso(aware) == "2026-01-05T02:00:00Z"
    assert iso(None) is None


def test_the_cli_and_the_api_give_one_dict_per_object_with_z_times(sqlite_url):
    app = build_app(sqlite_url)
    client = app.test_client()
    _, run_id = add_history(sqlite_url)
    now = utcnow()
    with session_scope(get_engine(sqlite_url)) as session:
        from web.auth import create_token

        viewer = bearer(create_token(session, "reader", "viewer"))
        session.add(
            Incident(
                deployment_id=1,
                reason="drift",
                title="churn-online drifted",
                first_window_start=now - timedelta(hours=2),
                last_window_end=now,
                opened_at=now,
                opened_run_id=run_id,
            )
        )

    def api(path: str):
        response = client.get(f"/api/v1{path}", headers=viewer)
        assert response.status_code == 200, response.json
        return response.json

    cli_runs = _cli("runs", "churn-online", "--json")["runs"]
    cli_run = next(run for run in cli_runs if run["id"] == run_id)
    assert api(f"/runs/{run_id}") == cli_run
    listed = next(
        run for run in api("/deployments/churn-online/runs")["runs"] if run["id"] == run_id
    )
    assert listed == {key: cli_run[key] for key in listed}  # the list shows a summary of it
    assert cli_run["estimated_performance"] == {"estimate": True, "metrics": {"roc_auc": 0.85}}

    cli_jobs = _cli("jobs", MODEL, "--json")
    assert api(f"/models/{MODEL}/jobs")["jobs"] == cli_jobs
    assert api(f"/jobs/{cli_jobs[0]['id']}") == cli_jobs[0]
    assert api(f"/models/{MODEL}/versions")["versions"] == _cli("versions", MODEL, "--json")

    status = _cli("status", "--json")
    (deployment,) = status["deployments"]
    assert api("/deployments/churn-online") == deployment
    assert deployment["open_incidents"][0]["since"] == iso(now - timedelta(hours=2))

    events, incidents = api("/events")["events"], api("/incidents")["incidents"]
    assert incidents[0]["opened_at"] == iso(now)
    notifications = api("/notifications")["notifications"]
    everything = [cli_runs, cli_jobs, status, api(f"/models/{MODEL}/versions"), events, incidents]
    times = _times(everything + [notifications], [])
    assert len(times) > 20 and all(ISO_Z.match(time) for time in times), times


def test_events_made_by_a_breach_carry_z_times_in_their_data_too(sqlite_url):
    from monitor.runs.job import monitor_deployment
    from tests.factories import churn_frame
    from tests.monitor.runs_support import DAY, HOUR, add_window, deploy

    engine = get_engine(sqlite_url)
    client = build_app(sqlite_url).test_client()
    deployment_id = deploy(engine, policy={"drift_share": 0.5})
    add_window(engine, deployment_id, DAY, churn_frame(150, 40, 1.0), "w0")
    monitor_deployment(engine, "churn-online", DAY, DAY + HOUR, report_rows=0)
    with session_scope(engine) as session:
        from web.auth import create_token

        viewer = bearer(create_token(session, "reader", "viewer"))

    events = client.get("/api/v1/events", headers=viewer).json["events"]
    breach = next(event for event in events if event["data"].get("rule") == "drift_share")
    assert breach["data"]["window_start"] == iso(DAY)
    times = _times(events, [])
    assert len(times) > len(events) and all(ISO_Z.match(time) for time in times), times
