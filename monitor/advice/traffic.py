"""A deployment's traffic as its stored predictions show it, and a first plain sentence on
whether its shape fits the way it is served.

The usual criteria for choosing between real-time and batch: how often predictions are
needed (spread over the day, or at a few times), how soon results are needed (how long
labels take, a proxy for when anyone acts on the outcome), and how many predictions come
at once. Every query is bounded: a count and a minimum over an indexed range, and the
newest SAMPLE timestamps.
"""

from __future__ import annotations

from datetime import timedelta
from statistics import median
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import Deployment, Label, Prediction, label_of_prediction

SAMPLE = 20_000  # newest predictions looked at: enough for a profile, cheap on any history
LOOKBACK = timedelta(days=28)
MIN_PREDICTIONS = 50
RUN_GAP = timedelta(minutes=10)  # a longer pause between predictions starts a new batch run
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def deployment_profile(session: Session, deployment: Deployment) -> dict[str, Any]:
    where = Prediction.deployment_id == deployment.id
    newest = session.scalar(
        select(Prediction.timestamp).where(where).order_by(Prediction.timestamp.desc()).limit(1)
    )
    times: list = []
    total, oldest = 0, None
    if newest is not None:
        recent = (where, Prediction.timestamp >= newest - LOOKBACK)
        times = sorted(
            session.scalars(
                select(Prediction.timestamp)
                .where(*recent)
                .order_by(Prediction.timestamp.desc())
                .limit(SAMPLE)
            )
        )
        total, oldest = session.execute(
            select(func.count(), func.min(Prediction.timestamp)).where(*recent)
        ).one()
    profile = traffic(times)
    profile.update(volume(total, oldest, newest))
    profile["runs"] = batch_runs(times, profile["days_observed"], total)
    profile["label_delay"] = label_delay(session, deployment)
    profile["verdict"] = verdict(deployment.mode, profile)
    return profile


def volume(total: int, oldest, newest) -> dict[str, Any]:
    """Predictions per day and hour over the look-back, counting whole calendar days seen."""
    if not total:
        return {"lookback_predictions": 0, "days_observed": 0, "per_day": 0.0, "per_hour": 0.0}
    days = (newest.date() - oldest.date()).days + 1
    return {
        "lookback_predictions": total,
        "days_observed": days,
        "per_day": total / days,
        "per_hour": total / days / 24,
    }


def batch_runs(times: list, days: int, total: int) -> dict[str, Any]:
    """Runs as a batch job would see them: groups of predictions split by pauses of RUN_GAP.

    `regularity` is the coefficient of variation of the gaps between run starts
    (0: like clockwork); `per_day` scales the sample's runs to the whole look-back.
    """
    if not times:
        return {"count": 0, "per_day": 0.0, "rows_per_run": None, "gap_seconds": None}
    starts, sizes = [times[0]], [1]
    for before, moment in zip(times, times[1:], strict=False):
        if moment - before > RUN_GAP:
            starts.append(moment)
            sizes.append(0)
        sizes[-1] += 1
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    sampled_days = max((times[-1].date() - times[0].date()).days + 1, 1)
    per_day = len(starts) / sampled_days if len(times) < total else len(starts) / max(days, 1)
    mean_gap = sum(gaps) / len(gaps) if gaps else None
    spread = (sum((gap - mean_gap) ** 2 for gap in gaps) / len(gaps)) ** 0.5 if gaps else None
    return {
        "count": len(starts),
        "per_day": per_day,
        "rows_per_run": median(sizes),
        "gap_seconds": median(gaps) if gaps else None,
        "regularity": round(spread / mean_gap, 3) if gaps and mean_gap else None,
    }


def traffic(times: list) -> dict[str, Any]:
    by_hour, by_weekday = [0] * 24, [0] * 7
    for moment in times:
        by_hour[moment.hour] += 1
        by_weekday[moment.weekday()] += 1
    per_second: dict = {}
    for moment in times:
        key = moment.replace(microsecond=0)
        per_second[key] = per_second.get(key, 0) + 1
    per_request: dict = {}
    for moment in times:
        per_request[moment] = per_request.get(moment, 0) + 1
    total = len(times)
    busiest = max(range(24), key=lambda hour: by_hour[hour])
    hours_active = sum(1 for count in by_hour if total and count >= 0.01 * total)
    return {
        "predictions": total,
        "by_hour": by_hour,
        "weekdays": list(WEEKDAYS),
        "by_weekday": by_weekday,
        "hours_active": hours_active,
        "active_share": hours_active / 24,
        "busiest_hour": busiest if total else None,
        "busiest_hour_share": by_hour[busiest] / total if total else None,
        "busiest_3h_share": sum(sorted(by_hour)[-3:]) / total if total else None,
        "burstiness": burstiness(times),
        "median_batch": median(per_second.values()) if per_second else None,
        # Rows logged with one timestamp came in one request (a multi-row payload).
        "request_rows": median(per_request.values()) if per_request else None,
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
        .join(Label, label_of_prediction())
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
