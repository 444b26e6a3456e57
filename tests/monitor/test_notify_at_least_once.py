"""Webhooks are delivered at least once: PostgreSQL killed between a delivery and its
record makes the delivery repeat, with the same `webhook-id`, for the receiver to
deduplicate (README, "Alerts")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from monitor.notify import enqueue
from monitor.notify.dispatch import dispatch_due
from monitor.notify.outbox import LEASE
from monitor.notify.signing import verify
from monitor.store import db as store_db
from monitor.store import schema, session_scope
from monitor.store.models import Notification
from monitor.timeutil import utcnow
from tests.monitor.notify_support import make_deployment, make_event, make_rule, make_settings
from tests.pg_server import OwnPostgres

pytestmark = pytest.mark.slow

SECRET = "whsec_c2VjcmV0LWZvci10aGUtZGVwbG95ZXI="


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    try:
        server.start()
        yield server
    finally:
        store_db.reset_engines()
        server.close()


class KillingReceiver:
    """Answers 200, but first runs `before_answer` once (kills the database)."""

    def __init__(self, before_answer) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                if len(receiver.deliveries) == 1:
                    before_answer()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_delivery_whose_record_was_lost_repeats_with_the_same_webhook_id(
    own_postgres: OwnPostgres, tmp_path, monkeypatch
) -> None:
    url = own_postgres.url
    schema.upgrade(store_db.get_engine(url))
    monkeypatch.setenv("DRIFTWISE_DATABASE_URL", url)
    settings = make_settings(tmp_path, url)
    receiver = KillingReceiver(own_postgres.kill)
    try:
        with session_scope() as session:
            deployment = make_deployment(session)
            make_rule(session, channel="webhook", targets=[receiver.url], config={"secret": SECRET})
            (notification,) = enqueue(session, make_event(session, deployment))
            notification_id = notification.id
        with pytest.raises(OperationalError):
            dispatch_due(settings=settings)  # delivered, then the record is lost
        assert len(receiver.deliveries) == 1
        own_postgres.restart()
        store_db.reset_engines()
        with session_scope() as session:
            row = session.get(Notification, notification_id)
            assert row.status == "sending", "the lost record leaves the claim in place"
        early = dispatch_due(now=utcnow() + LEASE - timedelta(seconds=5), settings=settings)
        assert early["due"] == 0, "nothing repeats while the claim may still be sending"
        later = dispatch_due(now=utcnow() + LEASE + timedelta(seconds=1), settings=settings)
        assert later["sent"] == 1
    finally:
        receiver.close()
    (first_headers, first_body), (second_headers, second_body) = receiver.deliveries
    assert first_headers["webhook-id"] == second_headers["webhook-id"]
    assert verify(first_headers, first_body, SECRET) == first_headers["webhook-id"]
    assert verify(second_headers, second_body, SECRET) == first_headers["webhook-id"]
    with session_scope() as session:
        statuses = session.scalars(select(Notification.status)).all()
    assert statuses == ["sent"]
