"""Imports follow DESIGN.md's one-way flow; a walk over every module's syntax tree keeps it so.

Every import counts for the layer rules: at module level, inside functions and under TYPE_CHECKING
(a local import is still an arrow). The cycle check reads only the imports that run when a module is
imported (module level, not under TYPE_CHECKING), which are the ones that can deadlock an import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("bot", "handlers", "scheduler")
SCHEDULER_INTERNALS = ("scheduler.dispatcher", "scheduler.store", "scheduler.ratelimit", "scheduler.service",
                       "scheduler.leader")

# Arrows that break a rule today, each being removed by the lead (issue 9, handlers rewritten over the
# neutral ports). Delete an entry when its import is gone: the test fails while an entry is stale.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Arrow:
    source: str
    target: str
    line: int
    runs_at_import: bool  # module level and not under TYPE_CHECKING

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line})"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "versions" not in path.relative_to(ROOT).parts:  # generated migration scripts
                found[module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, at_import: bool = True):
    """(node, runs at import) for every import statement under `tree`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, at_import
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _imports(node, False)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), False)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), at_import)
        else:
            yield from _imports(node, at_import)


def arrows(modules: dict[str, Path]) -> list[Arrow]:
    """Every import of a project module by a project module, resolved to the module it loads."""
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, at_import in _imports(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from pkg import sub` loads pkg.sub when that is a module; otherwise pkg itself.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:  # `import a.b.c` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.append(Arrow(name, target, node.lineno, at_import))
    return found


def _under(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def broken_rules(all_arrows: list[Arrow]) -> list[tuple[Arrow, str]]:
    broken = []
    for a in all_arrows:
        if _under(a.source, "handlers") and _under(a.target, "bot.channels", *SCHEDULER_INTERNALS):
            broken.append((a, "handlers import neither channels nor scheduler internals"))
        if _under(a.source, "bot.channels") and _under(
            a.target, "bot.conversation", "bot.outbound", "handlers", "scheduler"
        ):
            broken.append((a, "channels import only the neutral ports and types"))
        if _under(a.source, "scheduler") and _under(a.target, "handlers"):
            broken.append((a, "the scheduler imports no handler"))
        if (_under(a.source, "bot") and _under(a.target, "handlers")
                and not _under(a.source, "bot.app", "bot.cli", "bot.console")):
            broken.append((a, "only the composition root and the CLI and console faces use the handlers"))
        if a.source in ("bot.ports", "bot.types", "bot.text") and a.target != "bot.types":
            broken.append((a, "the neutral modules import nothing of the project but bot.types"))
    return broken


def cycles(all_arrows: list[Arrow]) -> list[list[str]]:
    """The import cycles among module-level imports (each reported once, from its smallest name)."""
    graph: dict[str, set[str]] = {}
    for a in all_arrows:
        if a.runs_at_import:
            graph.setdefault(a.source, set()).add(a.target)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):]
                start = cycle.index(min(cycle))
                found.append(cycle[start:] + cycle[:start] + [min(cycle)])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_walk_sees_every_kind_of_import():
    modules = project_modules()
    found = arrows(modules)
    assert len(modules) > 60 and len(found) > 200
    by_pair = {(a.source, a.target): a for a in found}
    # module level; relative-free `from pkg import module`; under TYPE_CHECKING; inside a function
    assert by_pair[("bot.app", "bot.ports")].runs_at_import
    assert ("scheduler.service", "scheduler.dispatcher") in by_pair
    assert not by_pair[("scheduler.service", "bot.clock")].runs_at_import  # under TYPE_CHECKING
    assert not by_pair[("bot.cli.chat", "bot.clock")].runs_at_import  # inside a function


def test_imports_follow_the_one_way_flow():
    broken = broken_rules(arrows(project_modules()))
    unexpected = [f"{a}: {rule}" for a, rule in broken if (a.source, a.target) not in KNOWN_VIOLATIONS]
    assert unexpected == []
    stale = KNOWN_VIOLATIONS - {(a.source, a.target) for a, _ in broken}
    assert not stale, f"fixed, delete from KNOWN_VIOLATIONS: {sorted(stale)}"


def test_no_import_cycle_at_module_level():
    assert cycles(arrows(project_modules())) == []


def test_the_checks_can_fail():
    """The rule and cycle checks catch what they are for (on made-up arrows)."""
    made_up = [Arrow("handlers.faq", "bot.channels.telegram", 1, True),
               Arrow("bot.types", "bot.config", 1, False),
               Arrow("scheduler.store", "handlers.common", 1, False),
               Arrow("bot.channels.zalo_oa", "bot.outbound", 1, False),
               Arrow("bot.content.files.texts", "handlers.common", 1, True),
               Arrow("a.x", "a.y", 1, True), Arrow("a.y", "a.z", 1, True), Arrow("a.z", "a.x", 1, True)]
    assert len(broken_rules(made_up)) == 5
    assert cycles(made_up) == [["a.x", "a.y", "a.z", "a.x"]]
