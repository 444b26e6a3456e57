"""`driftwise demo`: the whole loop on simulated days, with the embedded defaults.

It trains a churn model on data made in code, applies a spec with a real-time and a batch
deployment, serves the web UI and API, replays days of traffic whose customers change
half-way (monitor/demo/story.py), and lets the jobs notice, alert, retrain and redeploy.
Then it prints the UI's address and an admin login and serves until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import Engine, func, select

MARKER = ".driftwise-demo"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "driftwise-demo"
SPEC = """\
# Written by `driftwise demo`: one churn model behind a real-time endpoint and a nightly job.

[pricing]                         # what `driftwise advise` costs each way with
instance_hourly = 0.10            # an always-on instance behind the real-time endpoint
batch_node_hourly = 0.10          # a node that starts for each batch run
batch_startup = "5m"

[[models]]
name = "churn"
task = "classification"
target = "churned"
prediction = "prediction"
probability = "probability"
numerical = ["tenure", "charges"]
categorical = ["plan", "region"]
artifact = "model/churn.skops"
reference = "model/reference.csv"

[models.retrain]
recipe = "clone"
training_window = "1d"            # the customers have changed: learn from the newest labeled day
include_reference = false
holdout = 0.2
min_labeled_rows = 1000
metric = "accuracy"
min_improvement = 0.02
auto_promote = true
cooldown = "3d"

[[deployments]]
name = "churn-online"
model = "churn"
mode = "realtime"                 # predictions are logged by POST .../predict itself
latency_target = "1s"             # an app waits for each answer
window = "1d"
settle = "5m"
min_rows = 200

[deployments.policy]
drift_share = 0.5
performance = { metric = "accuracy", min = 0.55 }
consecutive = 2                   # two bad days in a row before retraining
cooldown = "1d"
actions = ["alert", "retrain"]

[[deployments.labels]]
kind = "jsonl"
path = "labels/churn-online/*.jsonl"

[[deployments]]
name = "churn-nightly"
model = "churn"
mode = "batch"
latency_target = "24h"            # scores are read the next morning
window = "1d"
settle = "5m"
min_rows = 200

[deployments.policy]
drift_share = 0.5
performance = { metric = "accuracy", min = 0.55 }
actions = ["alert"]

[[deployments.sources]]
kind = "csv"
path = "batch/*.csv"

[[deployments.labels]]
kind = "jsonl"
path = "labels/churn-nightly/*.jsonl"

