"""Label-free MAE and RMSE of a regression model (direct loss estimation, as NannyML's DLE
describes it).

On the reference set, where the truth is known, a "nanny" model learns each row's absolute
error and squared error from the features and the model's prediction. On a window without
labels it predicts both losses per row: their mean is the estimated MAE, the square root of
the mean squared loss the estimated RMSE. It sees what the reference taught it: where errors
were large (a region of the features, extreme predictions); a changed relation between
features and target (concept drift) is invisible to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.report.estimate import Estimate
from monitor.store.models import Model

MIN_REFERENCE_ROWS = 100
SEED = 20260101
MAX_CATEGORIES = 250  # beyond this a categorical column is ordinal-encoded as a number


@dataclass(frozen=True)
class LossModel:
    columns: list[str]
    absolute: object  # fitted pipelines
    squared: object


def fit_loss_model(model: Model, reference: pd.DataFrame) -> tuple[LossModel | None, str | None]:
    """The nanny models learned on the reference, or None and why not."""
    if model.target not in reference or model.prediction not in reference:
        return None, "the reference set has no target or no prediction column to learn errors from"
    labeled = reference.dropna(subset=[model.target, model.prediction])
    if len(labeled) < MIN_REFERENCE_ROWS:
        return None, (
            f"the reference set has {len(labeled)} labeled rows with a prediction, fewer than "
            f"{MIN_REFERENCE_ROWS}"
        )
    columns = [name for name in model.features if name in labeled] + [model.prediction]
    try:
        error = labeled[model.prediction].astype(float) - labeled[model.target].astype(float)
    except (TypeError, ValueError):
        return None, "the reference's target or prediction is not numeric"
    frame = labeled[columns]
    absolute = _pipeline(model, frame).fit(frame, error.abs())
    squared = _pipeline(model, frame).fit(frame, error**2)
    return LossModel(columns, absolute, squared), None


def _pipeline(model: Model, frame: pd.DataFrame):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    categorical = [name for name in model.categorical if name in frame]
    encode = ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                categorical,
            )
        ],
        remainder="passthrough",
    )
    small = [frame[name].nunique() <= MAX_CATEGORIES for name in categorical]
    mask = small + [False] * (len(frame.columns) - len(categorical))
    nanny = HistGradientBoostingRegressor(
        categorical_features=mask if any(small) else None,
        min_samples_leaf=40,
        max_iter=200,
        early_stopping=True,
        random_state=SEED,
    )
    return Pipeline([("encode", encode), ("nanny", nanny)])


def estimate_loss(loss_model: LossModel, current: pd.DataFrame) -> Estimate:
    """Estimated MAE and RMSE of the window's rows that have a prediction."""
    missing = [name for name in loss_model.columns if name not in current]
    if missing:
        return Estimate({}, [f"errors cannot be estimated: no column {', '.join(missing)}"])
    frame = current[loss_model.columns]
    frame = frame[frame[loss_model.columns[-1]].notna()]
    if frame.empty:
        return Estimate({}, ["errors cannot be estimated: no rows with a prediction"])
    absolute = np.clip(loss_model.absolute.predict(frame), 0, None)
    squared = np.clip(loss_model.squared.predict(frame), 0, None)
    return Estimate({"mae": float(absolute.mean()), "rmse": float(np.sqrt(squared.mean()))})
