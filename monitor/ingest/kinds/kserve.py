"""KServe inference-logger CloudEvents, and Seldon Core v1 request logging, one per line.

The logger sends each request and each response as a CloudEvent of type
`org.kubeflow.serving.inference.request` / `.response` (Seldon Core v1:
`io.seldon.serving.inference.request` / `.response`). A sink that writes them one per
line writes one of three shapes, all read here:

- structured mode: {"specversion": "1.0", "id": "…", "type": "…", "time": "…",
  "inferenceservicename": "…", "data": {…}} (or "data_base64");
- binary mode, attributes as headers: {"ce-id": "…", "ce-type": "…", "ce-time": "…",
  "data": {…} or "<json text>"} (header names in any case);
- an HTTP echo of the delivery: {"headers": {"ce-id": …}, "body": "<json text>"}.

Request and response share `ce-id` in KServe and `ce-requestid` in Seldon, so the key is
`requestid`, else `id`; each line becomes a half and `join` makes the records, timed by
the request. Bodies: KServe v1 {"instances": [...]} / {"predictions": [...]}, v2
{"inputs": [tensors]} / {"outputs": [tensors]} (one tensor per feature, or one [N, F]
tensor in column order), Seldon {"data": {"names": [...], "ndarray": [...]}}. Output
tensors are picked by name: `prediction_key` (else the only other tensor) and
`probability_key` ([N] values, or [N, 2] class probabilities whose second is taken).
A response of class probabilities (`{"predictions": [[0.1, 0.7, 0.2]]}`, an [N, k] output
tensor, Seldon `names` like `t:0, t:1, t:2` over an ndarray of k columns) is mapped with
the model's class list (`classes` setting, else the reference set's classes): the
prediction is the arg-max class, `probabilities` keeps each class's, and `probability` is
the positive class's for two classes. A half that cannot be read is quarantined and so
is its partner, which never waits forever. `outputs = false`: requests alone are records.
Settings: `columns`, `prediction_key`, `probability_key`, `classes`, `output`/`threshold`,
`outputs`. Not read: KServe's blob-store
logger files (a JSON array of log requests per file, without times).
"""

from __future__ import annotations

from typing import Any

from monitor.errors import BadHalf, BadRecord
from monitor.ingest.kinds import payloads
from monitor.ingest.records import Half, ParseContext, loads

BODY_KEYS = ("data", "json", "body")


def parse(line: bytes, ctx: ParseContext) -> list[dict | Half]:
    doc = loads(line)
    if not isinstance(doc, dict):
        raise BadRecord("record: expected a JSON object")
    attrs = _attributes(doc)
    kind = str(attrs.get("type") or "")
    key = attrs.get("requestid") or attrs.get("id")
    if not isinstance(key, str) or not key:
        raise BadRecord("id: missing")
    stamp = attrs.get("time")
    if kind.endswith(".inference.request"):
        part = "request"
    elif kind.endswith(".inference.response"):
        part = "response"
    else:
        raise BadRecord(
            f"type: {kind!r} is not an inference request or response" if kind else "type: missing"
        )
    if part == "response" and not payloads.outputs_wanted(ctx):
        raise BadRecord("type: a response event in a source declared `outputs = false`")
    try:
        body = _body(doc)
        if part == "response":
            return [payloads.response_half(key, stamp, _response_outputs(body, ctx))]
        rows = _request_rows(body, ctx)
        if not payloads.outputs_wanted(ctx):
            return payloads.assemble(key, stamp, rows, None, "data", ctx=ctx)
        return [payloads.request_half(key, stamp, rows, ctx)]
    except BadRecord as error:
        raise BadHalf(key, part, str(error)) from None


def join(request: dict, response: dict, ctx: ParseContext) -> list[dict]:
    return payloads.join_halves(request, response, ctx)