[[alerts]]
channel = "email"
to = ["ml-team@example.com"]
events = ["drift", "performance", "retrain.*"]
deployments = ["*"]
"""


@click.command("demo")
@click.option("--exit", "exit_after", is_flag=True, help="Stop after the story; serve nothing.")
@click.option("--days", default=10, show_default=True, type=click.IntRange(6, 60))
@click.option(
    "--rows",
    default=1500,
    show_default=True,
    type=click.IntRange(500, 100_000),
    help="Customers a day, for each deployment.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps everything; emptied first. [default: <data dir>/demo]",
)
@click.option("--port", default=8080, show_default=True, help="Web UI port on 127.0.0.1; 0: any.")
def demo(exit_after: bool, days: int, rows: int, data_dir: Path | None, port: int) -> None:
    """Run the whole story on simulated traffic: drift, alert, retrain, recovery."""
    from monitor.settings import current_settings

    started = time.perf_counter()
    folder = fresh_folder((data_dir or current_settings().data_dir / "demo").resolve())
    configure(folder)
    engine = prepare_database()
    server, base_url = start_server(port)
    say(f"Driftwise demo: {days} simulated days, {rows:,} customers a day per deployment")
    say(f"  data in {folder}, database {engine.url.render_as_string()}")
    summary = tell_story(engine, folder, base_url, days, rows)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    conclude(summary, folder)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if exit_after:
        server.close()
        return
    say(f"\nWeb UI: {base_url}/  log in as {ADMIN_EMAIL} / {ADMIN_PASSWORD}")
    say("  Overview: both deployments; churn-online: drift and accuracy by day, its runs and")
    say("  Evidently reports; model churn: retrain job 1, champion vs challenger; Events: the")
    say("  alerts and the redeploy. Ctrl-C stops.")
    serve_until_stopped(server)


def serve_until_stopped(server) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    server.close()


def say(line: str) -> None:
    click.echo(line)


def fresh_folder(folder: Path) -> Path:
    """The demo's folder, emptied; a folder the demo did not make is never touched."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / MARKER).exists():
            raise click.ClickException(
                f"{folder} is not empty and was not made by `driftwise demo`: give --data-dir"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by `driftwise demo`; emptied by its next run\n")
    return folder


def configure(folder: Path) -> None:
    """The embedded defaults: SQLite in the folder (unless a database URL is set) and a
    file email backend, so the demo never mails anyone."""
    os.environ["DRIFTWISE_DATA_DIR"] = str(folder)
    os.environ.setdefault("DRIFTWISE_DATABASE_URL", f"sqlite:///{folder / 'driftwise.db'}")
    os.environ["DRIFTWISE_SMTP_URL"] = (folder / "mail").as_uri()
    os.environ.setdefault("DRIFTWISE_EXECUTOR", "local")


def prepare_database() -> Engine:
    from monitor.store import get_engine, session_scope
    from monitor.store.models import Model
    from monitor.store.schema import upgrade

    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as session:
        if session.scalar(select(func.count()).select_from(Model)):
            raise click.ClickException(
                f"{engine.url.render_as_string()} already holds models: "
                "the demo needs an empty database (unset DRIFTWISE_DATABASE_URL for SQLite)"
            )
    return engine


def start_server(port: int):
    """The web UI and API on 127.0.0.1, in a thread: the story's traffic goes through it."""
    from waitress import create_server

    from web import create_app

    app = create_app()
    try:
        server = create_server(app, host="127.0.0.1", port=port, threads=4, ident="driftwise")
    except OSError as error:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {error}") from None
    base_url = f"http://127.0.0.1:{server.effective_port}"
    os.environ["DRIFTWISE_BASE_URL"] = base_url  # links in alert emails
    app.config["BASE_URL"] = base_url
    threading.Thread(target=server.run, name="demo-web", daemon=True).start()
    return server, base_url


def tell_story(engine: Engine, folder: Path, base_url: str, days: int, rows: int) -> dict:
    from monitor.demo.story import Clock, Plan, Story, WebClient

    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    # The story ends the morning after its last day, which must be in the past.
    plan = Plan(days=days, rows=rows, first_day=today - timedelta(days=days + 1))
    with Clock(plan.first_day + timedelta(minutes=1)) as clock:
        set_up(engine, folder)
        client = WebClient(base_url, ADMIN_EMAIL, ADMIN_PASSWORD)
        story = Story(engine, plan, folder, client, say)
        say(
            f"Replaying {days} days from {plan.first_day:%Y-%m-%d}; drift starts on day "
            f"{plan.drift_day}"
        )
        for day in range(1, days + 1):
            story.live_day(day, clock)
        story.finish(clock)
    return {
        "days": days,
        "rows": rows,
        "first_day": plan.first_day.isoformat(),
        "drift_day": plan.drift_day,
        "sent": {
            "churn-online": story.tally.realtime,
            "churn-nightly": story.tally.batch,
            "labels": story.tally.labels,
        },
        "served_versions": story.tally.served_versions,
    }


def set_up(engine: Engine, folder: Path) -> None:
    """Train the first model, write and apply the spec, create the admin user."""
    from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame, churn_pipeline, scored
    from monitor.demo.story import SIGNAL
    from monitor.registry.artifacts import dump_artifact
    from monitor.spec.apply import apply_spec, load_files
    from monitor.spec.parse import load_spec
    from monitor.store import session_scope
    from web.auth import create_user

    train = churn_frame(3000, seed=1, signal=SIGNAL)
    model = churn_pipeline().fit(train[NUMERICAL + CATEGORICAL], train["churned"])
    (folder / "model").mkdir()
    (folder / "model" / "churn.skops").write_bytes(dump_artifact(model))
    scored(train, model).to_csv(folder / "model" / "reference.csv", index=False)
    for name in ("batch", "labels/churn-online", "labels/churn-nightly"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    spec_path = folder / "driftwise.toml"
    spec_path.write_text(SPEC)
    spec = load_spec(spec_path)
    loaded = load_files(spec)
    with session_scope(engine) as session:
        apply_spec(session, spec, loaded)
        create_user(session, ADMIN_EMAIL, ADMIN_PASSWORD, "admin")
    say(
        f"Trained the churn model on {len(train):,} customers; applied {spec_path.name}: "
        "deployments churn-online (real-time) and churn-nightly (batch), version 1"
    )


def conclude(summary: dict, folder: Path) -> None:
    """What happened, read back from the store."""
    from monitor.demo.story import predictions_by_deployment
    from monitor.store import get_engine, session_scope
    from monitor.store.models import Deployment, ModelVersion, RetrainJob

    engine = get_engine()
    with session_scope(engine) as session:
        promoted = session.scalars(
            select(RetrainJob).where(RetrainJob.decision == "promoted").order_by(RetrainJob.id)
        ).all()
        active = {
            name: version
            for name, version in session.execute(
                select(Deployment.name, ModelVersion.version).join(
                    ModelVersion, ModelVersion.id == Deployment.active_version_id
                )
            ).all()
        }
        jobs = [
            {"id": job.id, "decision": job.decision, **_scores(job.evaluation)} for job in promoted
        ]
    emails = sorted(path.name for path in (folder / "mail").glob("*.eml"))
    summary |= {
        "stored": predictions_by_deployment(engine),
        "active_versions": active,
        "promoted_jobs": jobs,
        "emails": len(emails),
    }
    say("\nThe story, from the store:")
    for name, count in summary["stored"].items():
        say(f"  {name}: {count:,} predictions stored (sent {summary['sent'].get(name, 0):,})")
    for job in jobs:
        say(
            f"  retrain job {job['id']}: {job['metric']} {job['champion_score']:.3f} (champion) "
            f"-> {job['challenger_score']:.3f} (challenger), promoted"
        )
    say(f"  active versions: {', '.join(f'{n} v{v}' for n, v in sorted(active.items()))}")
    say(f"  {len(emails)} alert emails in {folder / 'mail'}")
    say(f"  finished in {summary['seconds']} s")


def _scores(evaluation: dict | None) -> dict:
    evaluation = evaluation or {}
    return {
        "metric": evaluation.get("metric"),
        "champion_score": evaluation.get("champion_score"),
        "challenger_score": evaluation.get("challenger_score"),
        "challenger_version": evaluation.get("challenger_version"),
    }
