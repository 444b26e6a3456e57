"""The table `make bench` ends with: every figure of the cost-of-watching issue against its
goal, read from bench/results/*.json, beside the baseline each bench measured in its own run
(a bare fit, a bare insert, NannyML, Evidently) and the figure the issue was filed with.

    python -m bench.table
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
PUSH_GOALS = {20: 5_000, 100: 15_000}  # records/s, as bench.push states them
PUSH_FILED = {("sqlite", 20): "3147", ("postgres", 20): "900"}  # gunicorn -w 4


def _load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _get(data: dict, *keys: str):
    for key in keys:
        if not isinstance(data, dict) or data.get(key) is None:
            return None
        data = data[key]
    return data


def below(goal: float) -> Callable[[float], bool]:
    return lambda value: value <= goal


def above(goal: float) -> Callable[[float], bool]:
    return lambda value: value >= goal


def _rows(results: dict) -> list[tuple[str, object, str, str, Callable | None, str]]:
    """(figure, value, baseline, goal, met-test, at filing)."""
    monitor = results["monitor"].get("figures", {})
    ingest = _get(results["ingest"], "sqlite") or {}
    retrain = _get(results["retrain"], "retrain") or {}
    daemon = results["daemon"]
    round_ = f"{daemon.get('deployments', 100)} x {daemon.get('predictions_per_window', 10_000):,}"
    nanny, evidently = monitor.get("nannyml_1m_s"), monitor.get("evidently_1m_s")
    return [
        ("1M window, warm (s)", monitor.get("driftwise_1m_warm_s"), "", "<= 0.35", below(0.35), "1.05"),
        ("1M window, cold (s)", monitor.get("driftwise_1m_cold_s"), "", "<= 0.7", below(0.7), "2.00"),
        ("vs NannyML, warm (x)", monitor.get("speedup_vs_nannyml"), _baseline("NannyML", nanny, " s"), ">= 3", above(3), "1.06"),
        ("vs NannyML, cold (x)", monitor.get("speedup_vs_nannyml_cold"), "", ">= 1.5", above(1.5), "0.56"),
        ("vs Evidently, warm (x)", monitor.get("speedup_vs_evidently"), _baseline("Evidently", evidently, " s"), ">= 60", above(60), "22"),
        ("vs Evidently, cold (x)", monitor.get("speedup_vs_evidently_cold"), "", ">= 30", above(30), "12"),
        ("10M warm / 1M warm", monitor.get("ratio_10m_to_1m"), "", "<= 1.3", below(1.3), "1.88"),
        ("`driftwise monitor` 1M, no report (s)", monitor.get("command_s"), "", "<= 2.5", below(2.5), ""),
        ("`driftwise monitor` 1M, with report (s)", monitor.get("command_with_report_s"), "", "", None, "11.4"),
        ("Evidently report, 5,000 rows (s)", monitor.get("driftwise_report_s"), "", "<= 1.5", below(1.5), "4.0"),
        ("same verdicts as full-data Evidently", monitor.get("verdicts_agree"), "", "all", _all_agree, ""),
        ("retrain 200k vs bare fit (x)", retrain.get("ratio"), _baseline("bare fit", retrain.get("bare_fit_seconds"), " s"), "<= 1.5", below(1.5), "3.51"),
        ("ingest 1M JSONL, SQLite (rec/s)", ingest.get("records_per_second"), _baseline("executemany", ingest.get("baseline_records_per_second"), "/s"), ">= 50000", above(50_000), "37900"),
        ("ingest / bare executemany", ingest.get("ratio_to_executemany"), "", ">= 0.9", above(0.9), "0.71"),
        ("ingest, bare insert's CPU / writer's CPU", ingest.get("cpu_ratio_to_executemany"), "", "", None, ""),
        ("peak memory, 1M window (MB)", monitor.get("driftwise_peak_mb"), "", "<= 400", below(400), "765"),
        ("peak memory, 10M window (MB)", monitor.get("driftwise_10m_peak_mb"), "", "<= 400", below(400), "840"),
        ("peak memory, 1M window then its report (MB)", monitor.get("driftwise_peak_with_report_mb"), "", "", None, ""),
        (f"daemon round, {round_}, local (s)", _get(daemon, "local", "round_seconds"), "", "<= 20", below(20), "114.8"),
        ("daemon round, local, reports deferred (s)", _get(daemon, "local_without_reports", "round_seconds"), "", "<= 20", below(20), ""),
        ("daemon round, 2 Celery workers (s)", _get(daemon, "celery", "round_seconds"), "", "<= 12", below(12), "47.6"),
        ("CPU s per deployment-window, with report", _get(daemon, "local", "cpu_seconds_per_deployment_window"), "", "", None, ""),
        ("CPU s per deployment-window, verdict only", _get(daemon, "local_without_reports", "cpu_seconds_per_deployment_window"), "", "", None, ""),
        ("deployment-windows per core-hour, with report", _get(daemon, "local", "deployment_windows_per_core_hour"), "", "", None, ""),
        ("deployment-windows per core-hour, verdict only", _get(daemon, "local_without_reports", "deployment_windows_per_core_hour"), "", "", None, ""),
    ] + _bootstrap_rows(results.get("bootstrap", {})) + _push_rows(results.get("push", {}))  # fmt: skip


def _push_rows(push: dict) -> list:
    """Records/s and p99 of each store and batch size against the push goals."""
    goal = push.get("goal", {})
    p99_goal = goal.get("p99_ms", 250)
    rows = []
    for store in ("sqlite", "postgres"):
        for size in (20, 100):
            figures = _get(push, store, f"batch_{size}") or {}
            per_second = goal.get(f"records_per_second_batch_{size}", PUSH_GOALS[size])
            name = f"push {size}-record batches, {store}"
            rows += [
                (
                    f"{name} (rec/s)",
                    figures.get("records_per_second"),
                    push.get("server", ""),
                    f">= {per_second}",
                    above(per_second),
                    PUSH_FILED.get((store, size), ""),
                ),
                (
                    f"{name}, p99 (ms)",
                    figures.get("p99_ms"),
                    "",
                    f"< {p99_goal:g}",
                    lambda value, limit=p99_goal: value < limit,
                    "",
                ),
            ]
    return rows  # fmt: skip


def _bootstrap_rows(bootstrap: dict) -> list:
    """Per metric at 100,000 rows: wall and CPU seconds of 1,000 paired resamples against
    the goal, the old implementation's in the same run, and the peak memory."""
    goal = _get(bootstrap, "goal", "seconds_below") or 1.0
    rows = []
    for result in bootstrap.get("results", []):
        if result["rows"] != 100_000:
            continue
        name = f"bootstrap 100k x {result['resamples']:,} {result['metric']}"
        filed = "47" if result["metric"] == "roc_auc" else ""
        rows += [
            (
                f"{name}, wall (s)",
                result["seconds"],
                _baseline("before", result.get("old_seconds"), " s"),
                f"< {goal:g}",
                lambda v: v < goal,
                filed,
            ),
            (
                f"{name}, CPU (s)",
                result["cpu_seconds"],
                _baseline("before", result.get("old_cpu_seconds"), " s"),
                f"< {goal:g}",
                lambda v: v < goal,
                "",
            ),
        ]
    peaks = [result["peak_mb"] for result in bootstrap.get("results", [])]
    if peaks:
        rows.append(("bootstrap peak memory, any metric (MB)", max(peaks), "", "", None, ""))
    return rows  # fmt: skip


def _baseline(what: str, value, unit: str) -> str:
    return "" if value is None else f"{what} {_shown(value)}{unit}"


def _all_agree(value: str) -> bool:
    agree, checked = value.split("/")
    return agree == checked


def _shown(value) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(results: dict) -> str:
    header = ("figure", "this run", "baseline (same run)", "goal", "met", "at filing")
    lines = [header]
    for name, value, baseline, goal, met, filed in _rows(results):
        verdict = "" if met is None or value is None else ("yes" if met(value) else "NO")
        lines.append((name, _shown(value), baseline, goal, verdict, filed))
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    rendered = [" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
                for line in lines]  # fmt: skip
    rendered.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(rendered)


def main() -> None:
    names = ("monitor", "ingest", "retrain", "daemon", "bootstrap", "push")
    results = {name: _load(name) for name in names}
    print(table(results))


if __name__ == "__main__":
    main()
