"""Monitoring benchmark: one window of 1,000,000 predictions (20 numerical features and one
categorical) end to end through Driftwise (count, in-database sample, drift, quality,
estimate, Evidently report, storing, policy), against Evidently's DataDriftPreset and
NannyML's UnivariateDriftCalculator on the full in-memory frame; then a 10,000,000-row
window. Each contender runs in its own process on the same data so that its peak memory
is its own. Writes bench/results/monitor.json.

    python -m bench.monitor                 # everything (about 5 minutes on 2 cores)
    BENCH_MONITOR_10M=0 python -m bench.monitor   # skip the 10M window
    BENCH_MONITOR_WORK=/tmp/store python -m bench.monitor   # keep the store there, reuse it
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

import monitor  # noqa: F401 - sets DO_NOT_TRACK (and NannyML's opt-out) before either loads

RESULTS = Path(__file__).parent / "results"
NUMERICAL = [f"f{index:02d}" for index in range(20)]
CATEGORICAL = ["segment"]
FEATURES = [*NUMERICAL, *CATEGORICAL]
# Location shifts in standard deviations (about the normed Wasserstein distance):
# clearly below, near (within 0.01, exempt from the verdict check) and above 0.1.
SHIFTS = [0.0] * 6 + [0.02, 0.05, 0.08, 0.085, 0.095, 0.105, 0.115, 0.13, 0.2, 0.3, 0.5, 1.0]
SHIFTS += [0.0, 0.0]
SEGMENTS = ["a", "b", "c", "d", "e"]
REFERENCE_P = [0.4, 0.25, 0.15, 0.1, 0.1]
CURRENT_P = [0.33, 0.27, 0.17, 0.12, 0.11]
REFERENCE_ROWS = 100_000
MAX_ROWS = 50_000
REPORT_ROWS = 5_000  # rows per side of the Evidently report timed (the budget)
DAY_1M = datetime(2026, 3, 1)
DAY_10M = datetime(2026, 3, 2)


def make_frame(rows: int, seed: int, current: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {}
    for index, name in enumerate(NUMERICAL):
        shift = SHIFTS[index] if current else 0.0
        columns[name] = (rng.normal(shift, 1.0, rows) * (1 + index / 10)).round(4)
    columns["segment"] = rng.choice(SEGMENTS, rows, p=CURRENT_P if current else REFERENCE_P)
    logit = 0.8 * columns["f00"] - 0.5 * columns["f01"] + (columns["segment"] == "a") * 0.7
    probability = (1 / (1 + np.exp(-logit))).round(4)
    frame = pd.DataFrame(columns)
    frame["prediction"] = (probability > 0.5).astype(int)
    frame["probability"] = probability
    frame["label"] = (rng.random(rows) < probability).astype(int)
    return frame


def _peak_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: a child started by a
    big parent inherits the parent's ru_maxrss, but exec gives it a fresh VmHWM."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- building the store -------------------------------------------------------------------


def build(work: Path) -> dict:
    from monitor.store import get_engine, schema, session_scope
    from tests.factories import make_model, serve_version

    url = f"sqlite:///{work / 'bench.db'}"
    engine = get_engine(url)
    schema.upgrade(engine)
    reference = make_frame(REFERENCE_ROWS, seed=1, current=False)
    current = make_frame(1_000_000, seed=2, current=True)
    current[FEATURES].to_parquet(work / "current.parquet")
    reference[FEATURES].to_parquet(work / "reference.parquet")
    with session_scope(engine) as session:
        version = make_model(session, "bench", reference, NUMERICAL, CATEGORICAL, target="label")
        deployment = serve_version(
            session,
            version,
            "bench",
            mode="batch",
            window_seconds=86400,
            max_rows=MAX_ROWS,
            min_rows=100,
            policy={"drift_share": 0.5},
        )
        deployment_id, version_id = deployment.id, version.id
    engine.dispose()
    started = time.perf_counter()
    records = [orjson.dumps(row).decode() for row in current[FEATURES].to_dict("records")]
    payload = list(
        zip(records, current["prediction"].tolist(), current["probability"].tolist(), strict=True)
    )
    del current
    connection = sqlite3.connect(work / "bench.db")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    _insert(connection, deployment_id, version_id, DAY_1M, "a", payload, 1_000_000)
    built_1m = time.perf_counter() - started
    built_10m = None
    if os.environ.get("BENCH_MONITOR_10M", "1") != "0":
        started = time.perf_counter()
        _insert(connection, deployment_id, version_id, DAY_10M, "b", payload, 10_000_000)
        built_10m = time.perf_counter() - started
    connection.close()
    return {"url": url, "insert_1m_s": built_1m, "insert_10m_s": built_10m}


def _insert(connection, deployment_id, version_id, day, prefix, payload, rows, chunk=500_000):
    """Rows spread over the day; the 10M window cycles through the 1M window's records."""
    sql = (
        "INSERT INTO predictions (deployment_id, model_version_id, request_id, timestamp, "
        "features, prediction, probability, sample_key, ingested_at) VALUES (?,?,?,?,?,?,?,?,?)"
    )
    step = 86_400_000_000 // rows  # microseconds
    now = datetime(2026, 3, 3).strftime("%Y-%m-%d %H:%M:%S.%f")
    size = len(payload)
    for first in range(0, rows, chunk):
        batch = []
        for number in range(first, min(rows, first + chunk)):
            request_id = f"{prefix}{number:09d}"
            features, prediction, probability = payload[number % size]
            stamp = (day + timedelta(microseconds=number * step)).strftime("%Y-%m-%d %H:%M:%S.%f")
            batch.append(
                (
                    deployment_id,
                    version_id,
                    request_id,
                    stamp,
                    features,
                    str(prediction),
                    probability,
                    zlib.crc32(request_id.encode()),
                    now,
                )
            )
        with connection:
            connection.executemany(sql, batch)


