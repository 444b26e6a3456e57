"""Batch scoring outputs (CSV, Parquet): whole files of feature, prediction and probability
columns. A file's cursor is the number of rows consumed; its id column, or else
`<file sha256>:<row>`, keeps every row once even when the file is read again."""

from __future__ import annotations

import hashlib
import io
import math
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from monitor.errors import BadRecord
from monitor.store.db import session_scope

CHUNK_ROWS = 50_000


def read_frame(data: bytes, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data), keep_default_na=True, encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BadRecord(f"not UTF-8: byte {error.start}") from None
    except Exception as error:  # noqa: BLE001 - any parser failure makes the file bad
        raise BadRecord(f"cannot read {kind}: {error}") from None


def read_file(engine: Engine, job, fs, path: str, tally) -> None:
    from monitor.ingest.engine import file_cursor

    with session_scope(engine) as session:
        cursor = file_cursor(session, job.source_id, path)
        done, size, sha, start = cursor.done, cursor.size, cursor.sha256, cursor.line
    current_size = fs.size(path)
    if done and current_size == size:
        return
    with fs.open(path, "rb") as handle:
        data = handle.read()
    digest = hashlib.sha256(data).hexdigest()
    if done and digest == sha:
        return
    if sha != digest:
        start = 0  # new or changed content: read it all, duplicates are skipped
    try:
        frame = read_frame(data, job.kind) if data else pd.DataFrame()
    except BadRecord as error:
        _quarantine_file(engine, job, path, data, digest, current_size, str(error), tally)
        return
    features = job.context.schema.features
    missing = (
        [] if job.role == "labels" else [name for name in features if name not in frame.columns]
    )
    if missing and len(frame):
        reason = f"missing feature column {', '.join(missing)}"
        _quarantine_file(engine, job, path, data, digest, current_size, reason, tally)
        return
    records = frame.to_dict("records")
    for first in range(start, max(len(records), 1), CHUNK_ROWS):
        batch = job.new_batch()
        for row_no in range(first, min(first + CHUNK_ROWS, len(records))):
            row = records[row_no]
            raw = repr(row).encode()
            try:
                batch.add(
                    canonical(row, job.role, job.config, features, f"{digest}:{row_no}"),
                    f"{path}#{row_no + 1}",
                    raw,
                )
            except BadRecord as error:
                batch.quarantine(f"{path}#{row_no + 1}", raw, str(error))
        last = min(first + CHUNK_ROWS, len(records))
        with session_scope(engine) as session:
            tally.add(*batch.write(session))
            _mark(
                file_cursor(session, job.source_id, path),
                current_size,
                digest,
                last,
                last >= len(records),
            )


def _quarantine_file(
    engine: Engine, job, path: str, data: bytes, digest: str, size: int, reason: str, tally
) -> None:
    """A file that cannot be read at all: quarantined whole (its first 64 KiB kept)."""
    from monitor.ingest.engine import file_cursor

    with session_scope(engine) as session:
        batch = job.new_batch()
        batch.quarantine(path, data[:65536], reason)
        tally.add(*batch.write(session))
        _mark(file_cursor(session, job.source_id, path), size, digest, 0, done=True)


def _mark(cursor, size: int, digest: str, line: int, done: bool) -> None:
    cursor.size, cursor.sha256, cursor.line, cursor.done = size, digest, line, done
    cursor.records = line


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
    if stamp_column not in row:
        raise BadRecord(f"timestamp: no column {stamp_column!r}")
    timestamp = _value(row[stamp_column])
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
        "model_version": _value(row.get(version_column)),
    }
