"""Claims of long work are short leases renewed by a heartbeat: a dead daemon's retrain is
taken over within its short lease, a stopping daemon gives back what it abandons at once
and claims nothing new after SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from monitor.runs import execute
from monitor.settings import load_settings
from monitor.store import session_scope
from monitor.store.models import RetrainJob, Run
from monitor.timeutil import utcnow, window_start
from retrain.jobs import claim
from tests.factories import make_deployment
from tests.monitor.daemon_support import (
    finished_once,
    holder_pid,
    slow_retrain,
    training_env,
    trainings,
)
from tests.monitor.runs_support import add_hours
from tests.processes import daemon, stop_after, wait_for
from tests.queries import runs_where

pytestmark = pytest.mark.slow

HOUR = timedelta(hours=1)
LEASE = 2  # seconds: the claims' lease in these tests


def job(engine: Engine, job_id: int) -> RetrainJob:
    with session_scope(engine) as session:
        return session.get(RetrainJob, job_id)


def test_the_default_claims_of_long_work_lapse_within_a_minute() -> None:
    settings = load_settings({})
    assert settings.retrain_lease_seconds <= 60
    assert settings.run_lease_seconds <= 60
    assert settings.ingest_lease_seconds <= 60


def test_a_training_longer_than_its_lease_keeps_its_claim_and_a_killed_one_is_taken_over(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    job_id = slow_retrain(engine, "claims-test")
    markers = tmp_path / "markers"
    started = trainings(markers)
    env = training_env(markers, 8, DRIFTWISE_RETRAIN_LEASE_SECONDS=str(LEASE))
    first = daemon(db_url, tmp_path / "first.log", **env)
    try:
        wait_for(lambda: started() == 1, 120, "the training to start", (first,))
        time.sleep(2 * LEASE)  # the fit goes on past its lease: the heartbeat renews it
        held = job(engine, job_id)
        assert held.status == "running"
        assert holder_pid(held.claimed_by) == first.pid
        assert held.lease_until > utcnow()
        assert not claim(engine, job_id, "intruder"), "a live training's claim was taken"
    finally:
        first.kill()
    killed_at = time.monotonic()
    second = daemon(db_url, tmp_path / "second.log", **{**env, "DRIFTWISE_TEST_TRAIN_SECONDS": "1"})
    try:
        wait_for(lambda: started() == 2, 60, "the takeover of the dead daemon's job", (second,))
        taken_after = time.monotonic() - killed_at
        wait_for(
            lambda: job(engine, job_id).status not in ("pending", "running"),
            60,
            "the job to finish",
            (second,),
        )
    finally:
        assert second.terminate() == 0
    assert taken_after < 30, f"taken over after {taken_after:.0f}s"
    finished_once(engine, job_id)


def test_a_monitor_run_longer_than_its_lease_keeps_renewing_its_claim(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    start = window_start(utcnow(), 3600) - 2 * HOUR
    with session_scope(engine) as session:
        deployment = make_deployment(session, min_rows=10)
        deployment_id = deployment.id
    add_hours(engine, deployment_id, start - HOUR, 2, rows=500)
    # The first window stores the reference's preparation; on SQLite that write would hold
    # the database's write lock through the run.
    execute.run_window(engine, deployment_id, start - HOUR, start)
    monkeypatch.setenv("DRIFTWISE_RUN_LEASE_SECONDS", "1")
    analysing, finish = threading.Event(), threading.Event()
    analyse = execute.analyse

    def slow_analyse(*args, **kwargs):  # the analysis goes on past the run's lease
        analysing.set()
        finish.wait(30)
        return analyse(*args, **kwargs)

    monkeypatch.setattr(execute, "analyse", slow_analyse)
    caplog.set_level(logging.WARNING, "monitor.service.claims")
    runner = threading.Thread(
        target=execute.run_window, args=(engine, deployment_id, start, start + HOUR)
    )
    runner.start()
    try:
        assert analysing.wait(60), "the run never reached its analysis"
        time.sleep(3)  # three leases
        with session_scope(engine) as session:
            held = session.scalars(select(Run).where(Run.window_start == start)).one()
            assert held.status == "running"
            assert held.lease_until > utcnow(), "the heartbeat did not renew the claim"
    finally:
        finish.set()
        runner.join(60)
    assert runs_where(engine, Run.status == "ok") == 2
    assert "taken over" not in caplog.text


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_daemon_stopped_mid_retrain_gives_the_job_back_and_the_next_daemon_runs_it(
    engine: Engine, db_url: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    job_id = slow_retrain(engine, "claims-test")
    markers = tmp_path / "markers"
    started = trainings(markers)
    env = training_env(markers, 60, DRIFTWISE_SHUTDOWN_SECONDS="1")
    first = daemon(db_url, tmp_path / "first.log", **env)
    try:
        wait_for(lambda: started() == 1, 120, "the training to start", (first,))
        first.popen.send_signal(stop_signal)
        assert first.popen.wait(30) == 0
    finally:
        first.kill()
    given_back = job(engine, job_id)
    assert given_back.status == "pending", "the abandoned job waits for the next daemon"
    assert given_back.claimed_by is None and given_back.lease_until is None
    assert [entry["attempt"] for entry in given_back.evaluation["interrupted"]] == [1]

    second = daemon(db_url, tmp_path / "second.log", **{**env, "DRIFTWISE_TEST_TRAIN_SECONDS": "1"})
    stop_after(
        second,
        lambda: job(engine, job_id).status not in ("pending", "running"),
        120,
        "the next daemon to run the job",
    )
    assert started() == 2
    finished_once(engine, job_id)


def test_a_daemon_told_to_stop_claims_no_new_window(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    windows = 30
    first_window = window_start(utcnow(), 3600) - (windows + 1) * HOUR
    with session_scope(engine) as session:
        deployment = make_deployment(session, min_rows=10)
        deployment.created_at = first_window
        deployment.schedule_seconds = 1
        deployment_id = deployment.id
    add_hours(engine, deployment_id, first_window, windows, rows=2000)

    def runs() -> int:
        return runs_where(engine)

    first = daemon(db_url, tmp_path / "first.log", DRIFTWISE_SHUTDOWN_SECONDS="20")
    try:
        wait_for(lambda: runs() >= 2, 120, "the monitor pass to be under way", (first,))
        signalled = utcnow()
        first.popen.send_signal(signal.SIGTERM)
        assert first.popen.wait(60) == 0
    finally:
        first.kill()
    with session_scope(engine) as session:
        late = session.scalars(
            select(Run.window_start).where(Run.started_at > signalled + timedelta(seconds=0.5))
        ).all()
        claimed = session.scalar(select(func.count()).select_from(Run))
        unfinished = session.scalar(
            select(func.count()).select_from(Run).where(Run.status == "running")
        )
    assert late == [], f"{len(late)} windows claimed after SIGTERM"
    assert claimed < windows, "the pass stopped short of the remaining windows"
    assert unfinished == 0, "the run in hand was finished before the exit"
