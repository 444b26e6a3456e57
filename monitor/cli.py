"""The `driftwise` command. Each subcommand lives beside what it drives and is imported
only when it runs, so `driftwise status` never pays for importing Evidently, and monitor/
reaches retrain/ and web/ only here, inside a function."""

from __future__ import annotations

import importlib
import sys

import click

from monitor.errors import DriftwiseError

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help)
    "db": ("monitor.store.cli:db", "Upgrade or check the database schema."),
    "apply": ("monitor.spec.cli:apply", "Apply a spec file: models, deployments, sources."),
    "status": ("monitor.status:status", "Deployments, versions, sources and last runs."),
    "ingest": ("monitor.ingest.cli:ingest", "Read every source once from its cursor."),
    "quarantine": ("monitor.ingest.cli:quarantine", "List or retry quarantined records."),
    "monitor": ("monitor.runs.cli:monitor", "Run every due monitoring window."),
    "runs": ("monitor.runs.cli:runs", "List a deployment's runs."),
    "notify": ("monitor.notify.cli:notify", "Send pending notifications."),
    "alerts": ("monitor.notify.cli:alerts", "List alert rules; send a test message."),
    "retrain": ("retrain.cli:retrain", "Request (and run) a retrain job for a model."),
    "jobs": ("retrain.cli:jobs", "List a model's retrain jobs."),
    "versions": ("retrain.cli:versions", "List a model's versions."),
    "promote": ("retrain.cli:promote", "Promote a candidate version."),
    "rollback": ("retrain.cli:rollback", "Put a deployment's previous version back."),
    "score": ("retrain.cli:score", "Score a CSV or Parquet file with the active version."),
    "daemon": (
        "monitor.service.daemon:daemon",
        "Run the scheduler: ingest, monitor, retrain, notify.",
    ),
    "worker": ("monitor.service.worker:worker", "Run a Celery worker."),
    "run": ("monitor.service.daemon:run", "Daemon and web server in one process."),
    "web": ("web.cli:web", "Serve the web UI and API."),
    "users": ("web.cli:users", "Manage web users."),
    "tokens": ("web.cli:tokens", "Manage API tokens."),
    "demo": ("monitor.demo.command:demo", "Run the whole story on simulated traffic."),
    "advise": ("monitor.advice.cli:advise_command", "Real-time or batch? Advice with costs."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        from monitor.settings import load_settings

        try:
            load_settings()  # every DRIFTWISE_* variable checked once, before any work
            return super().invoke(ctx)
        except DriftwiseError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(getattr(error, "exit_code", 2))


@click.group(cls=LazyGroup)
@click.version_option(package_name="driftwise")
def main() -> None:
    """Driftwise: monitor, alert on, retrain and redeploy deployed ML models."""


def require_schema() -> None:
    """Refuse to run on a database whose schema is behind, naming the command to run."""
    from monitor.store.schema import check

    check()
