"""Outbound webhooks never reach loopback, private or link-local addresses unless
DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS says so; the address is checked as the connection is made."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from monitor.errors import SettingsError
from monitor.notify.dispatch import dispatch_due
from monitor.settings import load_settings
from monitor.store import session_scope
from monitor.store.models import Notification
from tests.monitor.notify_support import Receiver, make_settings
from tests.monitor.test_notify_webhook import _webhook_alerts


def _refusing(tmp_path, url: str):
    return make_settings(tmp_path, url).model_copy(update={"allow_private_webhooks": False})


def _outcome() -> tuple[str, str]:
    with session_scope() as session:
        row = session.scalars(select(Notification)).one()
        return row.status, row.last_error or ""


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_a_loopback_receiver_is_refused_permanently_and_hears_nothing(db_url, tmp_path, host):
    """On SQLite and PostgreSQL."""
    with Receiver() as receiver:
        _webhook_alerts(receiver.url.replace("127.0.0.1", host))
        assert dispatch_due(settings=_refusing(tmp_path, db_url))["failed"] == 1
    assert receiver.deliveries == []
    status, error = _outcome()
    assert status == "failed"
    assert "127.0.0.1" in error and "DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS" in error


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://10.1.2.3/hook", "10.1.2.3"),
        ("http://169.254.169.254/latest", "169.254.169.254"),
        ("http://[fe80::1]:8/x", "fe80::1"),
        ("http://100.64.0.1/x", "100.64.0.1"),
    ],
)
def test_private_and_link_local_targets_are_refused_before_connecting(
    sqlite_url, tmp_path, url, address
):
    _webhook_alerts(url)
    assert dispatch_due(settings=_refusing(tmp_path, sqlite_url))["failed"] == 1
    assert f"resolves to {address}," in _outcome()[1]


def test_a_name_that_rebinds_to_loopback_at_send_time_is_refused(sqlite_url, tmp_path, monkeypatch):
    """The DNS answer is the outermost edge, faked: a public address first, then loopback."""
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host != "hooks.example.com":
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with Receiver() as receiver:
        _webhook_alerts(receiver.url.replace("127.0.0.1", "hooks.example.com"))
        assert dispatch_due(settings=_refusing(tmp_path, sqlite_url))["failed"] == 1
    assert receiver.deliveries == []
    assert "hooks.example.com resolves to 127.0.0.1" in _outcome()[1]


def test_the_setting_lets_a_local_receiver_through(sqlite_url, tmp_path):
    with Receiver() as receiver:
        _webhook_alerts(receiver.url)
        assert dispatch_due(settings=make_settings(tmp_path, sqlite_url))["sent"] == 1
    assert len(receiver.deliveries) == 1


def test_the_setting_is_off_by_default_and_parsed_strictly():
    assert load_settings({}).allow_private_webhooks is False
    assert load_settings({"DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS": "1"}).allow_private_webhooks
    with pytest.raises(SettingsError, match="DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS"):
        load_settings({"DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS": "perhaps"})