def _attributes(doc: dict) -> dict[str, Any]:
    """CloudEvent attributes, lower case, without `ce-`."""
    attrs: dict[str, Any] = {}
    headers = doc.get("headers") if isinstance(doc.get("headers"), dict) else {}
    for source in (headers, doc):
        for name, value in source.items():
            lowered = str(name).lower()
            attrs.setdefault(lowered[3:] if lowered.startswith("ce-") else lowered, value)
    return attrs


def _body(doc: dict) -> dict[str, Any]:
    """The decoded event body."""
    for name in BODY_KEYS:
        if doc.get(name) is not None:
            body, where = doc[name], name
            break
    else:
        if doc.get("data_base64") is None:
            raise BadRecord("data: missing")
        body, where = payloads.decode_base64(doc["data_base64"], "data_base64"), "data_base64"
    if isinstance(body, str):
        body = payloads.parse_json_text(body, where)
    if not isinstance(body, dict):
        raise BadRecord(f"{where}: expected a JSON object, got {type(body).__name__}")
    return body


def _request_rows(body: dict, ctx: ParseContext) -> list[dict[str, Any]]:
    width = len(payloads.column_order(ctx))
    if "instances" in body:
        rows = payloads.rows_of(body["instances"], "data.instances", width)
    elif "inputs" in body:
        inputs = body["inputs"]
        if _tensors(inputs):
            rows = _v2_rows(inputs, ctx)
        elif isinstance(inputs, dict):
            rows = payloads.columnar_rows(inputs, "data.inputs")
        else:
            rows = payloads.rows_of(inputs, "data.inputs", width)
    elif isinstance(body.get("data"), dict):
        rows = _seldon_rows(body["data"])
    else:
        raise BadRecord("data: no instances, inputs or Seldon data in the request")
    return [payloads.row_features(row, ctx, f"data[{i}]") for i, row in enumerate(rows)]


def _response_outputs(body: dict, ctx: ParseContext) -> list[list[Any]]:
    if "predictions" in body or "probabilities" in body:
        return payloads.outputs_of(body, ctx, "data")
    if _tensors(body.get("outputs")):
        return _v2_outputs(body["outputs"], ctx)
    if isinstance(body.get("data"), dict):
        data = body["data"]
        flat = data.get("ndarray")
        if not data.get("names") and isinstance(flat, list) and not _nested(flat):
            return [
                payloads.output_of(v, ctx, f"data.data.ndarray[{i}]") for i, v in enumerate(flat)
            ]
        names = data.get("names") or []
        keys = {payloads.prediction_key(ctx), payloads.probability_key(ctx)}
        vectors = len(names) > 1 and not keys & set(names)
        outputs = []
        for i, row in enumerate(_seldon_rows(data)):
            where = f"data.data[{i}]"
            if vectors:  # class probabilities, one column per class (`t:0`, `t:1`, …)
                outputs.append(payloads.class_output(list(row.values()), ctx, where, names))
                continue
            value = row[0] if isinstance(row, list) and len(row) == 1 else row
            outputs.append(payloads.output_of(value, ctx, where))
        return outputs
    raise BadRecord("data: no predictions, outputs or Seldon data in the response")


