"""Driftwise's canonical JSONL: one prediction or label record per line."""

from __future__ import annotations

from monitor.ingest.records import Half, ParseContext, loads


def parse(line: bytes, ctx: ParseContext) -> list[dict | Half]:
    return [loads(line)]
