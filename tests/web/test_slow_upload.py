"""A slow upload locks out no writer: the body is read whole before any write and the
token's last use is written in its own short transaction, so while one client sends its
push slowly through a real gunicorn, the other clients (same token) are answered quickly."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from monitor.store import get_engine, session_scope
from tests.factories import make_deployment
from tests.web.push_support import push_body
from tests.web.server_support import post_json, running_gunicorn
from web.auth import create_token

PUSH = "/api/v1/deployments/churn-online/predictions"
SLOW_SECONDS = 4.0


def _body(prefix: str, count: int = 20) -> bytes:
    return push_body([f"{prefix}-{n}" for n in range(count)])


def _slow_push(base: str, token: str) -> bytes:
    """Send a push's headers at once and its body over SLOW_SECONDS; return the answer."""
    address = urlsplit(base)
    body = _body("slow")
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        head = (
            f"POST {PUSH} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        sock.sendall(head)
        pieces = 20
        step = len(body) // pieces + 1
        for start in range(0, len(body), step):
            sock.sendall(body[start : start + step])
            time.sleep(SLOW_SECONDS / pieces)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_slow_upload_does_not_hold_up_other_writers(db_url, tmp_path):
    with session_scope(get_engine(db_url)) as session:
        make_deployment(session, name="churn-online")
        token = create_token(session, "pusher", "client")  # never used: its first use is written
    with running_gunicorn(db_url, tmp_path, "-w", "1", "--threads", "8", "-t", "60") as base:
        with ThreadPoolExecutor(4) as pool:
            slow = pool.submit(_slow_push, base, token)
            time.sleep(0.5)  # the slow request has been dispatched and is reading its body

            def push(number: int) -> tuple[int, float]:
                started = time.monotonic()
                status, answer = post_json(base, PUSH, _body(f"fast-{number}"), token, timeout=20)
                assert status == 200, answer
                return status, time.monotonic() - started

            answers = list(pool.map(push, range(6)))
            assert not slow.done(), "the slow client finished first: the test proves nothing"
            assert max(seconds for _, seconds in answers) < 1.5, answers
            assert slow.result(timeout=30).startswith(b"HTTP/1.1 200")
