"""The package layout holds: no import circle between packages, no private name imported
across packages, the core free of Qt and napari (issue 23).

Read from the source with ``ast`` (imports inside functions count too: a lazy import is still
a dependency). Nodes are the sub-packages of ``napari_plaque`` (``io``, ``ccta``, ...) and its
top-level modules (``types``, ``layers``, ``report``, ...).

``KNOWN_*`` list what is there today and is to be removed (issue 23); the tests fail on anything
new, and on a listed entry that has gone (so the lists only shrink).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "napari_plaque"

#: packages that must never import Qt or napari (the Qt-free core)
CORE = ("io", "ccta", "ivus", "cxr", "qc", "cohort", "fusion", "outcomes", "samples", "models",
        "types", "layers", "report", "history", "lazy_stack", "_progress", "_background")
GUI_MODULES = ("qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "napari", "magicgui", "superqt",
               "vispy")

#: package-level circles present today (each a sorted tuple of the packages in one cycle)
KNOWN_CYCLES: set[tuple[str, ...]] = set()
#: (importing package, imported package.module:name) private imports present today
KNOWN_PRIVATE: set[tuple[str, str]] = set()
#: core modules importing Qt / napari today (module path relative to the package)
KNOWN_GUI_IN_CORE: set[str] = set()


def _node(module: str) -> str:
    """The package (or top-level module) a dotted module name inside napari_plaque is in."""
    return module.split(".")[0]


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield path, parts, is_pkg


def _imports(path: Path, parts: list[str], is_pkg: bool):
    """(target module inside napari_plaque or None, names, lineno, top-level external name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    pkg = parts if is_pkg else parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("napari_plaque."):
                    yield a.name.split(".", 1)[1], [], node.lineno, None
                else:
                    yield None, [], node.lineno, a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else list(pkg)
                mod = ".".join([*base, *(node.module.split(".") if node.module else [])])
                yield mod, names, node.lineno, None
            elif node.module and node.module.startswith("napari_plaque"):
                mod = node.module.split(".", 1)[1] if "." in node.module else ""
                yield mod, names, node.lineno, None
            elif node.module:
                yield None, names, node.lineno, node.module.split(".")[0]


def _graph():
    edges: dict[str, set[str]] = {}
    private: set[tuple[str, str]] = set()
    gui: set[str] = set()
    for path, parts, is_pkg in _modules():
        if not parts:
            continue
        src = parts[0]
        rel = "/".join(path.relative_to(SRC).parts)
        for mod, names, _line, external in _imports(path, parts, is_pkg):
            if external is not None:
                if src in CORE and external in GUI_MODULES:
                    gui.add(rel)
                continue
            if not mod:
                continue
            dst = _node(mod)
            if dst == src:
                continue
            edges.setdefault(src, set()).add(dst)
            mod_parts = mod.split(".")
            private_module = any(p.startswith("_") and not p.startswith("__") for p in mod_parts[1:])
            for n in names or [""]:
                if private_module or (n.startswith("_") and not n.startswith("__")):
                    private.add((src, f"{mod}:{n}"))
    return edges, private, gui


def _cycles(edges: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: set[tuple[str, ...]] = set()
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(tuple(sorted(comp)))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


@pytest.fixture(scope="module")
def graph():
    return _graph()


def test_no_new_import_circle_between_packages(graph):
    edges, _, _ = graph
    cycles = _cycles(edges)
    new = cycles - KNOWN_CYCLES
    assert not new, f"import circles between packages: {sorted(new)}"
    gone = KNOWN_CYCLES - cycles
    assert not gone, f"remove from KNOWN_CYCLES (fixed): {sorted(gone)}"


def test_no_new_private_import_across_packages(graph):
    _, private, _ = graph
    new = private - KNOWN_PRIVATE
    assert not new, "private names imported across packages: " + ", ".join(
        f"{s} imports {t}" for s, t in sorted(new)
    )
    gone = KNOWN_PRIVATE - private
    assert not gone, f"remove from KNOWN_PRIVATE (fixed): {sorted(gone)}"


def test_core_never_imports_qt_or_napari(graph):
    _, _, gui = graph
    new = gui - KNOWN_GUI_IN_CORE
    assert not new, f"Qt / napari imported in the Qt-free core: {sorted(new)}"
    gone = KNOWN_GUI_IN_CORE - gui
    assert not gone, f"remove from KNOWN_GUI_IN_CORE (fixed): {sorted(gone)}"


def test_the_checker_sees_a_circle_and_a_private_import():
    """The checker itself: a circle and a private import in a made-up graph are found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}
    assert _cycles({"a": {"b"}, "b": set()}) == set()
