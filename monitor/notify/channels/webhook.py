"""Outbound webhooks, signed as Standard Webhooks (see monitor.notify.signing).

Unless DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS is on, a delivery never reaches a loopback,
private, link-local or otherwise non-public address: the host is resolved as the
connection is made, every address it resolves to is checked, and the socket connects to
a checked address itself, so a name that re-resolves to an inside address (DNS rebinding)
is refused too. A refusal is permanent and names the address.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import urllib.request

from monitor.errors import NotifierError
from monitor.notify import message
from monitor.notify.channels.base import HttpChannel, _NoRedirects, target_url
from monitor.notify.message import Alert
from monitor.notify.signing import signed_headers
from monitor.store.models import Notification
from monitor.timeutil import EPOCH


class Webhook(HttpChannel):
    """POSTs the event as JSON to the rule's URL (the notification's target).

    Rule config: `secret` (the value) or `secret_env` (an environment variable holding it);
    either may be a list while a secret is rotated, and every one signs the delivery.
    """

    @property
    def opener(self) -> urllib.request.OpenerDirector:
        return _any_address if self.settings.allow_private_webhooks else _public_only

    def notify(self, notification: Notification, alert: Alert) -> int | None:
        body = json.dumps(message.payload(alert), separators=(",", ":"), default=str).encode()
        headers = signed_headers(self.secrets(), webhook_id(notification), body)
        headers |= {"Content-Type": "application/json", "User-Agent": "Driftwise"}
        return self.post(notification.target, body, headers)

    def secrets(self) -> list[str]:
        if "secret" in self.config:
            values = self.config["secret"]
        elif "secret_env" in self.config:
            names = self.config["secret_env"]
            names = [names] if isinstance(names, str) else names
            missing = [name for name in names if not os.environ.get(name)]
            if missing:
                raise NotifierError(f"webhook secret variable {missing[0]} is not set")
            values = [os.environ[name] for name in names]
        else:
            raise NotifierError("webhook rule has no secret or secret_env", permanent=True)
        values = [values] if isinstance(values, str) else list(values)
        if not values or not all(values):
            raise NotifierError("webhook secret is empty", permanent=True)
        return values


class ChatWebhook(HttpChannel):
    """A chat service's incoming webhook (Slack, Teams): what `message` makes of the alert,
    POSTed as JSON to the target URL (or to the variable the target names)."""

    opener = Webhook.opener  # a URL from the spec: public addresses only, unless allowed

    def message(self, alert: Alert) -> dict:
        raise NotImplementedError

    def notify(self, notification: Notification, alert: Alert) -> int | None:
        body = json.dumps(self.message(alert), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Driftwise"}
        return self.post(target_url(self, notification), body, headers)


def webhook_id(notification: Notification) -> str:
    """Stable across retries of one notification, distinct across databases."""
    created = int((notification.created_at - EPOCH).total_seconds())
    return f"msg_{notification.id}_{created}"


class PrivateAddress(NotifierError, OSError):
    """The webhook's host is, or resolves to, an address that is not public."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _public_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):  # noqa: ANN001
    """socket.create_connection, refusing before any packet if an address is not public."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in infos:
        if not is_public(sockaddr[0]):
            raise PrivateAddress(
                f"{host} resolves to {sockaddr[0]}, a loopback, private or link-local "
                "address: set DRIFTWISE_ALLOW_PRIVATE_WEBHOOKS=1 to allow it",
                permanent=True,
            )
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)  # the address just checked, not a second lookup
            return sock
        except OSError as failed:
            sock.close()
            error = failed
    raise error or OSError(f"{host}: no address")


class _PublicOnly:
    """Handler mixin: the connection class urllib picks makes its socket through the check."""

    def do_open(self, http_class, req, **kwargs):  # noqa: ANN001, ANN003
        class Connection(http_class):
            def __init__(self, *args, **kw) -> None:  # noqa: ANN002, ANN003
                super().__init__(*args, **kw)
                self._create_connection = _public_connection

        return super().do_open(Connection, req, **kwargs)


class _PublicHTTPHandler(_PublicOnly, urllib.request.HTTPHandler):
    pass


class _PublicHTTPSHandler(_PublicOnly, urllib.request.HTTPSHandler):
    pass


_any_address = urllib.request.build_opener(_NoRedirects)
_public_only = urllib.request.build_opener(_NoRedirects, _PublicHTTPHandler, _PublicHTTPSHandler)
