"""The notifications outbox: fan-out of events to rules, claims, attempts and backoff.

A notification goes `pending` → `sending` (claimed by one dispatcher by compare-and-set)
→ `sent`, or back to `pending` with a later `next_attempt_at`, or `failed` when retrying
cannot help or the attempts are used up. A repeat of the same event type for the same
deployment within a rule's `cooldown` is stored as `folded` into the earlier notification,
whose message counts it; for a window's breaches (`window.breached`), a repeat is one whose
incidents were all announced within the cooldown already. An incident's resolution goes to
whoever heard of the incident. Every function takes a Session and never commits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.errors import NotifierError
from monitor.policy.notice import TYPE as WINDOW
from monitor.policy.notice import announced_by_window
from monitor.service.claims import compare_and_set
from monitor.store.models import (
    AlertRule,
    DeliveryAttempt,
    Deployment,
    Event,
    Incident,
    Notification,
)
from monitor.timeutil import parse_duration, utcnow

SEVERITY_RANK = {"debug": 0, "info": 1, "warning": 2, "error": 3, "critical": 4}
MAX_ATTEMPTS = 30  # with the backoff below, 12 to 23 hours of trying
BACKOFF_BASE = 30.0  # seconds before the second attempt
BACKOFF_CAP = 3600.0
LEASE = timedelta(minutes=5)  # far longer than one send (15 s timeouts)
PENDING_HORIZON = timedelta(hours=1)
RESOLVED = "incident.resolved"


def rule_matches(rule: AlertRule, event: Event, deployment: str) -> bool:
    """Type glob, deployment glob (an event without a deployment matches `*`), severity.
    A window's event matches a rule that asks for any of its breaches' types."""
    if not rule.enabled:
        return False
    types = [event.type]
    if event.type == WINDOW:
        types += (event.data or {}).get("types") or []
    patterns = rule.events or ["*"]
    if not any(fnmatchcase(kind, pattern) for kind in types for pattern in patterns):
        return False
    if not any(fnmatchcase(deployment, pattern) for pattern in rule.deployments or ["*"]):
        return False
    return _rank(event.severity) >= _rank(rule.min_severity)


def enqueue(session: Session, event: Event, now: datetime | None = None) -> list[Notification]:
    """Create a notification per matching rule and target; calling it again adds nothing."""
    now = now or utcnow()
    session.flush()
    if announced_by_window(event):
        return []
    for rule, target in _recipients(session, event):
        head = _fold_head(session, rule, target, event, now)
        _insert_once(
            session,
            event_id=event.id,
            rule_id=rule.id,
            channel=rule.channel,
            target=target,
            status="folded" if head else "pending",
            folded_into_id=head.id if head else None,
            next_attempt_at=now,
            created_at=now,
        )
    return list(
        session.scalars(
            select(Notification).where(Notification.event_id == event.id).order_by(Notification.id)
        )
    )


def _recipients(session: Session, event: Event) -> list[tuple[AlertRule, str]]:
    """Who hears of the event: matching rules' targets; for a resolved incident, whoever
    heard of the incident."""
    if event.type == RESOLVED and event.incident_id is not None:
        return incident_recipients(session, event.incident_id)
    deployment = session.get(Deployment, event.deployment_id) if event.deployment_id else None
    rules = session.scalars(
        select(AlertRule).where(AlertRule.enabled.is_(True)).order_by(AlertRule.id)
    )
    return [
        (rule, target)
        for rule in rules
        if rule_matches(rule, event, deployment.name if deployment else "")
        for target in dict.fromkeys(str(target) for target in rule.targets or [])
    ]


def incident_recipients(session: Session, incident_id: int) -> list[tuple[AlertRule, str]]:
    """The rules and targets that were told of an incident (not failed deliveries)."""
    rows = session.execute(
        select(AlertRule, Notification.target, Event.data, Event.incident_id)
        .join(Notification, Notification.rule_id == AlertRule.id)
        .join(Event, Notification.event_id == Event.id)
        .where(
            Event.type == WINDOW,
            AlertRule.enabled.is_(True),
            Notification.status != "failed",
            Event.id.in_(_incident_window_events(incident_id)),
        )
        .order_by(AlertRule.id, Notification.id)
    )
    found: dict[tuple[int, str], tuple[AlertRule, str]] = {}
    for rule, target, data, first in rows:
        if first == incident_id or incident_id in ((data or {}).get("incident_ids") or []):
            found.setdefault((rule.id, target), (rule, target))
    return list(found.values())


def _incident_window_events(incident_id: int):
    """Window events of the incident's deployment since it opened (filtered in Python for
    incidents other than the first of a window)."""
    return (
        select(Event.id)
        .join(Incident, Incident.id == incident_id)
        .where(
            Event.type == WINDOW,
            Event.deployment_id == Incident.deployment_id,
            Event.created_at >= Incident.opened_at,
        )
    )


def enqueue_pending(session: Session, horizon: timedelta = PENDING_HORIZON) -> int:
    """Fan out events of the last `horizon` that have no notifications yet.

    A safety net for events emitted without `enqueue`; the horizon keeps a rule added today
    from mailing about last month. Returns how many notifications were created.
    """
    since = utcnow() - horizon
    has_rows = select(Notification.id).where(Notification.event_id == Event.id).exists()
    events = session.scalars(
        select(Event).where(Event.created_at >= since, ~has_rows).order_by(Event.id)
    ).all()
    return sum(len(enqueue(session, event)) for event in events)


def due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Notifications to try now: pending and due, or claimed by a dispatcher that vanished."""
    return list(
        session.scalars(
            select(Notification.id)
            .where(_claimable(now))
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        )
    )