# --- contenders (each in its own process) -------------------------------------------------


def run_driftwise(url: str, day: str) -> dict:
    from sqlalchemy import delete, select, update

    from monitor.runs.execute import run_window
    from monitor.store import get_engine, schema, session_scope
    from monitor.store.models import (
        Deployment,
        MetricPoint,
        ReferencePreparation,
        ReferenceSet,
        Run,
        WindowCount,
    )

    engine = get_engine(url)
    schema.upgrade(engine)  # a store kept by BENCH_MONITOR_WORK may predate a migration
    start = datetime.fromisoformat(day)
    with session_scope(engine) as session:
        deployment_id = session.scalar(select(Deployment.id))
        # Cold is the version's first window: its profile and preparation not made yet,
        # its rows not counted before.
        session.execute(delete(ReferencePreparation))
        session.execute(delete(WindowCount))
        session.execute(update(ReferenceSet).values(profile={}))
    timings, cpu = [], []
    for _attempt in range(2):  # cold (first in this process), then warm
        with session_scope(engine) as session:
            session.execute(delete(MetricPoint))
            session.execute(delete(Run))
        began, began_cpu = time.perf_counter(), time.process_time()
        run_id = run_window(engine, deployment_id, start, start + timedelta(days=1))
        timings.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    run_peak = _peak_mb()
    report = _time_reports(engine)
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        result = {
            "status": run.status,
            "error": run.error,
            "rows": run.rows,
            "sampled_from": run.sampled_from,
            "reference_rows": run.reference_rows,
            "report_rows": run.report_rows,
            "snapshot_bytes": len(run.snapshot or b""),
            "features": run.features,
            "drift_share": run.drift_share,
        }
    return result | {
        "cold_s": timings[0],
        "warm_s": timings[1],
        # CPU seconds of every thread: what a loaded machine's wall clock does not show
        "cold_cpu_s": cpu[0],
        "warm_cpu_s": cpu[1],
        **report,
        "run_peak_mb": run_peak,
        "peak_mb": _peak_mb(),
    }


def _time_reports(engine) -> dict:
    """Evidently's report of the run: importing Evidently (once per process), then the
    first build and a second one (what a daemon's later passes pay), wall and CPU."""
    from sqlalchemy import update

    from monitor.runs.reports import build_pending_reports
    from monitor.store import session_scope
    from monitor.store.models import Run

    began, began_cpu = time.perf_counter(), time.process_time()
    from monitor.report import evidently_summary  # noqa: F401 - Evidently and its presets

    timings = {
        "report_import_s": time.perf_counter() - began,
        "report_import_cpu_s": time.process_time() - began_cpu,
    }
    for name in ("report", "report_again"):
        with session_scope(engine) as session:
            session.execute(update(Run).values(snapshot=None, report_rows=None))
        began, began_cpu = time.perf_counter(), time.process_time()
        build_pending_reports(engine, rows=REPORT_ROWS)
        timings[f"{name}_s"] = time.perf_counter() - began
        timings[f"{name}_cpu_s"] = time.process_time() - began_cpu
    return timings


