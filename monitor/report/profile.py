"""What depends only on a version's reference set, computed once per version and reused.

The JSON profile (column types, ranges, category sets, classes, calibration, reference
performance) is cached in ReferenceSet.profile; the capped, cleaned reference columns that
the drift tests compare against are stored prepared (monitor.report.preparation) and cached
in this process per reference content. The set itself is decoded only when something reads
the frame (a report, a regression's loss model, a preparation not stored yet).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from monitor.errors import ReferenceInvalid
from monitor.registry.reference import decode_reference
from monitor.report.drift import clean
from monitor.report.estimate import (
    calibration_map,
    class_calibration,
    estimate_multiclass,
    estimate_performance,
)
from monitor.report.loss_estimate import fit_loss_model
from monitor.report.performance import classes_of, realized_performance
from monitor.report.preparation import prepared_columns
from monitor.report.stats import ReferenceColumn
from monitor.store.models import Model, ReferenceSet

PROFILE_VERSION = 2
HIGH_CARDINALITY = 1000  # categories beyond this are listed only by count
SAMPLE_SEED = 20260101


@dataclass(frozen=True)
class Reference:
    """A version's reference as the analysis uses it: capped frame, cleaned columns, profile."""

    load_frame: Callable[[], pd.DataFrame] = field(repr=False)  # the capped frame, decoded
    columns: dict[str, ReferenceColumn]  # cleaned (what Evidently compares), counted, sorted
    profile: dict
    rows: int  # rows in the whole reference set
    frame_rows: int  # rows in the capped frame
    loss_model: Any = None  # regression: the nanny models of direct loss estimation
    loss_problem: str | None = None  # why there is no loss model

    @property
    def frame(self) -> pd.DataFrame:
        """At most `cap` rows, a deterministic sample of the set."""
        return self.load_frame()


def cap_frame(frame: pd.DataFrame, cap: int) -> pd.DataFrame:
    """A deterministic sample of at most `cap` rows."""
    if len(frame) <= cap:
        return frame
    return frame.sample(n=cap, random_state=SAMPLE_SEED).reset_index(drop=True)


def read_capped(data: bytes, cap: int) -> pd.DataFrame:
    """`cap_frame` of the stored set, only the kept rows converted from Arrow to pandas:
    the whole set is never a frame (tests/monitor/test_preparation.py holds them equal)."""
    import pyarrow as pa
    import pyarrow.parquet as parquet
    from pandas.io._util import arrow_table_to_pandas  # what pd.read_parquet converts with

    table = parquet.read_table(io.BytesIO(data), use_pandas_metadata=True)
    if table.num_rows > cap:
        rows = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
        table = table.take(rows.sample(n=cap, random_state=SAMPLE_SEED).index.to_numpy())
    frame = arrow_table_to_pandas(table)
    del table
    pa.default_memory_pool().release_unused()
    return frame


