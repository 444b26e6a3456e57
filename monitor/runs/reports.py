"""Evidently's own report for a run, built in the background after the run (by the monitor
pass of the daemon, a worker or `driftwise monitor`, within a time budget) so that neither
the numbers the policy acts on nor a person opening the run page waits for it. It describes
the first `rows` rows of the run's sample, in sample key order: by default every row the
run looked at, so that its numbers equal the run's; its metadata says which rows."""

from __future__ import annotations

import time

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.report import profile
from monitor.report.evidently_report import build_snapshot
from monitor.runs.window import load_window, sample_threshold
from monitor.settings import Settings, current_settings
from monitor.store import session_scope
from monitor.store.models import Deployment, Model, Run

# Rows per side (DRIFTWISE_REPORT_ROWS): the default covers a default window's whole sample.
REPORT_ROWS = Settings.model_fields["report_rows"].default


def build_report(session: Session, run: Run, rows: int | None = None) -> bytes | None:
    """Build, store and return the run's snapshot (gzip JSON of `Snapshot.dump_dict()`) on
    `rows` rows per side (None: DRIFTWISE_REPORT_ROWS); None, with a warning on the run,
    when Evidently cannot describe these rows."""
    rows = rows or current_settings().report_rows
    if run.snapshot is not None:
        return run.snapshot
    if run.status != "ok":
        return None
    deployment = session.get(Deployment, run.deployment_id)
    model = session.get(Model, deployment.model_id)
    # A run Evidently cannot describe (no reference, rows gone) keeps its numbers.
    try:
        reference = profile.load(session, model, run.model_version_id, deployment.max_rows)
        # The first `rows` of the run's sample by sample key are the window's `rows` lowest
        # keys: read just those, not the whole sample.
        window = load_window(
            session,
            model,
            deployment.id,
            run.window_start,
            run.window_end,
            min(deployment.max_rows, rows),
            total=run.sampled_from,
        )
        threshold = sample_threshold(run.sampled_from or 0, deployment.max_rows)
        metadata = {
            "deployment": deployment.name,
            "run_id": run.id,
            "kind": run.kind,
            "window_start": run.window_start,
            "window_end": run.window_end,
            "rows": _rows_shown(window.rows, run.rows, run.sampled_from),
            "sample_key_below": threshold if threshold is not None else "all",
        }
        run.snapshot = build_snapshot(
            model,
            reference.frame,
            window.frame,
            rows,
            metadata,
            drift_share=(deployment.policy or {}).get("drift_share"),
            classes=reference.profile.get("classes"),
        )
    except Exception as error:  # noqa: BLE001 - the run's numbers stand without the report
        run.warnings = [*(run.warnings or []), f"Evidently report not built: {error}"]
        run.report_rows = 0
        return None
    run.report_rows = window.rows
    return run.snapshot


def _rows_shown(shown: int, scored: int | None, in_window: int | None) -> str:
    """Which of the window's rows the report describes, in words the report shows."""
    if shown == scored == in_window:
        return f"all {shown} rows of the window"
    return (
        f"the first {shown} rows by sample key of {in_window} in the window "
        f"(the run scored {scored})"
    )


def build_reports(
    engine: Engine | None,
    run_ids: list[int],
    rows: int | None = None,
    budget: float | None = None,
    deployment_id: int | None = None,
) -> int:
    """Build the reports of `run_ids`, then of the deployment's runs still without one,
    until `budget` seconds (None: DRIFTWISE_REPORT_BUDGET_SECONDS) have gone; how many
    were built. What is left is built by the next pass."""
    budget = current_settings().report_budget_seconds if budget is None else budget
    deadline = time.monotonic() + budget
    built = 0
    tried: set[int] = set()
    queue = list(run_ids)
    while time.monotonic() < deadline:
        if not queue:
            queue = [
                run_id for run_id in _pending(engine, deployment_id, 10) if run_id not in tried
            ]
            if not queue:
                break
        run_id = queue.pop(0)
        tried.add(run_id)
        with session_scope(engine) as session:
            built += build_report(session, session.get(Run, run_id), rows) is not None
    return built


def _pending(engine: Engine | None, deployment_id: int | None, limit: int) -> list[int]:
    query = select(Run.id).where(Run.status == "ok", Run.report_rows.is_(None))
    if deployment_id is not None:
        query = query.where(Run.deployment_id == deployment_id)
    with session_scope(engine) as session:
        return list(session.scalars(query.order_by(Run.window_start.desc()).limit(limit)))


def build_pending_reports(
    engine: Engine | None,
    deployment_id: int | None = None,
    limit: int = 50,
    rows: int | None = None,
) -> int:
    """Build the reports of finished runs that have none yet, newest first; how many."""
    ids = _pending(engine, deployment_id, limit)
    built = 0
    for run_id in ids:
        with session_scope(engine) as session:
            built += build_report(session, session.get(Run, run_id), rows) is not None
    return built
