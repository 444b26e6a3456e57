"""Celery workers: `driftwise worker` runs the daemon's tasks on any machine.

With `DRIFTWISE_EXECUTOR=celery` the leading daemon only enqueues; workers run ingest,
monitor, retrain and notification tasks. A message is acknowledged after its task ends
(`acks_late`) and put back when the worker dies mid-task (`task_reject_on_worker_lost`),
so a killed worker's task runs again elsewhere; it then does its work once because every
task is idempotent by our tables. The broker's visibility timeout (Redis, SQS) must be
longer than the longest task, or a slow retrain would be handed to a second worker while
the first still runs it.
"""

from __future__ import annotations

from typing import Any

import click
from celery import Celery
from celery.signals import worker_process_init

from monitor.service.tasks import TASKS, run_task
from monitor.settings import current_settings

QUEUE = "driftwise"


def make_app(broker_url: str | None = None) -> Celery:
    """The Celery app on the configured broker (redis:// or amqp://), tasks registered."""
    settings = current_settings()
    broker_url = broker_url or settings.broker_url
    time_limit, visibility = settings.task_time_limit, settings.broker_visibility_timeout
    app = Celery("driftwise", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=time_limit,
        task_soft_time_limit=time_limit * 0.95,
        broker_transport_options={
            "visibility_timeout": visibility,
            # Redis: look for a dead worker's messages this often (kombu: every 100 s).
            "unacked_restore_interval": max(1, min(60, int(visibility / 4))),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    for name in TASKS:
        app.task(name=f"driftwise.{name}", bind=False)(_runner(name))
    return app


def _runner(name: str):
    def run(*args: Any) -> dict[str, Any]:
        return run_task(name, *args)

    run.__name__ = name
    run.__doc__ = TASKS[name].__doc__
    return run


@worker_process_init.connect
def _allow_helper_processes(**_: Any) -> None:
    """Ingest parses large files in a helper process, but Celery's pool processes are
    daemonic and multiprocessing forbids those children. The helper dies with its parent."""
    import multiprocessing

    multiprocessing.current_process()._config["daemon"] = False


@click.command()
@click.option("--concurrency", "-c", default=1, show_default=True, type=int)
@click.option("--hostname", "-n", help="Worker name (default: celery@<host>).")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(concurrency: int, hostname: str | None, loglevel: str) -> None:
    """Run a Celery worker for the daemon's tasks (DRIFTWISE_BROKER_URL)."""
    from monitor.cli import require_schema
    from monitor.logs import configure_logging
    from monitor.store import reset_engines

    require_schema()
    configure_logging()
    reset_engines()  # the pool's processes fork from here: no connection may be shared
    app = make_app()
    argv = ["worker", f"--concurrency={concurrency}", f"--loglevel={loglevel}", "-Q", QUEUE]
    argv += ["--without-gossip", "--without-mingle", "--pool=prefork"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)
