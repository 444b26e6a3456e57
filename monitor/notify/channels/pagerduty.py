"""PagerDuty Events API v2: `trigger` an alert per incident (its `dedup_key`), and
`resolve` it with the same key when the incident closes.

Rule config: `routing_key` (the integration key) or `routing_key_env` (a variable holding
it); `url` (default PagerDuty's enqueue URL, the notification's target). Severity maps
from ours: critical → critical, warning → warning, info → info. PagerDuty answers 202;
400 (an invalid event) is permanent, 429 is retried after its Retry-After.
"""

from __future__ import annotations

import json
import os

from monitor.errors import NotifierError
from monitor.notify.channels.base import HttpChannel, target_url
from monitor.notify.channels.webhook import Webhook
from monitor.notify.message import Alert, subject
from monitor.store.models import Notification

ENQUEUE_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITIES = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}
SUMMARY_LIMIT = 1024
KEY_LIMIT = 255


class PagerDuty(HttpChannel):
    opener = Webhook.opener  # a URL from the spec: public addresses only, unless allowed

    def notify(self, notification: Notification, alert: Alert) -> int | None:
        url = target_url(self, notification)
        status = None
        # Each incident is its own PagerDuty alert; resending a trigger is harmless.
        for event in events(alert, self.routing_key()):
            body = json.dumps(event, separators=(",", ":"), default=str).encode()
            headers = {"Content-Type": "application/json", "User-Agent": "Driftwise"}
            status = self.post(url, body, headers)
        return status

    def routing_key(self) -> str:
        if self.config.get("routing_key"):
            return str(self.config["routing_key"])
        name = self.config.get("routing_key_env")
        if not name:
            raise NotifierError("pagerduty rule has no routing_key or routing_key_env", True)
        value = os.environ.get(str(name))
        if not value:
            raise NotifierError(f"pagerduty routing key variable {name} is not set")
        return value


def dedup_key(alert: Alert, incident_id: int | None) -> str:
    """One per incident, stable across messages, so a resolve finds its trigger."""
    where = alert.deployment or alert.model or "driftwise"
    if incident_id is None:
        return f"driftwise:{where}:event:{alert.event.id}"[:KEY_LIMIT]
    return f"driftwise:{where}:incident:{incident_id}"[:KEY_LIMIT]


def events(alert: Alert, routing_key: str) -> list[dict]:
    event, data = alert.event, alert.event.data or {}
    if event.type == "incident.resolved":
        key = dedup_key(alert, data.get("incident_id") or event.incident_id)
        return [{"routing_key": routing_key, "event_action": "resolve", "dedup_key": key}]
    if event.type == "alerts.test":  # shows up in PagerDuty, then closes itself
        test = trigger(alert, routing_key, None)
        return [
            test,
            {"routing_key": routing_key, "event_action": "resolve", "dedup_key": test["dedup_key"]},
        ]
    incidents = data.get("incident_ids") or [event.incident_id]
    return [trigger(alert, routing_key, incident_id) for incident_id in incidents]


def trigger(alert: Alert, routing_key: str, incident_id: int | None) -> dict:
    event, content = alert.event, alert.content
    summary = subject(alert).removeprefix("[Driftwise] ")
    details = dict(content.facts)
    for table in content.tables:
        details[table.title] = [dict(zip(table.header, row, strict=False)) for row in table.rows]
    if content.doing:
        details["What Driftwise is doing"] = content.doing
    links = [{"href": url, "text": label} for label, url in content.links]
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(alert, incident_id),
        "payload": {
            "summary": summary[:SUMMARY_LIMIT],
            "source": alert.deployment or alert.model or "driftwise",
            "severity": SEVERITIES.get(event.severity, "warning"),
            "timestamp": event.created_at.isoformat(timespec="seconds") + "Z",
            "component": alert.model or "driftwise",
            "group": alert.deployment or "driftwise",
            "class": ", ".join((event.data or {}).get("types") or [event.type]),
            "custom_details": details,
        },
        "client": "Driftwise",
        "client_url": links[0]["href"] if links else alert.url,
        "links": links,
    }
