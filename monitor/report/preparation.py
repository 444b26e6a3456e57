"""A reference set's drift-test columns (sorted numbers, value counts, distinct counts),
prepared once per set, cap and column list and stored in `reference_preparations`, so that
a process loads them instead of decoding the set's Parquet and sorting it again.

Stored as a NumPy .npz read without pickles: per numerical column its sorted values (and its
counts when few enough that their order names the bins), per categorical column its counts
as JSON. A loaded column gives the very numbers a fresh one gives (tests/monitor/
test_preparation.py holds every statistic to equality); a column that cannot be stored so
(categories of other types) leaves the set unstored and prepared in each process as before.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.report.drift import clean, prepare
from monitor.report.stats import BINNED_UNIQUE, ReferenceColumn
from monitor.store.models import ReferencePreparation, ReferenceSet

FORMAT = 1
INDEX_DTYPES = {"object", "str", "string", "int64", "float64", "bool"}
PLAIN = (str, int, float, bool)


def preparation_key(sha256: str, wanted: dict[str, bool]) -> str:
    """What a preparation depends on: the set's content, its columns and kinds, the format."""
    described = orjson.dumps([FORMAT, sha256, sorted(wanted.items())])
    return hashlib.sha256(described).hexdigest()


def prepared_columns(
    session: Session,
    stored: ReferenceSet,
    cap: int,
    wanted: dict[str, bool],
    frame: Callable[[], pd.DataFrame],
) -> dict[str, ReferenceColumn]:
    """The capped reference's `wanted` columns (name -> categorical), prepared: loaded when
    stored, else prepared from `frame()` and stored for the next process."""
    key = preparation_key(stored.sha256, wanted)
    data = session.scalar(
        select(ReferencePreparation.data).where(
            ReferencePreparation.reference_set_id == stored.id,
            ReferencePreparation.cap == cap,
            ReferencePreparation.key == key,
        )
    )
    if data is not None:
        return loads(data)
    reference = frame()
    columns = {
        name: prepare(clean(reference[name]), categorical)
        for name, categorical in wanted.items()
        if name in reference.columns
    }
    data = dumps(columns)
    if data is not None:
        _store(session, stored.id, cap, key, data)
    return columns


def _store(session: Session, reference_set_id: int, cap: int, key: str, data: bytes) -> None:
    try:
        with session.begin_nested():
            session.execute(  # an earlier content or column list of the same set and cap
                delete(ReferencePreparation).where(
                    ReferencePreparation.reference_set_id == reference_set_id,
                    ReferencePreparation.cap == cap,
                    ReferencePreparation.key != key,
                )
            )
            session.add(
                ReferencePreparation(reference_set_id=reference_set_id, cap=cap, key=key, data=data)
            )
    except IntegrityError:
        pass  # another process stored the same preparation first


def dumps(columns: dict[str, ReferenceColumn]) -> bytes | None:
    """The columns as .npz bytes, or None when one cannot be stored without pickling."""
    header: dict = {"format": FORMAT, "columns": []}
    arrays: dict[str, np.ndarray] = {}
    for number, (name, column) in enumerate(columns.items()):
        entry = {"name": name, "unique": column.unique, "values_dtype": str(column.values.dtype)}
        if column.sorted is None:
            counts = _plain_counts(column.counts)
            if counts is None or entry["values_dtype"] not in INDEX_DTYPES:
                return None
            entry |= counts
        else:
            if column.values.dtype.kind not in "iuf":
                return None
            entry["norm"] = column.norm
            arrays[f"{number}.sorted"] = column.sorted
            if column.values.dtype != np.float64:
                arrays[f"{number}.values"] = np.sort(column.values.to_numpy())
            if column.unique <= BINNED_UNIQUE:
                arrays[f"{number}.keys"] = column.counts.index.to_numpy()
                arrays[f"{number}.counts"] = column.counts.to_numpy()
        header["columns"].append(entry)
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(orjson.dumps(header), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def _plain_counts(counts: pd.Series) -> dict | None:
    keys = counts.index.tolist()
    if str(counts.index.dtype) not in INDEX_DTYPES or not all(type(key) in PLAIN for key in keys):
        return None
    return {"keys": keys, "counts": counts.tolist(), "index_dtype": str(counts.index.dtype)}


def loads(data: bytes) -> dict[str, ReferenceColumn]:
    arrays = np.load(io.BytesIO(data), allow_pickle=False)
    header = orjson.loads(arrays["header"].tobytes())
    columns = {}
    for number, entry in enumerate(header["columns"]):
        if "keys" in entry:
            counts = pd.Series(
                entry["counts"],
                index=pd.Index(entry["keys"], dtype=entry["index_dtype"]),
                dtype="int64",
            )
            values = pd.Series(
                np.repeat(counts.index.to_numpy(), counts.to_numpy()), dtype=entry["values_dtype"]
            )
            columns[entry["name"]] = ReferenceColumn(values, None, None, entry["unique"], counts)
            continue
        ordered = arrays[f"{number}.sorted"]
        values = arrays[f"{number}.values"] if f"{number}.values" in arrays else ordered
        counts = None
        if f"{number}.keys" in arrays:
            counts = pd.Series(arrays[f"{number}.counts"], index=arrays[f"{number}.keys"])
        columns[entry["name"]] = ReferenceColumn(
            pd.Series(values), ordered, entry["norm"], entry["unique"], counts
        )
    return columns
