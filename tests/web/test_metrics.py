"""`/metrics` scraped from a running `driftwise web` and parsed by Prometheus' own parser;
the Grafana dashboard's queries; `/readyz`; `driftwise status --check`; JSON logs."""

from __future__ import annotations

import io
import json
import logging
import math
import re
import socket
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from monitor.cli import main
from monitor.logs import JsonFormatter, configure_logging, log_context
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Incident, Lease, Notification, PendingHalf, Run, Source
from monitor.timeutil import utcnow
from tests.processes import Process
from tests.web.conftest import add_history, bearer, build_app

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana" / "driftwise.json"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=bearer(token) if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def history(url: str) -> None:
    """Runs with drift, a source with counters and a waiting half, jobs, notifications."""
    deployment_id, _ = add_history(url)
    with session_scope(get_engine(url)) as session:
        source = Source(
            deployment_id=deployment_id,
            role="predictions",
            name="capture",
            kind="jsonl",
            records_read=120,
            records_inserted=100,
            records_duplicate=15,
            records_quarantined=5,
            last_read_at=utcnow(),
        )
        session.add(source)
        session.flush()
        session.add(PendingHalf(source_id=source.id, key="k-1", part="request", payload="{}"))
        for run in session.scalars(select(Run)):
            run.duration = 0.3
        newest = session.scalars(select(Run).order_by(Run.window_start.desc())).first()
        newest.features = newest.features | {
            "age": {"score": 1e-45, "method": "ks", "threshold": 0.05}
        }
        newest.estimated_performance = {"roc_auc": 0.85, "estimate": True}
        newest.quality = {"missing_share": 0.02}
        deployment = session.get(Deployment, deployment_id)
        deployment.policy = deployment.policy | {"performance": {"metric": "f1", "min": 0.7}}
        session.add(
            Incident(
                deployment_id=deployment_id,
                reason="drift",
                title="drift",
                first_window_start=newest.window_start,
                last_window_end=newest.window_end,
            )
        )
        newest.prediction_drift = {"score": 0.3, "method": "jensenshannon", "threshold": 0.1}


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path):
    app = build_app(sqlite_url)
    history(sqlite_url)
    from web.auth import create_token

    with session_scope(get_engine(sqlite_url)) as session:
        token = create_token(session, "prometheus", "viewer")
    port = free_port()
    process = Process(["web", "--port", str(port)], sqlite_url, tmp_path / "web.log")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(base + "/healthz")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError(process.output())
    yield {"base": base, "token": token, "app": app, "url": sqlite_url}
    process.terminate()


def test_a_running_web_serves_prometheus_metrics_from_the_store(server) -> None:
    status, text = get(server["base"] + "/metrics", server["token"])
    assert status == 200, text
    found = samples(text)
    online = (("deployment", "churn-online"),)
    assert found[("driftwise_drift_share", online)] == 0.6
    assert found[("driftwise_drift_share_threshold", online)] == 0.5
    tenure = (("deployment", "churn-online"), ("feature", "tenure"), ("method", "wasserstein"))
    assert found[("driftwise_feature_drift", tenure)] == pytest.approx(0.1 / 0.1)
    age = (("deployment", "churn-online"), ("feature", "age"), ("method", "ks"))
    assert found[("driftwise_feature_drift", age)] == pytest.approx(
        math.log(1e-45) / math.log(0.05)
    )
    realized = (("deployment", "churn-online"), ("estimate", "false"), ("metric", "f1"))
    assert found[("driftwise_performance", realized)] == pytest.approx(0.7)
    estimated = (("deployment", "churn-online"), ("estimate", "true"), ("metric", "roc_auc"))
    assert found[("driftwise_performance", estimated)] == 0.85
    assert not any(
        key[0] == "driftwise_performance" and ("metric", "estimate") in key[1] for key in found
    )
    prediction = (("deployment", "churn-online"), ("method", "jensenshannon"))
    assert found[("driftwise_prediction_drift", prediction)] == pytest.approx(3.0)
    bound = (("bound", "min"), ("deployment", "churn-online"), ("estimate", "false"))
    assert found[("driftwise_performance_threshold", (*bound, ("metric", "f1")))] == 0.7
    assert found[("driftwise_window_rows", online)] == 500
    assert found[("driftwise_label_coverage", online)] == 0.5
    assert found[("driftwise_missing_share", online)] == 0.02
    assert found[("driftwise_active_version", online)] == 1
    incident = (("deployment", "churn-online"), ("reason", "drift"))
    assert found[("driftwise_open_incidents", incident)] == 1
    source = (("deployment", "churn-online"), ("role", "predictions"), ("source", "capture"))
    for outcome, value in (("read", 120), ("inserted", 100), ("duplicate", 15), ("quarantined", 5)):
        key = ("driftwise_source_records_total", tuple(sorted((*source, ("outcome", outcome)))))
        assert found[key] == value, outcome
    assert found[("driftwise_source_halves_waiting", source)] == 1
    assert found[("driftwise_scheduler_leader", ())] == 0
    assert found[("driftwise_notifications", (("status", "failed"),))] >= 0
    assert found[("driftwise_retrain_jobs", (("status", "pending"),))] >= 0
    assert found[("driftwise_run_duration_seconds_count", ())] == 6
    assert found[("driftwise_run_duration_seconds_bucket", (("le", "0.25"),))] == 0
    assert found[("driftwise_run_duration_seconds_bucket", (("le", "0.5"),))] == 6


