"""The shape of the code: no import cycles between npukit's modules, function-level imports
included, and the floors of the house respected (the IR imports nothing above it).

The import graph is read from the source files with ``ast`` (nothing is imported): every
``import`` / ``from ... import`` statement, wherever it stands, is an edge from the module that
contains it to the npukit module it names (``from pkg import name`` names ``pkg.name`` when that
is a module, else ``pkg``). The implicit import of a parent package is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import npukit

ROOT = Path(npukit.__file__).resolve().parent
#: source folder -> dotted package name (converters/ and models/ install as npukit.converters/.models)
PACKAGES = {
    "npukit": ROOT,
    "npukit.converters": (ROOT / "converters") if (ROOT / "converters").is_dir() else ROOT.parent / "converters",
    "npukit.models": (ROOT / "models") if (ROOT / "models").is_dir() else ROOT.parent / "models",
}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts and parts[0] in ("converters", "models") and package == "npukit":
                continue  # an installed layout nests them under npukit/; they are listed by their own entry
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in mods else node.module
                           for alias in node.names]
            for target in targets:
                while target and target not in mods:  # `import npukit.ir.layers as x` -> the module itself
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read_from_every_module():
    graph = import_graph()
    assert "npukit.converters.nir" in graph and "npukit.snn.simulate" in graph
    assert "npukit.ir.graph" in graph["npukit.snn.plan"] or "npukit.ir" in graph["npukit.snn.plan"]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


#: the floor below the IR: errors, the safe-reading utilities and the interrupt flag (they import only each other)
FLOOR = ("npukit.errors", "npukit.budget", "npukit.files", "npukit.npy_archive", "npukit.interrupt")


def test_the_ir_imports_nothing_above_it():
    graph = import_graph()
    allowed = ("npukit.ir",) + FLOOR
    for name, targets in graph.items():
        if name == "npukit.ir" or name.startswith("npukit.ir."):
            above = [t for t in targets if not t.startswith(allowed)]
            assert not above, f"{name} imports {above}"
        if name in FLOOR:
            assert set(targets) <= set(FLOOR), f"{name} imports {set(targets) - set(FLOOR)}"
