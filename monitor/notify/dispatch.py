"""The dispatcher: claim due notifications, send them outside any transaction, record.

Several dispatchers (threads, processes, machines) may run at once: each notification is
claimed by compare-and-set, so exactly one of them sends it. No database transaction is
open while a message is on the wire.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime

from sqlalchemy import Engine

from monitor.errors import NotifierError
from monitor.notify import outbox
from monitor.notify.channels import channel_class
from monitor.notify.message import Alert, page_url
from monitor.service import claims
from monitor.settings import Settings, current_settings
from monitor.store import session_scope
from monitor.store.models import AlertRule, Deployment, Event, Model, Notification
from monitor.timeutil import utcnow


def dispatch_due(
    engine: Engine | None = None,
    worker_id: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> Counter:
    """Send up to `limit` due notifications once. Returns counts by outcome: `sent`,
    `retrying`, `failed`, and `skipped` (claimed by another dispatcher first); `due` is
    how many were found."""
    settings = settings or current_settings()
    # Threads of one process dispatch side by side: each claims as itself.
    worker_id = worker_id or claims.worker_id(str(threading.get_ident()))
    clock = (lambda: now) if now is not None else utcnow
    counts: Counter = Counter()
    with session_scope(engine) as session:
        ids = outbox.due_ids(session, clock(), limit)
    counts["due"] = len(ids)
    for notification_id in ids:
        with session_scope(engine) as session:
            claimed = outbox.claim(session, notification_id, worker_id, clock())
        if not claimed:
            counts["skipped"] += 1
            continue
        counts[deliver(engine, notification_id, settings, clock)] += 1
    return counts


def deliver(engine: Engine | None, notification_id: int, settings: Settings, clock) -> str:
    """Send one claimed notification and record the attempt; returns the outcome."""
    with session_scope(engine) as session:
        notification = session.get(Notification, notification_id)
        if notification is None:  # its event was deleted meanwhile
            return "skipped"
        rule = session.get(AlertRule, notification.rule_id) if notification.rule_id else None
        if rule is not None and not rule.enabled:
            outbox.mark_failed(session, notification_id, f"rule disabled: {rule.disabled_reason}")
            return "failed"
        alert = load_alert(session, notification, settings)
    started = time.perf_counter()
    status_code, error = _send(settings, rule, notification, alert)
    duration = time.perf_counter() - started
    with session_scope(engine) as session:
        if error is None:
            outbox.record_success(session, notification_id, clock(), duration, status_code)
            return "sent"
        status = outbox.record_failure(session, notification_id, clock(), duration, error)
    return "retrying" if status == "pending" else "failed"


def _send(
    settings: Settings, rule: AlertRule | None, notification: Notification, alert: Alert
) -> tuple[int | None, NotifierError | None]:
    try:
        channel = channel_class(notification.channel)(settings, rule)
    except KeyError as unknown:
        return None, NotifierError(str(unknown.args[0]), permanent=True)
    try:
        return channel.notify(notification, alert), None
    except NotifierError as error:
        return None, error
    except Exception as error:  # noqa: BLE001 - a channel bug is recorded and retried
        return None, NotifierError(f"{type(error).__name__}: {error}")


def load_alert(session, notification: Notification, settings: Settings) -> Alert:
    event = session.get(Event, notification.event_id)
    deployment = session.get(Deployment, event.deployment_id) if event.deployment_id else None
    model_id = event.model_id or (deployment.model_id if deployment else None)
    model = session.get(Model, model_id) if model_id else None
    deployment_name = deployment.name if deployment else None
    model_name = model.name if model else None
    folding = outbox.folding(session, notification)
    return Alert(
        event=event,
        deployment=deployment_name,
        model=model_name,
        url=page_url(settings.base_url, event, deployment_name, model_name),
        occurrences=folding.occurrences,
        last_at=folding.last_at,
        missed=folding.missed,
        base_url=settings.base_url,
    )
