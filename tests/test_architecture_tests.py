"""The test suite's own layout (issue 23 "Tests"): no test imports conftest, viewer tests are
marked ``gui`` automatically (``pytest -m "not gui"`` runs the Qt-free suite), and no test module
rebuilds a synthetic sample that a conftest fixture provides."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _conftest_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module and \
                node.module.split(".")[0] == "conftest":
            lines.append(node.lineno)
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "conftest"
                                                  for a in node.names):
            lines.append(node.lineno)
    return lines


def test_no_test_imports_conftest():
    """Fixtures, never ``from conftest import``: pytest may load a conftest under another name,
    and an import of it is a second copy of its module state."""
    found = [f"{p.relative_to(TESTS)}:{n}" for p in sorted(TESTS.rglob("*.py"))
             for n in _conftest_imports(p)]
    assert not found, "import conftest (use a fixture): " + ", ".join(found)


def test_the_conftest_import_check_sees_one(tmp_path):
    bad = tmp_path / "test_bad.py"
    bad.write_text("import os\nfrom conftest import x\n\ndef f():\n    import conftest\n")
    assert _conftest_imports(bad) == [2, 5]


def test_a_test_that_imports_qt_is_marked_gui(request):
    pytest.importorskip("qtpy")
    assert request.node.get_closest_marker("gui") is not None


@pytest.fixture
def _qt_fixture():
    from qtpy import QtCore  # noqa: F401  importing Qt makes a test using this fixture gui

    return 1


def test_a_test_using_a_qt_fixture_is_marked_gui(request, _qt_fixture):
    assert request.node.get_closest_marker("gui") is not None


def test_a_qt_free_test_is_not_marked_gui(request, pydicom_testfile):
    assert request.node.get_closest_marker("gui") is None
    assert callable(pydicom_testfile)


# -- one builder per shared sample ------------------------------------------------------------
#
# The rule (simple on purpose): a *sample constructor* is a public ``make_*`` function of
# ``src/napari_plaque/samples/``. Each call to one is keyed by its text: the constructor's name
# and its arguments, keywords sorted, after replacing every plain name that the enclosing
# function assigns once (``spec = VesselSpec(...)``) by what it assigns (one level). A test
# module (tests/test_*.py) may not make a call whose key equals the key of a call inside a
# conftest fixture: it takes that fixture instead (another seed, size or spec is a new sample
# and stays where it is used).

SAMPLES = TESTS.parent / "src" / "napari_plaque" / "samples"


def _sample_constructors() -> set[str]:
    names = set()
    for p in sorted(SAMPLES.glob("*.py")):
        tree = ast.parse(p.read_text(encoding="utf-8"), str(p))
        names |= {n.name for n in tree.body
                  if isinstance(n, ast.FunctionDef) and n.name.startswith("make_")}
    return names


def _callee(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


class _Normal(ast.NodeTransformer):
    """A call as its key sees it: plain names assigned once replaced by their value, keywords
    sorted, ``module.f(...)`` as ``f(...)``."""

    def __init__(self, assigned: dict[str, ast.expr]):
        self.assigned = assigned

    def visit_Name(self, node: ast.Name):
        if node.id not in self.assigned:
            return node
        return _Normal({}).visit(copy.deepcopy(self.assigned[node.id]))  # one level

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute):
            node.func = ast.Name(node.func.attr)
        node.keywords.sort(key=lambda k: k.arg or "")
        return node


def _sample_calls(tree: ast.AST, constructors: set[str], only_fixtures: bool = False):
    """(key, line) of every sample-constructor call inside a function of ``tree`` (only
    ``@pytest.fixture`` functions when ``only_fixtures``)."""
    out = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if only_fixtures and not any("fixture" in ast.unparse(d) for d in fn.decorator_list):
            continue
        values: dict[str, list[ast.expr]] = {}
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and \
                    isinstance(n.targets[0], ast.Name):
                values.setdefault(n.targets[0].id, []).append(n.value)
        once = {k: v[0] for k, v in values.items() if len(v) == 1}
        for n in ast.walk(fn):
            if isinstance(n, ast.Call) and _callee(n) in constructors:
                out.append((ast.unparse(_Normal(once).visit(copy.deepcopy(n))), n.lineno))
    return out


def _rebuilt_samples(test_files, conftest: Path) -> list[str]:
    constructors = _sample_constructors()
    shared = {k for k, _ in _sample_calls(ast.parse(conftest.read_text(encoding="utf-8")),
                                          constructors, only_fixtures=True)}
    found = []
    for p in test_files:
        tree = ast.parse(p.read_text(encoding="utf-8"), str(p))
        found += [f"{p.name}:{line} {key}" for key, line in _sample_calls(tree, constructors)
                  if key in shared]
    return found


def test_no_test_module_rebuilds_a_sample_conftest_provides():
    """A sample conftest builds once per session (``synthetic_ccta``, ``vessel_phantom``,
    ``lad_phantom``, ...) is taken as that fixture, not rebuilt by a test module."""
    assert _sample_constructors() >= {"make_ccta", "make_vessel_phantom"}
    found = _rebuilt_samples(sorted(TESTS.glob("test_*.py")), TESTS / "conftest.py")
    assert not found, "rebuilds a conftest sample (take the fixture): " + "; ".join(found)


def test_the_rebuilt_sample_check_sees_one(tmp_path):
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture(scope='session')\ndef lad():\n"
        "    spec = VesselSpec(name='LAD', length_mm=30.0)\n"
        "    return make_vessel_phantom([spec], blur_mm=0.35, noise_hu=10.0)\n")
    bad = tmp_path / "test_bad.py"
    bad.write_text(
        "from napari_plaque.samples import ccta, vessels\n\n"
        "def _build():\n"
        "    s = vessels.VesselSpec(length_mm=30.0, name='LAD')\n"
        "    return vessels.make_vessel_phantom([s], noise_hu=10.0, blur_mm=0.35)\n\n"
        "def test_other():\n"
        "    spec = VesselSpec(name='LAD', length_mm=20.0)\n"
        "    make_vessel_phantom([spec], blur_mm=0.35, noise_hu=10.0)\n"
        "    ccta.make_ccta(seed=3)\n")
    found = _rebuilt_samples([bad], tmp_path / "conftest.py")
    # keyword order and a module prefix do not matter; another spec (20 mm) or another
    # constructor is another sample
    assert [f.split()[0] for f in found] == ["test_bad.py:5"]
