"""`driftwise advise`: real-time or batch, for each deployment, with reasons and costs."""

from __future__ import annotations

import json

import click
from sqlalchemy import select

from monitor.advice.advise import advise, record_advice
from monitor.cli import require_schema
from monitor.store import session_scope
from monitor.store.lookup import deployment_named
from monitor.store.models import Deployment


@click.command("advise")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def advise_command(name: str | None, as_json: bool) -> None:
    """Whether each deployment's traffic fits real-time or batch serving, and the cost."""
    require_schema()
    with session_scope() as session:
        deployments = (
            [deployment_named(session, name)]
            if name is not None
            else list(session.scalars(select(Deployment).order_by(Deployment.name)))
        )
        results = []
        for deployment in deployments:
            result = advise(session, deployment)
            record_advice(session, deployment, result)
            results.append(result)
    if as_json:
        click.echo(json.dumps({"deployments": results}, indent=2, default=str))
        return
    for result in results:
        click.echo(f"{result['deployment']} ({result['mode']}): {result['summary']}")
        costs = result["costs"]
        for option in ("realtime", "batch"):
            if costs.get(option):
                click.echo(
                    f"  {option:<8} {costs[option]['monthly']:>12,.2f} {result['currency']}/month"
                )
        if result["placeholder_prices"]:
            click.echo(
                "  prices are placeholders: set "
                + ", ".join(result["placeholder_prices"])
                + " in the spec's [pricing]"
            )
