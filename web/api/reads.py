"""The API's reads: deployments, runs, metrics, events, notifications, models, jobs."""

from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import func, select

from monitor.store.lookup import deployment_named, model_named
from monitor.store.models import (
    Deployment,
    Event,
    Model,
    ModelVersion,
    Notification,
    RetrainJob,
    Run,
)
from monitor.views import (
    deployment_status_view,
    event_view,
    job_view,
    notification_view,
    run_view,
    version_view,
)
from web import db
from web.api.openapi import Query
from web.api.routes import PAGE, int_arg, table, time_arg
from web.auth import current
from web.queries import last_status_codes, metric_names, row_or_404, runs_page, series


@table.route("GET", "/deployments", "Every deployment with its health and last run")
def deployments():
    rows = db().scalars(select(Deployment).order_by(Deployment.name))
    return jsonify(deployments=[deployment_status_view(db(), d) for d in rows])


@table.route("GET", "/deployments/<name>", "One deployment")
def deployment(name: str):
    return jsonify(deployment_status_view(db(), deployment_named(db(), name)))


@table.route(
    "GET",
    "/quarantine",
    "Quarantined records grouped by reason, with counts and examples",
    query=(Query("deployment"), Query("source")),
)
def quarantine():
    from monitor.ingest.quarantine import summary

    groups = summary(db(), request.args.get("deployment"), request.args.get("source"))
    return jsonify(groups=groups)


@table.route(
    "GET",
    "/deployments/<name>/quarantine",
    "A deployment's quarantined records grouped by reason",
    query=(Query("source"),),
)
def deployment_quarantine(name: str):
    from monitor.ingest.quarantine import summary

    deployment_named(db(), name)
    return jsonify(groups=summary(db(), name, request.args.get("source")))


@table.route(
    "GET",
    "/deployments/<name>/runs",
    "A deployment's runs, newest window first",
    query=(
        Query("kind", enum=("monitor", "backfill")),
        Query("status"),
        Query("since", "date-time"),
        Query("until", "date-time"),
        *PAGE,
    ),
)
def runs(name: str):
    found = deployment_named(db(), name)
    limit, offset = int_arg("limit", 50), int_arg("offset", 0, maximum=10**9)
    rows, total = runs_page(
        db(),
        found.id,
        limit=limit,
        offset=offset,
        kind=request.args.get("kind"),
        status=request.args.get("status"),
        since=time_arg("since"),
        until=time_arg("until"),
    )
    return jsonify(
        total=total, limit=limit, offset=offset, runs=[run_view(r, full=False) for r in rows]
    )


@table.route(
    "GET",
    "/deployments/<name>/metrics",
    "A metric's series per column; without `metric`, the metric names",
    query=(Query("metric"), Query("since", "date-time")),
)
def metrics(name: str):
    found = deployment_named(db(), name)
    metric = request.args.get("metric")
    if not metric:
        return jsonify(metrics=metric_names(db(), found.id))
    return jsonify(metric=metric, series=series(db(), found.id, metric, time_arg("since")))


@table.route(
    "GET", "/deployments/<name>/profile", "Traffic profile: hours, burstiness, label delay"
)
def profile(name: str):
    from monitor.advice.traffic import deployment_profile

    return jsonify(deployment_profile(db(), deployment_named(db(), name)))


@table.route(
    "GET",
    "/deployments/<name>/advice",
    "Real-time or batch: recommendation, reasons, monthly cost per option, inputs",
)
def advice(name: str):
    from monitor.advice.advise import advise

    return jsonify(advise(db(), deployment_named(db(), name), measure=False))


@table.route("GET", "/runs/<int:run_id>", "One run with its per-feature numbers")
def run(run_id: int):
    return jsonify(run_view(row_or_404(db(), Run, run_id, "run")))


@table.route(
    "GET",
    "/events",
    "Events, newest first",
    query=(Query("deployment"), Query("type"), *PAGE),
)
def events():
    query = select(Event)
    if request.args.get("deployment"):
        query = query.where(
            Event.deployment_id == deployment_named(db(), request.args["deployment"]).id
        )
    if request.args.get("type"):
        query = query.where(Event.type == request.args["type"])
    limit, offset = int_arg("limit", 100), int_arg("offset", 0, maximum=10**9)
    rows = db().scalars(
        query.order_by(Event.created_at.desc(), Event.id.desc()).limit(limit).offset(offset)
    )
    return jsonify(events=[event_view(e) for e in rows])


@table.route(
    "GET",
    "/notifications",
    "Notifications: what was sent where, failures and retries",
    query=(Query("status"), *PAGE),
)
def notifications():
    query = select(Notification)
    if request.args.get("status"):
        query = query.where(Notification.status == request.args["status"])
    limit, offset = int_arg("limit", 100), int_arg("offset", 0, maximum=10**9)
    rows = db().scalars(query.order_by(Notification.id.desc()).limit(limit).offset(offset)).all()
    codes = last_status_codes(db(), [n.id for n in rows])
    detail = current().is_admin
    return jsonify(notifications=[notification_view(n, codes.get(n.id), detail) for n in rows])


def model_summary(model: Model) -> dict:
    versions = db().scalar(
        select(func.count()).select_from(ModelVersion).where(ModelVersion.model_id == model.id)
    )
    champion = db().scalar(
        select(ModelVersion.version).where(
            ModelVersion.model_id == model.id, ModelVersion.status == "champion"
        )
    )
    return {
        "name": model.name,
        "task": model.task,
        "target": model.target,
        "numerical": model.numerical,
        "categorical": model.categorical,
        "retrain": model.retrain or {},
        "versions": versions,
        "champion_version": champion,
    }


@table.route("GET", "/models", "Every model")
def models():
    rows = db().scalars(select(Model).order_by(Model.name))
    return jsonify(models=[model_summary(m) for m in rows])


@table.route("GET", "/models/<name>", "One model")
def model(name: str):
    return jsonify(model_summary(model_named(db(), name)))


@table.route("GET", "/models/<name>/versions", "A model's versions, newest first")
def versions(name: str):
    found = model_named(db(), name)
    rows = db().scalars(
        select(ModelVersion)
        .where(ModelVersion.model_id == found.id)
        .order_by(ModelVersion.version.desc())
    )
    return jsonify(versions=[version_view(db(), v) for v in rows])


@table.route("GET", "/models/<name>/jobs", "A model's retrain jobs, newest first", query=PAGE)
def jobs(name: str):
    found = model_named(db(), name)
    limit, offset = int_arg("limit", 100), int_arg("offset", 0, maximum=10**9)
    rows = db().scalars(
        select(RetrainJob)
        .where(RetrainJob.model_id == found.id)
        .order_by(RetrainJob.created_at.desc(), RetrainJob.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return jsonify(jobs=[job_view(db(), j) for j in rows])


@table.route("GET", "/jobs/<int:job_id>", "One retrain job with its evaluation and decision")
def job(job_id: int):
    return jsonify(job_view(db(), row_or_404(db(), RetrainJob, job_id, "retrain job")))
