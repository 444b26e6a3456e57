"""Slack incoming webhooks: a Block Kit message with a plain `text` fallback.

Rule config: `url` (the `https://hooks.slack.com/services/…` address, also the
notification's target) or `url_env` (an environment variable holding it).
Slack answers 200 `ok`; 4xx (`invalid_payload`, `no_service`, …) cannot be retried.
"""

from __future__ import annotations

from monitor.notify.channels.webhook import ChatWebhook
from monitor.notify.message import Alert, subject

HEADER_LIMIT = 150  # characters of a header block's plain text
TEXT_LIMIT = 3000  # characters of a section's text
FIELDS_LIMIT = 10  # fields per section
EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":white_circle:"}


class Slack(ChatWebhook):
    def message(self, alert: Alert) -> dict:
        return message(alert)


def message(alert: Alert) -> dict:
    content = alert.content
    blocks: list[dict] = [
        {"type": "header", "text": _plain(content.title, HEADER_LIMIT)},
        {
            "type": "section",
            "fields": [_mrkdwn(f"*{_escape(k)}*\n{_escape(v)}") for k, v in content.facts][
                :FIELDS_LIMIT
            ],
        },
    ]
    for table in content.tables:
        lines = ["  ".join(table.header), *("  ".join(row) for row in table.rows)]
        text = f"*{_escape(table.title)}*\n```" + _escape("\n".join(lines)) + "```"
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    if content.doing:
        doing = "\n".join(f"• {_escape(line)}" for line in content.doing)
        blocks.append({"type": "section", "text": _mrkdwn(f"*What Driftwise is doing*\n{doing}")})
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": _plain(label, 75), "url": url, "action_id": f"open-{i}"}
                for i, (label, url) in enumerate(content.links)
            ],
        }
    )
    blocks = [block for block in blocks if block.get("fields", True) and block.get("elements", 1)]
    fallback = f"{EMOJI.get(content.severity, '')} {_escape(subject(alert))}".strip()
    return {"text": fallback, "blocks": blocks}


def _plain(text: str, limit: int) -> dict:
    return {"type": "plain_text", "text": _cut(text, limit), "emoji": True}


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": _cut(text, TEXT_LIMIT)}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(text: object) -> str:
    # Slack's mrkdwn reads &, < and > as markup; these three are all it asks to escape.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
