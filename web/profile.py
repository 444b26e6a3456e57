"""A deployment's traffic profile, and whether it fits real-time or batch serving.

The usual criteria for choosing between them: how often predictions are needed (spread
over the day, or at a few times), how soon results are needed (how long labels take,
a proxy for when anyone acts on the outcome), and how many predictions come at once.
"""

from __future__ import annotations

from datetime import timedelta
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.models import Deployment, Label, Prediction

SAMPLE = 5_000  # newest predictions looked at: enough for a profile, cheap on any history
LOOKBACK = timedelta(days=28)
MIN_PREDICTIONS = 50
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def deployment_profile(session: Session, deployment: Deployment) -> dict[str, Any]:
    newest = session.scalar(
        select(Prediction.timestamp)
        .where(Prediction.deployment_id == deployment.id)
        .order_by(Prediction.timestamp.desc())
        .limit(1)
    )
    times = []
    if newest is not None:
        times = sorted(
            session.scalars(
                select(Prediction.timestamp)
                .where(
                    Prediction.deployment_id == deployment.id,
                    Prediction.timestamp >= newest - LOOKBACK,
                )
                .order_by(Prediction.timestamp.desc())
                .limit(SAMPLE)
            )
        )
    profile = traffic(times)
    profile["label_delay"] = label_delay(session, deployment)
    profile["verdict"] = verdict(deployment.mode, profile)
    return profile


def traffic(times: list) -> dict[str, Any]:
    by_hour, by_weekday = [0] * 24, [0] * 7
    for moment in times:
        by_hour[moment.hour] += 1
        by_weekday[moment.weekday()] += 1
    per_second: dict = {}
    for moment in times:
        key = moment.replace(microsecond=0)
        per_second[key] = per_second.get(key, 0) + 1
    total = len(times)
    return {
        "predictions": total,
        "by_hour": by_hour,
        "weekdays": list(WEEKDAYS),
        "by_weekday": by_weekday,
        "hours_active": sum(1 for count in by_hour if total and count >= 0.01 * total),
        "busiest_3h_share": sum(sorted(by_hour)[-3:]) / total if total else None,
        "burstiness": burstiness(times),
        "median_batch": median(per_second.values()) if per_second else None,
    }


def burstiness(times: list) -> float | None:
    """Goh and Barabási's B of the gaps between predictions: -1 regular, 0 random, 1 bursty."""
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    if len(gaps) < 2:
        return None
    mean = sum(gaps) / len(gaps)
    spread = (sum((gap - mean) ** 2 for gap in gaps) / len(gaps)) ** 0.5
    if mean + spread == 0:
        return None
    return round((spread - mean) / (spread + mean), 3)


def label_delay(session: Session, deployment: Deployment) -> dict[str, Any]:
    """Seconds from prediction to label, over the newest labels (label time, else arrival)."""
    rows = session.execute(
        select(Prediction.timestamp, Label.timestamp, Label.ingested_at)
        .join(
            Label,
            (Label.deployment_id == Prediction.deployment_id)
            & (Label.request_id == Prediction.request_id),
        )
        .where(Prediction.deployment_id == deployment.id)
        .order_by(Label.ingested_at.desc())
        .limit(5000)
    ).all()
    delays = sorted(
        max(((labeled or arrived) - predicted).total_seconds(), 0.0)
        for predicted, labeled, arrived in rows
    )
    if not delays:
        return {"labels": 0, "median_seconds": None, "p90_seconds": None}
    return {
        "labels": len(delays),
        "median_seconds": delays[len(delays) // 2],
        "p90_seconds": delays[min(int(len(delays) * 0.9), len(delays) - 1)],
    }


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def verdict(mode: str, profile: dict[str, Any]) -> str:
    """One plain sentence: does the traffic look like the way it is served?"""
    if profile["predictions"] < MIN_PREDICTIONS:
        return "Too few predictions yet to say whether real-time or batch serving fits."
    share = profile["busiest_3h_share"] or 0.0
    bursty = (profile["burstiness"] or 0.0) >= 0.6
    batch_size = profile["median_batch"] or 1
    delay = profile["label_delay"]["median_seconds"] if "label_delay" in profile else None
    slow_results = delay is not None and delay >= 3600
    if mode == "realtime" and share >= 0.8 and (bursty or batch_size >= 20):
        sentence = (
            f"This real-time endpoint receives {share:.0%} of its predictions within three "
            f"hours of the day, in bursts of about {batch_size:g} at once: it looks like batch "
            "work served by an always-on endpoint, and a scheduled batch job would likely do"
        )
        if slow_results:
            sentence += (
                f" (labels take {_duration(delay)}, so results are not needed within seconds)"
            )
        return sentence + "."
    if mode == "batch" and profile["hours_active"] >= 16 and batch_size <= 2 and not bursty:
        return (
            f"This batch deployment scores one or two records at a time across "
            f"{profile['hours_active']} hours of the day: it looks like real-time traffic, and "
            "a real-time endpoint would return results as requests arrive instead of waiting "
            "for the next batch."
        )
    kind = "real-time" if mode == "realtime" else "batch"
    return f"The traffic fits {kind} serving."