def claim(session: Session, notification_id: int, worker_id: str, now: datetime) -> bool:
    """Take a notification by compare-and-set; only the one dispatcher that changed the
    row may send it."""
    return compare_and_set(
        session,
        Notification,
        [Notification.id == notification_id, _claimable(now)],
        {
            "status": "sending",
            "claimed_by": worker_id,
            "claimed_until": now + LEASE,
            "attempts": Notification.attempts + 1,
        },
    )


def record_success(
    session: Session,
    notification_id: int,
    now: datetime,
    duration: float,
    status_code: int | None = None,
) -> None:
    session.add(
        DeliveryAttempt(
            notification_id=notification_id,
            at=now,
            duration=duration,
            ok=True,
            status_code=status_code,
        )
    )
    _finish(session, notification_id, status="sent", sent_at=now, last_error=None)


def record_failure(
    session: Session, notification_id: int, now: datetime, duration: float, error: NotifierError
) -> str:
    """Record a failed attempt and schedule the next or give up; returns the new status."""
    session.add(
        DeliveryAttempt(
            notification_id=notification_id,
            at=now,
            duration=duration,
            ok=False,
            status_code=error.status_code,
            error=error.message,
        )
    )
    notification = session.get(Notification, notification_id)
    if error.disable and notification.rule_id is not None:
        disable_rule(session, notification.rule_id, error.message, now)
    if error.permanent or notification.attempts >= MAX_ATTEMPTS:
        _finish(session, notification_id, status="failed", last_error=error.message)
        return "failed"
    delay = error.retry_after if error.retry_after is not None else backoff(notification.attempts)
    _finish(
        session,
        notification_id,
        status="pending",
        last_error=error.message,
        next_attempt_at=now + timedelta(seconds=min(max(delay, 1.0), BACKOFF_CAP)),
    )
    return "pending"


def mark_failed(session: Session, notification_id: int, reason: str) -> None:
    """Give up without an attempt, e.g. because the rule was disabled meanwhile."""
    _finish(session, notification_id, status="failed", last_error=reason)


def disable_rule(session: Session, rule_id: int, reason: str, now: datetime) -> None:
    rule = session.get(AlertRule, rule_id)
    if rule is not None and rule.enabled:
        rule.enabled = False
        rule.disabled_reason = f"{now:%Y-%m-%d %H:%M} UTC: {reason}"


def backoff(attempts: int) -> float:
    """Exponential with jitter: half the step is fixed, half random, so retries spread out."""
    step = min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)
    return step / 2 + random.uniform(0, step / 2)


