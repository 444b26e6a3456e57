"""SageMaker Model Monitor ground-truth records: one label per JSONL line.

    {"groundTruthData": {"data": "1", "encoding": "CSV"},
     "eventMetadata": {"eventId": "aaaa-bbbb-cccc"}, "eventVersion": "0"}

`eventMetadata.eventId` holds the captured record's inferenceId when the caller set one,
else its eventId (Model Monitor's rule); an `inferenceId` key, when present, wins. `data`
is the label alone: CSV text (a numeric string becomes a number), JSON (a value, or an
object whose `label_key` setting, default "label", holds it) or BASE64 of CSV text.
A record labelling a capture of several rows holds one label per row, as CSV lines, as one
CSV line of several values (`"1,0,1"`: a target is one value, so several are several rows)
or as JSON {"instances": [{"label": …}, …]} (or a list of such objects): its labels get ids
`<id>#<row>` (0-based, in order), exactly as the capture's rows did. When that capture is
stored, a number of labels other than its number of rows is refused (see `Batch`).
The published format carries no time; `eventMetadata.inferenceTime`, when a labelling job
copies it from the capture, becomes the label's timestamp.
"""

from __future__ import annotations

from typing import Any

from monitor.errors import BadRecord
from monitor.ingest.kinds import payloads
from monitor.ingest.records import Half, ParseContext, loads


def parse(line: bytes, ctx: ParseContext) -> list[dict | Half]:
    doc = loads(line)
    if not isinstance(doc, dict):
        raise BadRecord("record: expected a JSON object")
    truth, meta = doc.get("groundTruthData"), doc.get("eventMetadata")
    if not isinstance(truth, dict):
        raise BadRecord(
            "groundTruthData: missing" if truth is None else "groundTruthData: expected an object"
        )
    if not isinstance(meta, dict):
        raise BadRecord(
            "eventMetadata: missing" if meta is None else "eventMetadata: expected an object"
        )
    request_id = meta.get("inferenceId") or meta.get("eventId")
    if not request_id:
        raise BadRecord("eventMetadata.eventId: missing")
    values = _labels(truth, ctx)
    records = []
    for i, value in enumerate(values):
        record_id = request_id if len(values) == 1 else f"{request_id}#{i}"
        record = {"request_id": record_id, "label": value}
        if meta.get("inferenceTime") not in (None, ""):
            record["timestamp"] = meta["inferenceTime"]
        records.append(record)
    return records


def _labels(truth: dict, ctx: ParseContext) -> list[Any]:
    data = truth.get("data")
    encoding = str(truth.get("encoding", "CSV")).upper()
    if encoding == "JSON":
        value = (
            payloads.parse_json_text(data, "groundTruthData.data")
            if isinstance(data, str)
            else data
        )
        if isinstance(value, dict) and "instances" in value:
            value = value["instances"]
            if not isinstance(value, list) or not value:
                raise BadRecord("groundTruthData.data.instances: expected a list of labels")
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return [_json_label(v, ctx, f"[{i}]") for i, v in enumerate(value)]
        return [_json_label(value, ctx)]
    if encoding == "BASE64":
        data = payloads.decode_base64(data, "groundTruthData.data")
    elif encoding != "CSV":
        raise BadRecord(
            f"groundTruthData.encoding: {truth.get('encoding')!r} is not CSV, JSON or BASE64"
        )
    if isinstance(data, int | float) and not isinstance(data, bool):
        return [data]
    if not isinstance(data, str):
        raise BadRecord(
            "groundTruthData.data: missing"
            if data is None
            else "groundTruthData.data: expected text"
        )
    rows = payloads.csv_rows(data)
    if not rows or rows == [[""]]:
        raise BadRecord("groundTruthData.data: empty")
    if len(rows) == 1 and len(rows[0]) > 1:  # one line of several values: one per row
        rows = [[value] for value in rows[0]]
    labels = []
    for i, row in enumerate(rows):
        where = "groundTruthData.data" if len(rows) == 1 else f"groundTruthData.data[{i}]"
        if len(row) > 1:
            raise BadRecord(f"{where}: expected one label, got {len(row)} values")
        label = payloads.csv_value(row[0])
        if label is None:
            raise BadRecord(f"{where}: empty")
        labels.append(label)
    return labels


def _json_label(value: Any, ctx: ParseContext, row: str = "") -> Any:
    key, where = str(ctx.config.get("label_key", "label")), f"groundTruthData.data{row}"
    if isinstance(value, dict):
        if key not in value:
            keys = ", ".join(map(str, value)) or "none"
            raise BadRecord(f"{where}: no {key!r} among keys ({keys})")
        value = value[key]
    if value is None or not isinstance(value, payloads.SCALARS):
        raise BadRecord(f"{where}: expected a label value, got {type(value).__name__}")
    if isinstance(value, str):
        value = payloads.csv_value(value)
        if value is None:
            raise BadRecord(f"{where}: empty")
    return value
