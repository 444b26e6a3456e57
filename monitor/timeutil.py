"""UTC times, durations like `15m`, and tumbling windows: epoch-aligned for seconds,
minutes and hours, calendar days, weeks (from Monday) and months in a deployment's zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def iso(moment: datetime | None) -> str | None:
    """The one way a time is shown: ISO 8601 in UTC ending in `Z` (`2026-01-05T00:00:00Z`);
    a naive time is UTC, as every time in the store is."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat() + "Z"


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


_WINDOW = re.compile(r"^\s*(\d+)\s*(mo|[smhdw])\s*$")
_NAMES = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month"}
MONDAY = date(1970, 1, 5)  # the first Monday after the epoch: weeks start on Mondays


def zone_of(name: str | None) -> ZoneInfo:
    """The IANA time zone `name` (None: UTC); ValueError names what is wrong."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not a time zone like UTC or Europe/Berlin: {name!r}") from None


@dataclass(frozen=True)
class Calendar:
    """A deployment's tumbling windows. `s`, `m` and `h` windows are aligned to the UTC
    epoch; `d`, `w` (weeks from Monday) and `mo` (calendar months) to midnight in `zone`,
    so a `1mo` window is March, whatever its length. Times in and out are naive UTC."""

    count: int
    unit: str
    zone: str = "UTC"

    @classmethod
    def parse(cls, text: str, zone: str | None = None) -> Calendar:
        match = _WINDOW.match(str(text))
        if not match or int(match.group(1)) <= 0:
            raise ValueError(
                f"not a duration like 15m, 1h, 1d, 1w (weeks from Monday), 1mo (calendar months): {text!r}"
            )
        zone_of(zone)
        return cls(int(match.group(1)), match.group(2), zone or "UTC")

    @property
    def text(self) -> str:
        return f"{self.count}{self.unit}"

    @property
    def seconds(self) -> int:
        """The nominal length (a month counts 30 days): for schedules, not for boundaries."""
        return self.count * (30 * 86400 if self.unit == "mo" else _UNITS[self.unit])

    def start_of(self, moment: datetime) -> datetime:
        """The start of the window that holds `moment`."""
        if self.unit in ("s", "m", "h"):
            return window_start(moment, self.seconds)
        local = _local(moment, self.zone).date()
        if self.unit == "mo":
            index = (local.year * 12 + local.month - 1) // self.count * self.count
            return _utc(date(index // 12, index % 12 + 1, 1), self.zone)
        origin, days = (MONDAY, 7 * self.count) if self.unit == "w" else (EPOCH.date(), self.count)
        start = origin + timedelta(days=(local - origin).days // days * days)
        if _utc(start, self.zone) > moment:  # a zone's midnight that the clock skipped
            start -= timedelta(days=days)
        return _utc(start, self.zone)

    def end_of(self, start: datetime) -> datetime:
        """The end of the window that starts at `start` (the next one's start)."""
        if self.unit in ("s", "m", "h"):
            return start + timedelta(seconds=self.seconds)
        local = _local(start, self.zone).date()
        if self.unit == "mo":
            index = local.year * 12 + local.month - 1 + self.count
            return _utc(date(index // 12, index % 12 + 1, 1), self.zone)
        days = 7 * self.count if self.unit == "w" else self.count
        return _utc(local + timedelta(days=days), self.zone)

    def before(self, start: datetime) -> datetime:
        """The start of the window just before the one starting at `start`."""
        return self.start_of(start - timedelta(seconds=1))

    def between(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Every whole window that starts at or after `start` and ends at or before `end`."""
        first = self.start_of(start)
        if first < start:
            first = self.end_of(first)
        result = []
        while (following := self.end_of(first)) <= end:
            result.append((first, following))
            first = following
        return result

    def describe(self) -> str:
        """`1 day`, `2 weeks`, `1 month (Europe/Berlin)`."""
        name = _NAMES[self.unit] + ("" if self.count == 1 else "s")
        zone = "" if self.zone == "UTC" or self.unit in ("s", "m", "h") else f" ({self.zone})"
        return f"{self.count} {name}{zone}"


def deployment_calendar(deployment) -> Calendar:
    """The windows of a deployment row (its `window` text, else its `window_seconds`)."""
    text = getattr(deployment, "window", None) or format_duration(deployment.window_seconds)
    return Calendar.parse(text, getattr(deployment, "timezone", None))


def human_duration(seconds: float | None) -> str:
    """`1 day`, `5 minutes`, `1 day 6 hours`, `2.5 s`: how a person reads a duration."""
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.3g} s"
    parts = []
    left = int(round(seconds))
    for unit in ("w", "d", "h", "m", "s"):
        amount, left = divmod(left, _UNITS[unit])
        if amount:
            parts.append(f"{amount} {_NAMES[unit]}{'' if amount == 1 else 's'}")
    return " ".join(parts[:2])


def _local(moment: datetime, zone: str) -> datetime:
    return moment.replace(tzinfo=UTC).astimezone(zone_of(zone))


def _utc(day: date, zone: str) -> datetime:
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone_of(zone))
    return midnight.astimezone(UTC).replace(tzinfo=None)
