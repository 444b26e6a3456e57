"""Driftwise's canonical JSONL: one prediction or label record per line."""

from __future__ import annotations

import orjson

from monitor.ingest.records import Half, ModelSchema, ParseContext, PredictionRow, loads
from monitor.ingest.records import validate_prediction as _validate_prediction


def parse(line: bytes, ctx: ParseContext) -> list[dict | Half]:
    return [loads(line)]


def prediction(line: bytes, schema: ModelSchema, limit: int) -> PredictionRow:
    """A line of a predictions source as its row, when it is one valid record; any error
    (orjson's or BadRecord) sends the line to `parse` and the batch, which name it."""
    return _validate_prediction(orjson.loads(line), schema, limit)
