"""Model artifacts: exact trusted classes, never a function by default, checked before loading.

Every hostile artifact in tests/hostile_artifacts.py would create its marker file if it
were loaded (or, for some, asked to predict); each must be refused naming what it names.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sqlalchemy import func, select

from monitor.cli import main
from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame, churn_pipeline
from monitor.errors import ArtifactRefused, ArtifactUntrusted, SettingsError
from monitor.registry.artifacts import dump_artifact, load_artifact, untrusted_types
from monitor.store import session_scope
from monitor.store.models import Model, ModelVersion
from tests.hostile_artifacts import HOSTILE, hostile, refusal_mentions

EXAMPLE = Path(__file__).parents[2] / "examples" / "churn"
FEATURES = NUMERICAL + CATEGORICAL


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "payload-ran"


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_artifact_is_refused_naming_what_it_names_and_never_runs(case, marker):
    data = hostile(case, marker)
    with pytest.raises(ArtifactRefused) as refused:
        load_artifact(data)
    assert refusal_mentions(case) in str(refused.value)
    assert not marker.exists()


def test_the_refusal_names_every_untrusted_function_of_a_chain(marker):
    case = "FunctionTransformer chain of numpy functions ending in measure"
    with pytest.raises(ArtifactUntrusted) as refused:
        load_artifact(hostile(case, marker))
    assert refused.value.types == [
        "numpy.full_like",
        "numpy.take",
        "numpy.testing._private.utils.measure",
    ]


def test_checking_an_artifact_imports_nothing_it_names(tmp_path):
    # `this` prints the Zen of Python on import: a check that imported names would show it.
    script = """
import sys
from monitor.registry.artifacts import untrusted_types
from tests.hostile_artifacts import _call, _hidden_in_real_model, _json
data = _hidden_in_real_model(_call("this", "s", _json("x")))
assert "this" not in sys.modules
print(untrusted_types(data))
assert "this" not in sys.modules
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['this.s']"


def _fit(estimator, target: str = "churned"):
    frame = churn_frame(400, seed=2)
    columns = FEATURES if isinstance(estimator, Pipeline) else NUMERICAL
    return estimator.fit(frame[columns], frame[target]), frame[columns]


def _preprocessing() -> ColumnTransformer:
    numerical = Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    return ColumnTransformer([("num", numerical, NUMERICAL), ("cat", categorical, CATEGORICAL)])


COMMON = {
    "logistic regression pipeline": lambda: Pipeline(
        [("pre", _preprocessing()), ("model", LogisticRegression())]
    ),
    "random forest pipeline": lambda: Pipeline(
        [("pre", _preprocessing()), ("model", RandomForestClassifier(n_estimators=5))]
    ),
    "gradient boosting pipeline": lambda: Pipeline(
        [("pre", _preprocessing()), ("model", GradientBoostingClassifier(n_estimators=5))]
    ),
    "hist gradient boosting pipeline": lambda: Pipeline(
        [("pre", _preprocessing()), ("model", HistGradientBoostingClassifier(max_iter=5))]
    ),
    "hist gradient boosting": lambda: HistGradientBoostingClassifier(max_iter=5),
    "sgd classifier": lambda: SGDClassifier(random_state=0),
    "the demo's churn pipeline": churn_pipeline,
}
REGRESSORS = {
    "random forest regressor": lambda: RandomForestRegressor(n_estimators=3),
    "gradient boosting regressor": lambda: GradientBoostingRegressor(n_estimators=5),
    "hist gradient boosting regressor": lambda: HistGradientBoostingRegressor(max_iter=5),
}


@pytest.mark.parametrize("name", list(COMMON))
def test_common_classifiers_round_trip_with_the_same_predictions(name):
    estimator, frame = _fit(COMMON[name]())
    data = dump_artifact(estimator)
    assert untrusted_types(data) == []
    loaded = load_artifact(data)
    assert (loaded.predict(frame) == estimator.predict(frame)).all()


@pytest.mark.parametrize("name", list(REGRESSORS))
def test_common_regressors_round_trip_with_the_same_predictions(name):
    estimator, frame = _fit(REGRESSORS[name](), target="charges")
    loaded = load_artifact(dump_artifact(estimator))
    assert np.allclose(loaded.predict(frame), estimator.predict(frame))


def test_the_example_artifact_loads():
    loaded = load_artifact((EXAMPLE / "churn.skops").read_bytes())
    frame = churn_frame(20, seed=8)
    assert loaded.predict_proba(frame[FEATURES]).shape == (20, 2)


def scale(values):
    """A user function a FunctionTransformer may call, once it is named as trusted."""
    return np.asarray(values, dtype=float) / 100.0


def _with_function(function) -> bytes:
    frame = churn_frame(200, seed=3)
    model = Pipeline([("f", FunctionTransformer(function)), ("m", LogisticRegression())])
    return dump_artifact(model.fit(frame[NUMERICAL], frame["churned"]))


@pytest.mark.parametrize(
    ("function", "name"),
    [(np.log1p, "numpy.log1p"), (scale, f"{__name__}.scale")],
)
def test_a_function_is_trusted_only_when_named_exactly(function, name, monkeypatch):
    data = _with_function(function)
    with pytest.raises(ArtifactUntrusted, match="DRIFTWISE_TRUSTED_TYPES") as refused:
        load_artifact(data)
    assert refused.value.types == [name]
    monkeypatch.setenv("DRIFTWISE_TRUSTED_TYPES", f"collections.Counter, {name}")
    assert load_artifact(data).named_steps["f"].func is function