def build_profile(model: Model, frame: pd.DataFrame) -> dict:
    """Reference-side facts the window analysis and the policy compare against."""
    columns = {}
    for name in [*model.numerical, *model.categorical]:
        categorical = name in model.categorical
        if name not in frame.columns:
            columns[name] = {"present": False, "categorical": categorical}
            continue
        values = clean(frame[name])
        unique = int(values.nunique())
        entry = {
            "present": True,
            "categorical": categorical,
            "missing_share": float(1 - len(values) / len(frame)) if len(frame) else 0.0,
            "unique": unique,
            "constant": unique <= 1,
        }
        if categorical:
            if unique <= HIGH_CARDINALITY:
                entry["categories"] = sorted(map(str, values.unique()))
        elif len(values) and pd.api.types.is_numeric_dtype(values):
            entry["min"], entry["max"] = float(values.min()), float(values.max())
        columns[name] = entry
    profile: dict = {"version": PROFILE_VERSION, "rows": len(frame), "columns": columns}
    if model.task == "classification" and model.target in frame.columns:
        labeled = frame.dropna(subset=[model.target])
        classes = classes_of(labeled[model.target])
        profile["classes"] = classes
        columns = class_columns(model, classes)
        probabilities = (
            labeled[columns] if columns and set(columns) <= set(labeled.columns) else None
        )
        if model.prediction in labeled.columns and len(classes):
            probability = labeled[model.probability] if model.probability in labeled else None
            profile["performance"] = realized_performance(
                labeled[model.target],
                labeled[model.prediction],
                probability,
                classes,
                probabilities,
            ).metrics
        if probabilities is not None and len(classes) > 2 and model.prediction in labeled:
            mappings = class_calibration(probabilities, labeled[model.target], classes)
            profile["class_calibration"] = mappings
            profile["estimated_performance"] = estimate_multiclass(
                labeled[model.prediction], probabilities, classes, mappings
            ).metrics
        if model.probability and model.probability in labeled.columns and len(classes) == 2:
            mapping = calibration_map(labeled[model.probability], labeled[model.target], classes)
            profile["calibration"] = mapping
            estimate = estimate_performance(
                labeled[model.prediction], labeled[model.probability], classes, mapping
            )
            profile["estimated_performance"] = estimate.metrics
    elif model.task == "regression" and model.target in frame.columns:
        labeled = frame.dropna(subset=[model.target])
        if model.prediction in labeled.columns and len(labeled):
            profile["performance"] = realized_performance(
                labeled[model.target], labeled[model.prediction], None, None
            ).metrics
    return profile


def class_columns(model: Model, classes: list) -> list[str] | None:
    """The probability column of each class, in the order of `classes`; None when the model
    declares no `probabilities` or leaves a class out."""
    declared = model.probabilities or {}
    columns = [declared.get(str(label)) for label in classes]
    return columns if declared and all(columns) else None


_REFERENCES: dict[tuple[str, int, tuple], Reference] = {}


def load(session: Session, model: Model, version_id: int, cap: int) -> Reference:
    """The version's reference, capped at `cap` rows; the profile is computed at most once."""
    stored = session.scalar(
        # The set's data is read only when this process has not loaded the reference yet.
        select(ReferenceSet)
        .where(ReferenceSet.model_version_id == version_id)
        .options(defer(ReferenceSet.data))
    )
    if stored is None:
        raise ReferenceInvalid(f"model version {version_id} has no reference set")
    key = (stored.sha256, cap, tuple(model.numerical) + tuple(model.categorical))
    cached = _REFERENCES.get(key)
    if cached is not None:
        return cached
    sha256, data = stored.sha256, stored.data

    @cache
    def frame() -> pd.DataFrame:  # for later readers (the report), kept with the reference
        return cap_frame(decode_reference(sha256, data), cap)

    # Preparing decodes a frame of its own, let go once prepared: the verdict keeps none.
    fresh = cache(lambda: read_capped(data, cap))
    profile = stored.profile or {}
    if profile.get("version") != PROFILE_VERSION or profile.get("cap") != cap:
        profile = build_profile(model, fresh()) | {"cap": cap}
        stored.profile = profile
    wanted = {
        name: _categorical(model, name)
        for name in [*model.features, model.prediction]
        if name in stored.columns
    }
    columns = prepared_columns(session, stored, cap, wanted, fresh)
    loss_model, loss_problem = None, None
    if model.task == "regression":
        loss_model, loss_problem = fit_loss_model(model, fresh())
    reference = Reference(
        frame, columns, profile, stored.rows, min(cap, stored.rows), loss_model, loss_problem
    )
    if len(_REFERENCES) >= 8:
        _REFERENCES.pop(next(iter(_REFERENCES)))
    _REFERENCES[key] = reference
    return reference


def _categorical(model: Model, name: str) -> bool:
    if name == model.prediction:
        return model.task == "classification"
    return name in model.categorical
