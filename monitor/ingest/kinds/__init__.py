"""Source kinds by name: each kind's translator module, the style of reader it needs and
the roles it can serve, imported lazily.

A "lines" kind defines `parse(line: bytes, ctx: ParseContext) -> list[dict | Half]` (and
`join(request, response, ctx) -> list[dict]` when it yields halves); the lines reader
feeds it lines from a saved byte offset. A "table" or "sql" kind defines
`canonical(row, role, config, features, fallback_id) -> dict` (and a "table" kind
`read_frame(data, kind) -> pandas.DataFrame` for whole files); the table reader feeds it
files' rows, the sql reader a query's rows. This package imports no reader or engine.
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
    "csv": ("monitor.ingest.kinds.table", "table", frozenset({"predictions", "labels"})),
    "parquet": ("monitor.ingest.kinds.table", "table", frozenset({"predictions", "labels"})),
    "sql": ("monitor.ingest.kinds.table", "sql", frozenset({"predictions", "labels"})),
}


def kind_style(kind: str) -> str:
    return KINDS[kind][1]


def load_kind(kind: str) -> ModuleType:
    return importlib.import_module(KINDS[kind][0])
