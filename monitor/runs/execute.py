"""One run of one window: claim it, load the window's sample and the reference, analyse,
store the results, the Evidently snapshot and the metric points, and let the policy look."""

from __future__ import annotations

import time
import traceback
from datetime import datetime

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session

from monitor.events import emit
from monitor.logs import log_context
from monitor.policy import evaluate
from monitor.report import profile
from monitor.report.analysis import Analysis, analyse
from monitor.runs.claim import claim, heartbeat
from monitor.runs.late import resolve_superseded
from monitor.runs.window import count_rows, load_window
from monitor.service.claims import stopping, worker_id
from monitor.settings import current_value
from monitor.store import session_scope
from monitor.store.models import Deployment, DeploymentHistory, MetricPoint, Model, Prediction, Run
from monitor.timeutil import iso, utcnow


def run_window(
    engine: Engine | None,
    deployment_id: int,
    start: datetime,
    end: datetime,
    kind: str = "monitor",
    seq: int = 0,
    report_rows: int | None = None,
) -> int | None:
    """Run the window once; the run's id, or None when it is done or claimed elsewhere.
    A failure is recorded on the run (status `error`), never raised."""
    if stopping():
        return None  # a stop signal arrived: claim nothing new
    with session_scope(engine) as session:
        run = claim(session, deployment_id, start, end, kind, seq, worker_id())
        if run is None:
            return None
        run_id = run.id
    began = time.perf_counter()
    with heartbeat(engine, run_id, worker_id()), log_context(run=run_id):
        try:
            with session_scope(engine) as session:
                rows = current_value("inline_report_rows") if report_rows is None else report_rows
                execute(session, session.get(Run, run_id), rows, began)
        except Exception as error:  # noqa: BLE001 - a run records its failure, the job goes on
            with session_scope(engine) as session:
                _fail(session, session.get(Run, run_id), error, began)
    return run_id


def execute(session: Session, run: Run, report_rows: int, began: float) -> None:
    deployment = session.get(Deployment, run.deployment_id)
    model = session.get(Model, deployment.model_id)
    # The run's row is written only once the analysis is done: an early write would hold
    # its row lock for the whole run and block the heartbeat that renews its claim.
    version_id = version_at(session, deployment, run.window_end)
    total = count_rows(session, deployment.id, run.window_start, run.window_end)
    if total == 0 or total < deployment.min_rows:
        run.model_version_id, run.sampled_from = version_id, total
        _too_few(session, deployment, run, total)
        status = "no_data" if total == 0 else "insufficient_data"
        resolve_superseded(session, deployment, run, status)
        return _finish(run, status, began)
    reference = profile.load(session, model, version_id, deployment.max_rows)
    window = load_window(
        session, model, deployment.id, run.window_start, run.window_end, deployment.max_rows, total
    )
    min_labels = int((deployment.policy or {}).get("min_labels", deployment.min_rows))
    analysis = analyse(model, reference, window.frame, min_labels)
    run.model_version_id, run.sampled_from = version_id, total
    _store(run, analysis, window.rows, window.sampled, reference.frame_rows)
    run.warnings = [*window.warnings, *analysis.warnings]
    run.status = "ok"
    if report_rows > 0:
        _report(session, run, report_rows)
    session.flush()
    _points(session, run)
    baseline = reference.profile.get("performance", {})
    run.breaches = evaluate(session, deployment, run, baseline)
    resolve_superseded(session, deployment, run, "ok")
    _finish(run, "ok", began)


def _report(session: Session, run: Run, report_rows: int) -> None:
    from monitor.runs.reports import build_report

    build_report(session, run, report_rows)


def version_at(session: Session, deployment: Deployment, moment: datetime) -> int | None:
    """The version the deployment served at `moment` (from its history), else the active one."""
    before = session.scalars(
        select(DeploymentHistory)
        .where(DeploymentHistory.deployment_id == deployment.id, DeploymentHistory.at <= moment)
        .order_by(DeploymentHistory.at.desc(), DeploymentHistory.id.desc())
        .limit(1)
    ).first()
    if before is not None:
        return before.version_id
    after = session.scalars(
        select(DeploymentHistory)
        .where(DeploymentHistory.deployment_id == deployment.id, DeploymentHistory.at > moment)
        .order_by(DeploymentHistory.at, DeploymentHistory.id)
        .limit(1)
    ).first()
    if after is not None and after.previous_version_id is not None:
        return after.previous_version_id
    return deployment.active_version_id


def _store(run: Run, analysis: Analysis, rows: int, sampled: bool, reference_rows: int) -> None:
    run.rows = rows
    run.sampled = sampled
    run.reference_rows = reference_rows
    run.labeled_rows = analysis.labeled_rows
    run.features = analysis.features
    run.drift_share = analysis.drift_share
    run.prediction_drift = analysis.prediction_drift
    run.quality = analysis.quality
    run.performance = analysis.performance
    run.estimated_performance = analysis.estimated_performance
    run.classes = analysis.classes


