"""The daemon in-process: its schedule follows the database, one daemon leads, and the
housekeeping and scheduled-retrain tasks do their work once."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from monitor.errors import SettingsError
from monitor.service import schedule_info, tasks
from monitor.service.daemon import Daemon, Timing, next_after, timing_from_env
from monitor.store import get_engine, session_scope
from monitor.store.models import Deployment, Lease, Model, Prediction, RetrainJob, Run, Source
from monitor.timeutil import utcnow, window_start
from tests import factories
from tests.factories import churn_frame, make_deployment
from tests.monitor.runs_support import add_window

TIMING = Timing(lease=3, heartbeat=1, shutdown=5, ingest=3600, retrain=3600, notify=3600)


class RecordingExecutor:
    """Runs nothing; keeps what the scheduler asked for (the scheduler is under test)."""

    name = "recording"

    def __init__(self) -> None:
        self.submitted: list[tuple] = []
        self.lock = threading.Lock()

    def submit(self, task: str, *args: Any, expires: float | None = None) -> str:
        with self.lock:
            self.submitted.append((task, *args))
        return "recorded"


def add_source(engine: Engine, deployment_id: int, name: str) -> int:
    with session_scope(engine) as session:
        return factories.add_source(session, deployment_id, name, path="/nonexistent/*.jsonl").id


def test_the_schedule_follows_deployments_and_sources(engine: Engine) -> None:
    with session_scope(engine) as session:
        deployment_id = make_deployment(session).id
    source_id = add_source(engine, deployment_id, "log")
    executor = RecordingExecutor()
    daemon = Daemon(engine, executor, TIMING, holder="test-daemon")
    try:
        assert daemon.step()
        jobs = {job.id for job in daemon.scheduler.get_jobs()}
        assert jobs == {
            f"ingest:{source_id}",
            "monitor:churn-online",
            "retrain",
            "notify",
            "housekeeping",
            "advise",
            "reports",
        }
        deadline = time.monotonic() + 10
        while len(executor.submitted) < len(jobs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ("ingest_source", source_id) in executor.submitted
        assert ("monitor_deployment", "churn-online") in executor.submitted

        with session_scope(engine) as session:
            session.get(Source, source_id).enabled = False
            make_deployment(session, name="churn-nightly", mode="batch")
        daemon.step()
        jobs = {job.id for job in daemon.scheduler.get_jobs()}
        assert f"ingest:{source_id}" not in jobs
        assert "monitor:churn-nightly" in jobs
        with session_scope(engine) as session:
            listed = {row["job"]: row for row in schedule_info.jobs(session)}
        assert set(listed) == jobs
        assert listed["monitor:churn-nightly"]["next_run"] is not None
        assert schedule_info.lines([listed["retrain"]])[0].startswith("  retrain: last ")
    finally:
        assert daemon.shutdown()
    with session_scope(engine) as session:
        assert session.get(Lease, "scheduler") is None


def test_a_second_daemon_stands_by_until_the_first_lets_go(engine: Engine) -> None:
    first = Daemon(engine, RecordingExecutor(), TIMING, holder="first")
    second = Daemon(engine, RecordingExecutor(), TIMING, holder="second")
    try:
        assert first.step()
        assert not second.step()
        assert second.scheduler is None
        assert first.shutdown()
        assert second.step()
        with session_scope(engine) as session:
            assert session.get(Lease, "scheduler").holder == "second"
    finally:
        second.shutdown()


def test_a_leader_whose_lease_was_taken_stops_scheduling(engine: Engine) -> None:
    daemon = Daemon(engine, RecordingExecutor(), TIMING, holder="paused")
    try:
        assert daemon.step()
        with session_scope(engine) as session:
            lease = session.get(Lease, "scheduler")
            lease.holder, lease.expires_at = "usurper", utcnow() + timedelta(minutes=1)
        assert not daemon.step()
        assert daemon.scheduler is None
    finally:
        daemon.shutdown()
    with session_scope(engine) as session:
        assert session.get(Lease, "scheduler").holder == "usurper"


def test_serve_returns_when_stopped_and_releases_the_lease(engine: Engine) -> None:
    daemon = Daemon(engine, RecordingExecutor(), TIMING, holder="served")
    stop = threading.Event()
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(daemon.serve(stop)))
    thread.start()
    deadline = time.monotonic() + 10
    while daemon.scheduler is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.scheduler is not None
    stop.set()
    thread.join(15)
    assert outcome == [True]
    with session_scope(engine) as session:
        assert session.get(Lease, "scheduler") is None


def test_housekeeping_forgets_rows_and_snapshots_past_retention(
    engine: Engine, monkeypatch
) -> None:
    with session_scope(engine) as session:
        deployment_id = make_deployment(session).id
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    add_window(engine, deployment_id, now - timedelta(days=40), churn_frame(20), "old")
    add_window(engine, deployment_id, now - timedelta(days=2), churn_frame(30), "new")
    with session_scope(engine) as session:
        for days, name in ((40, "old"), (2, "new")):
            start = now - timedelta(days=days)
            session.add(
                Run(
                    deployment_id=deployment_id,
                    window_start=start,
                    window_end=start + timedelta(hours=1),
                    kind="monitor",
                    status="ok",
                    snapshot=name.encode(),
                )
            )
    monkeypatch.setenv("DRIFTWISE_RETENTION_DAYS", "30")
    monkeypatch.setenv("DRIFTWISE_SNAPSHOT_RETENTION_DAYS", "7")
    result = tasks.housekeeping()
    assert result["predictions"] == 20 and result["snapshots"] == 1
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 30
        snapshots = session.scalars(select(Run.snapshot).order_by(Run.window_start)).all()
    assert snapshots == [None, b"new"]
    assert tasks.housekeeping() == {
        "predictions": 0,
        "labels": 0,
        "quarantine": 0,
        "snapshots": 0,
    }


def test_housekeeping_keeps_everything_by_default(engine: Engine, monkeypatch) -> None:
    monkeypatch.delenv("DRIFTWISE_RETENTION_DAYS", raising=False)
    monkeypatch.delenv("DRIFTWISE_SNAPSHOT_RETENTION_DAYS", raising=False)
    assert tasks.housekeeping() == {}
    monkeypatch.setenv("DRIFTWISE_RETENTION_DAYS", "a month")
    with pytest.raises(ValueError, match="DRIFTWISE_RETENTION_DAYS"):
        tasks.housekeeping()


def test_a_scheduled_retrain_is_requested_once_per_period(engine: Engine) -> None:
    with session_scope(engine) as session:
        deployment = make_deployment(session)
        model = session.get(Model, deployment.model_id)
        model.retrain = {"schedule": "1h"}
        model.created_at = utcnow() - timedelta(hours=3)
        model_id = model.id
    first = tasks.scheduled_retrain(model_id)
    again = tasks.scheduled_retrain(model_id)
    assert first["job"] == again["job"]
    with session_scope(engine) as session:
        jobs = session.scalars(select(RetrainJob)).all()
        planned = tasks.scheduled_models(session)
    assert len(jobs) == 1
    assert jobs[0].trigger == "schedule"
    assert jobs[0].idempotency_key.startswith("schedule:churn-online-model:")
    assert planned == [(model_id, 3600)]


def test_a_model_created_this_period_waits_for_the_next(engine: Engine) -> None:
    with session_scope(engine) as session:
        deployment = make_deployment(session)
        session.get(Model, deployment.model_id).retrain = {"schedule": "7d"}
        model_id = deployment.model_id
    assert "skipped" in tasks.scheduled_retrain(model_id)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(RetrainJob)) == 0
        assert session.scalar(select(func.count()).select_from(Deployment)) == 1


def test_bad_timings_name_their_key() -> None:
    with pytest.raises(SettingsError, match="DRIFTWISE_SCHEDULER_LEASE_SECONDS"):
        timing_from_env({"DRIFTWISE_SCHEDULER_LEASE_SECONDS": "soon"})
    with pytest.raises(SettingsError, match="DRIFTWISE_DAEMON_THREADS"):
        timing_from_env({"DRIFTWISE_DAEMON_THREADS": "0"})
    with pytest.raises(SettingsError, match="shorter than"):
        timing_from_env({"DRIFTWISE_SCHEDULER_HEARTBEAT_SECONDS": "20"})
    assert timing_from_env({"DRIFTWISE_NOTIFY_EVERY_SECONDS": "2.5"}).notify == 2.5


def test_the_next_run_after_a_late_one_is_on_the_interval_grid() -> None:
    scheduled = utcnow() - timedelta(seconds=25)
    following = next_after(scheduled, 10)
    assert following - scheduled == timedelta(seconds=30)
    assert isinstance(following, datetime) and following.tzinfo is None


def test_reports_are_left_to_their_own_task_which_waits_while_monitor_runs_are_made(
    sqlite_url: str, monkeypatch
) -> None:
    engine = get_engine(sqlite_url)
    first = window_start(utcnow(), 3600) - timedelta(hours=2)
    with session_scope(engine) as session:
        deployment = make_deployment(session, min_rows=10)
        deployment.created_at = first
        deployment_id = deployment.id
    add_window(engine, deployment_id, first, churn_frame(300, seed=4), "a")
    tasks.monitor_deployment("churn-online")
    with session_scope(engine) as session:
        ok = session.scalars(select(Run).where(Run.status == "ok")).one()
        assert ok.snapshot is None and ok.report_rows is None
        live = Run(
            deployment_id=deployment_id,
            window_start=first - timedelta(days=1),
            window_end=first - timedelta(days=1) + timedelta(hours=1),
            kind="monitor",
            status="running",
            lease_until=utcnow() + timedelta(minutes=1),
        )
        session.add(live)
    monkeypatch.setattr(tasks, "QUIET_SECONDS", 0.0)
    assert tasks.build_reports() == {"built": 0}  # a run holds a live claim

    with session_scope(engine) as session:
        session.get(Run, live.id).lease_until = utcnow() - timedelta(seconds=1)
    monkeypatch.setattr(tasks, "QUIET_SECONDS", 3600.0)
    assert tasks.build_reports() == {"built": 0}  # a run finished moments ago

    monkeypatch.setattr(tasks, "QUIET_SECONDS", 0.0)
    assert tasks.build_reports() == {"built": 1}
    assert tasks.build_reports() == {"built": 0}
    with session_scope(engine) as session:
        built = session.get(Run, ok.id)
        assert built.snapshot is not None and built.report_rows == 300
