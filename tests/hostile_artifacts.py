"""Hostile model artifacts: each would create `marker` if it were ever loaded (and, for the
ones that wait for traffic, asked to predict).

Every payload names only things reachable under numpy./sklearn. (or plainly os, builtins,
subprocess): the trusted-prefix check they defeat accepted the first kind.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from monitor.demo.sample_data import CATEGORICAL, NUMERICAL, churn_frame, churn_pipeline


def _code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def _json(value) -> dict:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
    }


def _tuple(*items: dict) -> dict:
    return {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": list(items),
    }


def _dict(content: dict[str, dict]) -> dict:
    keys = [
        {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"} for _ in content
    ]
    return {
        "__class__": "dict",
        "__module__": "builtins",
        "__loader__": "DictNode",
        "content": content,
        "key_types": {
            "__class__": "list",
            "__module__": "builtins",
            "__loader__": "ListNode",
            "content": keys,
        },
    }


def _call(module: str, name: str, *args: dict, loader: str = "ConstructorFromReduceNode") -> dict:
    """A node skops rebuilds by calling `module.name(*args)`."""
    node = {"__class__": name, "__module__": module, "__loader__": loader}
    if loader == "LossNode":  # the loss loader calls the class the node names
        return {**node, "__reduce__": {"args": _tuple(*args)}, "content": _dict({})}
    return {**node, "content": _tuple(*args)}


def _fitted_churn():
    frame = churn_frame(300, seed=3)
    return churn_pipeline().fit(frame[NUMERICAL + CATEGORICAL], frame["churned"])


def _edit_schema(data: bytes, edit: Callable[[dict], None]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(files["schema.json"])
    edit(schema)
    files["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def _hidden_in_real_model(payload: dict) -> bytes:
    """The demo's fitted pipeline with `payload` as an extra attribute of its classifier."""

    def add(schema: dict) -> None:
        steps = schema["content"]["content"]["steps"]["content"]
        classifier = steps[1]["content"][1]["content"]  # ("classifier", LogisticRegression)
        classifier["content"]["note"] = payload
        classifier["key_types"]["content"].append(
            {"__class__": "str", "__module__": "builtins", "__loader__": "TypeNode"}
        )

    return _edit_schema(sio.dumps(_fitted_churn()), add)


def _functions_as_types(data: bytes) -> bytes:
    """Every function reference rewritten as a type reference, which skops resolves by the
    same getattr and hands over just the same."""

    def rewrite(node) -> None:
        if isinstance(node, dict):
            if node.get("__loader__") == "FunctionNode":
                node["__loader__"] = "TypeNode"
            for value in node.values():
                rewrite(value)
        elif isinstance(node, list):
            for value in node:
                rewrite(value)

    return _edit_schema(data, rewrite)


def _exec_chain(
    runner: Callable, marker: Path, code: str | None = None
) -> list[tuple[str, FunctionTransformer]]:
    """Steps turning any input into the payload's source and running it: full_like fills
    the input's shape with the source, take picks one string, `runner` executes it."""
    text = code or _code(marker)
    return [
        ("fill", FunctionTransformer(np.full_like, kw_args={"fill_value": text, "dtype": "U500"})),
        ("pick", FunctionTransformer(np.take, kw_args={"indices": 0})),
        ("run", FunctionTransformer(runner)),
    ]


def _predicting_pipeline(steps: list) -> bytes:
    frame = churn_frame(300, seed=4)
    classifier = LogisticRegression().fit(frame[NUMERICAL], frame["churned"])
    return sio.dumps(Pipeline([*steps, ("classifier", classifier)]))


