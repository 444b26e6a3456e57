"""Slow clients do not take `driftwise web` down: with its default limits 150 clients
trickling their bodies leave a normal client answered within a second, and a body over
the limit is refused with 413 before it is read (declared or chunked)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from monitor.store import get_engine, session_scope
from tests.factories import make_deployment
from tests.web.server_support import post_json, running_web
from web.auth import create_token

PUSH = "/api/v1/deployments/churn-online/predictions"
SLOW_CLIENTS = 150


def _connect(base: str) -> socket.socket:
    address = urlsplit(base)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def _head(base: str, token: str, framing: str) -> bytes:
    return (
        f"POST {PUSH} HTTP/1.1\r\nHost: {urlsplit(base).netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


def _status(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n" not in answer and (chunk := sock.recv(4096)):
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


def _setup(db_url: str) -> str:
    with session_scope(get_engine(db_url)) as session:
        make_deployment(session, name="churn-online")
        return create_token(session, "pusher", "client")


def test_150_slow_clients_leave_a_normal_client_answered_within_a_second(sqlite_url, tmp_path):
    token = _setup(sqlite_url)
    with running_web(sqlite_url, tmp_path) as base:
        slow = []
        try:
            for _ in range(SLOW_CLIENTS):
                sock = _connect(base)
                sock.sendall(_head(base, token, "Content-Length: 100000") + b'{"records": [')
                slow.append(sock)
            time.sleep(0.5)
            for _ in range(3):
                started = time.monotonic()
                status, answer = post_json(base, PUSH, b"[]", token, timeout=5)
                assert status == 200, answer
                assert time.monotonic() - started < 1.0
                for sock in slow[:50]:  # still trickling
                    sock.sendall(b" ")
        finally:
            for sock in slow:
                sock.close()


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(sqlite_url, tmp_path):
    token = _setup(sqlite_url)
    with running_web(sqlite_url, tmp_path, DRIFTWISE_MAX_BODY_BYTES=str(1024 * 1024)) as base:
        with _connect(base) as sock:  # declares 300 MiB, sends none of it
            sock.sendall(_head(base, token, f"Content-Length: {300 * 1024 * 1024}"))
            assert b" 413 " in _status(sock)
        with _connect(base) as sock:  # chunked: the size is only known as it arrives
            sock.sendall(_head(base, token, "Transfer-Encoding: chunked"))
            chunk = b"[" + b" " * (64 * 1024 - 1)
            try:
                for _ in range(40):  # 2.5 MiB, over the 1 MiB limit
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    chunk = b" " * len(chunk)
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server may close as soon as it has answered
            assert b" 413 " in _status(sock)
