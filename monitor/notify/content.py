"""What a message says, before any channel renders it: a headline, facts, small tables,
what Driftwise is doing, and links. Email, Slack and Teams render the same Content.

A window's event (`window.breached`) lists every breach with its value and threshold, the
drifted features, realized and estimated performance (the estimate marked) and the action
taken on each breach; an `incident.resolved` event says how long the incident lasted and
what fixed it; any other event shows its title, its known numbers and its scalar details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from monitor.notify.message_facts import facts, number, sections

WORDS = {
    "drift": "drift",
    "data_quality": "data quality",
    "performance": "performance",
    "estimated_performance": "estimated performance",
}


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    aligned: bool = True  # columns padded in plain text


@dataclass
class Content:
    headline: str  # the subject without its `[Driftwise] ` prefix
    title: str
    severity: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    doing: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)


def build(alert) -> Content:
    """The Content of an Alert (see monitor.notify.message)."""
    builders = {"window.breached": _window, "incident.resolved": _resolved, "alerts.test": _test}
    return builders.get(alert.event.type, _generic)(alert)


def _window(alert) -> Content:
    event, data = alert.event, alert.event.data or {}
    where = alert.deployment or "Driftwise"
    headline = event.title.removeprefix(f"{where}: ")
    content = Content(
        headline=f"{where}: {headline} — window {window_label(data)}{_times(alert)}",
        title=f"{where}: {headline}",
        severity=event.severity,
        facts=_window_facts(alert, data),
    )
    rows = [
        [
            _breach_label(entry),
            number(entry.get("value")),
            number(entry.get("threshold")),
            str(entry.get("doing") or entry.get("held") or ""),
        ]
        for entry in data.get("breaches") or []
    ]
    content.tables.append(Table("Breaches", ["rule", "value", "threshold", "action"], rows))
    features = data.get("drifted_features") or []
    if features:
        more = int(data.get("drifted_feature_count") or len(features)) - len(features)
        title = "Drifted features" + (f" ({more} more not shown)" if more > 0 else "")
        header = ["feature", "method", "score", "threshold"]
        cells = [
            [str(row.get("feature")), str(row.get("method") or ""), number(row.get("score"))]
            + [number(row.get("threshold"))]
            for row in features
        ]
        content.tables.append(Table(title, header, cells))
    performance = _performance_rows(data)
    if performance:
        content.tables.append(Table("Performance", ["metric", "value", "kind"], performance))
    content.doing = list(dict.fromkeys(_doing(entry) for entry in data.get("breaches") or []))
    content.links = _links(alert)
    return content


def _window_facts(alert, data: dict) -> list[tuple[str, str]]:
    found = [("Deployment", alert.deployment or "–")]
    if alert.model:
        found.append(("Model", alert.model))
    found.append(("Window", window_span(data)))
    if data.get("drift_share") is not None:
        found.append(("Drift share", number(data["drift_share"], percent=True)))
    if data.get("labeled_rows"):
        found.append(("Labeled rows", str(data["labeled_rows"])))
    found += _folding_facts(alert)
    return found


def _performance_rows(data: dict) -> list[list[str]]:
    metric = data.get("metric")
    rows = []
    for key, kind in (("performance", "realized"), ("estimated_performance", "estimate")):
        values = data.get(key) or {}
        names = [metric] if metric in values else sorted(values)[:4]
        rows += [[name, number(values[name]), kind] for name in names]
    return rows


def _breach_label(entry: dict) -> str:
    rule = str(entry.get("rule") or "")
    name, _, detail = rule.partition(":")
    if name == "drift_share":
        return "drift share"
    if name == "feature":
        return f"feature {detail} drift"
    if name == "estimated_performance":
        return f"{detail} (estimate)"
    if name == "performance":
        return detail
    return rule.replace("_", " ").replace(":", " ")


def _doing(entry: dict) -> str:
    return str(entry.get("doing") or entry.get("held") or "alerting")


def _resolved(alert) -> Content:
    event, data = alert.event, alert.event.data or {}
    where = alert.deployment or "Driftwise"
    reason = WORDS.get(str(data.get("reason")), str(data.get("reason", "incident")))
    facts = [
        ("Deployment", where),
        ("Incident", f"{reason} (#{data.get('incident_id')})"),
        ("Lasted", f"{data.get('lasted')}, {data.get('windows')} breaching window(s)"),
        ("Since", _date(data.get("first_window_start"))),
        ("What fixed it", str(data.get("resolution") or "–")),
    ]
    return Content(
        headline=f"{where}: {reason} resolved — window {window_label(data)}",
        title=event.title,
        severity="info",
        facts=facts,
        links=_links(alert),
    )


def _test(alert) -> Content:
    return Content(
        headline=f"test message (rule {alert.event.data.get('rule_id')})",
        title=alert.event.title,
        severity=alert.event.severity,
        facts=[("Sent by", "driftwise alerts test"), ("At", _stamp(alert.event.created_at))],
        links=[("Open Driftwise", alert.url)],
    )


def _generic(alert) -> Content:
    event = alert.event
    where = alert.deployment or alert.model or "Driftwise"
    # Event titles often start with the deployment already; say it once.
    what = event.title.removeprefix(f"{where}: ")
    if alert.occurrences > 1:
        what += f", {alert.occurrences} times"
    tables = [
        Table(title, rows[0], rows[1:], aligned=False) for title, rows in sections(event.data or {})
    ]
    return Content(
        headline=f"{where}: {what} ({event.severity})",
        title=event.title,
        severity=event.severity,
        facts=[(label, str(value)) for label, value in facts(alert)],
        tables=tables,
        links=[("Open in Driftwise", alert.url)],
    )


def _folding_facts(alert) -> list[tuple[str, str]]:
    found = []
    if alert.occurrences > 1:
        last = f", last at {_stamp(alert.last_at)}" if alert.last_at else ""
        found.append(("Repeated", f"{alert.occurrences} times within the cooldown{last}"))
    if alert.missed:
        found.append(("Since the last message", f"{alert.missed} more like it were folded"))
    return found


def _times(alert) -> str:
    return f", {alert.occurrences} times" if alert.occurrences > 1 else ""


def _links(alert) -> list[tuple[str, str]]:
    base = alert.base_url.rstrip("/")
    links = []
    if alert.event.run_id is not None:
        links.append(("Open the run", f"{base}/runs/{alert.event.run_id}"))
    if alert.deployment:
        links.append(("Open the deployment", f"{base}/deployments/{quote(alert.deployment)}"))
    return links or [("Open in Driftwise", alert.url)]


def window_label(data: dict) -> str:
    """`2026-03-04` for a window of whole days, else `2026-03-04 06:00`."""
    start = _parse(data.get("window_start"))
    if start is None:
        return "?"
    whole_days = int(data.get("window_seconds") or 0) % 86400 == 0 and start.hour == 0
    return f"{start:%Y-%m-%d}" if whole_days and not start.minute else f"{start:%Y-%m-%d %H:%M}"


def window_span(data: dict) -> str:
    start, end = _parse(data.get("window_start")), _parse(data.get("window_end"))
    if start is None or end is None:
        return "–"
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def _date(text: object) -> str:
    moment = _parse(text)
    return _stamp(moment) if moment else "–"


def _stamp(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "–"


def _parse(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).removesuffix("Z")) if text else None
    except ValueError:
        return None


__all__ = ["Content", "Table", "build"]
