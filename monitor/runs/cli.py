"""`driftwise monitor` and `driftwise runs`."""

from __future__ import annotations

import json
from collections import Counter

import click
from sqlalchemy import select

from monitor.cli import require_schema
from monitor.store import session_scope
from monitor.store.lookup import deployment_named
from monitor.store.models import Deployment, Run
from monitor.timeutil import parse_timestamp
from monitor.views import run_view


def _when(value: str | None):
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command("monitor")
@click.option("--deployment", "name", help="Only this deployment.")
@click.option(
    "--start", help="Run the windows from this ISO time (with --end) instead of the due ones."
)
@click.option("--end", help="End of the windows to run (default: now).")
@click.option(
    "--rerun",
    is_flag=True,
    help="With --start: a new run of every window in the range that ran already "
    "(after a policy change, say).",
)
@click.option(
    "--reports/--no-reports",
    default=True,
    show_default=True,
    help="Then build Evidently's reports of the new runs and of any run still without one.",
)
def monitor(
    name: str | None, start: str | None, end: str | None, rerun: bool, reports: bool
) -> None:
    """Run every due monitoring window once; a second call does nothing new."""
    require_schema()
    from monitor.runs.job import monitor_all, monitor_deployment
    from monitor.runs.reports import build_pending_reports

    if start is None and end is not None:
        raise click.BadParameter("--end needs --start")
    if rerun and start is None:
        raise click.BadParameter("--rerun needs --start (and --end) to name the windows")
    rows = None if reports else 0
    if name is None and start is None:
        passes = monitor_all(report_rows=rows)
    else:
        if name is None:
            with session_scope() as session:
                names = list(session.scalars(select(Deployment.name).order_by(Deployment.name)))
        else:
            names = [name]
        passes = {
            each: monitor_deployment(
                None, each, _when(start), _when(end), report_rows=rows, rerun=rerun
            )
            for each in names
        }
    if reports:
        built = build_pending_reports(None)
        if built:
            click.echo(f"built {built} Evidently report(s)")
    with session_scope() as session:
        for deployment, result in passes.items():
            statuses = Counter(
                f"{run.kind} {run.status}" if run.kind != "monitor" else run.status
                for run in (session.get(Run, run_id) for run_id in result.runs)
            )
            shown = ", ".join(f"{count} {status}" for status, count in statuses.most_common())
            click.echo(f"{deployment}: {len(result.runs)} run(s){': ' + shown if shown else ''}")


@click.command("runs")
@click.argument("deployment")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--limit", default=100, show_default=True, help="Newest runs to show.")
def runs(deployment: str, as_json: bool, limit: int) -> None:
    """List a deployment's runs, newest first."""
    require_schema()
    with session_scope() as session:
        found = deployment_named(session, deployment)
        rows = list(
            session.scalars(
                select(Run)
                .where(Run.deployment_id == found.id)
                .order_by(Run.window_start.desc(), Run.kind, Run.seq.desc())
                .limit(limit)
            )
        )
        if as_json:
            click.echo(
                json.dumps({"deployment": deployment, "runs": [run_view(run) for run in rows]})
            )
            return
        for run in rows:
            drift = "-" if run.drift_share is None else f"{run.drift_share:.0%}"
            sample = f"{run.rows}/{run.sampled_from}" if run.sampled else f"{run.rows}"
            breached = ", ".join(entry["rule"] for entry in run.breaches or []) or "-"
            click.echo(
                f"{run.window_start:%Y-%m-%d %H:%M}  {run.kind:<8} {run.status:<17} rows {sample:<14} "
                f"drift {drift:<5} breaches {breached}"
            )
