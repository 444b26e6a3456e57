"""The monthly cost of serving a deployment's traffic each way, from the spec's prices.

Real-time: enough always-on instances for the busiest hour, billed every hour of the
month. Batch: one node per run, billed for its start-up and its scoring time (at least
the minimum billed time), as often as runs happen. Every number that goes in is
returned beside the result, so a person can check the arithmetic.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

HOURS_PER_MONTH = 730.0  # 365 days × 24 h / 12
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
PRICE_KEYS = ("instance_hourly", "batch_node_hourly")
_LATENCY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_LATENCY_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Pricing:
    """Prices for one deployment: the spec's `[pricing]`, overridden by the deployment's."""

    currency: str = "USD"
    instance_hourly: float = 0.10  # an always-on real-time instance
    instance_throughput: float | None = None  # rows/s one instance serves; None: measured
    min_instances: int = 1
    batch_node_hourly: float = 0.10
    batch_startup_seconds: float = 300.0
    batch_min_billed_seconds: float = 60.0
    placeholders: tuple[str, ...] = field(default=PRICE_KEYS)  # prices nobody set

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Pricing:
        known = {item.name for item in fields(cls)} - {"placeholders"}
        values = {key: value for key, value in config.items() if key in known}
        unset = tuple(key for key in PRICE_KEYS if key not in config)
        return cls(**values, placeholders=unset)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["placeholders"] = list(self.placeholders)
        return data


def parse_latency(text: str) -> float:
    """`200ms`, `30s`, `5m`, `24h`, `1d` to seconds; ValueError names what is wrong."""
    match = _LATENCY.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"not a positive duration like 200ms, 30s, 15m, 24h: {text!r}")
    return float(match.group(1)) * _LATENCY_UNITS[match.group(2)]


def realtime_cost(traffic: dict[str, Any], compute: dict[str, Any], pricing: Pricing) -> dict:
    """Always-on instances sized for the busiest hour's rate."""
    share = traffic.get("busiest_hour_share") or 0.0
    peak = traffic["per_day"] * share / 3600
    if pricing.instance_throughput:
        capacity, capacity_from = float(pricing.instance_throughput), "pricing"
    else:
        rows = compute["request_rows"]
        capacity, capacity_from = rows / max(compute["warm_request_seconds"], 1e-9), "measured"
    instances = max(pricing.min_instances, math.ceil(peak / capacity) if peak else 0)
    return {
        "monthly": instances * pricing.instance_hourly * HOURS_PER_MONTH,
        "instances": instances,
        "peak_rows_per_second": peak,
        "capacity_rows_per_second": capacity,
        "capacity_from": capacity_from,
        "node_hours_per_day": instances * 24.0,
    }


def batch_cost(
    traffic: dict[str, Any], compute: dict[str, Any], pricing: Pricing, interval_seconds: float
) -> dict:
    """One node per run, a run every `interval_seconds`, each scoring that interval's rows;
    runs start on the hour after the busiest hour, when the most work has arrived."""
    runs_per_day = 86400 / interval_seconds
    rows_per_run = traffic["per_day"] / runs_per_day
    run_seconds = compute["load_seconds"] + rows_per_run * compute["per_row_seconds"]
    billed = max(pricing.batch_min_billed_seconds, pricing.batch_startup_seconds + run_seconds)
    wait = longest_wait(traffic, interval_seconds)
    return {
        "monthly": runs_per_day * DAYS_PER_MONTH * billed / 3600 * pricing.batch_node_hourly,
        "runs_per_day": runs_per_day,
        "interval_seconds": interval_seconds,
        "rows_per_run": rows_per_run,
        "run_seconds": run_seconds,
        "billed_seconds_per_run": billed,
        "first_run_hour": first_run_hour(traffic),
        # The longest wait for a run (99% of requests), then the run's start-up and work.
        "max_result_age_seconds": wait + pricing.batch_startup_seconds + run_seconds,
        "node_hours_per_day": runs_per_day * billed / 3600,
    }


def first_run_hour(traffic: dict[str, Any]) -> int:
    return ((traffic.get("busiest_hour") or 0) + 1) % 24


def longest_wait(traffic: dict[str, Any], interval_seconds: float) -> float:
    """Seconds the worst-served 1% of requests wait for the next run.

    A request arriving within hour h waits for the first run starting at h+1 or later
    (runs start on whole hours); with runs more often than hourly, at most one interval.
    An interval that does not divide the day is taken as a full interval's wait.
    """
    hours = interval_seconds / 3600
    by_hour = traffic.get("by_hour") or [1] * 24
    total = sum(by_hour) or 1
    if hours < 1 or 24 % hours:
        return interval_seconds
    first = first_run_hour(traffic)
    starts = {(first + int(k * hours)) % 24 for k in range(int(24 / hours))}
    waits = []
    for hour in range(24):
        ahead = next(step for step in range(1, 25) if (hour + step) % 24 in starts)
        waits.append((ahead * 3600.0, by_hour[hour] / total))
    dropped = 0.0
    for wait, share in sorted(waits, reverse=True):
        if share == 0:
            continue
        if dropped + share > 0.01:
            return wait
        dropped += share
    return interval_seconds
