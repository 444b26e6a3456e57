"""`GET /metrics` in Prometheus' text format, and `GET /readyz`.

Every number is read from the database at scrape time by a custom collector, so any web
process serves the same numbers and none keeps state of its own. Each family costs one
set-based query, whatever the number of deployments.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import case, func, select, tuple_
from sqlalchemy.orm import Session

from monitor.store.models import (
    Deployment,
    Incident,
    Lease,
    ModelVersion,
    Notification,
    PendingHalf,
    RetrainJob,
    Run,
    Source,
)
from monitor.timeutil import EPOCH, utcnow
from web.charts import drift_strength

bp = Blueprint("ops", __name__)
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
JOB_STATUSES = ("pending", "running", "succeeded", "rejected", "failed")


@bp.get("/metrics")
def scrape() -> Response:
    from web import db

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(db()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


@bp.get("/readyz")
def readyz():
    """Ready when the database answers and its schema is at head."""
    from monitor.errors import SchemaBehind
    from monitor.store import get_engine
    from monitor.store.schema import check

    try:
        check(get_engine(current_app.config["DATABASE_URL"]))
    except SchemaBehind as error:
        return jsonify(ready=False, reason=str(error)), 503
    except Exception as error:  # noqa: BLE001 - any database failure means not ready
        return jsonify(ready=False, reason=f"database unreachable: {type(error).__name__}"), 503
    return jsonify(ready=True)


class StoreCollector(Collector):
    """Deployments' newest windows, sources, and the service, as Prometheus families."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[Metric]:
        names = dict(self.session.execute(select(Deployment.id, Deployment.name)).all())
        yield from window_metrics(self.session, names)
        yield active_versions(self.session)
        yield from policy_thresholds(self.session)
        yield open_incidents(self.session)
        yield from source_metrics(self.session, names)
        yield from service_metrics(self.session)


def newest_runs(session: Session) -> list[Run]:
    """Each deployment's newest finished window (its latest run there: backfills included)."""
    newest = (
        select(Run.deployment_id, func.max(Run.window_start))
        .where(Run.status == "ok")
        .group_by(Run.deployment_id)
    )
    runs = session.scalars(
        select(Run)
        .where(Run.status == "ok", tuple_(Run.deployment_id, Run.window_start).in_(newest))
        .order_by(Run.id)
    ).all()
    return list({run.deployment_id: run for run in runs}.values())


def window_metrics(session: Session, names: dict[int, str]) -> Iterator[Metric]:
    label = ["deployment"]
    drift = GaugeMetricFamily("driftwise_drift_share", "Share of drifted features", labels=label)
    feature = GaugeMetricFamily(
        "driftwise_feature_drift",
        "Per-feature drift relative to its threshold: 1 at the threshold, above 1 drifted",
        labels=["deployment", "feature", "method"],
    )
    prediction = GaugeMetricFamily(
        "driftwise_prediction_drift",
        "Prediction drift relative to its threshold",
        labels=["deployment", "method"],
    )
    missing = GaugeMetricFamily("driftwise_missing_share", "Share of missing values", labels=label)
    performance = GaugeMetricFamily(
        "driftwise_performance",
        "Performance of the newest window; estimate=true: estimated without labels",
        labels=["deployment", "metric", "estimate"],
    )
    rows = GaugeMetricFamily("driftwise_window_rows", "Predictions in the window", labels=label)
    coverage = GaugeMetricFamily(
        "driftwise_label_coverage", "Share of the window's predictions with labels", labels=label
    )
    window_end = GaugeMetricFamily(
        "driftwise_window_end_timestamp_seconds", "End of the newest window", labels=label
    )
    for run in newest_runs(session):
        name = names.get(run.deployment_id)
        if name is None:
            continue
        _gauge(drift, [name], run.drift_share)
        for column, entry in (run.features or {}).items():
            strength = drift_strength(
                entry.get("score"), entry.get("method"), entry.get("threshold")
            )
            _gauge(feature, [name, column, entry.get("method") or ""], strength)
        entry = run.prediction_drift or {}
        if entry:
            strength = drift_strength(
                entry.get("score"), entry.get("method"), entry.get("threshold")
            )
            _gauge(prediction, [name, entry.get("method") or ""], strength)
        _gauge(missing, [name], (run.quality or {}).get("missing_share"))
        for metric, value in _numbers(run.performance):
            _gauge(performance, [name, metric, "false"], value)
        for metric, value in _numbers(run.estimated_performance):
            _gauge(performance, [name, metric, "true"], value)
        total = run.sampled_from if run.sampled and run.sampled_from else run.rows
        _gauge(rows, [name], total)
        if run.rows:
            _gauge(coverage, [name], (run.labeled_rows or 0) / run.rows)
        _gauge(window_end, [name], (run.window_end - EPOCH).total_seconds())
    yield from (drift, feature, prediction, missing, performance, rows, coverage, window_end)


def active_versions(session: Session) -> Metric:
    family = GaugeMetricFamily(
        "driftwise_active_version", "Version number the deployment serves", labels=["deployment"]
    )
    rows = session.execute(
        select(Deployment.name, ModelVersion.version).join(
            ModelVersion, ModelVersion.id == Deployment.active_version_id
        )
    )
    for name, version in rows:
        family.add_metric([name], version)
    return family


