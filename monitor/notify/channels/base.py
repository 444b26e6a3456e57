"""What every channel is, and the HTTP base that owns the timeout and Retry-After."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime

from monitor.errors import NotifierError
from monitor.notify.message import Alert
from monitor.settings import Settings
from monitor.store.models import AlertRule, Notification
from monitor.timeutil import utcnow

HTTP_TIMEOUT = 15.0  # seconds, for each connect and read


class Channel:
    """Delivers one notification. `notify` returns the receiver's status code when there
    is one, and raises NotifierError(message, permanent=...) when delivery failed."""

    def __init__(self, settings: Settings, rule: AlertRule | None) -> None:
        self.settings = settings
        self.rule = rule
        self.config: dict = dict(rule.config or {}) if rule is not None else {}

    def notify(self, notification: Notification, alert: Alert) -> int | None:
        raise NotImplementedError


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A signed POST must reach the configured URL itself, never wherever it points next.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None


_opener = urllib.request.build_opener(_NoRedirects)


class HttpChannel(Channel):
    timeout = HTTP_TIMEOUT
    opener = _opener

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the 2xx status, or raise NotifierError classified by status:
        410 disables the rule, 429 and 5xx retry (honouring Retry-After), other 4xx and
        3xx are permanent, network errors retry."""
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return response.status
        except urllib.error.HTTPError as error:
            status, retry_after = error.code, parse_retry_after(error.headers.get("Retry-After"))
            detail = _snippet(error)
            error.close()
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = getattr(error, "reason", error)
            if isinstance(reason, NotifierError):  # the channel's own refusal, as it said
                raise reason from None
            raise NotifierError(f"{url}: {reason}") from None
        message = f"{url} answered {status}{detail}"
        if status == 410:
            raise NotifierError(message, status_code=status, disable=True)
        if status == 429 or status >= 500:
            raise NotifierError(message, status_code=status, retry_after=retry_after)
        raise NotifierError(message, permanent=True, status_code=status)


def target_url(channel: Channel, notification: Notification) -> str:
    """The URL to POST to: the target itself, or the variable it names (`env:NAME`), read
    at send time so a secret URL stays out of the database. A `#fragment` (which tells
    rules to the same address apart) is never sent."""
    target = notification.target
    if target.startswith("env:"):
        name = target.removeprefix("env:")
        value = os.environ.get(name)
        if not value:
            raise NotifierError(
                f"{channel.__class__.__name__.lower()} URL variable {name} is not set"
            )
        target = value
    return target.partition("#")[0]


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is not None:
        moment = moment.replace(tzinfo=None) - moment.utcoffset()
    return max((moment - utcnow()).total_seconds(), 0.0)


def _snippet(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read(300).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f": {' '.join(text.split())[:200]}" if text else ""
