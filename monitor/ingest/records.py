"""Canonical records and their validation against a model's declared columns.

Every source kind turns raw input into canonical dicts:
  prediction: {"request_id", "timestamp", "features": {...}, "prediction", "probability",
               "model_version"[, "probabilities": {class: p}]}
  label:      {"request_id", "label", "timestamp"}
and `validate_prediction` / `validate_label` turn those into rows for the store, raising
BadRecord with a reason that names the field when something is wrong. A value is only
accepted when the store can hold it: integers fit in a signed 64-bit integer (what
SQLite and PostgreSQL store, and what the JSON columns' readers keep exact).
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple

import orjson

from monitor.errors import BadRecord
from monitor.timeutil import parse_timestamp

PREDICTION_KEYS = {
    "request_id",
    "timestamp",
    "features",
    "prediction",
    "probability",
    "probabilities",
    "model_version",
}
LABEL_KEYS = {"request_id", "label", "timestamp"}
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_DIGITS = b"0" * 19
_NOT_MARKS = bytes(set(range(256)) - set(b'"[]{}'))
_AS_PARENTHESES = bytes.maketrans(b"[]{}", b"()()")
# A canonical record is 3 levels deep and a push body 4: anything far deeper is hostile.
MAX_DEPTH = 32


@dataclass(frozen=True)
class ModelSchema:
    """What a deployment's records must look like: the model's declared columns."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    task: str = "classification"
    nullable: bool = True  # a missing value (null) is data quality, not a bad record
    features: tuple[str, ...] = field(init=False)
    feature_set: frozenset[str] = field(init=False)
    # The numerical values of a record's features in one C call (two names or more).
    _numbers: itemgetter | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", (*self.numerical, *self.categorical))
        object.__setattr__(self, "feature_set", frozenset(self.features))
        many = len(self.numerical) > 1
        object.__setattr__(self, "_numbers", itemgetter(*self.numerical) if many else None)

    def numbers(self, features: dict[str, Any]) -> tuple | list:
        """The numerical features' values, in their declared order."""
        if self._numbers is None:
            return [features[name] for name in self.numerical]
        return self._numbers(features)


@dataclass(frozen=True)
class ParseContext:
    """What a source kind's parser may need: the model's columns and the source's settings."""

    schema: ModelSchema
    config: dict[str, Any] = field(default_factory=dict)
    location: str = ""


@dataclass(frozen=True)
class Half:
    """One half of a record (e.g. a KServe request or response) waiting for the other."""

    key: str
    part: str  # "request" | "response"
    payload: dict[str, Any]


class PredictionRow(NamedTuple):
    request_id: str
    timestamp: datetime
    features: str  # JSON text
    prediction: str | None  # JSON text
    probability: float | None
    model_version: int | None
    sample_key: int
    probabilities: str | None = None  # JSON text {class: probability}


class LabelRow(NamedTuple):
    request_id: str
    value: str  # JSON text
    timestamp: datetime | None


def sample_key(request_id: str) -> int:
    """A stable hash of the request id: deterministic sampling is a range on this."""
    return zlib.crc32(request_id.encode("utf-8"))


def _request_id(value: Any) -> str:
    if isinstance(value, bool) or value is None or value == "":
        raise BadRecord("request_id: missing")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise BadRecord(f"request_id: expected a string, got {type(value).__name__}")
    if len(value) > 200:
        raise BadRecord("request_id: longer than 200 characters")
    if not value.isascii():
        _json("request_id", value)
    if not value.isprintable():  # NUL cannot be stored in PostgreSQL text; no id needs controls
        raise BadRecord("request_id: contains a control character")
    return value


def _timestamp(value: Any, key: str = "timestamp") -> datetime:
    if type(value) is str and value[-1:] == "Z":
        try:  # the common form, `2026-01-05T10:00:00Z`, read without rewriting it
            moment = datetime.fromisoformat(value[:-1])
            if moment.tzinfo is None:
                return moment
        except ValueError:
            pass  # parse_timestamp says what is wrong
    try:
        return parse_timestamp(value)
    except (ValueError, TypeError, OverflowError) as error:
        raise BadRecord(f"{key}: does not parse: {error}") from None


