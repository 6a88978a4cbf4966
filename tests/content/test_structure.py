"""bot/content imports in one direction: no module imports the orchestration (bot.content.loader) but the
package's __init__, every import is at module level (no hidden function-local imports), no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "bot" / "content"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> tuple[set[str], list[int]]:
    """The bot.content modules `path` imports, and the lines of imports inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    local: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            local += [n.lineno for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot.content"):
            found.add(node.module)
    return found, local


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_function_local_imports():
    assert {m: local for m, (_, local) in GRAPH.items() if local and m != "bot.content.holder"} == {}


def test_only_the_package_imports_the_loader():
    assert sorted(m for m, (deps, _) in GRAPH.items() if "bot.content.loader" in deps) == [
        "bot.content", "bot.content.holder"]


def test_no_import_cycle_inside_the_package():
    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        for dep in GRAPH.get(module, (set(), []))[0]:
            if dep != "bot.content":  # the package itself re-exports; its modules never import it
                visit(dep, (*path, module))

    for module in GRAPH:
        if module != "bot.content":
            visit(module, ())
    assert all("bot.content" not in deps for m, (deps, _) in GRAPH.items() if m != "bot.content")

