"""The import layering CONTRIBUTING.md writes down, read from the source by an AST walk.

- `monitor/` never imports `retrain/` or `web/` at module level; only its composition roots
  (`monitor/cli.py`, `monitor/service/`, `monitor/demo/`) reach them, inside functions.
- `retrain/` never imports `web/`.
- Ingestion flows one way: the engine → readers → kinds; kinds never import readers or the
  engine, readers never import the engine.
- The API's modules (`web/api/`) do not import each other; they share `web/api/routes.py`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOTS = ("monitor.cli", "monitor.service", "monitor.demo")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the file
    imported: str  # dotted module name it imports
    line: int
    in_function: bool

    def __str__(self) -> str:
        where = "inside a function" if self.in_function else "at module level"
        return f"{self.importer}:{self.line} imports {self.imported} {where}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[Import]:
    """Every import in the file, with whether it runs inside a function (lazily)."""
    return imports_in(path.read_text(), _module_name(path), path.name == "__init__.py")


def imports_in(source: str, importer: str, is_package: bool = False) -> list[Import]:
    found: list[Import] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                continue  # for type checkers only: never imported at run time
            if isinstance(child, ast.Import):
                found.extend(
                    Import(importer, alias.name, child.lineno, in_function) for alias in child.names
                )
            elif isinstance(child, ast.ImportFrom):
                module = _resolve(importer, is_package, child)
                # `module.name`: within the module, and the module itself when it is one.
                found.extend(
                    Import(importer, f"{module}.{alias.name}", child.lineno, in_function)
                    for alias in child.names
                )
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            walk(child, inside)

    walk(ast.parse(source), False)
    return found


def _all_imports(package: str) -> list[Import]:
    return [found for path in sorted((ROOT / package).rglob("*.py")) for found in imports_of(path)]


def _within(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def _monitor_breaks(found: list[Import]) -> list[str]:
    return [
        str(item)
        for item in found
        if _within(item.imported, "retrain", "web")
        and (not item.in_function or not _within(item.importer, *COMPOSITION_ROOTS))
    ]


def test_monitor_never_imports_retrain_or_web_at_module_level():
    assert _monitor_breaks(_all_imports("monitor")) == []


def test_retrain_never_imports_web():
    wrong = [str(found) for found in _all_imports("retrain") if _within(found.imported, "web")]
    assert wrong == []


@pytest.mark.parametrize(
    ("layer", "below_it_never_imports"),
    [
        ("monitor.ingest.kinds", ("monitor.ingest.readers", "monitor.ingest.engine")),
        ("monitor.ingest.readers", ("monitor.ingest.engine",)),
    ],
)
def test_ingestion_imports_flow_one_way(layer, below_it_never_imports):
    wrong = [
        str(found)
        for found in _all_imports("monitor/ingest")
        if _within(found.importer, layer) and _within(found.imported, *below_it_never_imports)
    ]
    assert wrong == []


def test_the_api_modules_do_not_import_each_other():
    modules = {_module_name(path) for path in (ROOT / "web/api").glob("*.py")}
    shared = {"web.api", "web.api.routes", "web.api.openapi"}
    wrong = [
        str(found)
        for found in _all_imports("web/api")
        if found.importer in modules - {"web.api"}
        and found.imported in modules - shared
        and found.imported != found.importer
    ]
    assert wrong == []


def test_the_walk_tells_a_lazy_import_from_a_module_level_one():
    source = (
        "import web\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from retrain.jobs import Job\n"
        "def later():\n"
        "    from retrain import canary\n"
        "    from .ingest import write\n"
    )
    found = imports_in(source, "monitor.status")
    assert [(item.imported, item.in_function) for item in found if "web" in item.imported] == [
        ("web", False)
    ]
    lazy = [item.imported for item in found if item.in_function]
    assert lazy == ["retrain.canary", "monitor.ingest.write"]
    # Outside the composition roots even a lazy import breaks the rule; inside, only eager.
    assert len(_monitor_breaks(found)) == 2
    assert len(_monitor_breaks(imports_in(source, "monitor.service.tasks"))) == 1
