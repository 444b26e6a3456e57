"""The real-time model cache: predictions logged with their version, swaps under load, canary."""

from __future__ import annotations

import threading
import time

import orjson
import pandas as pd
import pytest
from sqlalchemy import select

from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame
from monitor.errors import BadRecord
from monitor.registry.artifacts import dump_artifact
from monitor.registry.versions import promote
from monitor.store import session_scope
from monitor.store.models import Deployment, Model, ModelVersion, Prediction
from retrain import serving
from retrain.canary import decide_all, routes_to_candidate
from retrain.upload import upload_version
from tests.retrain import support
from tests.retrain.support import make_model

FEATURES = NUMERICAL + CATEGORICAL


def _rows(count: int, seed: int = 21) -> list[dict]:
    return churn_frame(count, seed)[FEATURES].to_dict("records")


def _logged(engine) -> list[Prediction]:
    with session_scope(engine) as session:
        return session.scalars(select(Prediction).order_by(Prediction.id)).all()


def _upload(engine, model_id: int, flip: bool = True):
    estimator, _ = support.fitted(rows=800, seed=9, flip=flip)
    with session_scope(engine) as session:
        version = upload_version(session, session.get(Model, model_id), dump_artifact(estimator))
        return version.id, estimator


def test_predict_logs_each_prediction_with_its_version(engine):
    make_model(engine)
    rows = _rows(3)
    results = serving.predict(engine, "churn-online", rows, request_id=["a", "b", "c"])
    assert [r["request_id"] for r in results] == ["a", "b", "c"]
    assert {r["model_version"] for r in results} == {1}
    logged = _logged(engine)
    assert [p.request_id for p in logged] == ["a", "b", "c"]
    for result, prediction, row in zip(results, logged, rows, strict=True):
        assert prediction.model_version_id == result["model_version_id"]
        assert prediction.probability == pytest.approx(result["probability"])
        assert orjson.loads(prediction.prediction) == result["prediction"]
        assert orjson.loads(prediction.features) == pytest.approx(row)
    single = serving.predict(engine, "churn-online", rows[0])
    assert len(single) == 1 and len(single[0]["request_id"]) == 32


def test_a_multiclass_prediction_answers_and_logs_each_class_probability(engine):
    from monitor.demo.sample_data import churn_pipeline

    frame = churn_frame(600, seed=3)
    plans = frame["plan"].astype(str)
    estimator = churn_pipeline().fit(frame[FEATURES], plans)
    assert len(estimator.classes_) >= 3
    model_id = make_model(engine)
    with session_scope(engine) as session:
        model = session.get(Model, model_id)
        version = upload_version(session, model, dump_artifact(estimator))
        promote(session, version)
    rows = _rows(4)
    results = serving.predict(engine, "churn-online", rows, request_id=list("abcd"))
    expected = estimator.predict_proba(pd.DataFrame(rows, columns=FEATURES))
    for result, row in zip(results, expected, strict=True):
        classes = list(result["probabilities"])
        assert classes == [str(name) for name in estimator.classes_]
        assert list(result["probabilities"].values()) == pytest.approx(row.tolist(), abs=1e-12)
        assert result["probability"] is None and result["status"] == "logged"
    logged = _logged(engine)
    for result, prediction in zip(results, logged, strict=True):
        assert orjson.loads(prediction.probabilities) == pytest.approx(result["probabilities"])


def test_a_bad_feature_is_refused_by_name_and_nothing_logged(engine):
    make_model(engine)
    row = _rows(1)[0]
    with pytest.raises(BadRecord, match="features.tenure: expected a number"):
        serving.predict(engine, "churn-online", {**row, "tenure": "long"})
    with pytest.raises(BadRecord, match="features: missing plan"):
        serving.predict(engine, "churn-online", {k: v for k, v in row.items() if k != "plan"})
    assert _logged(engine) == []


def test_a_swap_under_concurrent_requests_fails_nothing_and_logs_the_true_version(sqlite_url):
    from monitor.store import get_engine

    engine = get_engine(sqlite_url)
    model_id = make_model(engine)
    cache = serving.cache_for(engine)
    cache.refresh_seconds = 0.0
    second_id, _ = _upload(engine, model_id)
    errors: list[BaseException] = []
    stop = threading.Event()
    rows = _rows(40)

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                serving.predict(engine, "churn-online", rows[i % 40], request_id=f"t{n}-{i}")
            except BaseException as error:  # noqa: BLE001 - the test counts every failure
                errors.append(error)
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    with session_scope(engine) as session:
        promote(session, session.get(ModelVersion, second_id), reason="manual")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(p.model_version_id == second_id for p in _logged(engine)[-20:]):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()

    assert errors == []
    logged = _logged(engine)
    versions = {p.model_version_id for p in logged}
    assert second_id in versions and len(versions) == 2
    with session_scope(engine) as session:
        estimators = {
            v.id: serving.load_artifact(v.artifact) for v in session.scalars(select(ModelVersion))
        }
    frame = pd.DataFrame([orjson.loads(p.features) for p in logged], columns=FEATURES)
    for version_id, estimator in estimators.items():
        mask = [p.model_version_id == version_id for p in logged]
        expected = estimator.predict_proba(frame[mask])[:, 1]
        made = [p.probability for p in logged if p.model_version_id == version_id]
        assert made == pytest.approx(expected)


@pytest.mark.parametrize(
    ("flip", "margin", "outcome"), [(True, 0.0, "rejected"), (False, -1.0, "promoted")]
)
def test_canary_routes_by_request_id_and_labels_decide(engine, flip, margin, outcome):
    from monitor.ingest.records import validate_label
    from monitor.ingest.store import insert_labels
    from retrain.canary import start_canary

    model_id = make_model(engine, {"canary_min_labeled": 30, "min_improvement": margin}, False)
    second_id, _ = _upload(engine, model_id, flip=flip)
    with session_scope(engine) as session:
        start_canary(
            session, session.get(Model, model_id), session.get(ModelVersion, second_id), 0.5
        )
    ids = [f"c-{n}" for n in range(300)]
    frame = churn_frame(300, seed=31)
    results = serving.predict(engine, "churn-online", frame[FEATURES].to_dict("records"), ids)
    assert [r["model_version_id"] == second_id for r in results] == [
        routes_to_candidate(rid, 0.5) for rid in ids
    ]
    assert 100 < sum(r["model_version_id"] == second_id for r in results) < 200

    labels = [
        validate_label({"request_id": rid, "label": int(y)})
        for rid, y in zip(ids, frame["churned"], strict=True)
    ]
    with engine.begin() as connection:
        insert_labels(connection, support.deployment_id(engine), labels)
    assert decide_all(engine) == {"churn-online": outcome}
    with session_scope(engine) as session:
        deployment = session.scalar(select(Deployment).where(Deployment.name == "churn-online"))
        assert deployment.candidate_version_id is None and deployment.canary_share == 0
        assert session.get(ModelVersion, deployment.active_version_id).version == (
            2 if outcome == "promoted" else 1
        )
        assert session.get(ModelVersion, second_id).status == (
            "champion" if outcome == "promoted" else "rejected"
        )
