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
from web import db
from web import rollback as rollback_writes
from web.auth import admin_required
from web.queries import (
    CHART_POINTS,
    by_id,
    deployment_by_name,
    health,
    last_run,
    main_metric,
    model_by_name,
    open_events,
    runs_page,
    series,
    window_cutoff,
)

bp = Blueprint("pages", __name__)
RUNS_PER_PAGE = 50


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
        run = last_run(session, deployment.id)
        version = by_id(session, ModelVersion, deployment.active_version_id or 0)
        rows.append(
            {
                "deployment": deployment,
                "model": session.get(Model, deployment.model_id),
                "version": version.version if version else None,
                "run": run,
                "health": health(run),
                "metric": main_metric(run),
                "trend": series(session, deployment.id, "drift_share", windows=30).get("", []),
                "events": open_events(session, deployment.id, limit=3),
            }
        )
    return render_template("overview.html", rows=rows)


@bp.get("/deployments/<name>")
def deployment(name: str):
    from monitor.ingest.quarantine import summary
    from monitor.status import deployment_status
    from web.profile import deployment_profile

    session = db()
    found = deployment_by_name(session, name)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 10**6)
    runs, total = runs_page(
        session, found.id, limit=RUNS_PER_PAGE, offset=(page - 1) * RUNS_PER_PAGE
    )
    latest = last_run(session, found.id)
    since = window_cutoff(session, found.id, CHART_POINTS)

    def points(metric: str) -> dict[str, list]:
        return series(session, found.id, metric, since=since, windows=None)

    charts = {
        "drift_share": points("drift_share"),
        "drift_score": _top_features(points("drift_score"), latest),
        "performance": _performance(session, found.id, points),
        "rows": points("rows"),
        "coverage": _coverage(runs),
        "threshold": (found.policy or {}).get("drift_share"),
    }
    return render_template(
        "deployment.html",
        deployment=found,
        model=session.get(Model, found.model_id),
        status=deployment_status(session, found),
        quarantine=summary(session, found.name),
        runs=runs,
        total=total,
        page=page,
        pages=max((total + RUNS_PER_PAGE - 1) // RUNS_PER_PAGE, 1),
        latest=latest,
        events=open_events(session, found.id, limit=20),
        charts=charts,
        profile=deployment_profile(session, found),
        health=health,
    )


def _top_features(scores: dict[str, list], latest: Run | None, top: int = 6) -> dict:
    """The features with the highest latest drift score, each with its threshold."""
    ranked = sorted(scores, key=lambda column: scores[column][-1][1], reverse=True)[:top]
    features = (latest.features if latest else None) or {}
    return {
        column: {
            "points": scores[column],
            "threshold": (features.get(column) or {}).get("threshold"),
        }
        for column in ranked
    }


def _performance(session, deployment_id: int, points) -> dict[str, list]:
    from web.queries import metric_names

    lines: dict[str, list] = {}
    for metric in metric_names(session, deployment_id):
        if metric.startswith(("performance.", "estimated.")):
            lines[metric] = points(metric).get("", [])
    return lines


def _coverage(runs: list[Run]) -> list:
    """Labeled share per window, from its newest run (a backfill counts the late labels)."""
    from web.queries import iso

    newest: dict = {}
    for run in sorted(runs, key=lambda run: run.id):
        newest[run.window_start] = run
    return [
        [iso(start), (run.labeled_rows or 0) / run.rows]
        for start, run in sorted(newest.items())
        if run.rows
    ]


@bp.get("/runs/<int:run_id>")
def run(run_id: int):
    session = db()
    found = by_id(session, Run, run_id)
    if found is None:
        abort(404, description=f"no run {run_id}")
    deployment = session.get(Deployment, found.deployment_id)
    return render_template("run.html", run=found, deployment=deployment, health=health(found))


@bp.get("/runs/<int:run_id>/report")
def run_report(run_id: int):
    """Evidently's own HTML, served alone so the page's CSP can sandbox it."""
    from monitor.errors import DriftwiseError
    from monitor.report.evidently_report import load_snapshot
    from monitor.runs.reports import build_report

    session = db()
    found = by_id(session, Run, run_id)
    if found is None:
        abort(404, description=f"no run {run_id}")
    # A report the monitor pass has not built yet is built the first time someone opens it.
    try:
        snapshot = found.snapshot or build_report(session, found)
    except DriftwiseError as error:
        abort(404, description=f"this run has no Evidently report: {error}")
    if snapshot is None:
        abort(404, description="this run has no Evidently report")
    session.commit()
    html = load_snapshot(snapshot).get_html_str(as_iframe=False)
    return Response(html, mimetype="text/html")


@bp.get("/models/<name>")
def model(name: str):
    session = db()
    found = model_by_name(session, name)
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
    return render_template(
        "events.html", events=rows, notifications=notifications, attempts=attempts, names=names
    )


# ---- admin actions (forms with CSRF; the gate in web/auth.py checks the token) ----


@bp.post("/models/<name>/retrain")
@admin_required
def retrain(name: str):
    from web.api.actions import request_job

    found = model_by_name(db(), name)
    job = request_job(
        found, request.form.get("deployment") or None, request.form.get("reason"), None
    )
    flash(f"Retrain job {job.id} requested ({job.status}).")
    return redirect(url_for("pages.model", name=name))


@bp.post("/models/<name>/versions/<int:number>/promote")
@admin_required
def promote(name: str, number: int):
    from web.api.actions import promote_version

    try:
        result = promote_version(model_by_name(db(), name), number)
    except DriftwiseError as error:
        rollback_writes()
        flash(f"Not promoted: {error}")
        return redirect(url_for("pages.model", name=name))
    flash(f"Version {result['version']} promoted.")
    return redirect(url_for("pages.model", name=name))


@bp.post("/deployments/<name>/rollback")
@admin_required
def rollback(name: str):
    from web.api.actions import rollback_deployment

    found = deployment_by_name(db(), name)
    try:
        rollback_deployment(name)
        flash(f"{name} rolled back.")
    except DriftwiseError as error:
        rollback_writes()
        flash(f"Not rolled back: {error}")
    return redirect(url_for("pages.model", name=session_model_name(found)))


def session_model_name(deployment: Deployment) -> str:
    return db().get(Model, deployment.model_id).name
