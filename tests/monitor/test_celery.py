"""Celery workers, real ones against Redis: a task survives the death of its worker and is
done once, and workers compute what the local executor computes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from monitor.service.executors import CeleryExecutor, LocalExecutor
from monitor.service.worker import make_app
from monitor.store import get_engine, session_scope
from monitor.store import schema as store_schema
from monitor.store.models import Run, Source
from monitor.timeutil import utcnow, window_start
from tests.factories import add_source, churn_frame, make_deployment, write_prediction_log
from tests.monitor.runs_support import add_window
from tests.processes import Process, daemon, flushed_redis, kill_after, stop_after, wait_for
from tests.processes import worker as celery_worker
from tests.queries import ingested_offset, runs_where, stored_predictions

# Real workers under tight task time limits, sharing one Redis database: these run alone,
# after the parallel part of the suite (`make test`).
pytestmark = [pytest.mark.slow, pytest.mark.serial]

RECORDS = 120_000
HOUR = timedelta(hours=1)
# Short, so that the task of a dead worker comes back within the test, yet long enough for
# a redelivered task to read the rest of the log on a busy CI machine.
BROKER = {"DRIFTWISE_BROKER_VISIBILITY_TIMEOUT": "21", "DRIFTWISE_TASK_TIME_LIMIT": "20"}


@pytest.fixture
def redis_url(monkeypatch) -> Iterator[str]:
    yield from flushed_redis(monkeypatch, BROKER)


def worker(db_url: str, redis_url: str, log: Path) -> Process:
    # Many small chunks: many transactions to die between.
    chunks = {"DRIFTWISE_INGEST_CHUNK_BYTES": str(1024 * 1024)}
    return celery_worker(db_url, redis_url, log, **chunks, **BROKER)


def test_a_task_of_a_killed_worker_is_delivered_again_and_done_once(
    engine: Engine, db_url: str, redis_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "predictions.jsonl"
    write_prediction_log(log, RECORDS)
    with session_scope(engine) as session:
        deployment = make_deployment(session, window_seconds=7 * 86400)
        source_id = add_source(session, deployment.id, path=str(log)).id
    first = worker(db_url, redis_url, tmp_path / "first.log")
    CeleryExecutor(make_app(redis_url)).submit("ingest_source", source_id)
    kill_after(first, lambda: ingested_offset(engine) > 0, 90, "the first chunk", interval=0.02)
    partial, _ = stored_predictions(engine)
    assert 0 < partial < RECORDS, "the worker must be killed part-way through the file"

    second = worker(db_url, redis_url, tmp_path / "second.log")
    stop_after(
        second,
        lambda: ingested_offset(engine) == log.stat().st_size,
        90,
        "the task to be delivered again and finish",
    )
    rows, distinct = stored_predictions(engine)
    assert rows == distinct == RECORDS
    with session_scope(engine) as session:
        assert session.get(Source, source_id).last_error is None


def seed(url: str) -> tuple[str, list]:
    """The same deployment and traffic in the database at `url`; its name and windows."""
    engine = get_engine(url)
    store_schema.upgrade(engine)
    first = window_start(utcnow(), 3600) - 3 * HOUR
    with session_scope(engine) as session:
        deployment = make_deployment(session, min_rows=10, policy={"drift_share": 0.3})
        deployment.created_at = first
        deployment_id, name = deployment.id, deployment.name
    windows = []
    for hour in range(3):
        frame = churn_frame(500, seed=hour, shift=hour * 0.7)
        add_window(engine, deployment_id, first + hour * HOUR, frame, f"w{hour}", labels=True)
        windows.append(first + hour * HOUR)
    return name, windows


def rounded(value):
    """Floats to 9 places: category order follows the process's hash seed, which moves the
    last bits of a Jensen-Shannon distance."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value


def results(url: str, windows: list) -> list[tuple]:
    with session_scope(get_engine(url)) as session:
        runs = session.scalars(
            select(Run).where(Run.window_start.in_(windows)).order_by(Run.window_start, Run.kind)
        ).all()
        return [
            rounded(
                [
                    run.window_start,
                    run.kind,
                    run.status,
                    run.rows,
                    run.sampled_from,
                    run.labeled_rows,
                    run.drift_share,
                    run.features,
                    run.performance,
                    run.estimated_performance,
                    [breach["rule"] for breach in run.breaches],
                ]
            )
            for run in runs
        ]


def test_celery_workers_compute_what_the_local_executor_computes(
    redis_url: str, tmp_path: Path, monkeypatch
) -> None:
    local_url = f"sqlite:///{tmp_path / 'local.db'}"
    celery_url = f"sqlite:///{tmp_path / 'celery.db'}"
    name, windows = seed(local_url)
    assert seed(celery_url) == (name, windows)

    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", local_url)
    LocalExecutor().submit("monitor_deployment", name)

    process = worker(celery_url, redis_url, tmp_path / "worker.log")
    CeleryExecutor(make_app(redis_url)).submit("monitor_deployment", name)
    stop_after(
        process, lambda: len(results(celery_url, windows)) == len(windows), 120, "the worker's runs"
    )
    local = results(local_url, windows)
    assert [row[2] for row in local] == ["ok", "ok", "ok"]
    assert all(row[7] for row in local), "every run has per-feature drift results"
    assert results(celery_url, windows) == local


def test_a_daemon_with_the_celery_executor_only_enqueues_and_workers_run(
    sqlite_url: str, redis_url: str, tmp_path: Path
) -> None:
    engine = get_engine(sqlite_url)
    first = window_start(utcnow(), 3600) - 2 * HOUR
    with session_scope(engine) as session:
        deployment = make_deployment(session, min_rows=10)
        deployment.created_at = first
        deployment.schedule_seconds = 1
        deployment_id = deployment.id
    add_window(engine, deployment_id, first, churn_frame(300), "w")
    process = worker(sqlite_url, redis_url, tmp_path / "worker.log")
    scheduler = daemon(
        sqlite_url,
        tmp_path / "daemon.log",
        DRIFTWISE_EXECUTOR="celery",
        DRIFTWISE_BROKER_URL=redis_url,
    )
    try:
        wait_for(
            lambda: runs_where(engine, Run.status != "running") == 2,
            120,
            "both windows run by the worker",
            (process, scheduler),
        )
    finally:
        assert scheduler.terminate() == 0
        assert process.terminate() == 0
    with session_scope(engine) as session:
        runners = set(session.scalars(select(Run.claimed_by)))
    assert runners and str(scheduler.pid) not in {runner.split(":")[1] for runner in runners}
