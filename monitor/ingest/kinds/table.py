"""Tables (CSV, Parquet, the rows of a SQL query): columns of features, prediction and
probability, or of labels, named by the source's config."""

from __future__ import annotations

import io
import math
from typing import Any

import pandas as pd

from monitor.errors import BadRecord


def read_frame(data: bytes, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data), keep_default_na=True, encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BadRecord(f"not UTF-8: byte {error.start}") from None
    except Exception as error:  # noqa: BLE001 - any parser failure makes the file bad
        raise BadRecord(f"cannot read {kind}: {error}") from None


def _value(value: Any) -> Any:
    """pandas' missing markers to None, numpy scalars to Python ones."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item"):
        return _value(value.item())
    return value


def canonical(
    row: dict, role: str, config: dict, features_of: tuple[str, ...], fallback_id: str
) -> dict:
    """A canonical prediction or label record from one table row, by the source's column names."""
    id_column = config.get("request_id", "request_id")
    request_id = _value(row.get(id_column)) if id_column in row else fallback_id
    stamp_column = config.get("timestamp", "timestamp")
    if stamp_column not in row and role != "labels":
        raise BadRecord(f"timestamp: no column {stamp_column!r}")
    # A label file may carry no time at all: the label's time is then its arrival.
    timestamp = _value(row.get(stamp_column))
    if role == "labels":
        label_column = (
            config.get("label", "label")
            if config.get("label", "label") in row
            else config.get("target")
        )
        if label_column not in row:
            raise BadRecord(f"label: no column {config.get('label', 'label')!r}")
        return {
            "request_id": request_id,
            "label": _value(row[label_column]),
            "timestamp": timestamp,
        }
    prediction_column = config.get("prediction") or "prediction"
    probability_column = config.get("probability")
    version_column = config.get("model_version", "model_version")
    # Batch outputs often carry extra columns (ids, targets); only declared features count.
    features = {name: _value(row[name]) for name in features_of if name in row}
    return {
        "request_id": request_id,
        "timestamp": timestamp,
        "features": features,
        "prediction": _value(row.get(prediction_column)),
        "probability": _value(row.get(probability_column)) if probability_column else None,
        "probabilities": _class_probabilities(row, config.get("probabilities")),
        "model_version": _value(row.get(version_column)),
    }


def _class_probabilities(row: dict, columns: dict[str, str] | None) -> dict | None:
    """The model's `probabilities = { class = "column" }` read from the row's columns."""
    if not columns:
        return None
    missing = [column for column in columns.values() if column not in row]
    if missing:
        raise BadRecord(f"probabilities: no column {', '.join(missing)}")
    return {label: _value(row[column]) for label, column in columns.items()}
