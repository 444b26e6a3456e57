"""Email over SMTP (plain, STARTTLS or SSL, with login), or `.eml` files for development.

DRIFTWISE_SMTP_URL: `smtp+starttls://user:pass@host:587`, `smtps://user:pass@host:465`,
`smtp://host:25`, or `file:///dir` to write one `.eml` file per message. Unset, messages
are written to `<data dir>/mail`. A `?cafile=/path/ca.pem` query trusts a private CA.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from monitor.errors import NotifierError
from monitor.notify import message
from monitor.notify.channels.base import Channel
from monitor.notify.message import Alert
from monitor.store.models import Notification
from monitor.timeutil import EPOCH

SMTP_TIMEOUT = 15.0
PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


WINDOW = "window.breached"
WORST_FIRST = ("performance", "estimated_performance", "data_quality", "drift")


def event_kind(alert: Alert) -> str:
    """The event type for mail filters; for a window, its worst breach's type."""
    types = (alert.event.data or {}).get("types") or []
    if alert.event.type != WINDOW or not types:
        return alert.event.type
    return min(types, key=lambda kind: WORST_FIRST.index(kind) if kind in WORST_FIRST else 9)


class Email(Channel):
    def notify(self, notification: Notification, alert: Alert) -> int | None:
        mail = self.build(notification, alert)
        url = self.settings.smtp_url or (self.settings.data_dir / "mail").as_uri()
        if url.startswith("file://"):
            write_eml(Path(unquote(urlsplit(url).path)), notification, mail)
            return None
        send_smtp(url, mail)
        return None

    def build(self, notification: Notification, alert: Alert) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.subject(alert)
        mail["From"] = self.settings.mail_from
        mail["To"] = notification.target
        mail["Date"] = format_datetime(datetime.now(UTC))
        # The same id on every retry lets a mail client drop a duplicate delivery.
        domain = self.settings.mail_from.rpartition("@")[2] or "driftwise.local"
        created = int((notification.created_at - EPOCH).total_seconds())
        mail["Message-ID"] = f"<driftwise.{notification.id}.{created}@{domain}>"
        mail["X-Driftwise-Event"] = event_kind(alert)
        breaches = (alert.event.data or {}).get("types") if alert.event.type == WINDOW else None
        if breaches:
            mail["X-Driftwise-Breaches"] = ", ".join(map(str, breaches))
        mail.set_content(message.text_body(alert))
        mail.add_alternative(message.html_body(alert), subtype="html")
        return mail


def write_eml(directory: Path, notification: Notification, mail: EmailMessage) -> Path:
    """One file per notification; a retry overwrites, so a message never appears twice."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"notification-{notification.id:08d}.eml"
        partial = path.with_suffix(".eml.tmp")
        partial.write_bytes(mail.as_bytes())
        partial.replace(path)
    except OSError as error:
        raise NotifierError(f"cannot write {directory}: {error}") from None
    return path


def send_smtp(url: str, mail: EmailMessage) -> None:
    parts = urlsplit(url)
    scheme, host = parts.scheme, parts.hostname or "localhost"
    port = parts.port or PORTS[scheme]
    cafile = parse_qs(parts.query).get("cafile", [None])[0]
    context = ssl.create_default_context(cafile=cafile)
    try:
        if scheme == "smtps":
            client = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
        with client:
            if scheme == "smtp+starttls":
                client.starttls(context=context)
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(mail)
    except smtplib.SMTPAuthenticationError as error:
        # Retried: fixing the password should let waiting alerts through.
        raise NotifierError(f"SMTP login refused: {_reply(error)}") from None
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        permanent = any(code >= 500 for code in codes)
        raise NotifierError(f"recipient refused: {error.recipients}", permanent) from None
    except smtplib.SMTPResponseException as error:
        permanent = error.smtp_code >= 500
        raise NotifierError(f"SMTP {host}:{port}: {_reply(error)}", permanent) from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as error:
        raise NotifierError(f"SMTP {host}:{port}: {error or type(error).__name__}") from None


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{error.smtp_code} {text}"
