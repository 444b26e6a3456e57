"""Test messages: one through each chosen rule, sent now, so a person can check a channel
before an incident needs it. They go through the outbox like any message (claimed once,
every attempt recorded) and are not retried: the person is waiting for the answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import DriftwiseError
from monitor.store.models import AlertRule, Event, Notification
from monitor.timeutil import utcnow

TYPE = "alerts.test"


@dataclass
class Probe:
    rule_id: int
    channel: str
    target: str
    notification_id: int


def rules_to_test(session: Session, rule_id: int | None) -> list[AlertRule]:
    query = select(AlertRule).order_by(AlertRule.id)
    if rule_id is not None:
        query = query.where(AlertRule.id == rule_id)
    rules = list(session.scalars(query))
    if rule_id is not None and not rules:
        known = ", ".join(str(rule.id) for rule in session.scalars(select(AlertRule))) or "none"
        raise DriftwiseError(f"no alert rule {rule_id} (rules: {known})")
    if not rules:
        raise DriftwiseError("no alert rules: add [[alerts]] to the spec and apply it")
    return rules


def queue_tests(session: Session, rules: list[AlertRule]) -> list[Probe]:
    """A test event per rule and a notification per target, due now."""
    now = utcnow()
    probes = []
    for rule in rules:
        event = Event(
            type=TYPE,
            dedup_key=f"{TYPE}:{rule.id}:{uuid.uuid4().hex}",
            title=f"Driftwise test message through alert rule {rule.id} ({rule.channel})",
            severity="info",
            data={"rule_id": rule.id, "channel": rule.channel},
        )
        session.add(event)
        session.flush()
        for target in dict.fromkeys(str(target) for target in rule.targets or []):
            notification = Notification(
                event_id=event.id,
                rule_id=rule.id,
                channel=rule.channel,
                target=target,
                status="pending",
                next_attempt_at=now,
                created_at=now,
            )
            session.add(notification)
            session.flush()
            probes.append(Probe(rule.id, rule.channel, target, notification.id))
    return probes
