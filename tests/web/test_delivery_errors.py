"""A webhook receiver's error body is for admins: viewers see the status code only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.notify import enqueue
from monitor.notify.dispatch import dispatch_due
from monitor.store import session_scope
from tests.monitor.notify_support import (
    Receiver,
    make_deployment,
    make_event,
    make_rule,
    make_settings,
)
from tests.web.conftest import VIEWER, bearer, build_app, login

DETAIL = "db password hunter2 at 10.1.2.3"


@pytest.fixture
def failing_receiver() -> Iterator[str]:
    """A real HTTP server that answers POSTs 500 with an internal detail in its body."""
    with Receiver([(500, {})] * 10, body=f"Traceback: {DETAIL}".encode()) as receiver:
        yield receiver.url


@pytest.fixture
def failed_delivery(sqlite_url, tmp_path, failing_receiver):
    app = build_app(sqlite_url)
    with session_scope() as session:
        deployment = make_deployment(session)
        make_rule(session, channel="webhook", targets=[failing_receiver], config={"secret": "s"})
        enqueue(session, make_event(session, deployment))
    assert dispatch_due(settings=make_settings(tmp_path, sqlite_url))["retrying"] == 1
    return app


def test_a_viewer_sees_the_status_code_but_not_the_receiver_s_body(failed_delivery, sqlite_url):
    from web.auth import create_token

    client = failed_delivery.test_client()
    assert login(client, VIEWER).status_code == 302
    page = client.get("/events").get_data(as_text=True)
    assert "hunter2" not in page and "Traceback" not in page
    assert "HTTP 500" in page
    with session_scope() as session:
        token = create_token(session, "reader", "viewer")
    (row,) = client.get("/api/v1/notifications", headers=bearer(token)).json["notifications"]
    assert row["last_error"] == "delivery failed: HTTP 500"
    assert row["last_status_code"] == 500


def test_an_admin_sees_the_receiver_s_detail(failed_delivery):
    from web.auth import create_token

    client = failed_delivery.test_client()
    assert login(client).status_code == 302
    page = client.get("/events").get_data(as_text=True)
    assert "hunter2" in page
    with session_scope() as session:
        token = create_token(session, "operator", "admin")
    (row,) = client.get("/api/v1/notifications", headers=bearer(token)).json["notifications"]
    assert "answered 500" in row["last_error"] and "hunter2" in row["last_error"]
    assert row["last_status_code"] == 500
