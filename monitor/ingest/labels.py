"""Label values in the model's target type: a Parquet string column "0"/"1" labels an
integer target, a CSV "12.5" a regression target; what cannot be cast is a bad record."""

from __future__ import annotations

import math
from typing import Any

from monitor.errors import BadRecord


def cast_label(record: Any, config: dict[str, Any]) -> Any:
    """The label record with its value cast to the target's type, when that type is known."""
    if not isinstance(record, dict) or record.get("label") is None:
        return record
    value = record["label"]
    if config.get("task") == "regression":
        cast = _number(value)
        if cast is None:
            raise BadRecord(f"label: {value!r} is not a number (the model's target is numeric)")
    else:
        classes = config.get("model_classes") or []
        kind = _kind(classes)
        if kind is None or type(value) is kind:
            return record
        cast = _as(kind, value)
        if cast is None:
            shown = ", ".join(map(repr, classes[:5]))
            raise BadRecord(
                f"label: {value!r} is not {_NAMES[kind]} like the model's classes ({shown})"
            )
    return {**record, "label": cast}


_NAMES = {int: "an integer", float: "a number", str: "text", bool: "true or false"}


def _kind(classes: list) -> type | None:
    kinds = {type(c) for c in classes}
    return kinds.pop() if len(kinds) == 1 and next(iter(kinds)) in _NAMES else None


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _as(kind: type, value: Any) -> Any:
    if kind is str:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return None if isinstance(value, bool) else str(value)
    if kind is bool:
        text = str(value).strip().lower()
        return {"true": True, "1": True, "false": False, "0": False}.get(text)
    number = _number(value)
    if number is None:
        return None
    if kind is int:
        return int(number) if float(number).is_integer() else None
    return float(number)
