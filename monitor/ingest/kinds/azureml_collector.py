"""Azure Machine Learning data collector (model monitoring) JSONL: one event per line.

The collector writes CloudEvents-like lines, one file per collection and hour
(`{endpoint}/{deployment}/{collection}/{yyyy}/{MM}/{dd}/{HH}/{instance}.jsonl`):

    {"specversion": "1.0", "id": "…", "type": "azureml.inference.model_inputs",
     "time": "2026-01-01T10:00:00Z", "data": [{"tenure": 14, "plan": "pro", …}],
     "correlationid": "…", "xrequestid": "…", "modelversion": "default", …}

Inputs (`model_inputs`, or payload logging's `request`) and outputs (`model_outputs` or
`response`) arrive as separate lines, usually in separate files, sharing `correlationid`:
they become halves keyed by it, and `join` makes the records. A line whose rows hold the
prediction column too (a custom collection logging inputs and outputs together) gives
records at once. `data` is a list of rows (a logged DataFrame), one row object, columns
of lists, or a payload-logged request body ({"data": …}, {"input_data": {"columns",
"data"}}); list rows map to names by the `columns` setting, else the model's features.

The collector batches requests that arrive close together into one event under one
`correlationid`, so rows get ids `<correlationid>#<row>`; Azure's advice is to log an id
column per row, and a column named by `id_column` (default "correlationid") becomes the
row's request id. Settings: `columns`, `prediction_key`, `probability_key`, `id_column`,
`classes`, `output`/`threshold`, and `outputs = false` for a deployment that collects
inputs only (records at once, without prediction). Inputs and outputs usually live in
separate folders, one data asset each: declare two sources; halves join across the
sources of one deployment. An event whose payload went to a separate blob
(`datainblob`) is quarantined with that reason, and so is its other half.
"""

from __future__ import annotations

from typing import Any

from monitor.errors import BadHalf, BadRecord
from monitor.ingest.kinds import payloads
from monitor.ingest.records import Half, ParseContext, loads

OUTPUT_TYPES = ("model_outputs", ".response", ".outputs")


def parse(line: bytes, ctx: ParseContext) -> list[dict | Half]:
    doc = _event(line)
    key, stamp = doc["correlationid"], doc["time"]
    output = str(doc.get("type", "")).endswith(OUTPUT_TYPES)
    if output and not payloads.outputs_wanted(ctx):
        raise BadRecord("type: an output event in a source declared `outputs = false`")
    try:
        if output:
            outputs, ids = _outputs(_data(doc), ctx)
            return [payloads.response_half(key, stamp, outputs, ids)]
        return _inputs(key, stamp, _data(doc), ctx)
    except BadHalf:
        raise
    except BadRecord as error:
        raise BadHalf(key, "response" if output else "request", str(error)) from None


def _inputs(key: str, stamp: Any, data: Any, ctx: ParseContext) -> list[dict | Half]:
    rows = _input_rows(data)
    ids = _pop_ids(rows, ctx)
    pred_key, prob_key = payloads.prediction_key(ctx), payloads.probability_key(ctx)
    together = any(isinstance(row, dict) and (pred_key in row or prob_key in row) for row in rows)
    outputs = [_pop_output(row, pred_key, prob_key) for row in rows] if together else None
    features = [payloads.row_features(row, ctx, f"data[{i}]") for i, row in enumerate(rows)]
    if together or not payloads.outputs_wanted(ctx):
        return payloads.assemble(key, stamp, features, outputs, "data", ids, ctx)
    return [payloads.request_half(key, stamp, features, ctx, ids)]


def join(request: dict, response: dict, ctx: ParseContext) -> list[dict]:
    return payloads.join_halves(request, response, ctx)


def _event(line: bytes) -> dict[str, Any]:
    doc = loads(line)
    if not isinstance(doc, dict):
        raise BadRecord("record: expected a JSON object")
    if not isinstance(doc.get("correlationid"), str) or not doc["correlationid"]:
        raise BadRecord("correlationid: missing")
    if doc.get("time") in (None, ""):
        raise BadRecord("time: missing")
    return doc


def _data(doc: dict[str, Any]) -> Any:
    if str(doc.get("datainblob", "")).lower() == "true":
        raise BadRecord(
            "data: the collector stored this payload in a separate blob (datainblob), "
            "too large to log inline; not read, since Driftwise never opens paths named "
            "by log data"
        )
    if doc.get("data") is None:
        raise BadRecord("data: missing")
    return doc["data"]


def _input_rows(data: Any) -> list[Any]:
    """Rows from a logged DataFrame or a payload-logged request body, copied."""
    if isinstance(data, dict) and "input_data" in data:
        data = data["input_data"]
    elif isinstance(data, dict) and list(data) == ["data"]:
        data = data["data"]
    if isinstance(data, dict) and set(data) >= {"columns", "data"}:
        columns, values = data["columns"], data["data"]
        if not isinstance(columns, list) or not isinstance(values, list):
            raise BadRecord("data: split layout needs lists under columns and data")
        rows = []
        for i, row in enumerate(values):
            if not isinstance(row, list) or len(row) != len(columns):
                raise BadRecord(f"data.data[{i}]: expected {len(columns)} values")
            rows.append(dict(zip(columns, row, strict=True)))
        return rows
    if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
        return payloads.columnar_rows(data, "data")
    return [dict(row) if isinstance(row, dict) else row for row in payloads.rows_of(data, "data")]


def _outputs(data: Any, ctx: ParseContext) -> tuple[list[list[Any]], list[Any] | None]:
    if isinstance(data, dict) and "predictions" not in data and "probabilities" not in data:
        if data and all(isinstance(v, list) for v in data.values()):
            data = payloads.columnar_rows(data, "data")
    if isinstance(data, list):
        data = [dict(item) if isinstance(item, dict) else item for item in data]
        ids = _pop_ids(data, ctx)
        return payloads.outputs_of(data, ctx, "data"), ids
    return payloads.outputs_of(data, ctx, "data"), None


def _pop_ids(rows: list[Any], ctx: ParseContext) -> list[Any] | None:
    """Take each row's own id column out of its features."""
    column = str(ctx.config.get("id_column", "correlationid"))
    ids = [row.pop(column, None) if isinstance(row, dict) else None for row in rows]
    if any(isinstance(value, bool) or not isinstance(value, str | int | None) for value in ids):
        raise BadRecord(f"data: {column} column values must be strings or integers")
    if all(value in (None, "") for value in ids):
        return None
    return [str(value) if isinstance(value, int) else value for value in ids]


def _pop_output(row: Any, pred_key: str, prob_key: str) -> list[Any]:
    if not isinstance(row, dict):
        return [None, None]
    return [row.pop(pred_key, None), row.pop(prob_key, None)]
