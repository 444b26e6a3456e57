"""What a notification says as email (subject, text and HTML parts) and as a webhook body.

The words come from monitor.notify.content; this module lays them out. Every value taken
from the data is HTML-escaped in the HTML part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote

from monitor.notify.content import Content, Table, build
from monitor.store.models import Event

_CELL = "padding:4px 8px;border:1px solid #ddd;text-align:left"
_COLOURS = {"critical": "#b42318", "warning": "#b54708", "info": "#175cd3"}


@dataclass
class Alert:
    """An event with what a message needs around it: names, link and folded repeats."""

    event: Event
    deployment: str | None
    model: str | None
    url: str
    occurrences: int = 1  # this event and the repeats folded into its message
    last_at: datetime | None = None
    missed: int = 0  # repeats folded into the previous message after it had gone out
    base_url: str = ""

    @property
    def content(self) -> Content:
        return build(self)


def page_url(base_url: str, event: Event, deployment: str | None, model: str | None) -> str:
    """The web page that best shows the event."""
    if event.run_id is not None:
        path = f"/runs/{event.run_id}"
    elif event.retrain_job_id is not None:
        path = f"/jobs/{event.retrain_job_id}"
    elif deployment:
        path = f"/deployments/{quote(deployment, safe='')}"
    elif model:
        path = f"/models/{quote(model, safe='')}"
    else:
        path = f"/events/{event.id}"
    return base_url.rstrip("/") + path


def subject(alert: Alert) -> str:
    text = f"[Driftwise] {alert.content.headline}"
    return " ".join(text.split())  # no line breaks in a header


def text_body(alert: Alert) -> str:
    content = alert.content
    lines = [content.title, ""]
    lines += [f"{label}: {value}" for label, value in content.facts]
    for table in content.tables:
        lines += ["", table.title]
        lines += _table_lines(table)
    if content.doing:
        lines += ["", "What Driftwise is doing"] + [f"  - {line}" for line in content.doing]
    lines.append("")
    lines += [f"{label}: {url}" for label, url in content.links]
    lines.append("")
    return "\n".join(lines)


def _table_lines(table: Table) -> list[str]:
    rows = [[str(cell) for cell in row] for row in [table.header, *table.rows]]
    if not table.aligned:
        return ["  " + "  ".join(row) for row in rows]
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows
    ]


def html_body(alert: Alert) -> str:
    content = alert.content
    colour = _COLOURS.get(content.severity, "#344054")
    facts = "".join(
        f"<tr><th style='{_CELL}'>{escape(label)}</th><td style='{_CELL}'>{escape(value)}</td></tr>"
        for label, value in content.facts
    )
    parts = [
        f"<h2 style='color:{colour};font-size:18px'>{escape(content.title)}</h2>",
        f"<table style='border-collapse:collapse'>{facts}</table>",
    ]
    for table in content.tables:
        head = "".join(f"<th style='{_CELL}'>{escape(str(c))}</th>" for c in table.header)
        body = "".join(
            "<tr>" + "".join(f"<td style='{_CELL}'>{escape(str(c))}</td>" for c in row) + "</tr>"
            for row in table.rows
        )
        parts.append(
            f"<h3 style='font-size:15px'>{escape(table.title)}</h3>"
            f"<table style='border-collapse:collapse'><tr>{head}</tr>{body}</table>"
        )
    if content.doing:
        items = "".join(f"<li>{escape(line)}</li>" for line in content.doing)
        parts.append(f"<h3 style='font-size:15px'>What Driftwise is doing</h3><ul>{items}</ul>")
    links = " · ".join(
        f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in content.links
    )
    parts.append(f"<p>{links}</p>")
    return (
        "<!doctype html><html><body style='font-family:sans-serif;font-size:14px'>"
        + "".join(parts)
        + "</body></html>"
    )


def payload(alert: Alert) -> dict:
    """The webhook body: Standard Webhooks' `{type, timestamp, data}`."""
    event = alert.event
    return {
        "type": event.type,
        "timestamp": event.created_at.isoformat(timespec="seconds") + "Z",
        "data": {
            "event_id": event.id,
            "severity": event.severity,
            "title": event.title,
            "deployment": alert.deployment,
            "model": alert.model,
            "run_id": event.run_id,
            "retrain_job_id": event.retrain_job_id,
            "incident_id": event.incident_id,
            "occurrences": alert.occurrences,
            "url": alert.url,
            **(event.data or {}),
        },
    }
