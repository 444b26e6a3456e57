"""Batch scoring: `driftwise score DEPLOYMENT --input F --output F` with the active version.

The input is checked before anything is scored (a missing feature or a wrong type is
refused with the column named). The output is written to a temporary file beside the
target and renamed into place inside the transaction that logs the predictions, so a
failure leaves neither a half-written file nor half-logged rows.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from monitor.errors import ScoringInputInvalid, VersionNotFound
from monitor.ingest.write import schema_of, write_records
from monitor.registry.artifacts import load_artifact
from monitor.registry.reference import read_table
from monitor.store import session_scope
from monitor.store.lookup import deployment_named
from monitor.store.models import Model, ModelVersion
from monitor.timeutil import utcnow
from retrain.evaluate import predict

LOG_CHUNK = 20_000


@dataclass
class ScoreResult:
    deployment: str
    version: int
    rows: int
    logged: int
    quarantined: int
    output: str


def check_input(frame: pd.DataFrame, model: Model, path: str) -> None:
    missing = [name for name in model.features if name not in frame.columns]
    if missing:
        raise ScoringInputInvalid(f"{path}: missing feature column {', '.join(missing)}")
    for name in model.numerical:
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            raise ScoringInputInvalid(f"{path}: column {name} must hold numbers, found {dtype}")
    for name in model.categorical:
        if pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
            raise ScoringInputInvalid(f"{path}: column {name} holds times, not categories")


def score(engine: Engine, deployment: str, input_path: str, output_path: str) -> ScoreResult:
    with session_scope(engine) as session:
        row = deployment_named(session, deployment)
        if row.active_version_id is None:
            raise VersionNotFound(f"{deployment} has no active version")
        model = session.get(Model, row.model_id)
        version = session.get(ModelVersion, row.active_version_id)
        deployment_id, artifact, number = row.id, version.artifact, version.version
    try:
        frame = read_table(str(input_path))
    except (OSError, ValueError) as error:
        raise ScoringInputInvalid(f"{input_path}: cannot read: {error}") from None
    check_input(frame, model, str(input_path))
    scored = predict(load_artifact(artifact), frame[model.features], model.task)
    output = frame.copy()
    output[model.prediction] = scored.prediction
    if model.probability and scored.probability is not None:
        output[model.probability] = scored.probability
    output["model_version"] = number  # the version number people see; the store keeps the id
    if "request_id" not in output.columns:
        digest = hashlib.sha256(Path(input_path).read_bytes()).hexdigest()
        output["request_id"] = [f"{digest}:{n}" for n in range(len(output))]
    if "timestamp" not in output.columns:
        output["timestamp"] = utcnow()
    written = _write_and_log(engine, deployment_id, model, output, Path(output_path), input_path)
    return ScoreResult(deployment, number, len(output), *written, str(output_path))


def _write_and_log(
    engine: Engine,
    deployment_id: int,
    model: Model,
    output: pd.DataFrame,
    path: Path,
    input_path: str,
) -> tuple[int, int]:
    """(predictions logged, rows quarantined)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    schema, origin = schema_of(model), f"score:{input_path}"
    try:
        if path.suffix in (".parquet", ".pq"):
            output.to_parquet(temporary, index=False)
        else:
            output.to_csv(temporary, index=False)
        logged = quarantined = 0
        with session_scope(engine) as session:
            for start in range(0, len(output), LOG_CHUNK):
                records = _records(output.iloc[start : start + LOG_CHUNK], model)
                written = write_records(
                    session, deployment_id, schema, "predictions", records, origin, start
                )
                logged += written.count("inserted")
                quarantined += written.count("quarantined")
            os.replace(temporary, path)
        return logged, quarantined
    finally:
        temporary.unlink(missing_ok=True)


def _records(chunk: pd.DataFrame, model: Model) -> list[dict]:
    """Canonical prediction records; their `model_version` is the number people see."""
    features = chunk[model.features].astype(object).where(chunk[model.features].notna(), None)
    probability = chunk[model.probability].tolist() if model.probability in chunk.columns else None
    return [
        {
            "request_id": request_id,
            "timestamp": pd.Timestamp(stamp).to_pydatetime(),
            "features": {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()},
            "prediction": prediction,
            "probability": None if probability is None else float(probability[n]),
            "model_version": version,
        }
        for n, (row, request_id, stamp, prediction, version) in enumerate(
            zip(
                features.to_dict("records"),
                chunk["request_id"].astype(str),
                chunk["timestamp"],
                chunk[model.prediction].tolist(),
                chunk["model_version"].tolist(),
                strict=True,
            )
        )
    ]
