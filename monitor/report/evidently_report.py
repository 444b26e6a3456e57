"""Evidently's own report for a window, stored as gzip JSON of `Snapshot.dump_dict()`.

The report is built on at most `rows` rows per side (the first rows of the window's
sample, itself ordered by sample key, so it is a hash sample too); its metadata says which.
"""

from __future__ import annotations

import gzip
import warnings
from contextlib import AbstractContextManager
from functools import cache

import numpy as np
import orjson
import pandas as pd

from monitor.store.models import Model


def data_definition(model: Model, features: list[str], labeled: bool, positive=None):
    """The run's own columns: the features, the prediction (and probability), the target
    when the rows are labeled, and the model's task on the target and prediction (declared
    whether or not labels are in, so that every section names them)."""
    from evidently import BinaryClassification, DataDefinition, MulticlassClassification, Regression

    numerical = [name for name in model.numerical if name in features]
    categorical = [name for name in model.categorical if name in features]
    options: dict = {}
    if model.task == "classification":
        categorical.append(model.prediction)
        if model.probability:
            numerical.append(model.probability)
        if labeled:
            categorical.append(model.target)
        if positive is not None:
            task = BinaryClassification(
                target=model.target,
                prediction_labels=model.prediction,
                prediction_probas=model.probability or None,
                pos_label=positive,
            )
        else:
            task = MulticlassClassification(target=model.target, prediction_labels=model.prediction)
        options["classification"] = [task]
    else:
        numerical.append(model.prediction)
        if labeled:
            numerical.append(model.target)
        options["regression"] = [Regression(target=model.target, prediction=model.prediction)]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical, **options)


def build_snapshot(
    model: Model,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    rows: int,
    metadata: dict,
    drift_share: float | None = None,
    classes: list | None = None,
) -> bytes:
    """gzip JSON of Evidently's snapshot on the first `rows` rows of each side, with the
    run's definition: drift over the features alone (the share the policy reads, with its
    threshold) and a summary on every row, and performance on the labeled rows when the
    window has labels, as two Evidently reports in one document."""
    from evidently.presets import ClassificationPreset, RegressionPreset

    from monitor.report.evidently_summary import ColumnDrift, TaskDataSummary
    from monitor.report.performance import positive_class

    current = current.head(rows)
    reference = reference.head(rows)
    # Evidently cannot describe a column that is absent or empty on either side; the run
    # does not score those either (its warnings name them).
    columns = [
        name
        for name in model.features
        if name in current
        and name in reference
        and current[name].notna().any()
        and reference[name].notna().any()
    ]
    labeled = current[:0]
    if model.target in current and model.prediction in current:
        labeled = current[current[model.target].notna() & current[model.prediction].notna()]
        labeled = labeled.assign(**{model.target: _labels(labeled[model.target], model.task)})
    positive = positive_class(classes or []) if model.task == "classification" else None
    features = [name for name in current.columns if name in columns]
    outputs = [name for name in (model.prediction, model.probability) if name in current]
    metadata = {key: str(value) for key, value in metadata.items()} | {
        "current_rows": str(len(current)),
        "labeled_rows": str(len(labeled)),
        "reference_rows": str(len(reference)),
    }
    # Drift and the summary on every row of the window, as the run computes them. The
    # summary counts the target's missing labels; Evidently's per-column statistics cannot
    # read a column with missing classes, and the performance section describes labels.
    drift = ColumnDrift(columns=columns, drift_share=drift_share or 0.5)
    target = [model.target] if model.target in current and model.target in reference else []
    summary = TaskDataSummary()
    document = _run(
        [drift, summary],
        current[[*features, *outputs, *target]],
        reference[[c for c in (*features, *outputs, *target) if c in reference]],
        data_definition(model, columns, bool(target), positive),
        metadata,
    )
    # Performance on the labeled rows, as the run computes it, in the same document.
    if len(labeled):
        keep = [*features, *outputs, model.target]
        preset = ClassificationPreset() if model.task == "classification" else RegressionPreset()
        scored = _run(
            [preset],
            labeled[keep],
            reference[[c for c in keep if c in reference]],
            data_definition(model, columns, True, positive),
            metadata,
        )
        document["metric_results"] |= scored["metric_results"]
        document["top_level_metrics"] += scored["top_level_metrics"]
        document["widgets"] += scored["widgets"]
        document["tests_widgets"] += scored["tests_widgets"]
    document["widgets"].insert(0, _rows_note(metadata))
    return gzip.compress(
        orjson.dumps(
            document,
            default=str,
            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        ),
        5,
    )


def _rows_note(metadata: dict) -> dict:
    """The report's first widget: which of the window's rows it describes, and how many."""
    from evidently.legacy.renderers.html_widgets import header_text

    window = metadata.get("rows") or f"{metadata['current_rows']} rows"
    label = (
        f"This report describes {window}; reference: {metadata['reference_rows']} rows; "
        f"labeled: {metadata['labeled_rows']} rows."
    )
    return header_text(label=label).dict()


def _labels(values: pd.Series, task: str) -> pd.Series:
    """Labeled rows' targets typed as Evidently needs them: class labels 0.0 and 1.0 (a
    window with missing labels reads them as floats) are the classes 0 and 1."""
    values = values.infer_objects()
    if task == "classification" and values.dtype.kind == "f" and (values % 1 == 0).all():
        return values.astype("int64")
    return values


def _run(presets: list, current: pd.DataFrame, reference: pd.DataFrame, definition, metadata):
    from evidently import Dataset, Report

    # Unlabeled rows have no target: Evidently warns of it, and its statistics of a window
    # without labels divide zero by zero; the summary counts them as the missing values
    # they are.
    with np.errstate(invalid="ignore"), warnings.catch_warnings(), _one_blas_thread():
        warnings.filterwarnings("ignore", "Target column .* contains 'None' values")
        snapshot = Report(presets).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
            metadata=metadata,
        )
    return snapshot.dump_dict()


@cache
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _one_blas_thread() -> AbstractContextManager:
    """One BLAS thread for Evidently's small matrix sums (its correlations): a BLAS pool
    waking on a busy machine costs a tenth of a second a sum that takes a millisecond."""
    return _blas().limit(limits=1, user_api="blas")


def load_snapshot(blob: bytes):
    """The stored snapshot as an Evidently Snapshot (render with `.get_html_str(...)`)."""
    from evidently.core.report import Snapshot

    return Snapshot.load_dict(orjson.loads(gzip.decompress(blob)))
