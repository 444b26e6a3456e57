"""Our drift statistics against Evidently's own stat-test functions, to 1e-12, on columns of
each kind and size Evidently distinguishes; the verdict path itself never imports Evidently."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.calculations import stattests
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType

from monitor.report import stats
from monitor.report.drift import clean, column_drift, prepare

EVIDENTLY = {
    "wasserstein": stattests.wasserstein_stat_test,
    "ks": stattests.ks_stat_test,
    "chisquare": stattests.chi_stat_test,
    "z": stattests.z_stat_test,
    "jensenshannon": stattests.jensenshannon_stat_test,
    "psi": stattests.psi_stat_test,
    "kl_div": stattests.kl_div_stat_test,
    "hellinger": stattests.hellinger_stat_test,
}


def columns(kind: str, rows: int, seed: int) -> tuple[pd.Series, pd.Series, bool]:
    """A reference and a shifted window of `rows` each, of one kind of column."""
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        return (
            pd.Series(rng.normal(0, 1, rows)),
            pd.Series(rng.normal(0.2, 1.3, rows + 7)),
            False,
        )
    if kind == "integers":  # more than 5, at most 20 distinct values
        return (
            pd.Series(rng.integers(0, 12, rows)),
            pd.Series(rng.integers(1, 14, rows + 3)),
            False,
        )
    if kind == "few numbers":  # 3 to 5 distinct values
        return (
            pd.Series(rng.choice([1.0, 2.5, 4.0], rows)),
            pd.Series(rng.choice([1.0, 2.5, 4.0, 7.0], rows - 5, p=[0.5, 0.2, 0.2, 0.1])),
            False,
        )
    if kind == "binary numbers":
        return (
            pd.Series(rng.choice([0, 1], rows, p=[0.7, 0.3])),
            pd.Series(rng.choice([0, 1], rows + 11, p=[0.6, 0.4])),
            False,
        )
    if kind == "categories":
        labels = np.array(["basic", "plus", "pro", "team", "enterprise"])
        return (
            pd.Series(rng.choice(labels[:4], rows), dtype=object),
            pd.Series(rng.choice(labels, rows + 2, p=[0.4, 0.2, 0.2, 0.1, 0.1]), dtype=object),
            True,
        )
    if kind == "two categories":
        return (
            pd.Series(rng.choice(["yes", "no"], rows, p=[0.8, 0.2]), dtype=object),
            pd.Series(rng.choice(["yes", "no"], rows - 1, p=[0.7, 0.3]), dtype=object),
            True,
        )
    assert kind == "one category"
    return pd.Series(["same"] * rows, dtype=object), pd.Series(["same"] * rows, dtype=object), True


KINDS = [
    "continuous",
    "integers",
    "few numbers",
    "binary numbers",
    "categories",
    "two categories",
    "one category",
]


def evidently_score(method: str, reference, current, categorical: bool) -> float:
    column_type = ColumnType.Categorical if categorical else ColumnType.Numerical
    result = EVIDENTLY[method](reference.copy(), current.copy(), column_type, None)
    return float(result.drift_score), bool(result.drifted), float(result.actual_threshold)


@pytest.mark.parametrize("rows", [300, 5000])
@pytest.mark.parametrize("kind", KINDS)
def test_the_method_is_the_one_evidently_picks(kind, rows):
    reference, current, categorical = columns(kind, rows, seed=1)
    column_type = ColumnType.Categorical if categorical else ColumnType.Numerical
    expected = get_stattest(reference, current, column_type, None).name
    prepared = prepare(reference, categorical)
    assert stats.default_method(prepared, current, categorical) == expected
    drift = column_drift(reference, current, categorical)
    score, drifted, threshold = evidently_score(expected, reference, current, categorical)
    assert drift.method == expected
    assert drift.score == pytest.approx(score, rel=1e-12, abs=1e-12)
    assert (drift.drifted, drift.threshold) == (drifted, threshold)


@pytest.mark.parametrize("rows", [300, 5000])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", sorted(EVIDENTLY))
def test_every_statistic_is_evidentlys(method, kind, rows):
    reference, current, categorical = columns(kind, rows, seed=2)
    if method in ("wasserstein", "ks") and categorical:
        pytest.skip("Evidently allows this test on numerical columns only")
    if method == "z" and kind in ("continuous", "integers", "few numbers", "categories"):
        pytest.skip("a test of two proportions: one value against the rest")
    prepared = prepare(reference, categorical)
    ours = stats.STATISTICS[method](prepared, current, categorical)
    score, drifted, threshold = evidently_score(method, reference, current, categorical)
    assert ours == pytest.approx(score, rel=1e-12, abs=1e-12, nan_ok=True), (method, kind)
    assert stats.evidently_drifted(method, ours, threshold) == drifted


def test_a_window_identical_to_its_reference_has_no_drift_by_any_statistic():
    reference, _, _ = columns("continuous", 2000, seed=3)
    prepared = prepare(reference, False)
    for method in ("wasserstein", "ks", "psi", "kl_div", "hellinger", "jensenshannon"):
        score = stats.STATISTICS[method](prepared, reference, False)
        expected, _, _ = evidently_score(method, reference, reference, False)
        assert score == pytest.approx(expected, abs=1e-12)
        assert not stats.evidently_drifted(method, score, 0.05 if method == "ks" else 0.1)


def test_missing_and_infinite_values_are_dropped_as_evidently_drops_them():
    reference, current, _ = columns("continuous", 3000, seed=4)
    reference[::10] = np.nan
    current[::7] = np.inf
    drift = column_drift(reference, current, False)
    score, _, _ = evidently_score("wasserstein", clean(reference), clean(current), False)
    assert drift.score == pytest.approx(score, rel=1e-12)


def _printed_by(code: str) -> str:
    """What `code` prints, run in a fresh interpreter (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()


def test_the_verdict_path_does_not_import_evidently():
    code = (
        "import sys, pandas as pd\n"
        "from monitor.runs import execute\n"
        "from monitor.report.drift import column_drift\n"
        "column_drift(pd.Series([1.0, 2.0, 3.0] * 500), pd.Series([1.5, 2.0] * 300), False)\n"
        "print(sorted(name for name in sys.modules if name.startswith('evidently')))\n"
    )
    assert _printed_by(code) == "[]"


def test_a_large_references_verdict_imports_neither_scipy_stats_nor_scikit_learn():
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from monitor.runs import job\n"
        "from monitor.report.drift import column_drift\n"
        "numbers = pd.Series(np.arange(5000.0))\n"
        "column_drift(numbers, numbers + 0.5, False)\n"
        "column_drift(pd.Series(list('abcde') * 1000), pd.Series(list('abcdd') * 300), True)\n"
        "print(sorted(n for n in sys.modules if n.startswith(('scipy', 'sklearn'))))\n"
    )
    assert _printed_by(code) == "[]"
