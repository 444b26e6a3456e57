"""Logging for the daemon, the workers and the web: plain text, or with
`DRIFTWISE_LOG_FORMAT=json` one JSON object per line (time, level, logger, message, and
the deployment, run and retrain job being worked on, where known) for log collectors."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

CONTEXT_KEYS = ("deployment", "run", "job", "source")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("apscheduler", "alembic")
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context")


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Every record logged inside carries these (e.g. `deployment="churn-online"`)."""
    known = {key: value for key, value in values.items() if value is not None}
    token = _context.set({**_context.get({}), **known})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get({}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


def configure_logging(log_format: str | None = None, level: int = logging.INFO) -> None:
    """Route every logger through one stderr handler in the configured format."""
    if log_format is None:
        from monitor.settings import current_settings

        log_format = current_settings().log_format
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Python's warnings too, in the same format and under the handler's lock: written to
    # stderr beside it, a warning could split a long JSON line.
    logging.captureWarnings(True)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