@pytest.mark.parametrize("value", ["numpy.*", "numpy.", "numpy", "sklearn.utils._testing.*"])
def test_a_prefix_or_wildcard_in_the_trusted_types_is_a_settings_error(value, monkeypatch):
    monkeypatch.setenv("DRIFTWISE_TRUSTED_TYPES", value)
    with pytest.raises(SettingsError, match="DRIFTWISE_TRUSTED_TYPES: .* not an exact name"):
        untrusted_types(dump_artifact(churn_pipeline()))


def test_the_service_refuses_to_start_with_a_wildcard_in_the_trusted_types(tmp_path):
    from monitor.settings import load_settings

    env = {"DRIFTWISE_DATA_DIR": str(tmp_path), "DRIFTWISE_TRUSTED_TYPES": "sklearn.*"}
    with pytest.raises(SettingsError, match="DRIFTWISE_TRUSTED_TYPES: 'sklearn.\\*'"):
        load_settings(env)
    assert load_settings({**env, "DRIFTWISE_TRUSTED_TYPES": "numpy.log1p"}).data_dir == tmp_path


@pytest.mark.parametrize("loader", [["ObjectNode"], {"x": 1}, 7])
def test_a_node_whose_loader_is_not_a_name_is_refused_naming_it(loader):
    from tests.hostile_artifacts import _hidden_in_real_model

    payload = {"__class__": "measure", "__module__": "numpy.testing", "__loader__": loader}
    with pytest.raises(ArtifactUntrusted, match="numpy.testing.measure .unknown skops loader"):
        load_artifact(_hidden_in_real_model(payload))


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(
    "files",
    [{"other.json": b"{}"}, {"schema.json": b"{not json"}, {"schema.json": b"[1, 2]"}],
    ids=["no schema", "schema not json", "schema not an object"],
)
def test_a_zip_that_is_no_skops_file_is_refused(files):
    with pytest.raises(ArtifactRefused, match="not a readable skops file"):
        load_artifact(_zip(files))


@pytest.fixture
def spec(tmp_path: Path, sqlite_url: str) -> Path:
    folder = tmp_path / "spec"
    folder.mkdir()
    for name in ("churn.skops", "reference.csv"):
        shutil.copy(EXAMPLE / name, folder / name)
    samples = str(Path(__file__).parents[1] / "samples")
    text = (EXAMPLE / "spec.toml").read_text().replace("../../tests/samples", samples)
    (folder / "spec.toml").write_text(text)
    return folder / "spec.toml"


def _stored() -> tuple[int, int]:
    with session_scope() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table))
            for table in (Model, ModelVersion)
        )


@pytest.mark.parametrize("check", [True, False], ids=["apply --check", "apply"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_apply_refuses_a_hostile_artifact_with_exit_2_and_stores_nothing(case, check, spec, marker):
    (spec.parent / "churn.skops").write_bytes(hostile(case, marker))
    args = ["apply", *(["--check"] if check else []), str(spec)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "models[0].artifact" in result.output
    assert refusal_mentions(case) in result.output
    assert "valid" not in result.output
    assert not marker.exists()
    assert _stored() == (0, 0)


def test_apply_accepts_the_example_model(spec):
    checked = CliRunner().invoke(main, ["apply", "--check", str(spec)])
    assert checked.exit_code == 0 and "valid" in checked.output, checked.output
    applied = CliRunner().invoke(main, ["apply", str(spec)])
    assert applied.exit_code == 0, applied.output
    assert _stored() == (1, 1)


def _forest():
    frame = churn_frame(300, seed=6)
    forest = RandomForestClassifier(n_estimators=2, random_state=0)
    return forest.fit(frame[NUMERICAL], frame["churned"])


def _loop(forest) -> None:
    forest.estimators_[0].tree_.children_left[0] = 0  # the root is its own child


def _split_beyond(forest) -> None:
    forest.estimators_[0].tree_.feature[0] = len(NUMERICAL)


def _member_expects_more(forest) -> None:
    forest.estimators_[1].n_features_in_ = 50


def _categories_beyond(model) -> None:
    nodes = model._predictors[0][0].nodes
    nodes["is_categorical"][0], nodes["bitset_idx"][0] = 1, 7


@pytest.mark.parametrize(
    ("build", "spoil", "message"),
    [
        (_forest, _loop, "points outside its tree"),
        (_forest, _split_beyond, "a feature its model does not receive"),
        (_forest, _member_expects_more, "expects 50 features, the ensemble 2"),
        (
            lambda: HistGradientBoostingClassifier(max_iter=2).fit(*_fit_numerical()),
            _categories_beyond,
            "category set out of range",
        ),
    ],
    ids=["loop", "feature beyond the input", "member expects more", "category set"],
)
def test_a_malformed_fitted_tree_is_refused_before_any_prediction(build, spoil, message):
    model = build()
    assert load_artifact(dump_artifact(model)) is not None
    spoil(model)
    with pytest.raises(ArtifactRefused, match=message):
        load_artifact(dump_artifact(model))


def _fit_numerical():
    frame = churn_frame(300, seed=7)
    return frame[NUMERICAL], frame["churned"]


def test_a_name_hidden_inside_a_state_is_still_refused_by_skops_own_audit():
    """A random generator names its bit generator in a plain string, which numpy calls."""
    from tests.hostile_artifacts import _edit_schema

    def rename(node) -> None:
        if isinstance(node, dict):
            if node.get("__loader__") == "RandomGeneratorNode":
                node["content"]["bit_generator"]["content"]["bit_generator"]["content"] = '"seed"'
            for value in node.values():
                rename(value)
        elif isinstance(node, list):
            for value in node:
                rename(value)

    data = dump_artifact(SGDClassifier(random_state=np.random.default_rng(0)))
    assert load_artifact(data) is not None
    with pytest.raises(ArtifactUntrusted) as refused:
        load_artifact(_edit_schema(data, rename))
    assert refused.value.types == ["numpy.random.seed"]
