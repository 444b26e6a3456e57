"""Events, incidents and notifications as JSON, as the API and the pages show them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import Deployment, Event, Incident, Notification
from monitor.timeutil import iso

INCIDENT_EVENTS = 200  # the newest an incident lists; a long incident stays readable


def event_view(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "severity": event.severity,
        "title": event.title,
        "deployment_id": event.deployment_id,
        "model_id": event.model_id,
        "run_id": event.run_id,
        "retrain_job_id": event.retrain_job_id,
        "incident_id": event.incident_id,
        "data": event.data or {},
        "created_at": iso(event.created_at),
    }


def incident_view(session: Session, incident: Incident) -> dict[str, Any]:
    deployment = session.get(Deployment, incident.deployment_id)
    events = session.scalars(
        select(Event.id)
        .where(Event.incident_id == incident.id)
        .order_by(Event.id)
        .limit(INCIDENT_EVENTS)
    )
    return {
        "id": incident.id,
        "deployment": deployment.name if deployment else None,
        "reason": incident.reason,
        "status": incident.status,
        "severity": incident.severity,
        "title": incident.title,
        "windows": incident.windows,
        "first_window_start": iso(incident.first_window_start),
        "last_window_end": iso(incident.last_window_end),
        "opened_at": iso(incident.opened_at),
        "opened_run_id": incident.opened_run_id,
        "resolved_at": iso(incident.resolved_at),
        "resolved_window_start": iso(incident.resolved_window_start),
        "resolved_run_id": incident.resolved_run_id,
        "resolved_by": incident.resolved_by,
        "resolution": incident.resolution,
        "event_ids": list(events),
    }


def notification_view(
    notification: Notification, last_status_code: int | None, detail: bool
) -> dict[str, Any]:
    """`detail`: the reader is an admin and may see the receiver's own error text."""
    return {
        "id": notification.id,
        "event_id": notification.event_id,
        "channel": notification.channel,
        "target": notification.target,
        "status": notification.status,
        "attempts": notification.attempts,
        "next_attempt_at": iso(notification.next_attempt_at),
        "last_error": delivery_error(notification.last_error, last_status_code, detail),
        "last_status_code": last_status_code,
        "sent_at": iso(notification.sent_at),
    }


def delivery_error(error: str | None, status_code: int | None, detail: bool) -> str | None:
    """What a reader may see of a failed delivery: admins get the receiver's answer, others
    only its status code, since a receiver's error body can hold its internals."""
    if error is None or detail:
        return error
    return f"delivery failed: HTTP {status_code}" if status_code else "delivery failed"
