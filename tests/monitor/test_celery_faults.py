"""A Celery worker killed with -9 in the middle of a retrain and of a monitor run: its task
comes back, the dead worker's short claim has lapsed, and the work is done once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from monitor.jobs import request_retrain
from monitor.service.executors import CeleryExecutor
from monitor.service.worker import make_app
from monitor.store import session_scope
from monitor.store.models import MetricPoint, ModelVersion, RetrainJob, Run
from monitor.timeutil import utcnow, window_start
from tests.conftest import IN_CI
from tests.factories import churn_frame, make_deployment
from tests.monitor.daemon_support import Process, wait_for
from tests.monitor.runs_support import add_window
from tests.monitor.test_celery import REDIS_URL, count
from tests.retrain.support import log_traffic, make_model

# Both Celery files share one Redis database: one xdist worker runs them in turn.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("redis")]

HOUR = timedelta(hours=1)
SHORT_CLAIMS = {"DRIFTWISE_RETRAIN_LEASE_SECONDS": "2", "DRIFTWISE_RUN_LEASE_SECONDS": "2"}
# Long enough for a retrain on a busy machine: the killed worker's message comes back
# only after the test; what takes the work over is the next submission of the task, as
# the daemon submits it every few seconds.
BROKER = {"DRIFTWISE_BROKER_VISIBILITY_TIMEOUT": "600", "DRIFTWISE_TASK_TIME_LIMIT": "300"}


@pytest.fixture
def redis_url(monkeypatch) -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        if IN_CI:
            pytest.fail(f"Redis is required in CI: {error}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {error}")
    client.flushdb()
    for key, value in BROKER.items():
        monkeypatch.setenv(key, value)
    yield REDIS_URL
    client.flushdb()


def worker(db_url: str, redis_url: str, log: Path, **env: str) -> Process:
    return Process(
        ["worker", "--concurrency", "1", "--hostname", f"{log.stem}@%h"],
        db_url,
        log,
        DRIFTWISE_BROKER_URL=redis_url,
        **BROKER,
        **SHORT_CLAIMS,
        **env,
    )


def test_a_worker_killed_mid_retrain_has_its_job_taken_over_and_done_once(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    model_id = make_model(
        engine, retrain={"recipe": "tests.monitor.daemon_support:slow_recipe"}, batch=False
    )
    log_traffic(engine, 900)
    with session_scope(engine) as session:
        job = request_retrain(session, model_id, "manual", "celery-kill")
        session.flush()
        job_id = job.id
    markers = tmp_path / "markers"

    def trainings() -> int:
        return len(list(markers.glob("train-*"))) if markers.exists() else 0

    env = {"DRIFTWISE_TEST_MARKERS": str(markers), "DRIFTWISE_TEST_TRAIN_SECONDS": "30"}
    first = worker(db_url, redis_url, tmp_path / "first.log", **env)
    CeleryExecutor(make_app(redis_url)).submit("retrain_pending")
    try:
        wait_for(lambda: trainings() == 1, 120, "the training to start", (first,))
    finally:
        first.kill()

    env["DRIFTWISE_TEST_TRAIN_SECONDS"] = "1"
    second = worker(db_url, redis_url, tmp_path / "second.log", **env)
    CeleryExecutor(make_app(redis_url)).submit("retrain_pending")
    try:
        wait_for(
            lambda: count(
                engine,
                select(func.count())
                .select_from(RetrainJob)
                .where(RetrainJob.id == job_id, RetrainJob.status.in_(["succeeded", "rejected"])),
            ),
            120,
            "the next task to take the job over and finish it",
            (second,),
        )
    finally:
        assert second.terminate() == 0
    with session_scope(engine) as session:
        done = session.get(RetrainJob, job_id)
        versions = session.scalars(
            select(ModelVersion).where(ModelVersion.retrain_job_id == job_id)
        ).all()
    assert done.attempts == 2
    assert len(versions) == 1
    assert trainings() == 2


def test_a_worker_killed_mid_monitor_run_has_every_window_run_once(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    first_window = window_start(utcnow(), 3600) - 7 * HOUR
    with session_scope(engine) as session:
        deployment = make_deployment(session, min_rows=10)
        deployment.created_at = first_window
        name, deployment_id = deployment.name, deployment.id
    windows = 6
    for hour in range(windows):
        add_window(
            engine,
            deployment_id,
            first_window + hour * HOUR,
            churn_frame(3000, seed=hour),
            f"w{hour}",
        )

    def running() -> int:
        return count(engine, select(func.count()).select_from(Run).where(Run.status == "running"))

    first = worker(db_url, redis_url, tmp_path / "first.log")
    CeleryExecutor(make_app(redis_url)).submit("monitor_deployment", name)
    try:
        wait_for(running, 120, "a monitor run in progress", (first,), interval=0.02)
    finally:
        first.kill()
    with session_scope(engine) as session:
        interrupted = session.scalars(select(Run.window_start).where(Run.status == "running")).all()
    assert interrupted

    def finished() -> bool:
        query = select(func.count()).select_from(Run).where(Run.status != "running")
        return count(engine, query.where(Run.kind == "monitor")) >= windows + 1

    second = worker(db_url, redis_url, tmp_path / "second.log")
    CeleryExecutor(make_app(redis_url)).submit("monitor_deployment", name)
    try:
        wait_for(finished, 120, "every window run by the next task", (second,))
    finally:
        assert second.terminate() == 0
    with session_scope(engine) as session:
        runs = session.scalars(select(Run).where(Run.kind == "monitor")).all()
        doubled = session.execute(
            select(MetricPoint.run_id, MetricPoint.metric, MetricPoint.column, func.count())
            .group_by(MetricPoint.run_id, MetricPoint.metric, MetricPoint.column)
            .having(func.count() > 1)
        ).all()
    assert len({run.window_start for run in runs}) == len(runs) == windows + 1
    retaken = [run for run in runs if run.window_start in interrupted]
    assert retaken and all(run.attempts == 2 and run.status == "ok" for run in retaken)
    assert doubled == []
