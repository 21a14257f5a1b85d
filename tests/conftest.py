"""Shared fixtures: paths to the real data in ../shared, pydicom's bundled test files, and small
synthetic inputs (a CT volume, a CT DICOM series, an IVUS pullback) with physical spacing.

Every test that opens a napari viewer, uses ``qtbot`` or imports Qt is marked ``gui`` here
(:func:`pytest_collection_modifyitems`), so ``pytest -m "not gui"`` runs the Qt-free suite.

Use the fixtures (``pydicom_testfile``, ``make_ct_series``, ...), never ``from conftest
import``: a conftest is not a module to import (pytest may load it under another name).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PHANTOM = SHARED / "data" / "qrm-phantom-canon"

#: fixtures whose use makes a test a viewer (GUI) test
GUI_FIXTURES = ("make_napari_viewer", "qtbot")
#: modules whose import makes a test (or every test of a module importing them at top level) GUI
GUI_IMPORTS = ("qtpy",)


def _imports_gui(node) -> bool:
    """Whether ``node`` (a function or module body) imports Qt: ``import qtpy...``,
    ``from qtpy... import``, or ``pytest.importorskip("qtpy")``."""
    import ast

    for n in ast.walk(node):
        if isinstance(n, ast.Import) and any(a.name.split(".")[0] in GUI_IMPORTS
                                             for a in n.names):
            return True
        if isinstance(n, ast.ImportFrom) and not n.level and n.module and \
                n.module.split(".")[0] in GUI_IMPORTS:
            return True
        if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "importorskip" and \
                n.args and isinstance(n.args[0], ast.Constant) and \
                str(n.args[0].value).split(".")[0] in GUI_IMPORTS:
            return True
    return False


def _gui_names(path: Path, cache: dict) -> tuple[bool, set[str]]:
    """(the module imports Qt at top level, names of its functions / fixtures that import Qt)."""
    if path not in cache:
        import ast

        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            cache[path] = (False, set())
            return cache[path]
        top = any(_imports_gui(n) for n in tree.body
                  if isinstance(n, (ast.Import, ast.ImportFrom)))
        funcs = {n.name for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _imports_gui(n)}
        cache[path] = (top, funcs)
    return cache[path]


def is_gui_test(item, cache: dict | None = None) -> bool:
    """A viewer test: it uses a viewer or ``qtbot`` fixture (directly or through another
    fixture), or imports Qt (its module at top level, the test itself, or a fixture of its
    module that it uses)."""
    names = set(getattr(item, "fixturenames", ()))
    if names & set(GUI_FIXTURES):
        return True
    path = getattr(item, "path", None)
    if path is None or Path(path).suffix != ".py":
        return False
    top, funcs = _gui_names(Path(path), {} if cache is None else cache)
    own = getattr(item, "originalname", None) or getattr(item, "name", "")
    return top or own in funcs or bool(names & funcs)


def pytest_collection_modifyitems(config, items):
    """Mark every viewer test (:func:`is_gui_test`) as ``gui``."""
    cache: dict = {}
    for item in items:
        if item.get_closest_marker("gui") is None and is_gui_test(item, cache):
            item.add_marker(pytest.mark.gui)


# -- real data -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def phantom_dir() -> Path:
    if not PHANTOM.is_dir():
        pytest.skip(f"real data not found at {PHANTOM}")
    return PHANTOM


@pytest.fixture(scope="session")
def phantom(phantom_dir):
    """The QRM phantom read once per session (CTVolume)."""
    from napari_plaque.io import read_ct

    return read_ct(phantom_dir)[0]


def _pydicom_file(name: str) -> Path:
    """A file from pydicom's test data (pydicom itself or the pydicom-data package), or skip
    (tests take the :func:`pydicom_testfile` fixture)."""
    import warnings

    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = (
            get_testdata_file(name, download=False)
            if _supports_download_kw()
            else get_testdata_file(name)
        )
    if p is None:
        pytest.skip(f"pydicom test file {name} not installed (pip install pydicom-data)")
    return Path(p)


def _supports_download_kw() -> bool:
    import inspect

    from pydicom.data import get_testdata_file

    return "download" in inspect.signature(get_testdata_file).parameters


@pytest.fixture(scope="session")
def pydicom_testfile():
    """``pydicom_testfile("CT_small.dcm")``: the path of a pydicom test file (skips when it is
    not installed)."""
    return _pydicom_file


# -- synthetic inputs (small, known truth, physical spacing) ----------------------------------

#: the synthetic CT's voxel size (z, y, x) in mm and its calcium blob (slices, rows, cols, HU)
SYNTHETIC_SPACING_MM = (3.0, 0.5, 0.5)
SYNTHETIC_BLOB = (slice(3, 5), slice(10, 14), slice(10, 14), 400)


@pytest.fixture
def synthetic_ct():
    """A small CTVolume (8 x 32 x 32, int16 HU, -50 HU tissue) with one 400 HU calcium blob
    over 2 slices x 4 x 4 px at 3.0 x 0.5 x 0.5 mm (2 x 4 mm^2 of area at weight 4)."""
    from napari_plaque.types import CTVolume

    hu = np.full((8, 32, 32), -50, np.int16)
    zs, ys, xs, value = SYNTHETIC_BLOB
    hu[zs, ys, xs] = value
    return CTVolume(hu=hu, spacing_mm=SYNTHETIC_SPACING_MM, origin_mm=(0.0, -8.0, -8.0),
                    name="synthetic CT")


@pytest.fixture
def make_ct_series(tmp_path):
    """``make_ct_series(name="ct", **kw)``: a small single-frame CT DICOM series written under
    ``tmp_path`` (keywords of ``tests/_interop_util.make_series``: shape, spacing, origin,
    orientation, seed, hu)."""
    from _interop_util import make_series

    def make(name: str = "ct", **kw) -> Path:
        return make_series(tmp_path / name, **kw)

    return make


@pytest.fixture
def make_pullback_file(tmp_path):
    """``make_pullback_file(name="pb.dcm", n_frames=6, size=48, seed=1, **kw)`` -> (path,
    frames): a multi-frame IVUS DICOM of random uint8 frames written under ``tmp_path``
    (keywords of ``io.ivus_dicom.write_pullback_dicom``: frame_time_s, pullback_rate_mm_s,
    pixel_spacing_mm, ...)."""
    from napari_plaque.io.ivus_dicom import write_pullback_dicom

    def make(name: str = "pb.dcm", n_frames: int = 6, size: int = 48, seed: int = 1, **kw):
        frames = np.random.default_rng(seed).integers(0, 255, (n_frames, size, size),
                                                      dtype=np.uint8)
        return write_pullback_dicom(frames, tmp_path / name, **kw), frames

    return make


@pytest.fixture
def docks_fit_1080():
    """``docks_fit_1080(viewer, [dock names])``: dock them together (stacked, as napari does) in
    a 1920 x 1080 window; returns (the docks' summed minimum height, the window's height, the
    dims slider widget) for the "every pair of docks a workflow uses fits 1080 px" checks."""

    def run(viewer, names):
        from qtpy.QtWidgets import QApplication

        docks = [viewer.window.add_plugin_dock_widget("napari-plaque", n)[0] for n in names]
        need = sum(d.minimumSizeHint().height() for d in docks)
        win = viewer.window._qt_window
        win.resize(1920, 1080)
        win.show()
        QApplication.processEvents()
        return need, win.height(), viewer.window._qt_viewer.dims

    return run


# -- shared synthetic samples (built once per session; read-only) -----------------------------
#
# The expensive sample constructors of ``napari_plaque.samples`` are called here once, not per
# test module (tests/test_architecture_tests.py refuses a test module that calls one with the
# same arguments as a fixture below). These objects are shared by every module: never write
# into their arrays; a test that does (a viewer layer shares its array: painting,
# ``layer.data[...] = ...``) takes a ``copy.deepcopy`` first. A session-end check fails the run if one was changed.


def _arrays(obj, depth: int = 2) -> list[np.ndarray]:
    """The ndarrays among ``obj``'s attributes (and theirs, ``depth`` levels; lists followed)."""
    if isinstance(obj, np.ndarray):
        return [obj]
    if depth < 0:
        return []
    if isinstance(obj, (list, tuple)):
        return [a for o in obj for a in _arrays(o, depth - 1)]
    return [a for v in getattr(obj, "__dict__", {}).values() for a in _arrays(v, depth - 1)]


