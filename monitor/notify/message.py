"""What a notification says: subject, text and HTML parts, and the webhook payload.

The key numbers come from `event.data`, read with these keys when present:
- drift: `drift_share`, `drift_share_threshold` (or `threshold`), `features` as
  `{name: {score, method, threshold, drifted}}` (drifted ones listed first, producer order kept);
- performance: `metric`, `value`, `min` (or `threshold`), `estimated` (bool), `labeled_rows`;
- retrain: `decision`, `metric`, `champion` and `challenger` as `{version, metrics: {...}}`
  (or `{version, score}`), `reason`;
- any other scalar under `data` is listed as a detail.
Every value taken from the data is HTML-escaped in the HTML part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import quote

from monitor.store.models import Event

WORST_FEATURES = 5
_KNOWN = {
    "drift_share",
    "drift_share_threshold",
    "threshold",
    "features",
    "metric",
    "value",
    "min",
    "estimated",
    "decision",
    "champion",
    "challenger",
}


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
    where = alert.deployment or alert.model or "Driftwise"
    # Event titles often start with the deployment already; say it once.
    what = alert.event.title.removeprefix(f"{where}: ")
    if alert.occurrences > 1:
        what += f", {alert.occurrences} times"
    text = f"[Driftwise] {where}: {what} ({alert.event.severity})"
    return " ".join(text.split())  # no line breaks in a header


def text_body(alert: Alert) -> str:
    lines = [alert.event.title, ""]
    lines += [f"{label}: {value}" for label, value in _facts(alert)]
    for title, rows in _sections(alert.event.data or {}):
        lines += ["", title]
        lines += ["  " + "  ".join(str(cell) for cell in row) for row in rows]
    lines += ["", f"Open in Driftwise: {alert.url}", ""]
    return "\n".join(lines)


def html_body(alert: Alert) -> str:
    facts = "".join(
        f"<tr><th align='left'>{escape(label)}</th><td>{escape(str(value))}</td></tr>"
        for label, value in _facts(alert)
    )
    parts = [
        f"<h2>{escape(alert.event.title)}</h2>",
        f"<table cellpadding='4'>{facts}</table>",
    ]
    for title, rows in _sections(alert.event.data or {}):
        cells = "".join(
            "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>"
            for row in rows
        )
        parts.append(f"<h3>{escape(title)}</h3><table cellpadding='4' border='1'>{cells}</table>")
    parts.append(f'<p><a href="{escape(alert.url)}">Open in Driftwise</a></p>')
    return "<!doctype html><html><body>" + "".join(parts) + "</body></html>"


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
            "occurrences": alert.occurrences,
            "url": alert.url,
            **(event.data or {}),
        },
    }


def _facts(alert: Alert) -> list[tuple[str, object]]:
    event = alert.event
    facts: list[tuple[str, object]] = [("Severity", event.severity), ("Event", event.type)]
    if alert.deployment:
        facts.append(("Deployment", alert.deployment))
    if alert.model:
        facts.append(("Model", alert.model))
    facts.append(("At", f"{event.created_at:%Y-%m-%d %H:%M:%S} UTC"))
    if alert.occurrences > 1:
        last = f", last at {alert.last_at:%Y-%m-%d %H:%M:%S} UTC" if alert.last_at else ""
        facts.append(("Repeated", f"{alert.occurrences} times within the cooldown{last}"))
    if alert.missed:
        facts.append(("Since the last message", f"{alert.missed} more like it were folded"))
    data = event.data or {}
    if "drift_share" in data:
        limit = data.get("drift_share_threshold", data.get("threshold"))
        facts.append(("Drift share", _share(data["drift_share"], limit)))
    if "value" in data and "metric" in data:
        kind = "estimated " if data.get("estimated") else ""
        limit = data.get("min", data.get("threshold"))
        against = f" (threshold {_number(limit)})" if limit is not None else ""
        facts.append((f"{kind}{data['metric']}", f"{_number(data['value'])}{against}"))
    if "decision" in data:
        facts.append(("Decision", data["decision"]))
    facts += [
        (key.replace("_", " ").capitalize(), value)
        for key, value in data.items()
        if key not in _KNOWN and isinstance(value, str | int | float | bool)
    ]
    return facts


def _sections(data: dict) -> list[tuple[str, list[list[object]]]]:
    sections = []
    features = data.get("features")
    if isinstance(features, dict) and features:
        worst = sorted(
            features.items(),
            key=lambda item: not (isinstance(item[1], dict) and item[1].get("drifted")),
        )[:WORST_FEATURES]
        rows: list[list[object]] = [["feature", "score", "threshold", "method", "drifted"]]
        for name, info in worst:
            info = info if isinstance(info, dict) else {"score": info}
            rows.append(
                [
                    name,
                    _number(info.get("score")),
                    _number(info.get("threshold")),
                    info.get("method", ""),
                    "yes" if info.get("drifted") else "no",
                ]
            )
        sections.append(("Worst features", rows))
    champion, challenger = data.get("champion"), data.get("challenger")
    if isinstance(champion, dict) or isinstance(challenger, dict):
        sections.append(("Champion vs challenger", _versus(champion or {}, challenger or {})))
    return sections


def _versus(champion: dict, challenger: dict) -> list[list[object]]:
    def metrics(side: dict) -> dict:
        found = side.get("metrics")
        return found if isinstance(found, dict) else {"score": side.get("score")}

    rows: list[list[object]] = [
        [
            "",
            f"champion v{champion.get('version', '?')}",
            f"challenger v{challenger.get('version', '?')}",
        ]
    ]
    names = list(dict.fromkeys([*metrics(champion), *metrics(challenger)]))
    for name in names:
        rows.append(
            [name, _number(metrics(champion).get(name)), _number(metrics(challenger).get(name))]
        )
    return rows


def _share(value: object, limit: object) -> str:
    text = f"{_number(value, percent=True)}"
    return f"{text} (threshold {_number(limit, percent=True)})" if limit is not None else text


def _number(value: object, percent: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.0%}" if percent else f"{value:.4g}"
