"""One round of monitoring for 100 deployments of 10,000 predictions per window: with the
local executor (the daemon's thread pool) and with 2 Celery worker processes; then the
idle daemon's CPU and memory.

A round gives verdicts only, as the daemon's monitor task does: Evidently's reports are
built afterwards by their own task. Their cost is measured on `--reports` of the round's
runs and added to each deployment-window's CPU seconds "with report".

`python -m bench.daemon [--deployments N] [--rows N] [--reports N] [--postgres URL]
[--redis URL]` prints the figures and writes bench/results/daemon.json. Without --postgres
the store is SQLite. The Celery round needs Redis (default redis://127.0.0.1:6379/15); it
is skipped, and says so, when Redis is unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import orjson
from sqlalchemy import Engine, delete, func, select, update

from bench.support import drop_postgres, postgres_database, write_results
from monitor.ingest.records import PredictionRow, sample_key
from monitor.ingest.store import insert_predictions
from monitor.service.daemon import Timing
from monitor.store import db as store_db
from monitor.store import schema, session_scope
from monitor.store.models import MetricPoint, Run
from monitor.timeutil import utcnow, window_start
from tests.factories import (
    CHURN_CATEGORICAL,
    CHURN_NUMERICAL,
    churn_frame,
    make_model,
    serve_version,
)
from tests.processes import REDIS_URL, start_driftwise

HOUR = timedelta(hours=1)


def setup(engine: Engine, deployments: int, rows: int) -> list[str]:
    """One model, `deployments` deployments of it, `rows` predictions each in the last
    closed hour. Returns the deployments' names."""
    schema.upgrade(engine)
    window = window_start(utcnow(), 3600) - HOUR
    with session_scope(engine) as session:
        version = make_model(session, "bench", churn_frame(10_000, seed=999))
        ids = []
        for n in range(deployments):
            deployment = serve_version(
                session, version, f"bench-{n:03d}", min_rows=200, created_at=window
            )
            ids.append((deployment.id, deployment.name))
    step = HOUR / (rows + 1)
    features = [*CHURN_NUMERICAL, *CHURN_CATEGORICAL]
    for n, (deployment_id, _) in enumerate(ids):
        frame = churn_frame(rows, seed=n, shift=0.2 * (n % 5))
        records = frame[features].to_dict("records")
        batch = [
            PredictionRow(
                request_id=f"d{n}-{i}",
                timestamp=window + step * (i + 1),
                features=orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
                prediction=str(int(prediction)),
                probability=float(probability),
                model_version=1,
                sample_key=sample_key(f"d{n}-{i}"),
            )
            for i, (record, prediction, probability) in enumerate(
                zip(records, frame["prediction"], frame["probability"], strict=True)
            )
        ]
        with engine.begin() as connection:
            insert_predictions(connection, deployment_id, batch)
    return [name for _, name in ids]


def finished_runs(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.status != "running", Run.kind == "monitor")
        )


def forget_runs(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.execute(delete(MetricPoint))
        session.execute(delete(Run))


def local_round(engine: Engine, names: list[str], threads: int) -> tuple[float, float]:
    """The round's wall seconds and the CPU seconds it cost (this process, every thread)."""
    from monitor.service.executors import LocalExecutor

    executor = LocalExecutor()
    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda name: executor.submit("monitor_deployment", name), names))
    return time.perf_counter() - started, time.process_time() - cpu


def reports(engine: Engine, count: int) -> dict:
    """Wall and CPU seconds per report, built as the reports task builds them, on the
    newest `count` runs without one (after a first that imports Evidently, as a running
    daemon has)."""
    from monitor.runs.reports import build_report

    with session_scope(engine) as session:
        first, *ids = session.scalars(
            select(Run.id)
            .where(Run.status == "ok", Run.report_rows.is_(None))
            .order_by(Run.id.desc())
            .limit(count + 1)
        ).all()
        build_report(session, session.get(Run, first))
    started, cpu = time.perf_counter(), time.process_time()
    for run_id in ids:
        with session_scope(engine) as session:
            build_report(session, session.get(Run, run_id))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "built": len(ids),
        "seconds_per_report": round(seconds / len(ids), 2) if ids else None,
        "cpu_seconds_per_report": round(cpu / len(ids), 3) if ids else None,
    }


def verdict_round(engine: Engine, names: list[str], threads: int) -> tuple[float, float]:
    """The same round with no report built: the verdicts alone."""
    from monitor.runs.job import monitor_deployment

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda name: monitor_deployment(engine, name, report_rows=0), names))
    return time.perf_counter() - started, time.process_time() - cpu


def _per_window(seconds: float, cpu: float, windows: int, report_cpu: float = 0.0) -> dict:
    """The round's figures; with `report_cpu` (each window's deferred report), the CPU
    seconds per deployment-window count its report too."""
    per_window = cpu / windows + report_cpu
    result = {
        "round_seconds": round(seconds, 1),
        "seconds_per_deployment": round(seconds / windows, 2),
        "cpu_seconds": round(cpu, 1),
        "cpu_seconds_per_deployment_window": round(per_window, 3),
        "deployment_windows_per_core_hour": round(3600 / per_window) if per_window else None,
    }
    if report_cpu:
        result["verdict_cpu_seconds_per_deployment_window"] = round(cpu / windows, 3)
    return result


