"""Outbound webhooks, signed as Standard Webhooks (see monitor.notify.signing)."""

from __future__ import annotations

import json
import os

from monitor.errors import NotifierError
from monitor.notify import message
from monitor.notify.channels.base import HttpChannel
from monitor.notify.message import Alert
from monitor.notify.signing import signed_headers
from monitor.store.models import Notification
from monitor.timeutil import EPOCH


class Webhook(HttpChannel):
    """POSTs the event as JSON to the rule's URL (the notification's target).

    Rule config: `secret` (the value) or `secret_env` (an environment variable holding it);
    either may be a list while a secret is rotated, and every one signs the delivery.
    """

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


def webhook_id(notification: Notification) -> str:
    """Stable across retries of one notification, distinct across databases."""
    created = int((notification.created_at - EPOCH).total_seconds())
    return f"msg_{notification.id}_{created}"
