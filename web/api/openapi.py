"""A small route table that registers API views and writes the OpenAPI document from the
same entries, so the document cannot drift from the routes."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint

ERROR = {"$ref": "#/components/schemas/Error"}
OBJECT = {"type": "object"}


@dataclass(frozen=True)
class Query:
    name: str
    type: str = "string"  # string | integer | date-time
    description: str = ""
    enum: tuple[str, ...] = ()


@dataclass
class Operation:
    method: str
    rule: str
    summary: str
    query: tuple[Query, ...] = ()
    body: dict | None = None  # a JSON schema, or {"binary": True}
    responses: dict[int, str] = field(default_factory=dict)
    admin: bool = False
    writes: bool = False  # writes monitored data: the client or admin role
    tag: str = "read"


class RouteTable:
    def __init__(self, blueprint: Blueprint) -> None:
        self.blueprint = blueprint
        self.operations: list[Operation] = []

    def route(self, method: str, rule: str, summary: str, **options: Any) -> Callable:
        def decorator(view: Callable) -> Callable:
            operation = Operation(method, rule, summary, **options)
            self.operations.append(operation)
            self.blueprint.add_url_rule(rule, view.__name__, view, methods=[method])
            return view

        return decorator

    def document(self, prefix: str, title: str, version: str) -> dict:
        paths: dict[str, dict] = {}
        for op in self.operations:
            path, parameters = _path(prefix + op.rule)
            parameters += [_query(q) for q in op.query]
            entry: dict[str, Any] = {
                "summary": op.summary + _role(op),
                "operationId": op.method.lower() + "_" + re.sub(r"\W+", "_", op.rule).strip("_"),
                "tags": [op.tag],
                "parameters": parameters,
                "responses": _responses(op),
            }
            if op.body is not None:
                entry["requestBody"] = _body(op.body)
            paths.setdefault(path, {})[op.method.lower()] = entry
        return {
            "openapi": "3.0.3",
            "info": {"title": title, "version": version},
            "servers": [{"url": "/"}],
            "security": [{"bearer": []}],
            "paths": paths,
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                "schemas": {
                    "Error": {
                        "type": "object",
                        "required": ["error"],
                        "properties": {"error": {"type": "string"}},
                    }
                },
            },
        }


def _role(op: Operation) -> str:
    if op.admin:
        return " (admin)"
    return " (client or admin)" if op.writes else ""


def _path(rule: str) -> tuple[str, list[dict]]:
    parameters = []

    def replace(match: re.Match) -> str:
        converter, name = match.group(1), match.group(2)
        schema = {"type": "integer"} if converter == "int" else {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return re.sub(r"<(?:(\w+):)?(\w+)>", replace, rule), parameters


def _query(query: Query) -> dict:
    if query.type == "integer":
        schema: dict = {"type": "integer", "minimum": 0}
    elif query.type == "date-time":
        schema = {"type": "string", "format": "date-time"}
    else:
        schema = {"type": "string"}
    if query.enum:
        schema["enum"] = list(query.enum)
    return {"name": query.name, "in": "query", "required": False, "schema": schema} | (
        {"description": query.description} if query.description else {}
    )


def _body(body: dict) -> dict:
    if body.get("binary"):
        return {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    return {"required": True, "content": {"application/json": {"schema": body}}}


def _responses(op: Operation) -> dict:
    answers = {str(code): text for code, text in (op.responses or {200: "OK"}).items()}
    result: dict[str, dict] = {}
    for code, text in answers.items():
        schema = ERROR if code.startswith(("4", "5")) else OBJECT
        result[code] = {"description": text, "content": {"application/json": {"schema": schema}}}
    common = {"400": "Bad request", "401": "Not authenticated", "404": "Not found"}
    if op.admin:
        common["403"] = "Needs the admin role"
    elif op.writes:
        common["403"] = "Needs the client or admin role"
    if op.method != "GET":
        common |= {"409": "Conflict", "413": "Too large", "503": "Not available in this build"}
    for code, text in common.items():
        result.setdefault(
            code, {"description": text, "content": {"application/json": {"schema": ERROR}}}
        )
    return result
