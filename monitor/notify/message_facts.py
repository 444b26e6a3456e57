"""The known numbers of a plain event (one that is not a window's or an incident's), read
from `event.data` with these keys when present:
- drift: `drift_share`, `drift_share_threshold` (or `threshold`), `features` as
  `{name: {score, method, threshold, drifted}}` (drifted ones listed first, producer order kept);
- performance: `metric`, `value`, `min` (or `threshold`), `estimated` (bool), `labeled_rows`;
- retrain: `decision`, `metric`, `champion` and `challenger` as `{version, metrics: {...}}`
  (or `{version, score}`) or `champion_score` and `challenger_score`, `reason`, `error`;
- any other scalar under `data` (not a flag) is listed as a detail.
"""

from __future__ import annotations

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
    "champion_score",
    "challenger_score",
    "estimate",
    "window_start",
    "window_end",
    "run_kind",
    "improvement",
    "improvement_interval",
    "confidence",
}


def facts(alert) -> list[tuple[str, object]]:
    event = alert.event
    facts: list[tuple[str, object]] = [("Severity", event.severity), ("Event", event.type)]
    if alert.deployment:
        facts.append(("Deployment", alert.deployment))
    if alert.model:
        facts.append(("Model", alert.model))
    if event.created_at is not None:
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
        kind = "estimated " if data.get("estimated") or data.get("estimate") else ""
        limit = data.get("min", data.get("threshold"))
        against = f" (threshold {number(limit)})" if limit is not None else ""
        facts.append((f"{kind}{data['metric']}", f"{number(data['value'])}{against}"))
    if "decision" in data:
        facts.append(("Decision", data["decision"]))
    if data.get("improvement") is not None:
        facts.append(("Improvement", _improvement(data)))
    facts += [
        (key.replace("_", " ").capitalize(), value)
        for key, value in data.items()
        if key not in _KNOWN
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
    ]
    return facts


def _improvement(data: dict) -> str:
    """The challenger's improvement and, when the decision had one, its interval."""
    shown = f"{data['improvement']:+.4g}"
    interval, confidence = data.get("improvement_interval"), data.get("confidence")
    if isinstance(interval, list) and len(interval) == 2 and confidence:
        low, high = interval
        shown += f", {confidence:.0%} interval [{low:+.4g}, {high:+.4g}]"
    return shown


def sections(data: dict) -> list[tuple[str, list[list[object]]]]:
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
                    number(info.get("score")),
                    number(info.get("threshold")),
                    info.get("method", ""),
                    "yes" if info.get("drifted") else "no",
                ]
            )
        sections.append(("Worst features", rows))
    champion, challenger = data.get("champion"), data.get("challenger")
    if isinstance(champion, dict) or isinstance(challenger, dict):
        sections.append(("Champion vs challenger", _versus(champion or {}, challenger or {})))
    elif "champion_score" in data or "challenger_score" in data:
        metric = data.get("metric") or "score"
        scores = [
            metric,
            number(data.get("champion_score")),
            number(data.get("challenger_score")),
        ]
        version = data.get("version")
        challenger_name = f"challenger v{version}" if version is not None else "challenger"
        sections.append(("Champion vs challenger", [["", "champion", challenger_name], scores]))
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
            [name, number(metrics(champion).get(name)), number(metrics(challenger).get(name))]
        )
    return rows


def _share(value: object, limit: object) -> str:
    text = f"{number(value, percent=True)}"
    return f"{text} (threshold {number(limit, percent=True)})" if limit is not None else text


def number(value: object, percent: bool = False) -> str:
    """A number as every message shows it: four significant digits, or a whole percent."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.0%}" if percent else f"{value:.4g}"