def _deep_pipeline(marker: Path) -> bytes:
    """A churn pipeline whose numerical columns pass through an inner pipeline that, once
    fitted, runs the payload on every prediction (Pipeline > ColumnTransformer > Pipeline)."""
    chain = _exec_chain(np.testing.measure, marker)
    identity = [(name, FunctionTransformer()) for name, _ in chain]
    numerical = Pipeline([("scale", StandardScaler()), *identity])
    columns = ColumnTransformer(
        [
            ("numerical", numerical, NUMERICAL),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    frame = churn_frame(300, seed=5)
    model = Pipeline([("columns", columns), ("classifier", LogisticRegression())])
    model.fit(frame[NUMERICAL + CATEGORICAL], frame["churned"])
    inner = model.named_steps["columns"].named_transformers_["numerical"]
    for (_, hostile), (_, fitted) in zip(chain, inner.steps[1:], strict=True):
        fitted.func, fitted.kw_args = hostile.func, hostile.kw_args
    return sio.dumps(model)


def _malformed_forest(marker: Path) -> bytes:
    """A fitted forest whose second tree's root points far outside the tree: predicting
    with it reads memory that is not the tree's (the process crashes)."""
    from sklearn.ensemble import RandomForestClassifier

    frame = churn_frame(300, seed=6)
    forest = RandomForestClassifier(n_estimators=2, random_state=0)
    forest.fit(frame[NUMERICAL], frame["churned"])
    tree = forest.estimators_[1].tree_
    tree.children_left[0] = tree.children_right[0] = 10**9
    return sio.dumps(forest)


def _malformed_boosting(marker: Path) -> bytes:
    """Hist gradient boosting whose first split reads a feature far beyond the input."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = churn_frame(300, seed=7)
    model = HistGradientBoostingClassifier(max_iter=2).fit(frame[NUMERICAL], frame["churned"])
    model._predictors[0][0].nodes["feature_idx"][0] = 10**6
    return sio.dumps(model)


class _Pickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _subprocess_source(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


HOSTILE: dict[str, tuple[Callable[[Path], bytes], str]] = {
    # name: (builder, a name the refusal must mention)
    "numpy.testing.measure on load": (
        lambda m: _hidden_in_real_model(_call("numpy.testing", "measure", _json(_code(m)))),
        "numpy.testing.measure",
    ),
    "numpy runstring on load": (
        lambda m: _hidden_in_real_model(
            _call("numpy.testing._private.utils", "runstring", _json(_code(m)), _dict({}))
        ),
        "numpy.testing._private.utils.runstring",
    ),
    "sklearn testing helper runs a script on load": (
        lambda m: _hidden_in_real_model(
            _call(
                "sklearn.utils._testing",
                "assert_run_python_script_without_output",
                _json(_subprocess_source(m)),
            )
        ),
        "sklearn.utils._testing.assert_run_python_script_without_output",
    ),
    "loss loader calling numpy.testing.measure": (
        lambda m: _hidden_in_real_model(
            _call("numpy.testing", "measure", _json(_code(m)), loader="LossNode")
        ),
        "numpy.testing.measure",
    ),
    "FunctionTransformer(os.system)": (
        lambda m: _predicting_pipeline([("run", FunctionTransformer(os.system))]),
        "posix.system",
    ),
    "FunctionTransformer chain of numpy functions ending in measure": (
        lambda m: _predicting_pipeline(_exec_chain(np.testing.measure, m)),
        "numpy.testing._private.utils.measure",
    ),
    "FunctionTransformer chain ending in an sklearn testing helper": (
        lambda m: _predicting_pipeline(
            _exec_chain(
                __import__(
                    "sklearn.utils._testing", fromlist=["x"]
                ).assert_run_python_script_without_output,
                m,
                _subprocess_source(m),
            )
        ),
        "sklearn.utils._testing.assert_run_python_script_without_output",
    ),
    "a function deep in nested pipelines": (_deep_pipeline, "numpy.full_like"),
    "functions smuggled as types": (
        lambda m: _functions_as_types(_predicting_pipeline(_exec_chain(np.testing.measure, m))),
        "numpy.testing._private.utils.measure",
    ),
    "an unknown loader": (
        lambda m: _hidden_in_real_model(
            _call("numpy.testing", "measure", _json(_code(m)), loader="EvalNode")
        ),
        "unknown skops loader EvalNode",
    ),
    "builtins.exec": (
        lambda m: _hidden_in_real_model(_call("builtins", "exec", _json(_code(m)))),
        "builtins.exec",
    ),
    "os.system": (
        lambda m: _hidden_in_real_model(_call("os", "system", _json(f"touch {m}"))),
        "os.system",
    ),
    "subprocess.getoutput": (
        lambda m: _hidden_in_real_model(_call("subprocess", "getoutput", _json(f"touch {m}"))),
        "subprocess.getoutput",
    ),
    "a plain pickle": (lambda m: pickle.dumps(_Pickled(m)), "plain pickles"),
    "a forest tree pointing outside itself": (_malformed_forest, "malformed tree"),
    "a boosting tree splitting on a missing feature": (_malformed_boosting, "malformed tree"),
}


def hostile(name: str, marker: Path) -> bytes:
    return HOSTILE[name][0](marker)


def refusal_mentions(name: str) -> str:
    return HOSTILE[name][1]


def refusal_status(name: str) -> int:
    """A skops file naming untrusted types is well formed but refused (422); a body that
    is no skops file, or no sound model, is a bad request (400)."""
    return 400 if name == "a plain pickle" or "malformed" in refusal_mentions(name) else 422


RECIPE_MARKER: list[Path] = []


def hostile_recipe(frame, context):
    """A retrain recipe whose model runs the payload whenever it predicts."""
    classifier = LogisticRegression().fit(frame[NUMERICAL], frame[context.target])
    return Pipeline(
        [*_exec_chain(np.testing.measure, RECIPE_MARKER[-1]), ("classifier", classifier)]
    )
