"""Evidently's own report for a window, stored as gzip JSON of `Snapshot.dump_dict()`.

The report is built on at most `rows` rows per side (the first rows of the window's
sample, itself ordered by sample key, so it is a hash sample too); its metadata says which.
"""

from __future__ import annotations

import gzip

import orjson
import pandas as pd

from monitor.store.models import Model


def data_definition(model: Model, with_target: bool, features: list[str]):
    from evidently import BinaryClassification, DataDefinition, MulticlassClassification, Regression

    numerical = [name for name in model.numerical if name in features]
    categorical = [name for name in model.categorical if name in features]
    options: dict = {}
    if model.task == "classification":
        categorical.append(model.prediction)
        if model.probability:
            numerical.append(model.probability)
        if with_target:
            categorical.append(model.target)
            if model.probability:
                options["classification"] = [
                    BinaryClassification(
                        target=model.target,
                        prediction_labels=model.prediction,
                        prediction_probas=model.probability,
                    )
                ]
            else:
                options["classification"] = [
                    MulticlassClassification(
                        target=model.target, prediction_labels=model.prediction
                    )
                ]
    else:
        numerical.append(model.prediction)
        if with_target:
            numerical.append(model.target)
            options["regression"] = [Regression(target=model.target, prediction=model.prediction)]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical, **options)


def build_snapshot(
    model: Model,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    rows: int,
    metadata: dict,
) -> bytes:
    """gzip JSON of Evidently's snapshot on the first `rows` rows of each side."""
    from evidently import Dataset, Report
    from evidently.presets import (
        ClassificationPreset,
        DataDriftPreset,
        DataSummaryPreset,
        RegressionPreset,
    )

    current = current.head(rows)
    reference = reference.head(rows)
    # Evidently cannot describe a column that is absent or empty on either side; the run's
    # own warnings already name those.
    columns = [
        name
        for name in model.features
        if name in current
        and name in reference
        and current[name].notna().any()
        and reference[name].notna().any()
    ]
    # Performance only when every reported row has its label; otherwise the run's own
    # performance numbers (on the labeled rows) stand alone.
    labeled = model.target in current and len(current) and current[model.target].notna().all()
    presets = [DataDriftPreset(columns=[*columns, model.prediction]), DataSummaryPreset()]
    if labeled:
        presets.append(
            ClassificationPreset() if model.task == "classification" else RegressionPreset()
        )
    definition = data_definition(model, bool(labeled), columns)
    keep = [
        column
        for column in current.columns
        if column in columns
        or column in (model.prediction, model.probability)
        or (column == model.target and labeled)
    ]
    report = Report(presets)
    snapshot = report.run(
        Dataset.from_pandas(current[keep], data_definition=definition),
        Dataset.from_pandas(
            reference[[c for c in keep if c in reference]], data_definition=definition
        ),
        metadata={key: str(value) for key, value in metadata.items()}
        | {"current_rows": str(len(current)), "reference_rows": str(len(reference))},
    )
    return gzip.compress(
        orjson.dumps(
            snapshot.dump_dict(),
            default=str,
            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        ),
        5,
    )


def load_snapshot(blob: bytes):
    """The stored snapshot as an Evidently Snapshot (render with `.get_html_str(...)`)."""
    from evidently.core.report import Snapshot

    return Snapshot.load_dict(orjson.loads(gzip.decompress(blob)))