def run_evidently(work: str) -> dict:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    current = pd.read_parquet(Path(work) / "current.parquet")
    reference = pd.read_parquet(Path(work) / "reference.parquet")
    definition = DataDefinition(numerical_columns=NUMERICAL, categorical_columns=CATEGORICAL)
    began = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    elapsed = time.perf_counter() - began
    scores = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            scores[config["column"]] = {
                "score": float(metric["value"]),
                "method": config["method"],
                "threshold": config["threshold"],
            }
    return {"seconds": elapsed, "features": scores, "peak_mb": _peak_mb()}


def run_nannyml(work: str) -> dict:
    import nannyml

    current = pd.read_parquet(Path(work) / "current.parquet")
    reference = pd.read_parquet(Path(work) / "reference.parquet")
    began = time.perf_counter()
    calculator = nannyml.UnivariateDriftCalculator(
        column_names=FEATURES,
        treat_as_categorical=CATEGORICAL,
        continuous_methods=["wasserstein"],
        categorical_methods=["jensen_shannon"],
        chunk_number=1,
    )
    calculator.fit(reference)
    calculator.calculate(current)
    elapsed = time.perf_counter() - began
    return {"seconds": elapsed, "version": nannyml.__version__, "peak_mb": _peak_mb()}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(url: str, day: str, reports: bool) -> tuple[float, float]:
    """`driftwise monitor` of the window as a whole command, from a fresh process (what cron
    or a person runs): imports, the verdict and, with reports, Evidently's report."""
    database = url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM metric_points")
        connection.execute("DELETE FROM runs")
    end = (datetime.fromisoformat(day) + timedelta(days=1)).isoformat()
    from tests.processes import run_driftwise

    command = ["monitor", "--deployment", "bench"]
    command += ["--start", day, "--end", end, "--reports" if reports else "--no-reports"]
    env = {"DRIFTWISE_DATABASE_URL": url, "PYTHONWARNINGS": "ignore"}
    began, began_cpu = time.perf_counter(), _children_cpu()
    run_driftwise(command, env, check=True, timeout=900)
    return time.perf_counter() - began, _children_cpu() - began_cpu


def _child(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.monitor", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout)[-1500:]}
    return json.loads(lines[-1])


# --- comparison ---------------------------------------------------------------------------


def verdicts(driftwise: dict, evidently: dict) -> dict:
    """Same drift verdict as Evidently's full-data one, for columns at least 0.01 from the
    threshold (closer ones may go either way on any sample)."""
    columns = {}
    for name, full in evidently["features"].items():
        ours = driftwise["features"][name]
        threshold = full["threshold"]
        full_drifted = full["score"] >= threshold
        columns[name] = {
            "full_score": full["score"],
            "sample_score": ours["score"],
            "method": ours["method"],
            "threshold": threshold,
            "same_verdict": full_drifted == ours["drifted"],
            "checked": abs(full["score"] - threshold) >= 0.01,
        }
    checked = [entry for entry in columns.values() if entry["checked"]]
    return {
        "columns": columns,
        "checked": len(checked),
        "agree": sum(entry["same_verdict"] for entry in checked),
        "all_agree": all(entry["same_verdict"] for entry in checked),
    }


def _store(work: Path) -> dict:
    """The store built in `work`, or the one a previous run kept there (BENCH_MONITOR_WORK)."""
    kept = work / "built.json"
    if kept.exists():
        print(f"reusing the store in {work}", flush=True)
        return json.loads(kept.read_text())
    print("building the store (1M window, then 10M) ...", flush=True)
    built = build(work)
    print(f"  inserted 1M in {built['insert_1m_s']:.1f}s, 10M in {built['insert_10m_s']}s")
    kept.write_text(json.dumps(built))
    return built


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    keep = os.environ.get("BENCH_MONITOR_WORK")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="driftwise-bench-") as scratch:
        work = keep or scratch
        built = _store(Path(work))
        ours = _child("driftwise", built["url"], DAY_1M.isoformat())
        print(f"driftwise 1M: cold {ours.get('cold_s')}s warm {ours.get('warm_s')}s", flush=True)
        ours["command_s"], ours["command_cpu_s"] = run_command(
            built["url"], DAY_1M.isoformat(), reports=False
        )
        ours["command_with_report_s"], _ = run_command(built["url"], DAY_1M.isoformat(), True)
        print(f"driftwise monitor command 1M: {ours['command_s']:.2f}s", flush=True)
        ours_10m = None
        if built["insert_10m_s"] is not None:
            ours_10m = _child("driftwise", built["url"], DAY_10M.isoformat())
            print(f"driftwise 10M: warm {ours_10m.get('warm_s')}s", flush=True)
        nanny = _child("nannyml", work)
        print(f"nannyml 1M: {nanny.get('seconds')}s", flush=True)
        evidently = _child("evidently", work)
        print(f"evidently 1M: {evidently.get('seconds')}s", flush=True)
    result = summarise(built, ours, ours_10m, evidently, nanny)
    (RESULTS / "monitor.json").write_text(json.dumps(result, indent=2, default=str))
    for key, value in result["figures"].items():
        print(f"{key:>36}: {value}")


