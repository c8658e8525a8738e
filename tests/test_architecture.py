"""The shape of the code that keeps the engine reviewable (issue 15's design): no import cycles inside
``integrations/`` (a deferred import inside a function counts too: it only hides the cycle), and no module imports
another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("integrations", "mappings", "activities", "roxcrm", "sfsim", "api")


def modules(package: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every ``from module import name`` and (module, "") for ``import module``, at any depth
    of the file except under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_inside_integrations() -> None:
    mods = modules("integrations")
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        for module, imported in imports(path):
            graph[name] |= {m for m in (module, f"{module}.{imported}") if m in mods and m != name}
    assert cycles(graph) == []


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = []
    for package in FIRST_PARTY:
        for name, path in modules(package).items():
            for module, imported in imports(path):
                if module.split(".")[0] in FIRST_PARTY and imported.startswith("_") and module != name:
                    offenders.append(f"{name}: from {module} import {imported}")
    assert offenders == []


def test_the_checks_see_a_cycle_and_a_deferred_private_import(tmp_path: Path) -> None:
    """The checks above can fail: a cycle of three is found, and so is an import hidden inside a function."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from integrations.models import SyncRun\n"
        "def later():\n    from integrations.outbox import _backoff\n"
    )
    assert imports(sample) == [("typing", "TYPE_CHECKING"), ("integrations.outbox", "_backoff")]