def _points(session: Session, run: Run) -> None:
    """One point per scalar a chart or a policy reads; a backfill replaces its window's."""
    values: list[tuple[str, str, float]] = [("rows", "", run.sampled_from or 0)]
    if run.drift_share is not None:
        values.append(("drift_share", "", run.drift_share))
    for name, entry in run.features.items():
        if entry.get("score") is not None:
            values.append(("drift_score", name, entry["score"]))
    if (run.prediction_drift or {}).get("score") is not None:
        values.append(
            ("prediction_drift", run.prediction_drift["column"], run.prediction_drift["score"])
        )
    for name, entry in run.quality.items():
        for metric in ("missing_share", "new_category_share", "out_of_range_share"):
            if entry.get(metric) is not None:
                values.append((metric, name, entry[metric]))
    values += [(f"performance.{key}", "", value) for key, value in run.performance.items()]
    values += [(f"estimated.{key}", "", value) for key, value in run.estimated_performance.items()]
    metrics = {metric for metric, _, _ in values}
    session.execute(
        delete(MetricPoint).where(
            MetricPoint.deployment_id == run.deployment_id,
            MetricPoint.time == run.window_start,
            MetricPoint.metric.in_(metrics),
        )
    )
    # One executemany of plain rows: nothing reads the points back in this session, and
    # an ORM object per point made them a run's largest flush.
    session.execute(
        insert(MetricPoint.__table__),
        [
            {
                "run_id": run.id,
                "deployment_id": run.deployment_id,
                "time": run.window_start,
                "metric": metric,
                "column": column,
                "value": float(value),
            }
            for metric, column, value in values
        ],
    )


def _too_few(session: Session, deployment: Deployment, run: Run, total: int) -> None:
    run.rows = total
    session.execute(  # an earlier run of this window (before late data) wrote one too
        delete(MetricPoint).where(
            MetricPoint.deployment_id == deployment.id,
            MetricPoint.time == run.window_start,
            MetricPoint.metric == "rows",
        )
    )
    session.add(
        MetricPoint(
            run_id=run.id,
            deployment_id=deployment.id,
            time=run.window_start,
            metric="rows",
            value=total,
        )
    )
    if run.kind != "monitor" or not _data_expected(session, deployment, run):
        return
    window = run.window_start.strftime("%Y-%m-%dT%H:%M:%S")
    if total == 0:
        emit(
            session,
            "no_data",
            f"no_data:{deployment.id}:{window}",
            f"{deployment.name}: no predictions in the window starting {window}",
            deployment=deployment,
            run_id=run.id,
            data={
                "window_start": iso(run.window_start),
                "window_end": iso(run.window_end),
            },
        )
    else:
        emit(
            session,
            "insufficient_data",
            f"insufficient_data:{deployment.id}:{window}",
            f"{deployment.name}: {total} predictions in the window starting {window}, "
            f"fewer than {deployment.min_rows}",
            deployment=deployment,
            run_id=run.id,
            data={
                "rows": total,
                "min_rows": deployment.min_rows,
                "window_start": iso(run.window_start),
            },
        )


def _data_expected(session: Session, deployment: Deployment, run: Run) -> bool:
    """Data was expected if the deployment had predictions before; an empty window right
    after another empty one is the same outage, already reported."""
    had_data = session.scalar(
        select(Prediction.id)
        .where(Prediction.deployment_id == deployment.id, Prediction.timestamp < run.window_start)
        .limit(1)
    )
    if had_data is None:
        return False
    previous = session.scalars(
        select(Run.status).where(
            Run.deployment_id == deployment.id,
            Run.kind == "monitor",
            Run.window_end == run.window_start,
        )
    ).first()
    return not (run.sampled_from == 0 and previous == "no_data")


def _fail(session: Session, run: Run, error: Exception, began: float) -> None:
    run.error = f"{type(error).__name__}: {error}"
    run.warnings = [*(run.warnings or []), traceback.format_exc(limit=3)[-2000:]]
    _finish(run, "error", began)
    deployment = session.get(Deployment, run.deployment_id)
    emit(
        session,
        "run.failed",
        f"run.failed:{run.id}:{run.attempts}",
        f"{deployment.name}: the {run.kind} run of {run.window_start} failed: {run.error}"[:500],
        deployment=deployment,
        run_id=run.id,
        data={"error": run.error},
    )


def _finish(run: Run, status: str, began: float) -> None:
    run.status = status
    run.duration = time.perf_counter() - began
    run.finished_at = utcnow()
    run.lease_until = None
