"""Real daemon processes for the crash and takeover tests, and what they work on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from monitor.store import session_scope
from monitor.store.models import Lease

ROOT = Path(__file__).resolve().parents[2]
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


class Process:
    """A `driftwise <command>` subprocess with its output in a log file."""

    def __init__(self, command: list[str], db_url: str, log: Path, **env: str) -> None:
        self.log = log
        environment = {**os.environ, **FAST, "DRIFTWISE_DATABASE_URL": db_url, **env}
        environment["PYTHONPATH"] = str(ROOT)
        with log.open("ab") as output:
            self.popen = subprocess.Popen(
                [sys.executable, "-c", "from monitor.cli import main; main()", *command],
                env=environment,
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
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


def leader(engine: Engine) -> str | None:
    with session_scope(engine) as session:
        lease = session.scalar(select(Lease).where(Lease.name == "scheduler"))
        return lease.holder if lease else None


def holder_pid(holder: str | None) -> int | None:
    return int(holder.split(":")[1]) if holder else None


def slow_recipe(frame, context):
    """A user recipe that says it started (a file in DRIFTWISE_TEST_MARKERS) and then
    takes long enough to be killed in the middle of."""
    from monitor.demo.sample_data import churn_pipeline

    markers = Path(os.environ["DRIFTWISE_TEST_MARKERS"])
    markers.mkdir(parents=True, exist_ok=True)
    (markers / f"train-{os.getpid()}-{time.time_ns()}").touch()
    time.sleep(float(os.environ.get("DRIFTWISE_TEST_TRAIN_SECONDS", "3")))
    return churn_pipeline().fit(frame[context.features], frame[context.target])


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that counts deliveries by their `webhook-id`."""

    def __init__(self) -> None:
        self.deliveries: Counter = Counter()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.deliveries[self.headers.get("webhook-id")] += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
