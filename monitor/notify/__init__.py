"""Notifications: the outbox, its dispatcher, channels (email, webhook) and signing."""

from monitor.notify.outbox import enqueue, enqueue_pending

__all__ = ["enqueue", "enqueue_pending"]
