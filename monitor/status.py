"""`driftwise status`: each deployment's version, sources, row counts and last run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import click
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor.cli import require_schema
from monitor.incidents import deployment_health, open_incidents
from monitor.jobs import pending_jobs, unattended
from monitor.service import schedule_info
from monitor.settings import current_settings
from monitor.store.models import (
    Deployment,
    Label,
    Lease,
    Model,
    ModelVersion,
    PendingHalf,
    Prediction,
    Quarantine,
    Run,
    Source,
)
from monitor.timeutil import format_duration, utcnow


def _count(session: Session, table, deployment_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(table).where(table.deployment_id == deployment_id)
        )
        or 0
    )


def _halves(session: Session, source_id: int, before: datetime) -> tuple[int, int]:
    """(halves waiting, of which waiting since before `before`); the markers of
    quarantined halves, waiting only to send their partner to quarantine, do not count."""
    waiting, old = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((PendingHalf.created_at < before, 1), else_=0)), 0),
        ).where(
            PendingHalf.source_id == source_id,
            PendingHalf.payload.not_like('{"quarantined":%'),
        )
    ).one()
    return int(waiting or 0), int(old or 0)


def source_status(session: Session, source: Source, bound: int) -> dict[str, Any]:
    from monitor.ingest.quarantine import top_reasons

    waiting, old = _halves(session, source.id, utcnow() - timedelta(seconds=bound))
    return {
        "name": source.name,
        "role": source.role,
        "kind": source.kind,
        "enabled": source.enabled,
        "read": source.records_read,
        "inserted": source.records_inserted,
        "duplicate": source.records_duplicate,
        "quarantined": source.records_quarantined,
        "top_reasons": top_reasons(session, source.id),
        "halves_waiting": waiting,
        "halves_waiting_too_long": old,
        "files_waiting": source.files_waiting,
        "last_read_at": source.last_read_at.isoformat() if source.last_read_at else None,
        "last_error": source.last_error,
    }


def deployment_status(session: Session, deployment: Deployment) -> dict[str, Any]:
    model = session.get(Model, deployment.model_id)
    version = (
        session.get(ModelVersion, deployment.active_version_id)
        if deployment.active_version_id
        else None
    )
    last_run = session.scalar(
        select(Run)
        .where(Run.deployment_id == deployment.id)
        .order_by(Run.window_start.desc(), Run.id.desc())
        .limit(1)
    )
    bound = int(current_settings().half_wait_seconds)
    sources = [
        source_status(session, source, bound)
        for source in session.scalars(
            select(Source).where(Source.deployment_id == deployment.id).order_by(Source.id)
        )
    ]
    incidents = open_incidents(session, deployment.id)
    return {
        "name": deployment.name,
        "model": model.name,
        "mode": deployment.mode,
        "active_version": version.version if version else None,
        "health": deployment_health(session, deployment, last_run),
        "open_incidents": [
            {
                "id": incident.id,
                "reason": incident.reason,
                "title": incident.title,
                "since": incident.first_window_start.isoformat(),
                "windows": incident.windows,
            }
            for incident in incidents
        ],
        "predictions": _count(session, Prediction, deployment.id),
        "labels": _count(session, Label, deployment.id),
        "quarantined": _count(session, Quarantine, deployment.id),
        "sources": sources,
        "warnings": [
            f"source {s['name']}: {s['halves_waiting_too_long']} half(s) waiting longer than "
            f"{format_duration(bound)} for their partner"
            for s in sources
            if s["halves_waiting_too_long"]
        ],
        "last_run": None
        if last_run is None
        else {
            "window_start": last_run.window_start.isoformat(),
            "window_end": last_run.window_end.isoformat(),
            "kind": last_run.kind,
            "status": last_run.status,
            "drift_share": last_run.drift_share,
            "breaches": last_run.breaches,
        },
    }


def _check() -> None:
    from monitor.health import problems
    from monitor.store import session_scope

    with session_scope() as session:
        found = problems(session)
    for problem in found:
        click.echo(f"unhealthy: {problem.message}", err=True)
    if found:
        raise SystemExit(found[0].code)
    click.echo("healthy")


def collect(session: Session) -> dict[str, Any]:
    deployments = session.scalars(select(Deployment).order_by(Deployment.name))
    leader = session.get(Lease, "scheduler")
    return {
        "leader": None
        if leader is None
        else {"holder": leader.holder, "expires_at": leader.expires_at.isoformat()},
        "jobs": schedule_info.jobs(session),
        "pending_retrain_jobs": pending_jobs(session),
        "unattended": unattended(session),
        "deployments": [deployment_status(session, deployment) for deployment in deployments],
    }


def _age(seconds: int) -> str:
    return format_duration(seconds - seconds % 60) if seconds >= 60 else f"{seconds}s"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option(
    "--check",
    is_flag=True,
    help="Health check: exit 3 when no scheduler leads, 4 when notifications are failing, "
    "5 when a source has not been read for longer than its stale_after.",
)
def status(as_json: bool, check: bool) -> None:
    """Deployments, versions, sources and last runs."""
    from monitor.store import session_scope

    require_schema()
    if check:
        _check()
        return
    with session_scope() as session:
        report = collect(session)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    leader = report["leader"]
    click.echo(f"scheduler leader: {leader['holder'] if leader else 'none'}")
    for line in schedule_info.lines(report["jobs"]):
        click.echo(line)
    for job in report["pending_retrain_jobs"]:
        click.echo(
            f"retrain job {job['id']} ({job['model']}, {job['trigger']}): pending for "
            f"{_age(job['age_seconds'])}"
        )
    if report["unattended"]:
        click.echo(report["unattended"])
    for d in report["deployments"]:
        click.echo(
            f"{d['name']} ({d['mode']}, model {d['model']} v{d['active_version']}): "
            f"{d['predictions']} predictions, {d['labels']} labels, {d['quarantined']} quarantined"
        )
        click.echo(f"  health: {d['health']}")
        for incident in d["open_incidents"]:
            click.echo(
                f"  open incident #{incident['id']} since {incident['since']} "
                f"({incident['windows']} windows): {incident['title']}"
            )
        for s in d["sources"]:
            state = "" if s["enabled"] else " [disabled]"
            click.echo(
                f"  {s['role']} {s['kind']} {s['name']}{state}: read {s['read']}, inserted {s['inserted']}, "
                f"duplicate {s['duplicate']}, quarantined {s['quarantined']}"
            )
            if s["halves_waiting"] or s["files_waiting"]:
                click.echo(
                    f"    halves waiting {s['halves_waiting']}, "
                    f"files waiting to be complete {s['files_waiting']}"
                )
            for top in s["top_reasons"]:
                click.echo(f"    quarantined {top['count']} × {top['reason']}")
            if s["last_error"]:
                click.echo(f"    last error: {s['last_error']}")
        for warning in d["warnings"]:
            click.echo(f"  warning: {warning}")
        run = d["last_run"]
        if run:
            click.echo(
                f"  last run: {run['window_start']} {run['kind']} {run['status']} drift share {run['drift_share']}"
            )
