"""Source kinds by name, imported lazily.

A "lines" kind module defines `parse(line: bytes, ctx: ParseContext) -> list[dict | Half]`
(and `join(request, response, ctx) -> list[dict]` when it yields halves); the engine reads
files line by line from a saved byte offset. A "table" kind defines
`read(fileobj, ctx) -> pandas.DataFrame` for whole batch files. "sql" reads a query.
"""

from __future__ import annotations

import importlib
from types import ModuleType

KINDS: dict[str, tuple[str, str, frozenset[str]]] = {
    # name: (module, style, roles it can serve)
    "jsonl": ("monitor.ingest.kinds.jsonl", "lines", frozenset({"predictions", "labels"})),
    "sagemaker-capture": (
        "monitor.ingest.kinds.sagemaker_capture",
        "lines",
        frozenset({"predictions"}),
    ),
    "azureml-collector": (
        "monitor.ingest.kinds.azureml_collector",
        "lines",
        frozenset({"predictions"}),
    ),
    "kserve": ("monitor.ingest.kinds.kserve", "lines", frozenset({"predictions"})),
    "sagemaker-ground-truth": (
        "monitor.ingest.kinds.sagemaker_ground_truth",
        "lines",
        frozenset({"labels"}),
    ),
    "csv": ("monitor.ingest.readers.table", "table", frozenset({"predictions", "labels"})),
    "parquet": ("monitor.ingest.readers.table", "table", frozenset({"predictions", "labels"})),
    "sql": ("monitor.ingest.readers.sql", "sql", frozenset({"predictions", "labels"})),
}


def kind_style(kind: str) -> str:
    return KINDS[kind][1]


def load_kind(kind: str) -> ModuleType:
    return importlib.import_module(KINDS[kind][0])
