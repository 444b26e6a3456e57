"""The paired bootstrap's cost against one computation of the metric it resamples.

`python -m bench.bootstrap [--resamples N]` prints the figures and writes
bench/results/bootstrap.json.

For holdouts of 10,000 and 100,000 rows and each deciding metric (ROC AUC with distinct
probabilities, F1, RMSE): the median seconds of `retrain.bootstrap.paired_interval` (champion
and challenger, N resamples, 95%) against the median seconds of one scikit-learn computation
of the metric for one version on the same rows — the baseline a point-estimate decision pays.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from sklearn import metrics as sk

from retrain.bootstrap import Side, paired_interval

RESULTS = Path(__file__).parent / "results"
ROWS = (10_000, 100_000)
REPEATS = 3


def sides(rows: int, metric: str) -> tuple[Side, Side]:
    rng = np.random.default_rng(rows)
    if metric == "rmse":
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


def baseline(metric: str, side: Side) -> float:
    if metric == "roc_auc":
        return sk.roc_auc_score(side.truth, side.probability)
    if metric == "f1":
        return sk.f1_score(side.truth, side.prediction)
    return sk.root_mean_squared_error(side.truth, side.prediction)


def median_seconds(work, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    results = []
    for rows in ROWS:
        for metric in ("roc_auc", "f1", "rmse"):
            champion, challenger = sides(rows, metric)
            single = median_seconds(lambda m=metric, c=champion: baseline(m, c))
            seconds = median_seconds(
                lambda m=metric, a=champion, b=challenger: paired_interval(
                    m, a, b, 0.95, args.resamples, 0
                )
            )
            results.append(
                {
                    "rows": rows,
                    "metric": metric,
                    "resamples": args.resamples,
                    "bootstrap_seconds": round(seconds, 4),
                    "single_metric_seconds": round(single, 5),
                    "ratio": round(seconds / single, 1),
                }
            )
            print(
                f"{rows:>7} rows {metric:<8} bootstrap {seconds:.3f}s "
                f"({args.resamples} resamples) vs one {metric} {single * 1000:.1f}ms: "
                f"×{seconds / single:.0f}"
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bootstrap.json").write_text(json.dumps({"results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