def test_metrics_need_a_token_unless_made_public(server, sqlite_url, monkeypatch) -> None:
    status, body = get(server["base"] + "/metrics")
    assert status == 401 and "bearer token" in body
    assert get(server["base"] + "/metrics", "dw_not-a-token")[0] == 401
    monkeypatch.setenv("DRIFTWISE_METRICS_PUBLIC", "true")
    public = build_app_without_users(sqlite_url).test_client()
    response = public.get("/metrics")
    assert response.status_code == 200 and b"driftwise_drift_share" in response.data
    monkeypatch.setenv("DRIFTWISE_METRICS_PUBLIC", "sometimes")
    from monitor.errors import SettingsError

    with pytest.raises(
        SettingsError, match="DRIFTWISE_METRICS_PUBLIC: Input should be a valid boolean"
    ):
        build_app_without_users(sqlite_url)


def build_app_without_users(url: str):
    from web import create_app

    return create_app({"TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "test"})


def test_every_query_of_the_grafana_dashboard_names_an_exported_metric(server) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    queries.append(dashboard["templating"]["list"][1]["query"]["query"])
    assert len(queries) >= 15
    exported = {name for name, _ in samples(get(server["base"] + "/metrics", server["token"])[1])}
    for query in queries:
        names = set(re.findall(r"\bdriftwise_[a-z_]+", query))
        assert names, query
        assert names <= exported, (query, names - exported)


def test_readyz_says_when_the_schema_is_behind(sqlite_url: str) -> None:
    from monitor.store.schema import alembic_config

    app = build_app(sqlite_url)
    client = app.test_client()
    assert client.get("/readyz").json == {"ready": True}
    from alembic import command

    engine = get_engine(sqlite_url)
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    answer = client.get("/readyz")
    assert answer.status_code == 503 and "driftwise db upgrade" in answer.json["reason"]


def test_status_check_exits_with_a_code_per_problem(sqlite_url: str) -> None:
    add_history(sqlite_url)
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--check"])
    assert result.exit_code == 3 and "no scheduler leads" in result.output
    engine = get_engine(sqlite_url)
    with session_scope(engine) as session:
        session.add(Lease(name="scheduler", holder="h", expires_at=utcnow() + timedelta(minutes=1)))
        for notification in session.scalars(select(Notification)):
            notification.status = "sent"
    assert runner.invoke(main, ["status", "--check"]).exit_code == 0
    with session_scope(engine) as session:
        deployment_id = session.scalars(select(Run.deployment_id)).first()
        session.add(
            Source(
                deployment_id=deployment_id,
                role="labels",
                name="late-labels",
                kind="jsonl",
                config={"stale_after": "30m"},
                last_read_at=utcnow() - timedelta(hours=1),
            )
        )
    result = runner.invoke(main, ["status", "--check"])
    assert result.exit_code == 5
    assert "source late-labels of churn-online not read for over 30m" in result.output
    with session_scope(engine) as session:
        session.scalars(select(Notification)).first().status = "failed"
    result = runner.invoke(main, ["status", "--check"])
    assert result.exit_code == 4 and "notifications failing: 1 failed" in result.output
    assert "late-labels" in result.output  # every problem is printed


def test_json_logs_carry_the_deployment_and_job_being_worked_on() -> None:
    stream = io.StringIO()
    configure_logging("json")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    log = logging.getLogger("monitor.test")
    with log_context(deployment="churn-online"):
        with log_context(job=7):
            log.warning("retrain %s", "started")
        log.info("plain")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["level"] == "warning" and lines[0]["logger"] == "monitor.test"
    assert lines[0]["message"] == "retrain started"
    assert lines[0]["deployment"] == "churn-online" and lines[0]["job"] == 7
    assert "job" not in lines[1] and lines[1]["deployment"] == "churn-online"
    assert lines[0]["time"].endswith("Z")
    assert isinstance(JsonFormatter(), logging.Formatter)
    configure_logging("text")


def test_a_daemon_with_json_logs_writes_one_object_per_line(sqlite_url: str, tmp_path: Path):
    add_history(sqlite_url)
    process = Process(["daemon"], sqlite_url, tmp_path / "daemon.log", DRIFTWISE_LOG_FORMAT="json")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "schedule:" not in process.output():
        time.sleep(0.2)
    assert process.terminate() == 0
    lines = [line for line in process.output().splitlines() if line.strip()]
    documents = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(documents[0])
    assert any("is the leader" in document["message"] for document in documents)
