"""`driftwise retrain | jobs | versions | promote | rollback | score`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.cli import require_schema
from monitor.errors import RetrainNotPromoted
from monitor.store.models import Model, ModelVersion, RetrainJob
from monitor.views import job_view, version_view

# How a job run by `retrain --wait` ended, as the command's exit code: 0 only when a version
# was promoted or left for a person (or a canary) to promote.
EXIT_CODES = {
    "promoted": 0,
    "awaiting_promotion": 0,
    "canary": 0,
    "rejected": 3,
    "failed": 4,
    "cooldown": 4,
    "cancelled": 4,
}
NOT_FINISHED = 5


def _summary(job: dict[str, Any]) -> str:
    evaluation = job["evaluation"]
    line = f"job {job['id']}: {job['status']}"
    if job["decision"]:
        line += f" ({job['decision']})"
    if evaluation.get("metric") and evaluation.get("challenger_score") is not None:
        champion = evaluation.get("champion_score")
        line += (
            f" {evaluation['metric']}: challenger v{job['challenger_version']} "
            f"{evaluation['challenger_score']:.4f} vs champion v{job['champion_version']} "
            + (f"{champion:.4f}" if champion is not None else "n/a")
        )
        line += _improvement(evaluation)
    if job["error"]:
        line += f" — {job['error']}"
    return line


def _improvement(evaluation: dict[str, Any]) -> str:
    gain, interval = evaluation.get("improvement"), evaluation.get("improvement_interval")
    if gain is None:
        return ""
    words = f", improvement {gain:+.4f}"
    if interval and interval[0] is not None:
        confidence = evaluation.get("confidence") or 0
        words += f" ({confidence:.0%} interval [{interval[0]:+.4f}, {interval[1]:+.4f}])"
    return words


def _job_to_run(session: Session, model: Model, key: str | None, reason: str | None):
    """The model's oldest pending job (the one a policy or a person already asked for), or a
    new manual job when none is pending or a key names one."""
    from monitor.actions import request_retrain_now

    if key is None:
        pending = session.scalar(
            select(RetrainJob)
            .where(RetrainJob.model_id == model.id, RetrainJob.status == "pending")
            .order_by(RetrainJob.created_at, RetrainJob.id)
            .limit(1)
        )
        if pending is not None:
            return pending
    return request_retrain_now(session, model, requested_by="cli", reason=reason, key=key)


def _outcome(job: dict[str, Any]) -> None:
    """Raise with the documented exit code unless the job promoted or left a candidate."""
    if job["status"] in ("pending", "running", "waiting"):
        raise RetrainNotPromoted(
            f"job {job['id']} is {job['status']}"
            + (" for an upload" if job["decision"] == "awaiting_upload" else ""),
            NOT_FINISHED,
        )
    code = EXIT_CODES.get(job["decision"] or job["status"], EXIT_CODES["failed"])
    if code:
        why = job["error"] or job["evaluation"].get("reason") or job["decision"]
        raise RetrainNotPromoted(f"job {job['id']} {job['status']}: {why}", code)


@click.command()
@click.argument("model")
@click.option("--key", help="Idempotency key: asking twice with one key makes one job.")
@click.option("--reason", help="Why, recorded on the job.")
@click.option(
    "--wait",
    is_flag=True,
    help="Run the model's pending job (or a new one) here and now; exit 0 only if it promoted "
    "a version or left a candidate: 3 rejected, 4 failed, 5 not finished.",
)
@click.option("--json", "as_json", is_flag=True)
def retrain(model: str, key: str | None, reason: str | None, wait: bool, as_json: bool) -> None:
    """Request a retrain job for MODEL (a person asking ignores the cooldown)."""
    require_schema()
    from monitor.actions import request_retrain_now
    from monitor.store import get_engine, session_scope
    from monitor.store.lookup import model_named
    from retrain.jobs import run_job

    engine = get_engine()
    with session_scope(engine) as session:
        row = model_named(session, model)
        if wait:
            job = _job_to_run(session, row, key, reason)
        else:
            job = request_retrain_now(session, row, requested_by="cli", reason=reason, key=key)
        job_id = job.id
    if wait:
        run_job(engine, job_id)
    with session_scope(engine) as session:
        result = job_view(session, session.get(RetrainJob, job_id))
    click.echo(json.dumps(result, indent=2) if as_json else _summary(result))
    if wait:
        _outcome(result)


@click.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True)
def jobs(model: str, as_json: bool) -> None:
    """List MODEL's retrain jobs, newest first, with their evaluation and decision."""
    order = (RetrainJob.created_at.desc(), RetrainJob.id.desc())
    _print_model_rows(model, RetrainJob, order, job_view, _job_line, as_json)


