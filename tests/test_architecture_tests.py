"""The test suite's own layout (issue 23 "Tests"): no test imports conftest, and viewer tests are
marked ``gui`` automatically (``pytest -m "not gui"`` runs the Qt-free suite)."""

from __future__ import annotations

import ast
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
