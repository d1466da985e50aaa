"""The package's import graph: no cycle anywhere in `scaler/`, counting imports inside functions too.

An import placed inside a function to dodge a cycle would hide the cycle from Python at import time but not from
this test, which reads every `import` statement of every module (module level and nested alike).
"""
from __future__ import annotations

import ast
from pathlib import Path

import scaler

PACKAGE_ROOT = Path(scaler.__file__).parent
#: Modules allowed to import scaler modules inside functions: the CLI defers torch (a heavy dependency) until a
#: command actually needs it, so `scaler --help` starts fast.
LAZY_IMPORTERS = ("scaler.cli", "scaler.commands")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an ImportFrom names (relative imports resolved against `module`)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported scaler module, line, nested inside a function) for every import statement of `module`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nested_lines = {n.lineno for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, path.name == "__init__.py")
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one, else a name of `pkg`.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            if target in known and target != module:
                found.append((target, node.lineno, node.lineno in nested_lines))
    return found


def _graph() -> dict[str, dict[str, int]]:
    modules = _modules()
    known = set(modules)
    return {m: {t: line for t, line, _ in _imports(m, p, known)} for m, p in modules.items()}


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each one an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return components


def _is_own_package(src: str, dst: str) -> bool:
    """A submodule naming its own (ancestor) package, which Python has already started importing, is not an edge
    of a cycle between modules; the package's __init__ re-exporting its submodules stays in the graph."""
    return src.startswith(dst + ".")


def test_the_graph_sees_the_package():
    graph = _graph()
    assert len(graph) > 50
    assert "scaler.spec" in graph["scaler.solver"]


def test_no_import_cycles_anywhere_in_scaler():
    graph = _graph()
    pruned = {m: {t: line for t, line in edges.items() if not _is_own_package(m, t)} for m, edges in graph.items()}
    cycles = _cycles(pruned)
    shown = ["  " + " <-> ".join(c) for c in cycles]
    assert not cycles, "import cycles in scaler/:\n" + "\n".join(shown)


def test_cycle_detection_finds_a_planted_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


def test_no_scaler_import_hidden_inside_a_function():
    modules = _modules()
    known = set(modules)
    hidden = [f"{p.relative_to(PACKAGE_ROOT.parent)}:{line} imports {target}"
              for m, p in modules.items() if not m.startswith(LAZY_IMPORTERS)
              for target, line, nested in _imports(m, p, known) if nested]
    assert not hidden, "imports inside functions (move them to the module's top):\n" + "\n".join(hidden)