def start(command: list[str], url: str, log: Path, **env: str) -> subprocess.Popen:
    return start_driftwise(command, {"DRIFTWISE_DATABASE_URL": url, **env}, log)


def celery_round(
    engine: Engine, url: str, redis_url: str, names: list[str], workers: int, logs: Path
) -> tuple[float, float] | None:
    """The round's wall seconds and its CPU seconds in the worker processes."""
    import redis

    from monitor.service.executors import CeleryExecutor
    from monitor.service.worker import make_app

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).flushdb()
    except redis.RedisError as error:
        print(f"celery round skipped: {error}")
        return None
    env = {"DRIFTWISE_BROKER_URL": redis_url}
    processes = [
        start(["worker", "-c", "1", "-n", f"bench{n}@%h"], url, logs / f"worker{n}.log", **env)
        for n in range(workers)
    ]
    executor = CeleryExecutor(make_app(redis_url))
    try:
        # Warm-up: each worker imports the monitoring code once, as a running one has.
        for _ in processes:
            executor.submit("monitor_deployment", "no-such-deployment")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = sum(
                (logs / f"worker{n}.log").read_text().count("succeeded") for n in range(workers)
            )
            if done >= workers:
                break
            time.sleep(0.2)
        started, cpu = time.perf_counter(), _group_cpu(processes)
        for name in names:
            executor.submit("monitor_deployment", name)
        while finished_runs(engine) < len(names):
            time.sleep(0.2)
        return time.perf_counter() - started, _group_cpu(processes) - cpu
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            process.wait(60)


def no_reports_left(engine: Engine) -> None:
    """Mark the runs without a report as having none, as if the reports task had been."""
    with session_scope(engine) as session:
        session.execute(update(Run).where(Run.report_rows.is_(None)).values(report_rows=0))


def idle_daemon(url: str, logs: Path, settle: float, measure: float) -> dict:
    """CPU share and resident memory of a daemon with nothing new to do."""
    process = start(["daemon"], url, logs / "daemon.log")
    try:
        time.sleep(settle)
        ticks = os.sysconf("SC_CLK_TCK")
        before = _cpu_ticks(process.pid)
        time.sleep(measure)
        used = (_cpu_ticks(process.pid) - before) / ticks
        rss = _rss_kib(process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)
    return {
        "settle_seconds": settle,
        "measured_seconds": measure,
        "cpu_percent": round(100 * used / measure, 2),
        "rss_mib": round(rss / 1024, 1),
    }


def _group_cpu(processes: list[subprocess.Popen]) -> float:
    """CPU seconds of every process in the processes' groups (a Celery worker's pool too)."""
    groups = {process.pid for process in processes}
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[2]) in groups:  # pgrp
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000, help="predictions per window")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a database is created beside it)")
    parser.add_argument("--redis", default=REDIS_URL)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument(
        "--reports", type=int, default=10, help="reports built to measure their cost"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        logs = Path(scratch)
        url, cleanup = _database(args.postgres, logs)
        os.environ["DRIFTWISE_DATABASE_URL"] = url
        try:
            engine = store_db.get_engine(url)
            started = time.perf_counter()
            names = setup(engine, args.deployments, args.rows)
            setup_seconds = time.perf_counter() - started
            import monitor.runs.job  # noqa: F401 - imported once, as in a running daemon

            threads = Timing().threads
            load_before = os.getloadavg()
            local, local_cpu = local_round(engine, names, threads)
            assert finished_runs(engine) >= len(names)
            built = reports(engine, args.reports)
            forget_runs(engine)
            verdicts, verdicts_cpu = verdict_round(engine, names, threads)
            assert finished_runs(engine) >= len(names)
            forget_runs(engine)
            celery = celery_round(engine, url, args.redis, names, args.workers, logs)
            load_after = os.getloadavg()
            no_reports_left(engine)
            idle = idle_daemon(url, logs, settle=20.0, measure=args.idle_seconds)
        finally:
            store_db.reset_engines()
            cleanup()
    result = {
        "database": "postgres" if args.postgres else "sqlite",
        "deployments": args.deployments,
        "predictions_per_window": args.rows,
        "setup_seconds": round(setup_seconds, 1),
        "local": {
            "threads": threads,
            "reports": "deferred",
            **_per_window(local, local_cpu, len(names), built["cpu_seconds_per_report"] or 0.0),
        },
        "reports": built,
        "local_without_reports": _per_window(verdicts, verdicts_cpu, len(names)),
        "celery": None
        if celery is None
        else {
            "workers": args.workers,
            "round_seconds": round(celery[0], 1),
            "seconds_per_deployment": round(celery[0] / len(names), 2),
            "worker_cpu_seconds_per_deployment_window": round(celery[1] / len(names), 3),
        },
        "load_average": {
            "before": [round(value, 2) for value in load_before],
            "after": [round(value, 2) for value in load_after],
        },
        "idle_daemon": idle,
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    write_results("daemon", result)


def _database(postgres: str | None, scratch: Path):
    if not postgres:
        return f"sqlite:///{scratch / 'bench.db'}", lambda: None
    url, name = postgres_database(postgres)
    return url, lambda: drop_postgres(postgres, name)


if __name__ == "__main__":
    main()
