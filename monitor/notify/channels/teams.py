"""Microsoft Teams through a Workflows webhook ("Send webhook alerts to a channel"): an
Adaptive Card in the message envelope the workflow expects.

Rule config: `url` (the workflow's HTTP address, also the notification's target) or
`url_env`. The workflow answers 202 Accepted.
"""

from __future__ import annotations

from monitor.notify.channels.webhook import ChatWebhook
from monitor.notify.message import Alert, subject

CARD_VERSION = "1.4"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
COLOURS = {"critical": "Attention", "warning": "Warning", "info": "Accent"}


class Teams(ChatWebhook):
    def message(self, alert: Alert) -> dict:
        return message(alert)


def message(alert: Alert) -> dict:
    return {
        "type": "message",
        "summary": subject(alert),
        "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": card(alert)}],
    }


def card(alert: Alert) -> dict:
    content = alert.content
    body: list[dict] = [
        {
            "type": "TextBlock",
            "text": content.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": COLOURS.get(content.severity, "Default"),
        },
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in content.facts]},
    ]
    for table in content.tables:
        body.append({"type": "TextBlock", "text": table.title, "weight": "Bolder", "wrap": True})
        body.append(_table(table.header, table.rows))
    if content.doing:
        body.append({"type": "TextBlock", "text": "What Driftwise is doing", "weight": "Bolder"})
        body += [{"type": "TextBlock", "text": f"- {line}", "wrap": True} for line in content.doing]
    return {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
        "actions": [
            {"type": "Action.OpenUrl", "title": label, "url": url} for label, url in content.links
        ],
    }


def _table(header: list[str], rows: list[list[str]]) -> dict:
    """A table as a ColumnSet per row (Adaptive Cards 1.4 has no Table element)."""

    def row(cells: list[str], bold: bool) -> dict:
        return {
            "type": "ColumnSet",
            "columns": [
                {
                    "type": "Column",
                    "width": "stretch",
                    "items": [
                        {
                            "type": "TextBlock",
                            "text": str(cell) or "–",
                            "wrap": True,
                            "weight": "Bolder" if bold else "Default",
                        }
                    ],
                }
                for cell in cells
            ],
        }

    return {"type": "Container", "items": [row(header, True), *(row(r, False) for r in rows)]}