def _job_line(job: dict[str, Any]) -> str:
    return f"{_summary(job)}  [{job['trigger']}, {job['created_at']}]"


@click.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True)
def versions(model: str, as_json: bool) -> None:
    """List MODEL's versions with lineage, training rows and holdout metrics."""
    _print_model_rows(
        model, ModelVersion, (ModelVersion.version.desc(),), version_view, _version_line, as_json
    )


def _version_line(version: dict[str, Any]) -> str:
    serving = ", ".join(version["deployments"]) or "-"
    score = version["metrics"].get("score")
    return (
        f"v{version['version']}  {version['status']:<9} {version['origin']:<8} "
        f"parent v{version['parent_version'] or '-'}  rows {version['train_rows'] or '-'}  "
        f"{version['metrics'].get('metric') or ''} {'' if score is None else f'{score:.4f}'}"
        f"  serving: {serving}"
    )


def _print_model_rows(
    model: str,
    table: type[RetrainJob] | type[ModelVersion],
    order: tuple,
    view: Callable[[Session, Any], dict[str, Any]],
    line: Callable[[dict[str, Any]], str],
    as_json: bool,
) -> None:
    """Print MODEL's rows of `table` in `order`: their views as JSON, or a line each."""
    require_schema()
    from monitor.store import session_scope
    from monitor.store.lookup import model_named

    with session_scope() as session:
        row = model_named(session, model)
        rows = session.scalars(select(table).where(table.model_id == row.id).order_by(*order))
        result = [view(session, item) for item in rows]
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for item in result:
        click.echo(line(item))


@click.command()
@click.argument("model")
@click.argument("version", type=int)
def promote(model: str, version: int) -> None:
    """Make VERSION of MODEL the champion every deployment of MODEL serves."""
    require_schema()
    from monitor.actions import promote_version
    from monitor.store import session_scope

    with session_scope() as session:
        _, history = promote_version(session, model, version, reason="manual", by="cli")
    click.echo(f"{model} version {version} promoted ({len(history)} deployments switched)")


@click.command()
@click.argument("deployment")
def rollback(deployment: str) -> None:
    """Put back the version DEPLOYMENT served before its current one."""
    require_schema()
    from monitor.registry.versions import rollback as rollback_deployment
    from monitor.store import session_scope

    with session_scope() as session:
        row = rollback_deployment(session, deployment, by="cli")
        restored = session.get(ModelVersion, row.version_id).version
        previous = session.get(ModelVersion, row.previous_version_id).version
    click.echo(f"{deployment}: rolled back from version {previous} to {restored}")


@click.command()
@click.argument("deployment")
@click.option("--input", "input_path", required=True, type=click.Path(dir_okay=False))
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False))
def score(deployment: str, input_path: str, output_path: str) -> None:
    """Score a CSV or Parquet file with DEPLOYMENT's active version and log the predictions."""
    require_schema()
    from monitor.store import get_engine
    from retrain.scoring import score as score_file

    result = score_file(get_engine(), deployment, input_path, output_path)
    quarantined = f", {result.quarantined} quarantined" if result.quarantined else ""
    click.echo(
        f"{deployment}: {result.rows} rows scored with version {result.version} "
        f"→ {result.output} ({result.logged} predictions logged{quarantined})"
    )