def open_incidents(session: Session) -> Metric:
    """Open incidents per deployment and reason; every deployment appears, 0 when healthy."""
    family = GaugeMetricFamily(
        "driftwise_open_incidents", "Open incidents", labels=["deployment", "reason"]
    )
    counts = session.execute(
        select(Deployment.name, Incident.reason, func.count())
        .join(Incident, Incident.deployment_id == Deployment.id)
        .where(Incident.status == "open")
        .group_by(Deployment.name, Incident.reason)
    ).all()
    with_incidents = set()
    for name, reason, count in counts:
        family.add_metric([name, reason], count)
        with_incidents.add(name)
    for (name,) in session.execute(select(Deployment.name)):
        if name not in with_incidents:
            family.add_metric([name, ""], 0)
    return family


def policy_thresholds(session: Session) -> Iterator[Metric]:
    """The policy's bounds, so dashboards draw them beside the values they bound."""
    drift = GaugeMetricFamily(
        "driftwise_drift_share_threshold",
        "Policy: drift share that breaches",
        labels=["deployment"],
    )
    bounds = GaugeMetricFamily(
        "driftwise_performance_threshold",
        "Policy: performance bound (bound=min or max; estimate=true for estimated_performance)",
        labels=["deployment", "metric", "bound", "estimate"],
    )
    for name, policy in session.execute(select(Deployment.name, Deployment.policy)):
        policy = policy or {}
        _gauge(drift, [name], policy.get("drift_share"))
        for key, estimate in (("performance", "false"), ("estimated_performance", "true")):
            rule = policy.get(key) or {}
            for bound in ("min", "max"):
                _gauge(bounds, [name, rule.get("metric", ""), bound, estimate], rule.get(bound))
    yield from (drift, bounds)


def source_metrics(session: Session, names: dict[int, str]) -> Iterator[Metric]:
    labels = ["deployment", "source", "role"]
    records = CounterMetricFamily(
        "driftwise_source_records",
        "Records a source has read, by outcome (read, inserted, duplicate, quarantined)",
        labels=[*labels, "outcome"],
    )
    halves = GaugeMetricFamily(
        "driftwise_source_halves_waiting", "Request or response halves waiting", labels=labels
    )
    last_read = GaugeMetricFamily(
        "driftwise_source_last_read_timestamp_seconds",
        "When the source was last read",
        labels=labels,
    )
    waiting = dict(
        session.execute(
            select(PendingHalf.source_id, func.count()).group_by(PendingHalf.source_id)
        ).all()
    )
    for source in session.scalars(select(Source).order_by(Source.id)):
        key = [names.get(source.deployment_id, ""), source.name, source.role]
        for outcome in ("read", "inserted", "duplicate", "quarantined"):
            records.add_metric([*key, outcome], getattr(source, f"records_{outcome}") or 0)
        halves.add_metric(key, waiting.get(source.id, 0))
        if source.last_read_at is not None:
            last_read.add_metric(key, (source.last_read_at - EPOCH).total_seconds())
    yield from (records, halves, last_read)


def service_metrics(session: Session) -> Iterator[Metric]:
    notifications = GaugeMetricFamily(
        "driftwise_notifications", "Notifications in the outbox by status", labels=["status"]
    )
    counts = dict(
        session.execute(
            select(Notification.status, func.count()).group_by(Notification.status)
        ).all()
    )
    for status in sorted({"pending", "failed", "sent", *counts}):
        notifications.add_metric([status], counts.get(status, 0))
    jobs = GaugeMetricFamily("driftwise_retrain_jobs", "Retrain jobs by status", labels=["status"])
    counts = dict(
        session.execute(select(RetrainJob.status, func.count()).group_by(RetrainJob.status)).all()
    )
    for status in sorted({*JOB_STATUSES, *counts}):
        jobs.add_metric([status], counts.get(status, 0))
    leader = session.get(Lease, "scheduler")
    leading = GaugeMetricFamily(
        "driftwise_scheduler_leader", "1 while a daemon holds the scheduler lease"
    )
    leading.add_metric([], 1 if leader is not None and leader.expires_at > utcnow() else 0)
    yield from (notifications, jobs, leading, run_durations(session))


def run_durations(session: Session) -> Metric:
    """Monitoring runs' durations, bucketed by the database in one pass."""
    columns = [func.sum(case((Run.duration <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    total, seconds, *below = session.execute(
        select(func.count(Run.duration), func.sum(Run.duration), *columns)
    ).one()
    buckets = [
        (str(bound), int(count or 0)) for bound, count in zip(DURATION_BUCKETS, below, strict=True)
    ]
    buckets.append(("+Inf", int(total or 0)))
    return HistogramMetricFamily(
        "driftwise_run_duration_seconds",
        "How long monitoring runs took",
        buckets=buckets,
        sum_value=float(seconds or 0.0),
    )


def _gauge(family: GaugeMetricFamily, labels: list[str], value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if math.isnan(value):
        return
    family.add_metric(labels, float(value))


def _numbers(values: dict | None) -> Iterator[tuple[str, float]]:
    """The metric values of a performance dict; markers and nested tables are not metrics."""
    for metric, value in (values or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield metric, value
