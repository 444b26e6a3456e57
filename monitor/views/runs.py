"""A run as JSON, the same for `driftwise runs --json` and the API."""

from __future__ import annotations

from typing import Any

from monitor.incidents import window_state
from monitor.store.models import Run
from monitor.timeutil import iso

FEATURE_KEYS = ("score", "method", "threshold", "drifted")


def run_health(run: Run | None) -> str:
    """A word or two for a window: healthy, drift, performance, no data, too few rows,
    error or running."""
    state = window_state(run)
    if state != "healthy":
        return state
    types = {str(entry.get("type", "")) for entry in run.breaches or [] if isinstance(entry, dict)}
    if types & {"performance", "estimated_performance"}:
        return "performance"
    if types & {"drift", "data_quality"} or run.breaches:
        return "drift"
    return "healthy"


def run_view(run: Run, full: bool = True) -> dict[str, Any]:
    """The run; without `full`, the summary a list shows (no per-feature numbers)."""
    data = {
        "id": run.id,
        "window_start": iso(run.window_start),
        "window_end": iso(run.window_end),
        "kind": run.kind,
        "seq": run.seq,
        "status": run.status,
        "health": run_health(run),
        "model_version_id": run.model_version_id,
        "rows": run.rows,
        "reference_rows": run.reference_rows,
        "labeled_rows": run.labeled_rows,
        "sampled": run.sampled,
        "sampled_from": run.sampled_from,
        "drift_share": run.drift_share,
        "performance": run.performance or {},
        # The marker sits beside the metrics, never among them: code looping over the
        # metrics meets only numbers.
        "estimated_performance": (
            {"estimate": True, "metrics": run.estimated_performance}
            if run.estimated_performance
            else {}
        ),
        "breaches": run.breaches or [],
        "has_report": run.snapshot is not None,
    }
    if full:
        data |= {
            "features": {
                name: {key: entry.get(key) for key in FEATURE_KEYS}
                | ({"error": entry["error"]} if entry.get("error") else {})
                for name, entry in (run.features or {}).items()
            },
            "prediction_drift": run.prediction_drift,
            "quality": run.quality or {},
            "warnings": run.warnings or [],
            "error": run.error,
            "report_rows": run.report_rows,
            "duration": run.duration,
            "started_at": iso(run.started_at),
            "finished_at": iso(run.finished_at),
        }
    return data
