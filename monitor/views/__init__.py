"""One JSON view per object, used alike by the CLI's `--json`, the API and the pages.

Every time is `iso()`'s: ISO 8601 in UTC ending in `Z`. A field once shown stays; a view
grows by adding fields."""

from monitor.timeutil import iso
from monitor.views.deployments import deployment_status_view, newest_run, source_status_view
from monitor.views.events import delivery_error, event_view, incident_view, notification_view
from monitor.views.runs import run_health, run_view
from monitor.views.versions import job_view, version_view

__all__ = [
    "delivery_error",
    "deployment_status_view",
    "event_view",
    "incident_view",
    "iso",
    "job_view",
    "newest_run",
    "notification_view",
    "run_health",
    "run_view",
    "source_status_view",
    "version_view",
]
