"""Every dock the plugin registers is a :class:`napari_plaque.widgets._dock.DockBase` (one
layer picker by kind, one worker lifecycle with Cancel, one "dock was deleted" guard: issue 23).

Read from ``napari.yaml`` and the widget modules' source with ``ast`` (no Qt needed): a dock
class must list ``DockBase`` among its bases, directly or through a class of the widgets
package that does. ``KNOWN_NOT_ON_BASE`` lists the docks not moved yet; the test fails on a new
dock off the base, and on a listed dock that has moved (so the list only shrinks).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "napari_plaque"

#: docks registered in napari.yaml that do not derive from DockBase today ("module:Class");
#: empty since the arc annotator moved: every dock is on the base
KNOWN_NOT_ON_BASE: set[str] = set()


def _registered_docks() -> list[str]:
    """The ``python_name`` of every widget command in the manifest."""
    text = (PKG / "napari.yaml").read_text()
    return re.findall(r"python_name:\s*(napari_plaque\.widgets\.[\w.]+:\w+)", text)


def _classes() -> dict[str, list[str]]:
    """Every class of the widgets package: name -> the names of its bases."""
    out: dict[str, list[str]] = {}
    for path in sorted((PKG / "widgets").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                         for b in node.bases]  # fmt: skip
                out.setdefault(node.name, bases)
    return out


def _on_base(name: str, classes: dict[str, list[str]], seen: frozenset = frozenset()) -> bool:
    if name == "DockBase":
        return True
    if name in seen or name not in classes:
        return False
    return any(_on_base(b, classes, seen | {name}) for b in classes[name])


def _module_class(python_name: str) -> str:
    module, cls = python_name.split(":")
    path = PKG.parent / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text())
    for node in tree.body:  # defined there, or imported into the module (ccta re-exports)
        if isinstance(node, ast.ClassDef) and node.name == cls:
            return cls
        if isinstance(node, ast.ImportFrom) and any(a.name == cls for a in node.names):
            return cls
    raise AssertionError(f"{python_name}: no class {cls} in {path.name}")


def test_every_registered_dock_derives_from_the_dock_base():
    classes = _classes()
    docks = _registered_docks()
    assert len(docks) >= 13, docks
    off = {d for d in docks if not _on_base(_module_class(d), classes)}
    new = off - KNOWN_NOT_ON_BASE
    assert not new, f"docks not on widgets._dock.DockBase: {sorted(new)}"
    moved = KNOWN_NOT_ON_BASE - off
    assert not moved, f"on DockBase now: remove {sorted(moved)} from KNOWN_NOT_ON_BASE"


def test_the_guard_pattern():
    old = ("        except RuntimeError:  # the dock was deleted\n"
           "            ev = self.viewer.layers.events\n"
           "            ev.inserted.disconnect(self._refresh_layers)\n")  # fmt: skip
    relay = "        except RuntimeError:  # deleted; the file is written all the same\n  pass\n"
    annotator = ("        except RuntimeError:  # the dock was deleted while the viewer lives on\n"
                 "            self._detach()\n")  # fmt: skip
    assert _OWN_GUARD.search(old) and _OWN_GUARD.search(annotator)
    assert not _OWN_GUARD.search(relay)


def test_the_check_sees_a_dock_off_the_base():
    classes = {"A": ["QWidget"], "B": ["Mixin", "DockBase"], "C": ["B"], "D": ["D"]}
    assert not _on_base("A", classes) and _on_base("B", classes) and _on_base("C", classes)
    assert not _on_base("D", classes)  # a cycle ends


#: a dock's own "deleted" guard: catch the RuntimeError of a dead Qt object, then disconnect
#: (or call a detach of its own)
_OWN_GUARD = re.compile(
    r"except RuntimeError:[^\n]*\n(?:[^\n]*\n){0,4}?[^\n]*(?:\.disconnect\(|[._]detach\()"
)


def _dock_parts(classes: dict[str, list[str]]) -> set[str]:
    """The classes on the base and every class of the package mixed into one of them (the
    arc annotator's ``LayerBindingMixin`` / ``PredictionMixin``)."""
    parts: set[str] = set()
    todo = [c for c in classes if c != "DockBase" and _on_base(c, classes)]
    while todo:
        c = todo.pop()
        if c in parts or c == "DockBase":
            continue
        parts.add(c)
        todo += [b for b in classes.get(c, []) if b in classes]
    return parts


def test_no_dock_keeps_its_own_deleted_guard_or_worker():
    """The patterns the base replaces are gone from the docks on it and from the mixins they
    are made of: a local ``except RuntimeError`` that disconnects a viewer callback (or calls
    its own detach), ``start_worker`` called directly."""
    own = {"_dock.py", "_worker.py"}
    parts = _dock_parts(_classes())
    assert {"ArcAnnotatorWidget", "LayerBindingMixin", "PredictionMixin"} <= parts
    offenders = []
    for path in sorted((PKG / "widgets").glob("*.py")):
        if path.name in own:
            continue
        text = path.read_text()
        tree = ast.parse(text)
        if not any(isinstance(n, ast.ClassDef) and n.name in parts for n in ast.walk(tree)):
            continue
        if "start_worker(" in text:
            offenders.append(f"{path.name}: start_worker (use DockBase.start)")
        if _OWN_GUARD.search(text):
            offenders.append(f"{path.name}: its own deleted-dock guard (use self.links)")
    assert not offenders, offenders