def summarise(built, ours, ours_10m, evidently, nanny) -> dict:
    figures: dict = {
        "driftwise_1m_warm_s": ours.get("warm_s"),
        "driftwise_1m_cold_s": ours.get("cold_s"),
    }
    # The verdict's peak (both runs); Evidently's report, built after them, has its own.
    figures["driftwise_peak_mb"] = ours.get("run_peak_mb")
    figures["driftwise_peak_with_report_mb"] = ours.get("peak_mb")
    figures["command_s"] = ours.get("command_s")
    for key in ("warm_cpu_s", "cold_cpu_s", "command_cpu_s"):
        figures[f"driftwise_1m_{key}"] = ours.get(key)
    figures["command_with_report_s"] = ours.get("command_with_report_s")
    # Evidently's own HTML report (REPORT_ROWS per side) is built after the run, off the
    # path of the numbers the policy acts on; its cost is shown on its own.
    figures["driftwise_report_s"] = ours.get("report_s")
    for key in ("report_cpu_s", "report_again_s", "report_again_cpu_s", "report_import_s"):
        figures[f"driftwise_{key}"] = ours.get(key)
    figures["driftwise_report_rows"] = ours.get("report_rows")
    if "seconds" in evidently:
        figures["evidently_1m_s"] = evidently["seconds"]
        figures["evidently_peak_mb"] = evidently["peak_mb"]
        figures["speedup_vs_evidently"] = evidently["seconds"] / ours["warm_s"]
        figures["speedup_vs_evidently_cold"] = evidently["seconds"] / ours["cold_s"]
    if "seconds" in nanny:
        figures["nannyml_1m_s"] = nanny["seconds"]
        figures["speedup_vs_nannyml"] = nanny["seconds"] / ours["warm_s"]
        figures["speedup_vs_nannyml_cold"] = nanny["seconds"] / ours["cold_s"]
    if ours_10m and "warm_s" in ours_10m:
        figures["driftwise_10m_warm_s"] = ours_10m["warm_s"]
        figures["ratio_10m_to_1m"] = ours_10m["warm_s"] / ours["warm_s"]
        figures["driftwise_10m_peak_mb"] = ours_10m["run_peak_mb"]
    agreement = (
        verdicts(ours, evidently) if "features" in evidently and "features" in ours else None
    )
    if agreement:
        figures["verdicts_agree"] = f"{agreement['agree']}/{agreement['checked']}"
    peak = max(ours.get("run_peak_mb", 1e9), (ours_10m or {}).get("run_peak_mb", 0))
    goals = {
        "warm_within_0.35s": figures.get("driftwise_1m_warm_s", 99) <= 0.35,
        "cold_within_0.7s": figures.get("driftwise_1m_cold_s", 99) <= 0.7,
        "60x_vs_evidently": figures.get("speedup_vs_evidently", 0) >= 60,
        "3x_vs_nannyml": figures.get("speedup_vs_nannyml", 0) >= 3,
        "30x_vs_evidently_cold": figures.get("speedup_vs_evidently_cold", 0) >= 30,
        "1.5x_vs_nannyml_cold": figures.get("speedup_vs_nannyml_cold", 0) >= 1.5,
        "10m_within_1.3x": figures.get("ratio_10m_to_1m", 99) <= 1.3,
        "command_within_2.5s": (figures.get("command_s") or 99) <= 2.5,
        "report_within_1.5s": (figures.get("driftwise_report_s") or 99) <= 1.5,
        "peak_under_400mb": peak <= 400,
        "same_verdicts": bool(agreement and agreement["all_agree"]),
    }
    return {
        "figures": figures,
        "goals": goals,
        "build": built,
        "driftwise_1m": {k: v for k, v in ours.items() if k != "features"},
        "driftwise_10m": {k: v for k, v in (ours_10m or {}).items() if k != "features"},
        "evidently": {k: v for k, v in evidently.items() if k != "features"},
        "nannyml": nanny,
        "verdicts": agreement,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }


if __name__ == "__main__":
    if len(sys.argv) > 1:
        part = {"driftwise": run_driftwise, "evidently": run_evidently, "nannyml": run_nannyml}
        print(json.dumps(part[sys.argv[1]](*sys.argv[2:]), default=str))
    else:
        main()