def _unchanged(obj, name: str):
    """Yield ``obj``; afterwards fail if any of its arrays changed (a test wrote into a shared
    sample)."""
    before = [a.copy() for a in _arrays(obj)]
    yield obj
    after = _arrays(obj)
    assert len(after) == len(before) and all(
        np.array_equal(a, b) for a, b in zip(after, before, strict=True)
    ), f"a test wrote into the shared {name} fixture (take a copy.deepcopy of it)"


@pytest.fixture(scope="session")
def synthetic_ccta():
    """``samples.ccta.make_ccta()`` (noise-free, seed 0): the SyntheticCCTA with its truth."""
    from napari_plaque.samples.ccta import make_ccta

    yield from _unchanged(make_ccta(), "synthetic_ccta")


@pytest.fixture(scope="session")
def vessel_phantom():
    """``samples.vessels.make_vessel_phantom()``: the default LAD + RCA phantom (blurred,
    noisy)."""
    from napari_plaque.samples.vessels import make_vessel_phantom

    yield from _unchanged(make_vessel_phantom(), "vessel_phantom")


@pytest.fixture(scope="session")
def lad_phantom():
    """A 30 mm LAD phantom with one 50 % calcified lesion 8 mm long at 15 mm (blurred, noisy)."""
    from napari_plaque.samples.vessels import LesionSpec, VesselSpec, make_vessel_phantom

    spec = VesselSpec(name="LAD", length_mm=30.0,
                      lesions=[LesionSpec(15.0, 8.0, 50.0, kind="calcified")])
    yield from _unchanged(make_vessel_phantom([spec], blur_mm=0.35, noise_hu=10.0),
                          "lad_phantom")


