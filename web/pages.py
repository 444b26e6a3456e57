"""HTML pages: overview, deployment, run (with Evidently's report), model, events."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from sqlalchemy import select

from monitor.errors import DriftwiseError
from monitor.incidents import deployment_health, open_incidents
from monitor.jobs import unattended
from monitor.store.lookup import deployment_named, model_named
from monitor.store.models import (
    DeliveryAttempt,
    Deployment,
    DeploymentHistory,
    Event,
    Model,
    ModelVersion,
    Notification,
    RetrainJob,
    Run,
)
from monitor.views import delivery_error, deployment_status_view, newest_run, run_health
from web import db
from web import rollback as rollback_writes
from web.auth import acting_name, admin_required, current
from web.charts import (
    feature_drift,
    local_time,
    newest_runs,
    performance,
    policy_metric,
    timeline,
    version_numbers,
)
from web.queries import (
    CHART_POINTS,
    by_id,
    last_measured,
    main_metric,
    open_events,
    resolved_incidents,
    row_or_404,
    runs_page,
    series,
    window_cutoff,
)

bp = Blueprint("pages", __name__)
RUNS_PER_PAGE = 50
REPORT_POLL_SECONDS = 5  # how often a run page waiting for its report asks again


@bp.app_template_filter("when")
def when_filter(moment, zone: str | None = None) -> str:
    """`2026-01-05 00:00 UTC`, or in the deployment's zone with its abbreviation."""
    from datetime import UTC

    from monitor.timeutil import parse_timestamp, zone_of

    if not moment:
        return "–"
    if isinstance(moment, str):
        moment = parse_timestamp(moment)
    shown = moment.replace(tzinfo=UTC).astimezone(zone_of(zone))
    return shown.strftime("%Y-%m-%d %H:%M ") + (shown.tzname() or "UTC")


@bp.app_template_filter("duration")
def duration_filter(seconds) -> str:
    from monitor.timeutil import human_duration

    return human_duration(seconds)


@bp.get("/healthz")
def healthz():
    from sqlalchemy import text

    db().execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.get("/static/vendor/plotly.min.js")
def plotly_js():
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    response = send_file(path, mimetype="text/javascript", max_age=86400)
    return response


@bp.get("/")
def overview():
    session = db()
    rows = []
    for deployment in session.scalars(select(Deployment).order_by(Deployment.name)):
        run = newest_run(session, deployment.id, "monitor")
        version = by_id(session, ModelVersion, deployment.active_version_id or 0)
        model = session.get(Model, deployment.model_id)
        rows.append(
            {
                "deployment": deployment,
                "model": model,
                "version": version.version if version else None,
                "run": run,
                "health": deployment_health(session, deployment, run),
                "metric": main_metric(
                    last_measured(session, deployment.id),
                    policy_metric(deployment.policy or {}, model.task),
                ),
                "trend": series(session, deployment.id, "drift_share", windows=30).get("", []),
                "incidents": open_incidents(session, deployment.id),
            }
        )
    return render_template("overview.html", rows=rows)


