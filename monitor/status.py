"""`driftwise status`: each deployment's version, sources, row counts and last run."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli import require_schema
from monitor.jobs import pending_jobs, unattended
from monitor.service import schedule_info
from monitor.store.models import Deployment, Lease
from monitor.timeutil import format_duration, iso
from monitor.views import deployment_status_view


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
        else {"holder": leader.holder, "expires_at": iso(leader.expires_at)},
        "jobs": schedule_info.jobs(session),
        "pending_retrain_jobs": pending_jobs(session),
        "unattended": unattended(session),
        "deployments": [deployment_status_view(session, d) for d in deployments],
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
            if s["role"] == "predictions":
                click.echo(f"    read to {s['read_to'] or '(not yet read to its end)'}")
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