def _number(name: str, value: Any, schema: ModelSchema) -> float | int | None:
    if value is None:
        if schema.nullable:
            return None
        raise BadRecord(f"features.{name}: null where a number is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"features.{name}: expected a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRecord(f"features.{name}: {value} is not allowed")
    return _storable(f"features.{name}", value)


def _json(field: str, value: Any) -> str:
    """The value as JSON text, or BadRecord naming the field when it cannot be stored
    (text with a lone surrogate is not UTF-8; integers beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as error:
        if isinstance(value, dict):
            for name, item in value.items():
                _json(f"{field}.{name}", item)
        raise BadRecord(f"{field}: cannot be stored: {error}") from None


def _storable(field: str, value: Any) -> Any:
    """The value itself, or BadRecord when it is an integer no column can hold or text
    beyond the per-value size limit."""
    if type(value) is int and not INT_MIN <= value <= INT_MAX:
        raise BadRecord(f"{field}: integer beyond the signed 64-bit range")
    if type(value) is str:
        _text_size(field, value)
    return value


def max_value_bytes() -> int:
    from monitor.settings import current_value

    return int(current_value("max_value_bytes"))


def _text_size(field: str, value: str, limit: int | None = None) -> None:
    limit = max_value_bytes() if limit is None else limit
    # A character is at most 4 UTF-8 bytes: most text is decided without encoding it.
    if len(value) * 4 > limit and len(value.encode("utf-8", "surrogatepass")) > limit:
        raise BadRecord(f"{field}: {len(value)} characters, beyond the {limit}-byte limit")


def _category(name: str, value: Any, schema: ModelSchema) -> Any:
    if value is None:
        if schema.nullable:
            return None
        raise BadRecord(f"features.{name}: null where a category is required")
    if isinstance(value, str | int | bool):
        return _storable(f"features.{name}", value)
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise BadRecord(f"features.{name}: expected a category (string or integer), got {value!r}")


def validate_features(raw: Any, schema: ModelSchema, limit: int | None = None) -> dict[str, Any]:
    """The features as given, or BadRecord naming the first one the store cannot hold.
    `limit` is the longest text value in bytes (default: the setting)."""
    if not isinstance(raw, dict):
        raise BadRecord("features: expected an object")
    if raw.keys() != schema.feature_set:
        missing = [name for name in schema.features if name not in raw]
        if missing:
            raise BadRecord(f"features: missing {', '.join(missing)}")
        unknown = [str(name) for name in raw if name not in schema.feature_set]
        raise BadRecord(f"features: unknown field {', '.join(unknown)}")
    # The common case is decided in C (this runs per record); anything else value by value.
    if not _plain_numbers(schema.numbers(raw)):
        for name in schema.numerical:
            _number(name, raw[name], schema)
    limit = max_value_bytes() if limit is None else limit
    for name in schema.categorical:
        value = raw[name]
        if type(value) is not str:
            _category(name, value, schema)
        elif len(value) * 4 > limit:
            _text_size(f"features.{name}", value, limit)
    return raw


_PLAIN_NUMBER_TYPES = frozenset({float, int})


def _plain_numbers(values: tuple | list) -> bool:
    """Whether every value is a finite float or an integer within 64 bits (not a bool, not
    null). False is not a verdict: it sends the values to the per-value checks."""
    kinds = set(map(type, values))
    if not kinds <= _PLAIN_NUMBER_TYPES:
        return False
    if int in kinds and not (INT_MIN <= min(values) and max(values) <= INT_MAX):
        return False
    total = sum(values)
    return total - total == 0  # NaN and infinity (or an overflowing sum) are not 0


def _prediction(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRecord(f"prediction: {value} is not allowed")
    if not isinstance(value, str | int | float | bool):
        raise BadRecord(f"prediction: expected a scalar, got {type(value).__name__}")
    return _json("prediction", _storable("prediction", value))


def _probability(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord(f"probability: expected a number, got {type(value).__name__}")
    _storable("probability", value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise BadRecord(f"probability: {value} is not between 0 and 1")
    return float(value)


def _probabilities(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise BadRecord("probabilities: expected an object of class to probability")
    for name, probability in value.items():
        try:
            _probability(probability)
        except BadRecord as error:
            raise BadRecord(f"probabilities.{name}: {str(error).split(': ', 1)[1]}") from None
    return orjson.dumps({str(name): float(p) for name, p in value.items()}).decode()


def _model_version(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord(f"model_version: expected an integer, got {value!r}")
    return _storable("model_version", value)


def validate_prediction(raw: Any, schema: ModelSchema, limit: int | None = None) -> PredictionRow:
    """The record as the store's row, or BadRecord naming the field. `limit` is the
    longest text value in bytes (default: the setting)."""
    if not isinstance(raw, dict):
        raise BadRecord("record: expected a JSON object")
    unknown = raw.keys() - PREDICTION_KEYS
    if unknown:
        raise BadRecord(f"record: unknown field {', '.join(sorted(map(str, unknown)))}")
    request_id = _request_id(raw.get("request_id"))
    features = validate_features(raw.get("features"), schema, limit)
    prediction = raw.get("prediction")
    probability = raw.get("probability")
    number = raw.get("model_version")
    probabilities = raw.get("probabilities")
    return PredictionRow(
        request_id,
        _timestamp(raw.get("timestamp")),
        _json("features", features),
        _plain_int(prediction) or _prediction(prediction),
        probability if _is_probability(probability) else _probability(probability),
        number if type(number) is int and INT_MIN <= number <= INT_MAX else _model_version(number),
        sample_key(request_id),
        None if probabilities is None else _probabilities(probabilities),
    )


def _plain_int(value: Any) -> str | None:
    """An integer within 64 bits as JSON text (what orjson writes), else None."""
    return str(value) if type(value) is int and INT_MIN <= value <= INT_MAX else None


def _is_probability(value: Any) -> bool:
    return type(value) is float and 0.0 <= value <= 1.0


def validate_label(raw: Any) -> LabelRow:
    if not isinstance(raw, dict):
        raise BadRecord("record: expected a JSON object")
    unknown = set(raw) - LABEL_KEYS
    if unknown:
        raise BadRecord(f"record: unknown field {', '.join(sorted(map(str, unknown)))}")
    value = raw.get("label")
    if value is None:
        raise BadRecord("label: missing")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadRecord(f"label: {value} is not allowed")
    if not isinstance(value, str | int | float | bool):
        raise BadRecord(f"label: expected a scalar, got {type(value).__name__}")
    _storable("label", value)
    stamp = raw.get("timestamp")
    return LabelRow(
        request_id=_request_id(raw.get("request_id")),
        value=_json("label", value),
        timestamp=None if stamp in (None, "") else _timestamp(stamp),
    )


def storable_reason(reason: str) -> str:
    """A quarantine reason any text column holds: it may quote what the client sent (a
    field name with a lone surrogate or a NUL, a long value), so escape and shorten."""
    text = reason.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text if len(text) <= 1000 else text[:1000] + "…"


def loads(line: bytes) -> Any:
    """One JSON document from a line of bytes, or BadRecord naming the problem."""
    try:
        return orjson.loads(line)  # the common case: orjson checks the UTF-8 itself
    except orjson.JSONDecodeError:
        pass  # read again below, to say what is wrong or to accept NaN
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRecord(f"not UTF-8: byte {error.start}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        try:
            # NaN and Infinity are not JSON, but loggers write them; say so by field name.
            return json.loads(text)
        except ValueError:
            raise BadRecord(f"broken JSON: {error}") from None
        except RecursionError:
            raise BadRecord(f"JSON nested deeper than {MAX_DEPTH} levels") from None


def load_document(raw: bytes | str) -> Any:
    """A request body: JSON with integers of any size (so a record holding one can be
    quarantined by field) and at most MAX_DEPTH levels of nesting, else BadRecord."""
    if isinstance(raw, bytes) and _LONG_DIGITS not in raw.translate(_DIGITS_AS_ZERO):
        try:  # several times faster than json.loads, and reads these bytes the same
            document = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # maybe NaN, a lone surrogate or a BOM, which json.loads reads
        else:
            if _text_nested_deeper_than(raw, MAX_DEPTH):
                raise BadRecord(f"JSON nested deeper than {MAX_DEPTH} levels")
            return document
    try:
        document = json.loads(raw)
    except RecursionError:
        raise BadRecord(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        raise BadRecord(f"broken JSON: {error}") from None
    if nested_deeper_than(document, MAX_DEPTH):
        raise BadRecord(f"JSON nested deeper than {MAX_DEPTH} levels")
    return document


def _text_nested_deeper_than(valid_json: bytes, limit: int) -> bool:
    """`nested_deeper_than` read from the text of a valid JSON document, by bytes
    operations instead of a walk over every value."""
    unescaped = valid_json.replace(b"\\\\", b"").replace(b'\\"', b"")  # quotes left delimit strings
    # Two quotes in a row enclose no bracket: dropping them leaves each bracket in or out
    # of a string as it was, and most strings then disappear without a split per string.
    marks = unescaped.translate(None, _NOT_MARKS).replace(b'""', b"")
    if b'"' in marks:  # a string holding a bracket
        marks = b"".join(marks.split(b'"')[::2])
    brackets = marks.translate(_AS_PARENTHESES)
    for _ in range(limit):
        if not brackets:
            return False
        brackets = brackets.replace(b"()", b"")  # each pass removes the innermost level
    return bool(brackets)


def nested_deeper_than(document: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels (walked level by level,
    without recursion)."""
    level = [document]
    for _ in range(limit):
        inner: list = []
        for value in level:
            if isinstance(value, dict):
                inner.extend(value.values())
            elif isinstance(value, list):
                inner.extend(value)
        if not inner:
            return False
        level = inner
    return any(isinstance(value, dict | list) for value in level)
