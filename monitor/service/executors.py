"""Where the daemon's tasks run.

`local` runs a task at once in the calling thread (the daemon's thread pool); `celery`
only enqueues it for `driftwise worker` processes.
"""

from __future__ import annotations

from typing import Any, Protocol

from monitor.service.tasks import TASKS, run_task


class Executor(Protocol):
    name: str

    def submit(self, task: str, *args: Any, expires: float | None = None) -> str: ...


class LocalExecutor:
    """Runs the task now, in the calling thread: the daemon's pool bounds the concurrency."""

    name = "local"

    def submit(self, task: str, *args: Any, expires: float | None = None) -> str:
        outcome = run_task(task, *args)
        return "ok" if not outcome.get("errors") else "errors: " + "; ".join(outcome["errors"])


class CeleryExecutor:
    """Enqueues the task for `driftwise worker`; `expires` drops a copy nobody started in
    time, so a slow worker pool does not pile up repeats of the same check."""

    name = "celery"

    def __init__(self, app: Any = None) -> None:
        if app is None:
            from monitor.service.worker import make_app

            app = make_app()
        self.app = app

    def submit(self, task: str, *args: Any, expires: float | None = None) -> str:
        if task not in TASKS:
            raise KeyError(f"no task named {task!r}")
        self.app.send_task(f"driftwise.{task}", args=list(args), expires=expires)
        return "enqueued"


def make_executor(name: str) -> Executor:
    if name == "celery":
        return CeleryExecutor()
    return LocalExecutor()
