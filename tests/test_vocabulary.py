"""One home for each vocabulary and constant (issue 23, "Joins").

The A-line count per frame is ``ivus.polar.N_ALINES``; every ``n_alines`` default reads it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import napari_plaque
from napari_plaque.ivus.polar import N_ALINES

SRC = Path(napari_plaque.__file__).parent

#: files that keep a literal A-line count, each for a reason (asserted equal below):
#: fusion/defaults.py stays import-light for ``--help`` (issue 25) and imports nothing of ivus;
#: ivus/vessel_synthetic.py (truth_radii_mm) is left to the vessel code's owner; widgets/ivus.py
#: draws on the views' display grid of one column per degree (widgets/_ivus_views.py), not on
#: the data's A-lines. (The borders' own 180-ray grid and the models' 90 are other counts.)
LITERAL_ALINES_OK = {"fusion/defaults.py", "ivus/vessel_synthetic.py", "widgets/ivus.py"}


def _literal_aline_defaults() -> list[tuple[str, int, object]]:
    """Every ``n_alines`` default / keyword / dict entry written as a number in src/."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            pairs: list[tuple[str, ast.AST]] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                pos = a.posonlyargs + a.args
                tail = pos[len(pos) - len(a.defaults) :]
                pairs += [(x.arg, d) for x, d in zip(tail, a.defaults, strict=True)]
                kw = zip(a.kwonlyargs, a.kw_defaults, strict=True)
                pairs += [(x.arg, d) for x, d in kw if d is not None]
            elif isinstance(node, ast.Call):
                pairs += [(k.arg, k.value) for k in node.keywords if k.arg]
            elif isinstance(node, ast.Dict):
                pairs += [
                    (k.value, v)
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                ]
            for name, value in pairs:
                if name == "n_alines" and isinstance(value, ast.Constant):
                    if isinstance(value.value, int) and not isinstance(value.value, bool):
                        out.append((rel, value.lineno, value.value))
    return out


def test_n_alines_defaults_have_one_home():
    found = [(f, line) for f, line, v in _literal_aline_defaults() if v == 360]
    assert any(f == "fusion/defaults.py" for f, _ in found)  # the scan sees dict entries
    stray = [(f, line) for f, line in found if f not in LITERAL_ALINES_OK]
    assert not stray, f"write N_ALINES (ivus.polar), not a literal A-line count: {stray}"


def test_n_alines_defaults_agree():
    from napari_plaque.api.ivus import IVUS_DEFAULTS
    from napari_plaque.fusion.defaults import JOIN_DEFAULTS
    from napari_plaque.samples.ivus import make_pullback_frames

    assert IVUS_DEFAULTS["n_alines"] == N_ALINES
    assert JOIN_DEFAULTS["n_alines"] == N_ALINES
    _, truth = make_pullback_frames(n_frames=4, size=64, seed=0)
    assert truth["n_alines"] == N_ALINES
    assert truth["labels"].shape[1] == N_ALINES


def test_cxr_categories_are_the_ccta_cac_categories():
    """The radiograph model's categories and cut-points are ccta's guideline categories (one
    home: ccta.calcium); a score falls in the same category by both rules."""
    from napari_plaque.ccta.calcium import CAC_CATEGORIES, cac_category
    from napari_plaque.cxr import spec
    from napari_plaque.cxr.train import category_of_score

    assert spec.CATEGORIES is CAC_CATEGORIES
    assert spec.CUTS == (0.0, 100.0, 400.0)
    for score in (0.0, 1e-9, 0.4, 1.0, 99.0, 99.999, 100.0, 100.5, 399.9, 400.0, 1e4):
        assert spec.CATEGORIES[category_of_score(score)] == cac_category(score), score


def test_one_spelling_of_analyse():
    """The project writes British English (centreline, colour): analyse, never analyze."""
    hits = [
        (p.relative_to(SRC).as_posix(), i)
        for p in sorted(SRC.rglob("*.py"))
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "analyz" in line.lower()
    ]
    assert not hits, hits


