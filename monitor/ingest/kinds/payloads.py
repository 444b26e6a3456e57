"""Shapes that inference payloads share across serving systems, turned into canonical parts.

The SageMaker, Azure ML and KServe adapters all meet the same few shapes: a row of features
as an object or as a list in column order, an output as a bare prediction or an object with
`prediction` and `probability`, a vector of class probabilities, a batch of rows whose
records get ids `<id>#<row>` (0-based). Source settings read here: `columns`,
`prediction_key`, `probability_key`, `classes`, `output` ("prediction" or "probability")
with `threshold`, and `outputs` (false: the source logs inputs only).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from monitor.errors import BadRecord
from monitor.ingest.records import Half, ParseContext, loads, validate_features
from monitor.timeutil import parse_timestamp

SCALARS = (str, int, float, bool)


def column_order(ctx: ParseContext) -> tuple[str, ...]:
    """How list rows and CSV fields map to names: `columns` in the source, else the model's."""
    return tuple(ctx.config.get("columns") or ctx.schema.features)


def prediction_key(ctx: ParseContext) -> str:
    return str(ctx.config.get("prediction_key", "prediction"))


def probability_key(ctx: ParseContext) -> str:
    return str(ctx.config.get("probability_key", "probability"))


def decode_base64(text: Any, where: str) -> str:
    if not isinstance(text, str):
        raise BadRecord(f"{where}: expected base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadRecord(f"{where}: not base64-encoded UTF-8 text") from None


def parse_json_text(text: str, where: str) -> Any:
    try:
        return loads(text.encode("utf-8"))
    except BadRecord as error:
        raise BadRecord(f"{where}: {error}") from None


def csv_rows(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text)) if row]


def csv_value(text: str) -> int | float | str | None:
    """A CSV field as a number when it reads as one, else as the string itself."""
    text = text.strip()
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def csv_features(fields: Sequence[str], ctx: ParseContext, where: str) -> dict[str, Any]:
    """CSV fields in column order: numbers for numerical features, strings for categorical."""
    names = column_order(ctx)
    if len(fields) != len(names):
        raise BadRecord(
            f"{where}: {len(fields)} values but {len(names)} columns ({', '.join(names)})"
        )
    features: dict[str, Any] = {}
    for name, field in zip(names, fields, strict=True):
        text = field.strip()
        if text == "":
            features[name] = None
        elif name in ctx.schema.numerical:
            value = csv_value(text)
            if isinstance(value, str):
                raise BadRecord(f"features.{name}: {text!r} is not a number")
            features[name] = value
        else:
            features[name] = text
    return features


def row_features(row: Any, ctx: ParseContext, where: str) -> dict[str, Any]:
    """One row of features: an object as it is, a list of values in column order."""
    if isinstance(row, dict):
        return dict(row)
    if isinstance(row, list):
        names = column_order(ctx)
        if len(row) != len(names):
            raise BadRecord(
                f"{where}: {len(row)} values but {len(names)} columns ({', '.join(names)})"
            )
        return dict(zip(names, row, strict=True))
    raise BadRecord(f"{where}: expected a row (object or list), got {type(row).__name__}")


def rows_of(value: Any, where: str, width: int = 0) -> list[Any]:
    """A batch of rows: a list of objects or lists; one flat list or object is one row,
    except for a model of one feature (`width` 1), whose flat list holds one value per row
    (TensorFlow Serving's `{"instances": [1.0, 2.0, 5.0]}`)."""
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not value:
        raise BadRecord(f"{where}: expected rows, got {_describe(value)}")
    if all(isinstance(row, dict | list) for row in value):
        return value
    if all(row is None or isinstance(row, SCALARS) for row in value):
        return [[row] for row in value] if width == 1 else [value]
    raise BadRecord(f"{where}: rows mix objects, lists and values")


