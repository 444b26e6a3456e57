"""The paired bootstrap's cost against the goal of issue 17 (1,000 resamples of a 100,000-row
holdout in well under a second) and against the implementation before it.

`python -m bench.bootstrap [--resamples N]` prints the figures and writes
bench/results/bootstrap.json.

For holdouts of 10,000 and 100,000 rows and each kind of deciding metric (accuracy, F1,
ROC AUC with distinct probabilities, macro one-vs-rest ROC AUC of 3 classes, RMSE, R²): the
median wall and CPU seconds of `retrain.bootstrap.improvement_interval` (paired: champion
and challenger, N resamples, 95%), its peak traced memory, and the same for
`bench.bootstrap_before` (the old implementation), measured in this run: with N resamples
at 10,000 rows, and at 100,000 rows on N/10 resamples times 10 for the row metrics, where
the old one takes tens of seconds (`old_resamples` says which). The old one had no
multiclass ROC AUC: that row has no `old_*` figures, and its `metric` names the classes.
CPU seconds count this process only: on a machine shared with other work they are the
figure to compare, and `load_average` says how shared it was.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np

from bench import bootstrap_before
from retrain.bootstrap import ROW_METRICS, Side, improvement_interval

RESULTS = Path(__file__).parent / "results"
ROWS = (10_000, 100_000)
MULTICLASS = "roc_auc (3 classes)"  # macro one-vs-rest
METRICS = ("accuracy", "f1", "roc_auc", "rmse", "r2", MULTICLASS)
GOAL_SECONDS = 1.0  # at 100,000 rows and 1,000 resamples
REPEATS = 3


def sides(rows: int, metric: str) -> tuple[Side, Side]:
    rng = np.random.default_rng(rows)
    if metric == MULTICLASS:
        truth = rng.integers(0, 3, rows)
        return tuple(_class_probabilities(rng, truth, sharpness) for sharpness in (1.0, 1.05))
    if metric in ("rmse", "r2"):
        truth = rng.normal(50, 10, rows)
        return (
            Side(truth, truth + rng.normal(0, 5, rows)),
            Side(truth, truth + rng.normal(0, 4.9, rows)),
        )
    truth = rng.integers(0, 2, rows)
    champion = np.clip(truth * 0.3 + rng.random(rows) * 0.7, 0, 1)
    challenger = np.clip(truth * 0.31 + rng.random(rows) * 0.69, 0, 1)
    return (
        Side(truth, (champion > 0.5).astype(int), champion),
        Side(truth, (challenger > 0.5).astype(int), challenger),
    )


def _class_probabilities(rng: np.random.Generator, truth: np.ndarray, sharpness: float) -> Side:
    logits = rng.normal(0, 1, (len(truth), 3)) + sharpness * np.eye(3)[truth]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Side(truth, probabilities.argmax(axis=1), None, probabilities, (0, 1, 2))


def measure(work, repeats: int = REPEATS) -> dict[str, float]:
    """Median wall and CPU seconds of `work`, and its peak traced memory in a separate run
    (tracing slows NumPy's allocations down)."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "seconds": round(statistics.median(walls), 4),
        "cpu_seconds": round(statistics.median(cpus), 4),
        "peak_mb": round(peak / 1e6, 1),
    }


def compare(rows: int, metric: str, resamples: int) -> dict:
    champion, challenger = sides(rows, metric)
    deciding = "roc_auc" if metric == MULTICLASS else metric
    new = measure(partial(improvement_interval, deciding, champion, challenger, 0.95, resamples, 0))
    if metric == MULTICLASS:
        return {"rows": rows, "metric": metric, "resamples": resamples, **new}
    expensive = rows > 10_000 and metric in ROW_METRICS
    old_resamples = max(1, resamples // 10) if expensive else resamples
    before = partial(bootstrap_before.paired_interval, metric, champion, challenger)
    old = measure(partial(before, old_resamples, 0), repeats=1)
    scale = resamples / old_resamples
    return {
        "rows": rows,
        "metric": metric,
        "resamples": resamples,
        **new,
        "old_resamples": old_resamples,
        "old_seconds": round(old["seconds"] * scale, 3),
        "old_cpu_seconds": round(old["cpu_seconds"] * scale, 3),
        "old_peak_mb": old["peak_mb"],
        "speedup": round(old["cpu_seconds"] * scale / new["cpu_seconds"], 1),
    }


def _shown(result: dict, resamples: int) -> str:
    new = (
        f"{result['seconds']:.3f}s wall, {result['cpu_seconds']:.3f}s CPU, "
        f"{result['peak_mb']} MB peak"
    )
    if "old_seconds" not in result:
        return new
    scaled = result["old_resamples"] != resamples
    return (
        f"{new}; before {result['old_seconds']:.2f}s wall, {result['old_cpu_seconds']:.2f}s CPU"
        + (f" ({result['old_resamples']} resamples, scaled)" if scaled else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results = []
    for rows in ROWS:
        for metric in METRICS:
            result = compare(rows, metric, args.resamples)
            results.append(result)
            print(f"{rows:>7} rows {metric:<8} " + _shown(result, args.resamples))
    RESULTS.mkdir(exist_ok=True)
    document = {
        "goal": {"rows": 100_000, "resamples": 1000, "seconds_below": GOAL_SECONDS},
        "load_average": round(load, 2),
        "cpus": os.cpu_count(),
        "results": results,
    }
    (RESULTS / "bootstrap.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
