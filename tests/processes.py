"""Real `driftwise` processes for tests and benchmarks: start one, wait for what it does,
then kill it with -9 or stop it with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("DRIFTWISE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
FAST = {
    "DRIFTWISE_SCHEDULER_LEASE_SECONDS": "2",
    "DRIFTWISE_SCHEDULER_HEARTBEAT_SECONDS": "0.5",
    "DRIFTWISE_INGEST_EVERY_SECONDS": "1",
    "DRIFTWISE_RETRAIN_EVERY_SECONDS": "1",
    "DRIFTWISE_NOTIFY_EVERY_SECONDS": "1",
    "DRIFTWISE_SHUTDOWN_SECONDS": "3",
    "DRIFTWISE_INGEST_LEASE_SECONDS": "1",
    "DRIFTWISE_INLINE_REPORT_ROWS": "0",
}


def _driftwise(arguments: list[str]) -> list[str]:
    return [sys.executable, "-c", "from monitor.cli import main; main()", *arguments]


def _environment(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONPATH": str(ROOT)}


def start_driftwise(arguments: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`driftwise <arguments>` with `env` over this process's environment, its output
    appended to `log`, in a session of its own (so that a kill reaches its children)."""
    with log.open("ab") as output:
        return subprocess.Popen(
            _driftwise(arguments),
            env=_environment(env),
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_driftwise(
    arguments: list[str], env: dict[str, str], **options: Any
) -> subprocess.CompletedProcess:
    """`driftwise <arguments>` to its end, its output captured as text."""
    options = {"capture_output": True, "text": True, **options}
    return subprocess.run(_driftwise(arguments), env=_environment(env), cwd=ROOT, **options)


class Process:
    """A `driftwise <command>` subprocess on `db_url`, with short timings (FAST) and its
    output in a log file."""

    def __init__(self, command: list[str], db_url: str, log: Path, **env: str) -> None:
        self.log = log
        self.popen = start_driftwise(
            command, {**FAST, "DRIFTWISE_DATABASE_URL": db_url, **env}, log
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """kill -9 of the process and anything it started."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"no exit within {timeout}s of SIGTERM:\n{self.output()}"
            ) from None


def daemon(db_url: str, log: Path, **env: str) -> Process:
    return Process(["daemon"], db_url, log, **env)


def reader(db_url: str, log: Path, chunk_bytes: int) -> Process:
    """`driftwise ingest` in chunks of `chunk_bytes` (many transactions to die between),
    with a lease of a second, so that the next reader takes over soon after a kill."""
    return Process(
        ["ingest"],
        db_url,
        log,
        DRIFTWISE_INGEST_LEASE_SECONDS="1",
        DRIFTWISE_INGEST_CHUNK_BYTES=str(chunk_bytes),
    )


def worker(db_url: str, redis_url: str, log: Path, **env: str) -> Process:
    """A Celery worker of one process, named after its log file."""
    return Process(
        ["worker", "--concurrency", "1", "--hostname", f"{log.stem}@%h"],
        db_url,
        log,
        DRIFTWISE_BROKER_URL=redis_url,
        **env,
    )


def wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    processes: tuple[Process, ...] = (),
    interval: float = 0.1,
) -> Any:
    """Poll `condition` until it is truthy; fail naming `what`, with the logs of any
    process that died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for process in processes:
            if not process.alive():
                raise AssertionError(f"process died while waiting for {what}:\n{process.output()}")
        time.sleep(interval)
    logs = "\n".join(process.output() for process in processes)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def kill_after(
    process: Process,
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.1,
) -> None:
    """Wait for `condition` while `process` runs, then kill -9 it (also if the wait fails)."""
    try:
        wait_for(condition, timeout, what, (process,), interval)
    finally:
        process.kill()


def stop_after(process: Process, condition: Callable[[], Any], timeout: float, what: str) -> None:
    """Wait for `condition` while `process` runs, then SIGTERM it: it must exit with 0."""
    try:
        wait_for(condition, timeout, what, (process,))
    finally:
        assert process.terminate() == 0


def flushed_redis(monkeypatch: pytest.MonkeyPatch, broker: dict[str, str]) -> Iterator[str]:
    """The body of a `redis_url` fixture: the test Redis database emptied before and after,
    with the `broker` settings in the environment. Skips when Redis is unreachable (fails
    in CI)."""
    import redis

    from tests.conftest import IN_CI

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        if IN_CI:
            pytest.fail(f"Redis is required in CI: {error}")
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {error}")
    client.flushdb()
    for key, value in broker.items():
        monkeypatch.setenv(key, value)
    yield REDIS_URL
    client.flushdb()
