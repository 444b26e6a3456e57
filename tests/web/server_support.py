"""A real `driftwise web` process on a loopback port, for tests of concurrency and load."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DRIFTWISE = str(Path(sys.executable).with_name("driftwise"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_web(url: str, data_dir: Path, *args: str, **env: str) -> Iterator[str]:
    """`driftwise web` on `url`'s store until the block ends; yields its base address."""
    port = free_port()
    with _running([DRIFTWISE, "web", "--port", str(port), *args], port, url, data_dir, env) as base:
        yield base


@contextmanager
def running_gunicorn(url: str, data_dir: Path, *args: str, **env: str) -> Iterator[str]:
    """`gunicorn 'web:create_app()'` on `url`'s store until the block ends."""
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    command = [gunicorn, "-b", f"127.0.0.1:{port}", *args, "web:create_app()"]
    with _running(command, port, url, data_dir, env) as base:
        yield base


@contextmanager
def _running(command: list[str], port: int, url: str, data_dir: Path, env: dict) -> Iterator[str]:
    environment = {key: value for key, value in os.environ.items() if key[:10] != "DRIFTWISE_"}
    environment |= {"DRIFTWISE_DATABASE_URL": url, "DRIFTWISE_DATA_DIR": str(data_dir)} | env
    log = open(data_dir / f"server-{port}.log", "wb")  # a pipe left unread would fill
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, (data_dir / f"server-{port}.log").read_text()
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:  # refused, reset or timed out: not up yet
                time.sleep(0.1)
        else:
            raise AssertionError(f"{command[0]} did not start within 30 s")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def post_json(base: str, path: str, body: bytes, token: str, timeout: float = 30):
    """POST a JSON body; returns (status, parsed answer)."""
    import http.client
    import json
    from urllib.parse import urlsplit

    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read()
        return answer.status, json.loads(text) if text.startswith((b"{", b"[")) else text
    finally:
        connection.close()
