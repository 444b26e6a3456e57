"""Notification channels by name; each is imported only when first used."""

from __future__ import annotations

import importlib

from monitor.notify.channels.base import Channel

CHANNELS: dict[str, str] = {
    "email": "monitor.notify.channels.email:Email",
    "webhook": "monitor.notify.channels.webhook:Webhook",
    "slack": "monitor.notify.channels.slack:Slack",
    "teams": "monitor.notify.channels.teams:Teams",
    "pagerduty": "monitor.notify.channels.pagerduty:PagerDuty",
}


def channel_class(name: str) -> type[Channel]:
    """The Channel class for a channel name; KeyError names the known ones."""
    if name not in CHANNELS:
        raise KeyError(f"unknown channel {name!r}; known: {', '.join(sorted(CHANNELS))}")
    module_name, attribute = CHANNELS[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)


__all__ = ["CHANNELS", "Channel", "channel_class"]
