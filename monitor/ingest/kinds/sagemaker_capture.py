"""SageMaker Model Monitor data capture: one captured invocation per JSONL line.

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "14,70.35,pro,north", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "1,0.83", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "…", "inferenceId": "…", "inferenceTime": "2026-01-01T…Z"},
     "eventVersion": "0"}

`encoding` is CSV, JSON or BASE64 (then `observedContentType` says whether the decoded
body is CSV or JSON). The request id is `inferenceId` when the caller set one, else
`eventId`: the same choice Model Monitor makes when it merges ground truth.

Input: CSV rows in column order (`columns` setting, else the model's numerical then
categorical features), one record per row; or JSON: an object of features,
{"instances": [...]}, {"inputs": [...] | {column: [...]}}, {"features": ...}, or a list of
rows; a flat list is one value per row for a model of one feature (TensorFlow Serving's
{"instances": [1.0, 2.0]}). JSON Lines bodies (`application/jsonlines`, encoded JSON or
BASE64) give the rows of every line. Output: CSV `prediction[,probability]` per row, or
JSON as `payloads.outputs_of` reads it (`prediction_key`, `probability_key`, class
probability vectors mapped by `classes`); `output = "probability"` reads a lone score as
the probability and decides the prediction by `threshold`. A capture without
`endpointOutput` (capture mode Input), or a source with `outputs = false`, gives records
without prediction.
"""

from __future__ import annotations

from typing import Any

from monitor.errors import BadRecord
from monitor.ingest.kinds import payloads
from monitor.ingest.records import Half, ParseContext, loads

ENCODINGS = ("CSV", "JSON", "BASE64")


def parse(line: bytes, ctx: ParseContext) -> list[dict | Half]:
    doc = loads(line)
    if not isinstance(doc, dict):
        raise BadRecord("record: expected a JSON object")
    capture = _object(doc, "captureData", "captureData")
    meta = _object(doc, "eventMetadata", "eventMetadata")
    request_id = meta.get("inferenceId") or meta.get("eventId")
    if not request_id:
        raise BadRecord("eventMetadata.eventId: missing (and no inferenceId)")
    stamp = meta.get("inferenceTime")
    if stamp in (None, ""):
        raise BadRecord("eventMetadata.inferenceTime: missing")

    if "endpointInput" not in capture:
        raise BadRecord("captureData.endpointInput: missing (capture mode must include Input)")
    rows = _input_rows(capture, ctx)
    wanted = "endpointOutput" in capture and payloads.outputs_wanted(ctx)
    outputs = _outputs(capture, ctx) if wanted else None
    return payloads.assemble(
        request_id, stamp, rows, outputs, "captureData.endpointOutput.data", ctx=ctx
    )


def _object(parent: dict, key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise BadRecord(f"{where}: missing" if value is None else f"{where}: expected an object")
    return value


def _body(capture: dict, name: str) -> tuple[str, str]:
    """The decoded text of endpointInput/endpointOutput and whether it is "csv" or "json"."""
    where = f"captureData.{name}"
    section = _object(capture, name, where)
    data = section.get("data")
    if not isinstance(data, str):
        raise BadRecord(
            f"{where}.data: missing" if data is None else f"{where}.data: expected text"
        )
    encoding = str(section.get("encoding", "")).upper()
    if encoding not in ENCODINGS:
        raise BadRecord(f"{where}.encoding: {section.get('encoding')!r} is not CSV, JSON or BASE64")
    content_type = str(section.get("observedContentType", "")).lower()
    if encoding == "JSON" and "jsonlines" in content_type:
        return data, "jsonlines"
    if encoding != "BASE64":
        return data, encoding.lower()
    text = payloads.decode_base64(data, f"{where}.data")
    if "csv" in content_type:
        return text, "csv"
    if "json" in content_type:
        return text, "jsonlines" if "jsonlines" in content_type else "json"
    raise BadRecord(
        f"{where}.observedContentType: {section.get('observedContentType')!r} "
        "is neither CSV nor JSON, so the BASE64 body cannot be read"
    )


def _json_body(text: str, kind: str, where: str) -> Any:
    if kind == "jsonlines":
        lines = [line for line in text.splitlines() if line.strip()]
        return [payloads.parse_json_text(line, f"{where}[{i}]") for i, line in enumerate(lines)]
    return payloads.parse_json_text(text, where)


def _input_rows(capture: dict, ctx: ParseContext) -> list[dict[str, Any]]:
    where = "captureData.endpointInput.data"
    text, kind = _body(capture, "endpointInput")
    if kind == "csv":
        rows = payloads.csv_rows(text)
        if not rows:
            raise BadRecord(f"{where}: no CSV rows")
        return [payloads.csv_features(row, ctx, f"{where}[{i}]") for i, row in enumerate(rows)]
    doc = _json_body(text, kind, where)
    width = len(payloads.column_order(ctx))
    if kind == "jsonlines":
        rows = [row for i, item in enumerate(doc) for row in _rows(item, f"{where}[{i}]", width)]
    else:
        rows = _rows(doc, where, width)
    # Linear Learner style: {"instances": [{"features": [...]}, ...]}
    rows = [
        row["features"] if isinstance(row, dict) and list(row) == ["features"] else row
        for row in rows
    ]
    return [payloads.row_features(row, ctx, f"{where}[{i}]") for i, row in enumerate(rows)]


def _rows(doc: Any, where: str, width: int) -> list[Any]:
    return payloads.rows_of(_unwrap_input(doc, where), where, width)


def _unwrap_input(doc: Any, where: str) -> Any:
    """The rows inside the request conventions SageMaker containers accept."""
    if not isinstance(doc, dict):
        return doc
    for key in ("instances", "inputs", "features"):
        if key in doc:
            value = doc[key]
            if key == "inputs" and isinstance(value, dict):
                return payloads.columnar_rows(value, f"{where}.inputs")
            if not isinstance(value, list | dict):
                raise BadRecord(f"{where}.{key}: expected rows, got {type(value).__name__}")
            return value
    return doc


def _outputs(capture: dict, ctx: ParseContext) -> list[list[Any]]:
    where = "captureData.endpointOutput.data"
    text, kind = _body(capture, "endpointOutput")
    if kind == "jsonlines":
        docs = _json_body(text, kind, where)
        return [
            pair
            for i, doc in enumerate(docs)
            for pair in payloads.outputs_of(doc, ctx, f"{where}[{i}]")
        ]
    if kind != "csv":
        return payloads.outputs_of(_json_body(text, kind, where), ctx, where)
    outputs = []
    for i, row in enumerate(payloads.csv_rows(text)):
        if len(row) > 2:
            raise BadRecord(
                f"{where}[{i}]: expected prediction[,probability], got {len(row)} values"
            )
        values = [payloads.csv_value(field) for field in row]
        outputs.append([values[0], values[1] if len(values) == 2 else None])
    if not outputs:
        raise BadRecord(f"{where}: no CSV rows")
    return outputs
