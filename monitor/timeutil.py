"""UTC times, durations like `15m`, and epoch-aligned tumbling windows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


_offset = timedelta(0)


def utcnow() -> datetime:
    """Naive UTC now: every time in the store is naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None) + _offset


def set_clock(moment: datetime | None) -> None:
    """Make `utcnow()` read `moment` from now on, ticking forward; None: the real clock.

    Only the demo, which replays simulated days through the real code paths, uses it.
    """
    global _offset
    _offset = timedelta(0) if moment is None else moment - datetime.now(UTC).replace(tzinfo=None)


def parse_duration(text: str) -> int:
    """`30s`, `15m`, `1h`, `7d`, `2w` to seconds; ValueError names what is wrong."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"not a duration like 30s, 15m, 1h, 7d: {text!r}")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    return seconds


def format_duration(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_timestamp(value: object) -> datetime:
    """An ISO-8601 string, epoch seconds/milliseconds or datetime, to naive UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    elif isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        return EPOCH + timedelta(seconds=seconds)
    elif isinstance(value, str) and value:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        moment = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def window_start(moment: datetime, seconds: int) -> datetime:
    """The start of the epoch-aligned window of `seconds` that holds `moment`."""
    offset = int((moment - EPOCH).total_seconds()) // seconds * seconds
    return EPOCH + timedelta(seconds=offset)


def windows_between(
    start: datetime, end: datetime, seconds: int
) -> list[tuple[datetime, datetime]]:
    """Every whole window that starts at or after `start` and ends at or before `end`."""
    first = window_start(start, seconds)
    if first < start:
        first += timedelta(seconds=seconds)
    step = timedelta(seconds=seconds)
    result = []
    while first + step <= end:
        result.append((first, first + step))
        first += step
    return result
