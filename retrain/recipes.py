"""Training recipes: how a challenger is made from a training set.

- `clone`: `sklearn.base.clone` of the champion (same steps and hyper-parameters), refit.
- `package.module:function`: the user's `train(frame, context) -> estimator`; `frame` holds
  the features and the target, indexed by request id.
- `external`: nothing is trained here; the job waits for a version to be uploaded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sklearn.base import clone

from monitor.errors import ArtifactRefused, TrainingRefused
from monitor.registry.artifacts import check_artifact, dump_artifact

EXTERNAL = "external"


@dataclass
class TrainContext:
    """What a recipe may need besides the rows."""

    model: str
    task: str
    target: str
    numerical: list[str]
    categorical: list[str]
    champion: Any  # the champion estimator, or None
    settings: dict[str, Any] = field(default_factory=dict)
    job_id: int | None = None

    @property
    def features(self) -> list[str]:
        return [*self.numerical, *self.categorical]


def train(recipe: str, frame: pd.DataFrame, context: TrainContext) -> Any:
    """A fitted challenger from `frame` by `recipe`, refused before it is evaluated if its
    artifact could not be served (it names untrusted types or functions)."""
    estimator = _fit(recipe, frame[[*context.features, context.target]], context)
    try:
        check_artifact(dump_artifact(estimator))
    except ArtifactRefused as error:
        raise ArtifactRefused(
            f"recipe {recipe} returned a model that cannot be stored: {error}"
        ) from None
    return estimator


def _fit(recipe: str, frame: pd.DataFrame, context: TrainContext) -> Any:
    if recipe == "clone":
        if context.champion is None:
            raise TrainingRefused("recipe clone needs a champion to clone; there is none")
        estimator = clone(context.champion)
        return estimator.fit(frame[context.features], frame[context.target])
    if recipe == EXTERNAL:
        raise ValueError("the external recipe trains outside Driftwise")
    estimator = load_function(recipe)(frame, context)
    if not hasattr(estimator, "predict"):
        raise TrainingRefused(f"recipe {recipe} returned {type(estimator).__name__}, no predict()")
    return estimator


def load_function(recipe: str):
    module_name, _, name = recipe.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as error:
        raise TrainingRefused(f"recipe {recipe} cannot be imported: {error}") from None
    if not callable(function):
        raise TrainingRefused(f"recipe {recipe} is not a function")
    return function
