"""Each service's documented payload format, checked field by field, so a test fails when a
channel sends what the service would refuse.

- Slack incoming webhooks (Block Kit): a top-level `text` fallback and `blocks`, at most 50;
  `header` takes `plain_text` of at most 150 characters; `section` takes `text` and/or at
  most 10 `fields`, text objects of at most 3000 (fields 2000) characters; `actions` takes
  at most 25 elements; a `button` has `plain_text` of at most 75 characters, a `url` of at
  most 3000 and an `action_id` of at most 255.
- Teams Workflows webhooks: `{"type": "message", "attachments": [{"contentType":
  "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <AdaptiveCard>}]}`;
  the card has `type` AdaptiveCard, `version`, `body` elements and `Action.OpenUrl` actions.
- PagerDuty Events API v2: `routing_key`, `event_action` (trigger | acknowledge | resolve),
  `dedup_key` of at most 255 characters; a trigger's `payload` has `summary` (at most 1024),
  `source` and `severity` (critical | error | warning | info), optional ISO 8601
  `timestamp`, `component`, `group`, `class`, `custom_details`; `links` are `{href, text}`.
"""

from __future__ import annotations

from datetime import datetime

SLACK_BLOCKS = {"header", "section", "actions", "context", "divider"}
CARD_ELEMENTS = {"TextBlock", "FactSet", "Container", "ColumnSet", "Column"}


def check_slack(body: dict) -> None:
    assert isinstance(body["text"], str) and body["text"].strip()
    blocks = body["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        assert block["type"] in SLACK_BLOCKS, block
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                _text_object(block["text"], 3000)
            for field in block.get("fields", []):
                _text_object(field, 2000)
            assert len(block.get("fields", [])) <= 10
        if block["type"] == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button"
                assert button["text"]["type"] == "plain_text" and len(button["text"]["text"]) <= 75
                assert button["url"].startswith("http") and len(button["url"]) <= 3000
                assert len(button["action_id"]) <= 255
    ids = [b["action_id"] for a in blocks if a["type"] == "actions" for b in a["elements"]]
    assert len(ids) == len(set(ids))  # unique within a message


def _text_object(text: dict, limit: int) -> None:
    assert text["type"] in ("plain_text", "mrkdwn")
    assert isinstance(text["text"], str) and 0 < len(text["text"]) <= limit


def check_teams(body: dict) -> dict:
    """Returns the card."""
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "contentUrl" in attachment and attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5")
    for element in _elements(card["body"]):
        assert element["type"] in CARD_ELEMENTS, element
        if element["type"] == "TextBlock":
            assert isinstance(element["text"], str) and element["text"]
        if element["type"] == "FactSet":
            for fact in element["facts"]:
                assert isinstance(fact["title"], str) and isinstance(fact["value"], str)
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl" and action["url"].startswith("http")
        assert isinstance(action["title"], str)
    return card


def _elements(items: list[dict]):
    for item in items:
        yield item
        yield from _elements(item.get("items", []))
        yield from _elements(item.get("columns", []))


def check_pagerduty(body: dict, routing_key: str) -> None:
    assert body["routing_key"] == routing_key
    assert body["event_action"] in ("trigger", "acknowledge", "resolve")
    assert isinstance(body["dedup_key"], str) and 0 < len(body["dedup_key"]) <= 255
    if body["event_action"] != "trigger":
        assert set(body) == {"routing_key", "event_action", "dedup_key"}
        return
    payload = body["payload"]
    assert 0 < len(payload["summary"]) <= 1024
    assert payload["source"]
    assert payload["severity"] in ("critical", "error", "warning", "info")
    datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
    assert isinstance(payload["custom_details"], dict)
    for link in body.get("links", []):
        assert link["href"].startswith("http") and isinstance(link["text"], str)
