"""Label values in the model's target type: a Parquet string column "0"/"1" labels an
integer target, a CSV "12.5" a regression target; what cannot be cast is a bad record.
Labels of a capture's rows, given by one record, are as many as that capture's rows."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.errors import BadRecord
from monitor.store.models import Prediction


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


def capture_rows(session: Session, deployment_id: int, requests: dict[str, int]) -> dict[str, str]:
    """For each request labelled row by row ({request id: labels}), how many rows its stored
    capture has when that is not the number of labels, in words ("1 row", "more than 3
    rows"). A capture not stored yet is not named: its labels wait for it like any other."""
    wanted = {
        row_id: request_id
        for request_id, labels in requests.items()
        for row_id in (request_id, *(f"{request_id}#{row}" for row in range(labels + 1)))
    }
    found: dict[str, set[str]] = {}
    ids = list(wanted)
    for start in range(0, len(ids), 500):
        stored = session.scalars(
            select(Prediction.request_id).where(
                Prediction.deployment_id == deployment_id,
                Prediction.request_id.in_(ids[start : start + 500]),
            )
        )
        for row_id in stored:
            found.setdefault(wanted[row_id], set()).add(row_id)
    wrong = {}
    for request_id, rows in found.items():
        labels = requests[request_id]
        if request_id in rows:
            wrong[request_id] = "1 row"
        elif f"{request_id}#{labels}" in rows:
            wrong[request_id] = f"more than {labels} rows"
        elif len(rows) != labels:
            wrong[request_id] = f"{len(rows)} rows"
    return wrong
