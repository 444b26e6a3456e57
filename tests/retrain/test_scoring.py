"""Batch scoring uses whichever version is active and refuses bad input whole."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from monitor.demo.sample_data import churn_frame
from monitor.errors import ScoringInputInvalid
from monitor.registry.artifacts import dump_artifact
from monitor.registry.versions import promote, rollback
from monitor.store import session_scope
from monitor.store.models import Model, ModelVersion, Prediction
from retrain.scoring import score
from retrain.upload import upload_version
from tests.retrain import support
from tests.retrain.support import make_model


def _logged(engine) -> dict[int | None, int]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(Prediction.model_version_id, func.count()).group_by(Prediction.model_version_id)
        )
        return dict(rows.all())


def test_batch_scoring_uses_whichever_version_is_active(engine, tmp_path):
    model_id = make_model(engine)
    frame = churn_frame(300, seed=11).drop(columns="churned")
    frame.to_csv(tmp_path / "in.csv", index=False)
    frame.assign(request_id=[f"b-{n}" for n in range(300)]).to_parquet(tmp_path / "in.parquet")

    first = score(engine, "churn-nightly", tmp_path / "in.csv", tmp_path / "out1.csv")
    assert (first.version, first.rows, first.logged) == (1, 300, 300)

    estimator, _ = support.fitted(rows=800, seed=5, flip=True)
    with session_scope(engine) as session:
        version = upload_version(session, session.get(Model, model_id), dump_artifact(estimator))
        promote(session, version, reason="manual")
        second_id = version.id
    second = score(engine, "churn-nightly", tmp_path / "in.parquet", tmp_path / "out2.parquet")
    assert second.version == 2

    out1, out2 = pd.read_csv(tmp_path / "out1.csv"), pd.read_parquet(tmp_path / "out2.parquet")
    assert list(out2["request_id"][:2]) == ["b-0", "b-1"]
    assert set(out2["model_version"]) == {2}  # the number people see
    assert _logged(engine)[second_id] == 300  # the store keeps the version's row id
    expected = estimator.predict_proba(frame)[:, 1]
    assert out2["probability"].to_numpy() == pytest.approx(expected)
    assert (out1["probability"] - out2["probability"]).abs().max() > 0.1
    assert set(_logged(engine).values()) == {300} and len(_logged(engine)) == 2

    with session_scope(engine) as session:
        rollback(session, "churn-nightly")
    third = score(engine, "churn-nightly", tmp_path / "in.csv", tmp_path / "out3.csv")
    assert third.version == 1
    out3 = pd.read_csv(tmp_path / "out3.csv")
    assert out3["probability"].to_numpy() == pytest.approx(out1["probability"].to_numpy())
    assert third.logged == 0  # same file, same request ids: logged once already


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="charges"), "missing feature column charges"),
        (lambda f: f.assign(tenure="long"), "column tenure must hold numbers"),
    ],
)
def test_bad_input_is_refused_with_the_column_named_and_nothing_written(
    sqlite_url, tmp_path, change, message
):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    make_model(engine)
    change(churn_frame(50).drop(columns="churned")).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ScoringInputInvalid, match=message):
        score(engine, "churn-nightly", tmp_path / "bad.csv", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    assert not list(tmp_path.glob(".*.tmp"))
    assert _logged(engine) == {}
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 1
