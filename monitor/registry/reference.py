"""Reference sets: the data a version is compared against, stored as compressed Parquet."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import ReferenceInvalid
from monitor.store.models import Model, ModelVersion, ReferenceSet


def reference_columns(model: Model) -> list[str]:
    columns = [*model.numerical, *model.categorical, model.target, model.prediction]
    if model.probability:
        columns.append(model.probability)
    columns += list((model.probabilities or {}).values())
    return columns


def validate_reference(frame: pd.DataFrame, model: Model, where: str = "reference") -> pd.DataFrame:
    """The model's columns from `frame`, or ReferenceInvalid naming what is missing or wrong."""
    missing = [column for column in reference_columns(model) if column not in frame.columns]
    if missing:
        raise ReferenceInvalid(f"{where}: missing column {', '.join(missing)}")
    if frame.empty:
        raise ReferenceInvalid(f"{where}: has no rows")
    for column in model.numerical:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(
            frame[column]
        ):
            raise ReferenceInvalid(
                f"{where}: numerical feature {column} holds {frame[column].dtype}, not numbers"
            )
    for column in [model.probability, *(model.probabilities or {}).values()]:
        if column and not frame[column].dropna().between(0, 1).all():
            raise ReferenceInvalid(f"{where}: {column} has values outside 0..1")
    return frame[reference_columns(model)].reset_index(drop=True)


def read_table(path: str) -> pd.DataFrame:
    if path.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    return pd.read_csv(path)


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, compression="zstd")
    return buffer.getvalue()


def store_reference(session: Session, version: ModelVersion, frame: pd.DataFrame) -> ReferenceSet:
    """Attach `frame` as the version's reference set, replacing any earlier one."""
    data = to_parquet_bytes(frame)
    reference = session.scalar(
        select(ReferenceSet).where(ReferenceSet.model_version_id == version.id)
    )
    if reference is None:
        reference = ReferenceSet(model_version_id=version.id)
        session.add(reference)
    reference.rows = len(frame)
    reference.columns = [str(column) for column in frame.columns]
    reference.data = data
    reference.sha256 = hashlib.sha256(data).hexdigest()
    reference.profile = {}
    session.flush()
    return reference


@lru_cache(maxsize=16)
def decode_reference(sha256: str, data: bytes) -> pd.DataFrame:
    """A stored set's frame, decoded once per process and content (callers copy)."""
    return read_reference(data)


def read_reference(data: bytes) -> pd.DataFrame:
    """A stored set's frame, decoded afresh; Arrow's pool gives back what decoding took."""
    import pyarrow as pa

    frame = pd.read_parquet(io.BytesIO(data))
    pa.default_memory_pool().release_unused()
    return frame


def load_reference(session: Session, version_id: int) -> pd.DataFrame:
    """The version's reference frame; decoded once per process and content (callers copy)."""
    reference = session.scalar(
        select(ReferenceSet).where(ReferenceSet.model_version_id == version_id)
    )
    if reference is None:
        raise ReferenceInvalid(f"model version {version_id} has no reference set")
    return decode_reference(reference.sha256, reference.data)