def columnar_rows(columns: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """{"tenure": [1, 2], "plan": ["a", "b"]} to [{"tenure": 1, "plan": "a"}, ...]."""
    lengths = {len(values) for values in columns.values() if isinstance(values, list)}
    if len(lengths) != 1 or not all(isinstance(v, list) for v in columns.values()):
        raise BadRecord(f"{where}: columns must be lists of the same length")
    size = lengths.pop()
    return [{name: values[i] for name, values in columns.items()} for i in range(size)]


def outputs_wanted(ctx: ParseContext) -> bool:
    """False for a source declared `outputs = false`: it logs inputs only."""
    return ctx.config.get("outputs", True) is not False


def class_list(ctx: ParseContext, size: int, names: Sequence[Any] | None = None) -> list[Any]:
    """The classes a probability vector's positions stand for: the source's `classes`,
    else the model's classes from its reference set, else the vector's names, else 0..n-1."""
    for classes in (ctx.config.get("classes"), ctx.config.get("model_classes")):
        if classes:
            if len(classes) != size:
                raise BadRecord(
                    f"probabilities: {size} values but {len(classes)} classes "
                    f"({', '.join(map(str, classes))})"
                )
            return list(classes)
    return list(names) if names and len(names) == size else list(range(size))


def class_output(
    values: Sequence[Any], ctx: ParseContext, where: str, names: Sequence[Any] | None = None
) -> list[Any]:
    """A vector of class probabilities as [arg-max class, probability, {class: p}]; the
    probability is the positive (last) class's for two classes, else the chosen class's."""
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadRecord(f"{where}[{i}]: expected a probability, got {value!r}")
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise BadRecord(f"{where}[{i}]: {value} is not a probability between 0 and 1")
    classes = class_list(ctx, len(values), names)
    best = max(range(len(values)), key=values.__getitem__)
    probability = values[-1] if len(values) == 2 else values[best]
    return [
        classes[best],
        probability,
        {str(c): float(p) for c, p in zip(classes, values, strict=True)},
    ]


def is_vector(item: Any) -> bool:
    return (
        isinstance(item, list)
        and len(item) >= 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
    )


def output_of(item: Any, ctx: ParseContext, where: str) -> list[Any]:
    """One output as [prediction, probability]: a bare value, an object with the keys, or
    a vector of class probabilities (then [class, probability, {class: p}])."""
    if item is None or isinstance(item, SCALARS):
        return [item, None]
    if is_vector(item):
        return class_output(item, ctx, where)
    if isinstance(item, dict):
        key, prob_key = prediction_key(ctx), probability_key(ctx)
        if key not in item and prob_key not in item:
            keys = ", ".join(map(str, item)) or "none"
            raise BadRecord(f"{where}: neither {key!r} nor {prob_key!r} among keys ({keys})")
        return [item.get(key), item.get(prob_key)]
    raise BadRecord(
        f"{where}: expected a prediction or an object with {prediction_key(ctx)!r}, "
        f"got {type(item).__name__}"
    )


def outputs_of(doc: Any, ctx: ParseContext, where: str) -> list[list[Any]]:
    """A response body as [prediction, probability] pairs, one per input row.

    {"predictions": [...], "probabilities": [...]} (either list optional beside the other),
    a list of outputs, one object with the prediction keys, or one bare prediction.
    """
    if isinstance(doc, dict) and ("predictions" in doc or "probabilities" in doc):
        predictions, probabilities = doc.get("predictions"), doc.get("probabilities")
        for name, values in (("predictions", predictions), ("probabilities", probabilities)):
            if values is not None and not isinstance(values, list):
                raise BadRecord(f"{where}.{name}: expected a list, got {_describe(values)}")
        count = len(predictions if predictions is not None else probabilities)
        if probabilities is not None and len(probabilities) != count:
            raise BadRecord(f"{where}: {count} predictions but {len(probabilities)} probabilities")
        items = predictions if predictions is not None else [None] * count
        outputs = [
            output_of(item, ctx, f"{where}.predictions[{i}]") for i, item in enumerate(items)
        ]
        if probabilities is not None:
            for pair, probability in zip(outputs, probabilities, strict=True):
                pair[1] = probability
        return outputs
    if isinstance(doc, list):
        return [output_of(item, ctx, f"{where}[{i}]") for i, item in enumerate(doc)]
    return [output_of(doc, ctx, where)]


def assemble(
    request_id: str,
    timestamp: Any,
    rows: list[dict[str, Any]],
    outputs: list[Sequence[Any]] | None,
    where: str,
    row_ids: Sequence[Any] | None = None,
    ctx: ParseContext | None = None,
) -> list[dict]:
    """Canonical prediction records; several rows get ids `<request_id>#<row>`."""
    if outputs is not None and len(outputs) != len(rows):
        raise BadRecord(f"{where}: {len(rows)} input rows but {len(outputs)} outputs")
    records = []
    for i, features in enumerate(rows):
        if row_ids and row_ids[i] not in (None, ""):
            record_id = row_ids[i]
        else:
            record_id = request_id if len(rows) == 1 else f"{request_id}#{i}"
        output = outputs[i] if outputs is not None else (None, None)
        record = {"request_id": record_id, "timestamp": timestamp, "features": features}
        record.update(decide(output, ctx) if ctx is not None else _parts(output))
        records.append(record)
    return records


def _parts(output: Sequence[Any]) -> dict[str, Any]:
    parts = {"prediction": output[0], "probability": output[1]}
    if len(output) > 2 and output[2] is not None:
        parts["probabilities"] = output[2]
    return parts


def decide(output: Sequence[Any], ctx: ParseContext) -> dict[str, Any]:
    """The record's prediction parts; with `output = "probability"` a lone score is the
    positive class's probability and the prediction is decided by `threshold`."""
    parts = _parts(output)
    if ctx.config.get("output", "prediction") != "probability" or parts["probability"] is not None:
        return parts
    score = parts["prediction"]
    if score is None:
        return parts
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise BadRecord(f"output: expected a probability, got {score!r}")
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise BadRecord(f"output: {score} is not a probability between 0 and 1")
    negative, positive = class_list(ctx, 2, None)
    threshold = float(ctx.config.get("threshold", 0.5))
    parts["prediction"] = positive if score >= threshold else negative
    parts["probability"] = float(score)
    return parts


def request_half(
    key: str, stamp: Any, rows: list[dict[str, Any]], ctx: ParseContext, ids: list | None = None
) -> Half:
    """A request waiting for its response, checked now: it may wait in the store as JSON,
    which has no NaN, so a NaN feature would otherwise come back as a missing value."""
    _check_time(stamp)
    for i, row in enumerate(rows):
        try:
            validate_features(row, ctx.schema)
        except BadRecord as error:
            raise BadRecord(f"row {i}: {error}" if len(rows) > 1 else str(error)) from None
    payload = {"id": key, "timestamp": stamp, "rows": rows, "ids": ids}
    return Half(key=key, part="request", payload=payload)


def response_half(key: str, stamp: Any, outputs: list[list[Any]], ids: list | None = None) -> Half:
    """A response waiting for its request, checked now for the same reason."""
    _check_time(stamp)
    for i, pair in enumerate(outputs):
        for name, value in zip(("prediction", "probability"), pair[:2], strict=True):
            if isinstance(value, float) and not math.isfinite(value):
                raise BadRecord(f"{name}: {value} is not allowed (output {i})")
    payload = {"timestamp": stamp, "outputs": outputs, "ids": ids}
    return Half(key=key, part="response", payload=payload)


def join_halves(request: dict, response: dict, ctx: ParseContext) -> list[dict]:
    """Records from a request half {"id", "timestamp", "rows"[, "ids"]} and its response
    half {"timestamp", "outputs"[, "ids"]}; the request's time wins, as the request's moment."""
    stamp = request.get("timestamp") or response.get("timestamp")
    if stamp in (None, ""):
        raise BadRecord("time: missing on both request and response")
    request_ids, response_ids = request.get("ids"), response.get("ids")
    if request_ids and response_ids and list(request_ids) != list(response_ids):
        raise BadRecord("ids: request and response rows carry different ids")
    return assemble(
        request["id"],
        stamp,
        request["rows"],
        response["outputs"],
        "request and response data",
        request_ids or response_ids,
        ctx,
    )


def _check_time(stamp: Any) -> None:
    if stamp in (None, ""):
        return
    try:
        parse_timestamp(stamp)
    except (ValueError, TypeError, OverflowError) as error:
        raise BadRecord(f"time: does not parse: {error}") from None


def _describe(value: Any) -> str:
    if isinstance(value, list) and not value:
        return "an empty list"
    return type(value).__name__