@pytest.fixture(scope="session")
def short_lad_phantom():
    """A 20 mm LAD phantom with one 50 % calcified lesion 6 mm long at 10 mm (blurred,
    noisy)."""
    from napari_plaque.samples.vessels import LesionSpec, VesselSpec, make_vessel_phantom

    spec = VesselSpec(name="LAD", length_mm=20.0,
                      lesions=[LesionSpec(10.0, 6.0, 50.0, kind="calcified")])
    yield from _unchanged(make_vessel_phantom([spec], blur_mm=0.35, noise_hu=10.0),
                          "short_lad_phantom")


@pytest.fixture(scope="session")
def vessel_study(tmp_path_factory):
    """``vessel_study(phantom, name="vessel")`` -> (dir, ct, points_csv): a fresh directory
    (``tmp_path_factory``) holding the phantom's CT as ``ct.nii.gz`` and its first vessel's user
    points as ``pts.csv`` (napari points CSV: index, axis-0, axis-1, axis-2 in mm)."""
    from napari_plaque.io.nifti import write_nifti

    def write(ph, name: str = "vessel"):
        d = tmp_path_factory.mktemp(name)
        v = ph.volume
        ct = write_nifti(d / "ct.nii.gz", v.hu, v.spacing_mm, v.origin_mm)
        csv = d / "pts.csv"
        csv.write_text("index,axis-0,axis-1,axis-2\n" + "".join(
            f"{i},{p[0]},{p[1]},{p[2]}\n" for i, p in enumerate(ph.vessels[0].user_points_mm)))
        return d, ct, csv

    return write


@pytest.fixture
def decode_counter(monkeypatch) -> list[str]:
    """The paths whose pixel data the DICOM series reader decodes, in order (a list the test
    reads): checks that a reader decodes only what it keeps."""
    from napari_plaque.io import dicom_series

    calls: list[str] = []
    real = dicom_series.native_pixels

    def counting(ds, p):
        calls.append(str(p))
        return real(ds, p)

    monkeypatch.setattr(dicom_series, "native_pixels", counting)
    return calls

