"""A reference's drift-test columns are prepared once, stored with the set, and give every
statistic the very same number when another process loads them."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from monitor.registry.reference import decode_reference, read_reference, to_parquet_bytes
from monitor.report import preparation, profile, stats
from monitor.report.drift import prepare
from monitor.store import session_scope
from monitor.store.models import Model, ModelVersion, ReferencePreparation
from tests.factories import churn_frame
from tests.monitor.runs_support import deploy
from tests.monitor.test_stats import KINDS, columns


@pytest.mark.parametrize("rows", [300, 5000])
@pytest.mark.parametrize("kind", [*KINDS, "integer categories", "many integers"])
def test_a_stored_column_gives_every_statistic_the_same_number(kind, rows):
    if kind == "integer categories":
        reference, current, categorical = columns("integers", rows, seed=5)
        categorical = True
    elif kind == "many integers":  # int64, more than 20 distinct values
        reference = pd.Series(range(rows)) % 97
        current, categorical = pd.Series(range(rows + 5)) % 89, False
    else:
        reference, current, categorical = columns(kind, rows, seed=5)
    fresh = prepare(reference, categorical)
    loaded = preparation.loads(preparation.dumps({"column": fresh}))["column"]
    assert (loaded.size, loaded.unique) == (fresh.size, fresh.unique)
    assert stats.default_method(loaded, current, categorical) == stats.default_method(
        fresh, current, categorical
    )
    for method, statistic in stats.STATISTICS.items():
        if method in ("wasserstein", "ks") and categorical:
            continue
        try:
            expected = statistic(fresh, current, categorical)
        except (ValueError, ZeroDivisionError):
            continue  # the test does not apply to this column; the loaded one is no different
        assert statistic(loaded, current, categorical) == pytest.approx(
            expected, rel=0, abs=0, nan_ok=True
        ), method


def test_categories_that_json_cannot_hold_are_prepared_in_each_process_instead():
    values = pd.Series([pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02")] * 10)
    assert preparation.dumps({"when": prepare(values, categorical=True)}) is None


def test_a_second_process_loads_the_preparation_without_decoding_the_reference_set(engine):
    deploy(engine, max_rows=500)
    with session_scope(engine) as session:
        model = session.scalar(select(Model))
        version_id = session.scalar(select(ModelVersion.id))
        profile._REFERENCES.clear()
        first = profile.load(session, model, version_id, 500)
        stored = session.scalar(select(func.count()).select_from(ReferencePreparation))
    assert stored == 1
    profile._REFERENCES.clear()  # as if another process
    decode_reference.cache_clear()
    with session_scope(engine) as session:
        model = session.scalar(select(Model))
        second = profile.load(session, model, version_id, 500)
        assert decode_reference.cache_info().misses == 0
        assert second.frame_rows == first.frame_rows == len(first.frame)
        window = churn_frame(200, seed=4)
        for name, column in first.columns.items():
            loaded = second.columns[name]
            categorical = column.sorted is None
            if name not in window:
                continue
            method = stats.default_method(column, window[name], categorical)
            assert method == stats.default_method(loaded, window[name], categorical)
            assert stats.STATISTICS[method](loaded, window[name], categorical) == (
                stats.STATISTICS[method](column, window[name], categorical)
            )
        assert len(second.frame) == len(first.frame)  # the frame still decodes when read


@pytest.mark.parametrize("cap", [700, 2000, 5000])
def test_a_capped_reference_read_from_arrow_is_the_capped_frame(cap):
    frame = churn_frame(2000, seed=6)
    frame.loc[::7, "tenure"] = None  # missing numbers and categories survive the take
    frame.loc[::11, "plan"] = None
    data = to_parquet_bytes(frame)
    read = profile.read_capped(data, cap)
    assert len(read) == min(cap, 2000)
    pd.testing.assert_frame_equal(read, profile.cap_frame(read_reference(data), cap))