@bp.get("/deployments/<name>")
def deployment(name: str):
    from monitor.advice.advise import advise
    from monitor.advice.traffic import deployment_profile
    from monitor.ingest.quarantine import summary
    from monitor.timeutil import deployment_calendar

    session = db()
    found = deployment_named(session, name)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 10**6)
    runs, total = runs_page(
        session, found.id, limit=RUNS_PER_PAGE, offset=(page - 1) * RUNS_PER_PAGE
    )
    latest = newest_run(session, found.id, "monitor")
    since = window_cutoff(session, found.id, CHART_POINTS)
    model = session.get(Model, found.model_id)
    history = newest_runs(session, found.id, since)
    zone = found.timezone
    charts = {
        "zone": zone or "UTC",
        "drift_share": [
            [local_time(run.window_start, zone), run.drift_share, bool(run.breaches)]
            for run in history
            if run.drift_share is not None
        ],
        "drift_score": feature_drift(history, zone),
        "performance": performance(history, found.policy or {}, model.task, zone),
        "rows": [[local_time(run.window_start, zone), run.sampled_from or 0] for run in history],
        "coverage": [
            [local_time(run.window_start, zone), (run.labeled_rows or 0) / run.rows]
            for run in history
            if run.rows and run.status == "ok"
        ],
        "threshold": (found.policy or {}).get("drift_share"),
        "marks": timeline(session, found, since),
    }
    return render_template(
        "deployment.html",
        deployment=found,
        model=model,
        status=deployment_status_view(session, found),
        quarantine=summary(session, found.name),
        runs=runs,
        versions=version_numbers(session, runs),
        total=total,
        page=page,
        pages=max((total + RUNS_PER_PAGE - 1) // RUNS_PER_PAGE, 1),
        latest=latest,
        deployment_health=deployment_health(session, found, latest),
        incidents=open_incidents(session, found.id),
        resolved=resolved_incidents(session, found.id, limit=5),
        headline=main_metric(
            last_measured(session, found.id), policy_metric(found.policy or {}, model.task)
        ),
        window=deployment_calendar(found).describe(),
        events=open_events(session, found.id, limit=20),
        charts=charts,
        profile=deployment_profile(session, found),
        advice=advise(session, found, measure=False),
        health=run_health,
    )


@bp.get("/runs/<int:run_id>")
def run(run_id: int):
    session = db()
    found = row_or_404(session, Run, run_id, "run")
    deployment = session.get(Deployment, found.deployment_id)
    version = by_id(session, ModelVersion, found.model_version_id or 0)
    return render_template(
        "run.html",
        run=found,
        deployment=deployment,
        health=run_health(found),
        version=version.version if version else None,
        report=report_state(found),
        poll_seconds=REPORT_POLL_SECONDS,
    )


def report_state(run: Run) -> str:
    """`ready`, `pending` (built in the background soon) or `none` (never will be)."""
    if run.snapshot is not None:
        return "ready"
    if run.status == "ok" and run.report_rows is None:
        return "pending"
    return "none"


@bp.get("/runs/<int:run_id>/report/status")
def run_report_status(run_id: int):
    """Whether the run's report is built yet: what a waiting run page polls."""
    return jsonify(state=report_state(row_or_404(db(), Run, run_id, "run")))


@bp.get("/runs/<int:run_id>/report")
def run_report(run_id: int):
    """Evidently's own HTML, served alone so its own CSP can sandbox it. Opened as a page
    of its own (not in the run page's frame), it would be its window's top document and
    could navigate it: a browser that says so is sent to the run page instead. Reports are
    built in the background after the run, never here: a page never waits for Evidently."""
    from monitor.report.evidently_report import load_snapshot
    from web.report import safe_report_html

    if request.headers.get("Sec-Fetch-Dest") == "document":
        return redirect(url_for("pages.run", run_id=run_id))
    found = row_or_404(db(), Run, run_id, "run")
    if found.snapshot is None:
        state = report_state(found)
        abort(
            404,
            description="this run's Evidently report is not built yet"
            if state == "pending"
            else "this run has no Evidently report",
        )
    return Response(safe_report_html(load_snapshot(found.snapshot)), mimetype="text/html")


@bp.get("/models/<name>")
def model(name: str):
    session = db()
    found = model_named(session, name)
    versions = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.model_id == found.id)
        .order_by(ModelVersion.version.desc())
    ).all()
    jobs = session.scalars(
        select(RetrainJob)
        .where(RetrainJob.model_id == found.id)
        .order_by(RetrainJob.created_at.desc(), RetrainJob.id.desc())
        .limit(50)
    ).all()
    deployments = session.scalars(
        select(Deployment).where(Deployment.model_id == found.id).order_by(Deployment.name)
    ).all()
    history = session.scalars(
        select(DeploymentHistory)
        .where(DeploymentHistory.deployment_id.in_([d.id for d in deployments]))
        .order_by(DeploymentHistory.at.desc())
        .limit(20)
    ).all()
    return render_template(
        "model.html",
        model=found,
        versions=versions,
        by_id={v.id: v for v in versions},
        jobs=jobs,
        unattended=unattended(session, found.id),
        deployments=deployments,
        history=history,
    )


@bp.get("/events")
def events():
    session = db()
    rows = session.scalars(
        select(Event).order_by(Event.created_at.desc(), Event.id.desc()).limit(200)
    ).all()
    notifications = session.scalars(
        select(Notification).order_by(Notification.id.desc()).limit(200)
    ).all()
    attempts: dict[int, list] = {}
    for attempt in session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.notification_id.in_([n.id for n in notifications]))
        .order_by(DeliveryAttempt.at)
    ):
        attempts.setdefault(attempt.notification_id, []).append(attempt)
    names = dict(session.execute(select(Deployment.id, Deployment.name)).all())
    detail = current().is_admin
    errors = {
        n.id: delivery_error(
            n.last_error, attempts[n.id][-1].status_code if n.id in attempts else None, detail
        )
        for n in notifications
    }
    return render_template(
        "events.html",
        events=rows,
        notifications=notifications,
        attempts=attempts,
        names=names,
        errors=errors,
        detail=detail,
    )


# ---- admin actions (forms with CSRF; the gate in web/auth.py checks the token) ----


@bp.post("/models/<name>/retrain")
@admin_required
def retrain(name: str):
    from monitor.actions import request_retrain_now

    job = request_retrain_now(
        db(),
        model_named(db(), name),
        requested_by=acting_name(),
        deployment=request.form.get("deployment") or None,
        reason=request.form.get("reason") or None,
    )
    flash(f"Retrain job {job.id} requested ({job.status}).")
    return redirect(url_for("pages.model", name=name))


@bp.post("/models/<name>/versions/<int:number>/promote")
@admin_required
def promote(name: str, number: int):
    from monitor.actions import promote_version

    try:
        version, _ = promote_version(db(), name, number, reason="promote", by=acting_name())
    except DriftwiseError as error:
        rollback_writes()
        flash(f"Not promoted: {error}")
        return redirect(url_for("pages.model", name=name))
    flash(f"Version {version.version} promoted.")
    return redirect(url_for("pages.model", name=name))


@bp.post("/deployments/<name>/rollback")
@admin_required
def rollback(name: str):
    from monitor.registry.versions import rollback as rollback_deployment

    found = deployment_named(db(), name)
    try:
        rollback_deployment(db(), name, by=acting_name())
        flash(f"{name} rolled back.")
    except DriftwiseError as error:
        rollback_writes()
        flash(f"Not rolled back: {error}")
    return redirect(url_for("pages.model", name=session_model_name(found)))


def session_model_name(deployment: Deployment) -> str:
    return db().get(Model, deployment.model_id).name