def test_no_import_fallback_for_modules_that_ship():
    """``try: from .x import y / except ImportError`` is for optional third-party packages
    (torch, pyarrow, fcntl...), never for the package's own modules: they ship with it."""
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Try):
                continue
            names = set()
            for h in node.handlers:
                t = h.type
                for e in t.elts if isinstance(t, ast.Tuple) else [t]:
                    names.add(getattr(e, "id", None))
            if not names & {"ImportError", "ModuleNotFoundError"}:
                continue
            for stmt in node.body:
                for sub in ast.walk(stmt):
                    own = (
                        isinstance(sub, ast.ImportFrom)
                        and (sub.level > 0 or (sub.module or "").startswith("napari_plaque"))
                    ) or (
                        isinstance(sub, ast.Import)
                        and any(a.name.startswith("napari_plaque") for a in sub.names)
                    )
                    if own:
                        bad.append((path.relative_to(SRC).as_posix(), sub.lineno))
    assert not bad, bad


def test_center_mode_enum_keeps_the_strings(tmp_path):
    """CenterMode is str-valued: files, JSON, CLI choices and messages are unchanged."""
    import json

    from napari_plaque.ivus.arcs import CENTER_MODES, ArcSet, CenterMode, load_arcs, save_arcs

    assert CENTER_MODES == ("catheter", "lumen", "manual")
    assert tuple(CenterMode) == CENTER_MODES  # members compare equal to their strings
    assert f"{CenterMode.LUMEN}" == str(CenterMode.LUMEN) == "lumen"
    assert json.dumps({"m": CenterMode.MANUAL}) == '{"m": "manual"}'
    s = ArcSet(3, (64, 64), ["calcium"], CenterMode.MANUAL, (31.5, 31.5))
    assert type(s.center_mode) is str and s.center_mode == "manual"  # stored plain (hash, JSON)
    assert {s.center_mode: 1}["manual"] == 1
    save_arcs(s, tmp_path / "a.json")
    assert json.loads((tmp_path / "a.json").read_text())["center_mode"] == "manual"
    assert load_arcs(tmp_path / "a.json").center_mode == CenterMode.MANUAL
    try:
        ArcSet(3, (64, 64), ["calcium"], "middle")
    except ValueError as exc:
        assert "('catheter', 'lumen', 'manual')" in str(exc)
    else:
        raise AssertionError("an unknown centre mode was accepted")


def test_calcium_scope_enum_and_its_strings_act_alike():
    """ccta.session.Scope is str-valued: "3d" / "slice" (the strings callers pass) still work."""
    import numpy as np

    from napari_plaque.ccta import calcium_score
    from napari_plaque.ccta.session import SCOPES, CalciumSession, Scope

    assert SCOPES == ("3d", "slice") and tuple(Scope) == SCOPES and str(Scope.SLICE) == "slice"
    hu = np.zeros((8, 40, 40), np.int16)
    hu[2:5, 10:14, 10:14] = 300  # one calcification over 3 slices
    s = CalciumSession()
    s.set_result(calcium_score(hu, (3.0, 0.5, 0.5), return_labels=True))
    lesion = s.lesion_at((3, 12, 12))
    assert len(s.members(lesion)) == len(s.members(lesion, "3d")) == 3
    assert s.members(lesion, Scope.CALCIFICATION) == s.members(lesion, "3d")
    assert s.members(lesion, Scope.SLICE) == s.members(lesion, "slice") == [lesion]
    try:
        s.members(lesion, "2d")
    except ValueError as exc:
        assert "('3d', 'slice')" in str(exc)
    else:
        raise AssertionError("an unknown scope was accepted")


def test_devices_are_one_enum_with_plain_string_values():
    import json

    from napari_plaque.models import DEVICES, Device

    assert DEVICES == tuple(d.value for d in Device) == ("auto", "cpu", "cuda", "mps")
    assert Device("cuda") is Device.CUDA and Device.CUDA == "cuda"
    assert str(Device.MPS) == "mps" and json.dumps({"d": Device.CPU}) == '{"d": "cpu"}'