@dataclass
class Folding:
    occurrences: int  # this notification's event and those folded into it
    last_at: datetime | None
    missed: int  # folded into the previous message after it was sent


def folding(session: Session, notification: Notification) -> Folding:
    """How many repeats a notification's message should count."""
    folded = select(func.count(), func.max(Notification.created_at)).where(
        Notification.folded_into_id == notification.id
    )
    count, last_at = session.execute(folded).one()
    previous = _previous_sent(session, notification)
    missed = 0
    if previous is not None and previous.sent_at is not None:
        missed = session.scalar(
            select(func.count()).where(
                Notification.folded_into_id == previous.id,
                Notification.created_at > previous.sent_at,
            )
        )
    return Folding(occurrences=1 + count, last_at=last_at, missed=missed or 0)


def _claimable(now: datetime):
    return or_(
        and_(Notification.status == "pending", Notification.next_attempt_at <= now),
        and_(Notification.status == "sending", Notification.claimed_until < now),
    )


def _finish(session: Session, notification_id: int, **values: object) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(claimed_by=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()


def _same_alert(rule_id: int, target: str, event: Event):
    """Notifications (joined to their events) of the same rule and target, for the same
    kind of event at the same place."""
    return and_(
        Notification.rule_id == rule_id,
        Notification.target == target,
        Event.type == event.type,
        Event.deployment_id.is_(None)
        if event.deployment_id is None
        else Event.deployment_id == event.deployment_id,
        Event.model_id.is_(None) if event.model_id is None else Event.model_id == event.model_id,
        Event.id != event.id,
        Notification.status != "folded",
    )


def _fold_head(
    session: Session, rule: AlertRule, target: str, event: Event, now: datetime
) -> Notification | None:
    cooldown = (rule.config or {}).get("cooldown")
    if not cooldown or event.type == RESOLVED:  # each incident's end is news
        return None
    since = now - timedelta(seconds=parse_duration(cooldown))
    if event.type == WINDOW:
        return _window_fold_head(session, rule, target, event, since)
    return session.scalars(
        select(Notification)
        .join(Event, Notification.event_id == Event.id)
        .where(
            _same_alert(rule.id, target, event),
            Notification.status != "failed",  # a failed head would take its repeats with it
            Notification.created_at >= since,
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(1)
    ).first()


def _window_fold_head(
    session: Session, rule: AlertRule, target: str, event: Event, since: datetime
) -> Notification | None:
    """The latest message within the cooldown if, with those before it, it already told of
    every incident of this window: the window repeats them and is folded into it."""
    wanted = set((event.data or {}).get("incident_ids") or [event.incident_id])
    recent = session.execute(
        select(Notification, Event.data, Event.incident_id)
        .join(Event, Notification.event_id == Event.id)
        .where(
            _same_alert(rule.id, target, event),
            Notification.status != "failed",
            Notification.created_at >= since,
        )
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(200)
    ).all()
    told: set = set()
    for _, data, first in recent:
        told |= set((data or {}).get("incident_ids") or [first])
    return recent[0][0] if recent and wanted <= told else None


def _previous_sent(session: Session, notification: Notification) -> Notification | None:
    if notification.rule_id is None:
        return None
    event = session.get(Event, notification.event_id)
    return session.scalars(
        select(Notification)
        .join(Event, Notification.event_id == Event.id)
        .where(
            _same_alert(notification.rule_id, notification.target, event),
            Notification.status == "sent",
            Notification.id < notification.id,
        )
        .order_by(Notification.id.desc())
        .limit(1)
    ).first()


def _insert_once(session: Session, **values: object) -> None:
    """Insert unless (event, channel, target) exists: two fan-outs racing add one row."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Notification).values(**values)
    session.execute(
        statement.on_conflict_do_nothing(index_elements=["event_id", "channel", "target"])
    )


def _rank(severity: str | None) -> int:
    # An unknown severity is treated as a warning rather than dropped.
    return SEVERITY_RANK.get((severity or "info").lower(), SEVERITY_RANK["warning"])