def _tensors(value: Any) -> bool:
    """Open Inference Protocol (v2) tensors: [{"name", "shape", "datatype", "data"}, ...]."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, dict) and {"name", "data"} <= set(t) for t in value)
    )


def _v2_rows(tensors: list[dict], ctx: ParseContext) -> list[Any]:
    if len(tensors) > 1 or tensors[0]["name"] in payloads.column_order(ctx):
        columns = {t["name"]: _column(t, f"data.inputs[{t['name']}]") for t in tensors}
        return payloads.columnar_rows(columns, "data.inputs")
    return _matrix(tensors[0]["data"], tensors[0].get("shape"), "data.inputs[0]")


def _v2_outputs(tensors: list[dict], ctx: ParseContext) -> list[list[Any]]:
    by_name = {t["name"]: t for t in tensors}
    pred_key, prob_key = payloads.prediction_key(ctx), payloads.probability_key(ctx)
    others = [t for t in tensors if t["name"] != prob_key]
    prediction = by_name.get(pred_key) or (others[0] if len(others) == 1 else None)
    probability = by_name.get(prob_key)
    if prediction is None and probability is None:
        names = ", ".join(str(t["name"]) for t in tensors)
        raise BadRecord(f"data.outputs: no tensor named {pred_key!r} or {prob_key!r} among {names}")
    if prediction is not None and probability is None and _width(prediction) > 1:
        rows = _matrix(prediction["data"], prediction.get("shape"), "data.outputs[prediction]")
        where = "data.outputs[prediction]"
        return [payloads.class_output(row, ctx, f"{where}[{i}]") for i, row in enumerate(rows)]
    predictions = _column(prediction, "data.outputs[prediction]") if prediction else None
    probabilities = (
        _column(probability, "data.outputs[probability]", pair=True) if probability else None
    )
    size = len(predictions if predictions is not None else probabilities)
    if probabilities is not None and predictions is not None and len(probabilities) != size:
        raise BadRecord(f"data.outputs: {size} predictions but {len(probabilities)} probabilities")
    return [
        [predictions[i] if predictions else None, probabilities[i] if probabilities else None]
        for i in range(size)
    ]


def _width(tensor: dict) -> int:
    """Values per row of a [N, k] tensor (1 for a flat one)."""
    data, shape = tensor.get("data"), tensor.get("shape")
    if isinstance(data, list) and _nested(data):
        return max(len(row) for row in data)
    if isinstance(shape, list) and len(shape) == 2 and isinstance(shape[1], int):
        return shape[1]
    return 1


def _column(tensor: dict, where: str, pair: bool = False) -> list[Any]:
    """One value per row from a [N] or [N, 1] tensor ([N, 2]: the second, when `pair`)."""
    data, shape = tensor.get("data"), tensor.get("shape")
    if not isinstance(data, list):
        raise BadRecord(f"{where}.data: expected a list")
    if not _nested(data) and not (isinstance(shape, list) and len(shape) == 2):
        return data
    rows = _matrix(data, shape, where)
    widths = {len(row) for row in rows}
    if widths == {1} or (pair and widths == {2}):
        return [row[-1] for row in rows]
    raise BadRecord(f"{where}: {sorted(widths)} values per row, expected one")


def _matrix(data: Any, shape: Any, where: str) -> list[Any]:
    """Rows of a tensor: nested lists as they are, flat row-major data cut by the shape."""
    if not isinstance(data, list) or not data:
        raise BadRecord(f"{where}.data: expected a non-empty list")
    if _nested(data):
        return data
    if isinstance(shape, list) and len(shape) == 2 and all(isinstance(n, int) for n in shape):
        rows, width = shape
        if width > 0 and rows * width == len(data):
            return [data[i : i + width] for i in range(0, len(data), width)]
        raise BadRecord(f"{where}.shape: {shape} does not hold {len(data)} values")
    return [data]


def _nested(data: list) -> bool:
    return bool(data) and all(isinstance(row, list) for row in data)


def _seldon_rows(data: dict) -> list[Any]:
    """Seldon protocol rows: {"names": [...], "ndarray": [...] | "tensor": {shape, values}}."""
    if "ndarray" in data:
        rows = payloads.rows_of(data["ndarray"], "data.data.ndarray")
    elif isinstance(data.get("tensor"), dict):
        tensor = data["tensor"]
        rows = _matrix(tensor.get("values"), tensor.get("shape"), "data.data.tensor")
    else:
        raise BadRecord("data.data: no ndarray or tensor")
    names = data.get("names")
    if not names:
        return rows
    named = []
    for i, row in enumerate(rows):
        values = row if isinstance(row, list) else [row]
        if len(values) != len(names):
            raise BadRecord(f"data.data.ndarray[{i}]: {len(values)} values but {len(names)} names")
        named.append(dict(zip(names, values, strict=True)))
    return named
