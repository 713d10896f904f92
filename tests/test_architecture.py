"""The layout's rules, checked on the source: no import cycles among our modules, stages
know nothing of Beam, and our own modules are imported plainly (docs/architecture.md)."""
from __future__ import annotations

import ast
import pathlib

from conftest import REPO

PACKAGES = ("pipelines", "tokenizer_training", "model")


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, ast.Module]:
    return {
        _module_name(path): ast.parse(path.read_text(encoding="utf-8"), str(path))
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
    }


def _imported(tree: ast.Module, known: set[str]) -> set[str]:
    """Our modules that ``tree`` imports anywhere (top level or inside functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import sub` imports the submodule when there is one.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    sources = _sources()
    known = set(sources)
    return {name: _imported(tree, known) - {name} for name, tree in sources.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a list of modules (empty when there is none)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        color[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if color[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if color[nxt] == WHITE and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        color[node] = BLACK
        return []

    for node in sorted(graph):
        if color[node] == WHITE and (cycle := visit(node)):
            return cycle
    return []


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_our_modules():
    graph = import_graph()
    assert len(graph) > 40  # the walk really saw the packages
    assert find_cycle(graph) == []


def test_stages_know_nothing_of_beam_and_jobs_stay_out_of_stages():
    for name, tree in _sources().items():
        if not name.startswith("pipelines.stages"):
            continue
        for node in ast.walk(tree):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for module in modules:
                assert not module.startswith("apache_beam"), f"{name} imports {module}"
                assert not module.startswith(("pipelines.beam", "pipelines.dedup", "pipelines.clean")), \
                    f"{name} imports {module}"


def test_our_modules_are_imported_plainly():
    """No importlib for our own modules, and no ImportError guard around them: a module
    that ships in the same package is always there."""
    for name, tree in _sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "import_module":
                raise AssertionError(f"{name} loads a module through importlib")
            if not isinstance(node, ast.Try):
                continue
            guards_import_error = any(
                isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                for h in node.handlers)
            ours = [n for stmt in node.body for n in ast.walk(stmt)
                    if isinstance(n, ast.ImportFrom) and (n.module or "").startswith(PACKAGES)]
            assert not (guards_import_error and ours), f"{name} guards an import of its own package"
