"""Training-set assembly: the fast aggregated read equals the plain row-by-row one."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sqlalchemy import delete, select

from monitor.store import session_scope
from monitor.store.models import Label, Model, Prediction
from monitor.timeutil import utcnow
from retrain import training
from tests.retrain.support import log_traffic, make_model


def _joined(model: Model, since):
    """The labeled rows' query both reads are handed: the one `labeled_rows` builds."""
    return training._labeled(model).where(Prediction.timestamp >= since)


def test_the_aggregated_read_equals_the_row_by_row_read(engine):
    model_id = make_model(engine)
    log_traffic(engine, 300)
    log_traffic(engine, 50, deployment="churn-nightly", prefix="r")  # same ids: newest wins
    since = utcnow() - timedelta(days=1)
    with session_scope(engine) as session:
        model = session.get(Model, model_id)
        fast = training._aggregated(session, _joined(model, since), model)
        slow = training._row_by_row(session, _joined(model, since), model)
        labeled = training.labeled_rows(session, model, since)
    assert fast is not None and len(fast) == 350
    order = ["__timestamp"]
    fast, slow = fast.sort_values(order, kind="stable"), slow.sort_values(order, kind="stable")
    assert list(fast.index) == list(slow.index)
    pd.testing.assert_frame_equal(fast, slow, check_dtype=False, check_index_type=False)
    assert len(labeled) == 300 and labeled["__timestamp"].is_monotonic_increasing


def test_mixed_category_types_fall_back_to_the_row_by_row_read(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    model_id = make_model(engine)
    frame = log_traffic(engine, 10)
    with session_scope(engine) as session:
        first = session.scalars(select(Prediction).order_by(Prediction.id)).first()
        first.features = first.features.replace(f'"{frame["plan"][0]}"', "7")
    with session_scope(engine) as session:
        model = session.get(Model, model_id)
        since = utcnow() - timedelta(days=1)
        assert training._aggregated(session, _joined(model, since), model) is None
        labeled = training.labeled_rows(session, model, since)
    assert len(labeled) == 10 and 7 in set(labeled["plan"])


def test_the_window_counts_back_from_the_newest_prediction_that_has_a_label(engine):
    model_id = make_model(engine, {"training_window": "7d"})
    frame = log_traffic(engine, 50)
    log_traffic(engine, 20, deployment="churn-nightly", start=utcnow() - timedelta(days=30))
    unlabeled = list(frame["request_id"][40:])  # the newest predictions wait for labels
    with session_scope(engine) as session:
        session.execute(delete(Label).where(Label.request_id.in_(unlabeled)))
    with session_scope(engine) as session:
        model = session.get(Model, model_id)
        start = training.window_start(session, model, training.retrain_settings(model))
    assert start == frame["timestamp"][39].to_pydatetime() - timedelta(days=7)
