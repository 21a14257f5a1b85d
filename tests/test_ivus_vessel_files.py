"""Borders JSON, contour CSV round trip and the Qt-free border editor (undo, autosave)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.io.errors import FormatError
from napari_plaque.ivus.border_editor import BorderEditor
from napari_plaque.ivus.borders import VesselBorders
from napari_plaque.ivus.vessel_files import (
    borders_path,
    export_contours_csv,
    import_contours_csv,
    load_borders,
    save_borders,
)
from napari_plaque.ivus.vessel_measure import measure_vessel


def _borders(n=4, na=90):
    th = np.radians((np.arange(na) + 0.5) * 360 / na)
    lum = np.stack([20 + 3 * np.cos(th) + f for f in range(n)])
    eem = np.stack([35 + 2 * np.sin(2 * th) + f for f in range(n)])
    return VesselBorders(lum, eem, (50.0, 52.0), (0.04, 0.05))


def test_contour_csv_round_trip(tmp_path):
    vb = _borders()
    p = export_contours_csv(tmp_path / "c.csv", vb)
    head = p.read_text().splitlines()[:2]
    assert head[0] == "frame,contour,x_mm,y_mm"
    blank = VesselBorders(np.full((4, 90), np.nan), np.full((4, 90), np.nan), vb.center,
                          vb.pixel_spacing_mm)
    back, frames = import_contours_csv(p, blank)
    assert frames == {0, 1, 2, 3}
    # points rounded to 0.1 um: radii back within 0.01 px
    np.testing.assert_allclose(back.lumen_r_px, vb.lumen_r_px, atol=0.01)
    np.testing.assert_allclose(back.eem_r_px, vb.eem_r_px, atol=0.01)
    a = measure_vessel(vb, 0.5).frames["lumen_area_mm2"]
    b = measure_vessel(back, 0.5).frames["lumen_area_mm2"]
    np.testing.assert_allclose(a, b, rtol=1e-4)


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("frame,x,y\n", "header must be"),
        ("frame,contour,x_mm,y_mm\n0,media,1,1\n", "lumen or eem"),
        ("frame,contour,x_mm,y_mm\n9,lumen,1,1\n", "frame 9 outside"),
        ("frame,contour,x_mm,y_mm\n0,lumen,a,1\n", "line 2"),
        ("frame,contour,x_mm,y_mm\n0,lumen,1,1\n0,lumen,2,1\n", "at least 3 points"),
        ("frame,contour,x_mm,y_mm\n0,lumen,nan,1\n", "finite"),
    ],
)
def test_contour_csv_bad_input_named(tmp_path, text, msg):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(FormatError, match=msg) as ei:
        import_contours_csv(p, _borders())
    assert "bad.csv" in str(ei.value)


def test_borders_json_round_trip_and_validation(tmp_path):
    vb = _borders()
    vb.lumen_r_px[2, 5] = np.nan
    vb.flags[1] = ["x"]
    p = save_borders(tmp_path / "b.json", vb, (100, 104), {1}, "pb.dcm")
    back, edited = load_borders(p, 4, (100, 104))
    assert edited == {1} and back.flags == {1: ["x"]}
    assert np.isnan(back.lumen_r_px[2, 5])
    np.testing.assert_allclose(back.eem_r_px, vb.eem_r_px, atol=1e-3)
    with pytest.raises(FormatError, match="made for 4 frames"):
        load_borders(p, 5)
    obj = json.loads(p.read_text())
    obj["version"] = 9
    (tmp_path / "v.json").write_text(json.dumps(obj))
    with pytest.raises(FormatError, match="version 9"):
        load_borders(tmp_path / "v.json")
    # version 2: radii as a float32 block; a negative radius in it is refused, by frame
    assert obj["lumen_r_px"]["dtype"] == "<f4"
    bad = vb.copy()
    bad.lumen_r_px[3, 7] = -3
    obj2 = json.loads(save_borders(tmp_path / "r2.json", bad, (100, 104)).read_text())
    assert obj2["lumen_r_px"]["shape"] == [4, 90]
    with pytest.raises(FormatError, match="frame 3 A-line 7: bad radius"):
        load_borders(tmp_path / "r2.json")
    obj["version"] = 2
    obj["eem_r_px"]["base64"] = obj["eem_r_px"]["base64"][:-8]
    (tmp_path / "r3.json").write_text(json.dumps(obj))
    with pytest.raises(FormatError, match="eem_r_px"):
        load_borders(tmp_path / "r3.json")
    # version 1 (radii as nested lists) still loads, and is validated as before
    v1 = _v1_doc(vb, (100, 104), {1})
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    back1, edited1 = load_borders(tmp_path / "v1.json", 4, (100, 104))
    assert edited1 == {1} and back1.flags == {1: ["x"]} and np.isnan(back1.lumen_r_px[2, 5])
    np.testing.assert_allclose(back1.eem_r_px, vb.eem_r_px, atol=1e-3)
    v1["lumen_r_px"][0][0] = -3
    (tmp_path / "r.json").write_text(json.dumps(v1))
    with pytest.raises(FormatError, match="bad radius"):
        load_borders(tmp_path / "r.json")


def _v1_doc(vb, frame_shape, edited):
    """A borders file of version 1, as napari-plaque wrote them before version 2."""
    def radii(r):
        return [[None if not np.isfinite(v) else round(float(v), 3) for v in row] for row in r]

    return {
        "format": "napari-plaque-ivus-borders", "version": 1, "source": "pb.dcm",
        "n_frames": vb.n_frames, "n_alines": vb.n_alines, "frame_shape": list(frame_shape),
        "center": list(vb.center), "pixel_spacing_mm": list(vb.pixel_spacing_mm),
        "edited_frames": sorted(edited),
        "flags": {str(k): v for k, v in vb.flags.items()},
        "shadowed": [np.flatnonzero(s).tolist() for s in vb.shadowed],
        "lumen_r_px": radii(vb.lumen_r_px), "eem_r_px": radii(vb.eem_r_px),
    }
    assert borders_path("/a/pb.dcm").name == "pb.dcm.borders.json"


def test_editor_drag_redraw_undo_and_autosave(tmp_path):
    vb = _borders()
    save = tmp_path / "pb.dcm.borders.json"
    ed = BorderEditor(vb, (100, 104), 0.5, save_path=save)
    seen = []
    ed.borders_changed.connect(seen.append)
    before = ed.borders.lumen_r_px[1].copy()
    cy, cx = vb.center
    # drag the lumen at 0 deg (3 o'clock) out to radius 26 px
    ed.drag(1, "lumen", cy, cx + 26.0)
    r = ed.borders.lumen_r_px[1]
    k0 = 0  # A-line centred at 2 deg
    assert r[k0] == pytest.approx(26.0, abs=0.1)
    assert r[45] == pytest.approx(before[45])  # 90 deg away: untouched
    assert seen == [1] and ed.edited == {1}
    disk, edited = load_borders(save, 4)
    assert edited == {1} and disk.lumen_r_px[1, 0] == pytest.approx(r[0], abs=1e-3)
    a_before = ed.measurements().frames["lumen_area_mm2"][2]
    # redraw frame 2's lumen as a circle of 10 px
    t = np.radians(np.arange(0, 360, 10))
    ed.redraw(2, "lumen", cy + 10 * np.sin(t), cx + 10 * np.cos(t))
    np.testing.assert_allclose(ed.borders.lumen_r_px[2], 10.0, atol=0.2)
    a_after = ed.measurements().frames["lumen_area_mm2"][2]
    assert a_after < a_before
    assert ed.undo() and ed.measurements().frames["lumen_area_mm2"][2] == pytest.approx(a_before)
    assert ed.undo()
    np.testing.assert_allclose(ed.borders.lumen_r_px[1], before)
    assert ed.edited == set() and not ed.can_undo
    assert ed.redo() and ed.edited == {1}
    # gating: only the chosen frames are measured; not an edit
    ed.set_gating([0, 2])
    assert list(ed.measurements().frame_indices) == [0, 2] and ed.can_undo
    ed.set_gating(None)
    assert ed.measurements().frame_indices.size == 4
    with pytest.raises(ValueError, match="gated frames"):
        ed.set_gating([7])
    # the EEM cannot be dragged inside the lumen
    ed.drag(3, "eem", cy, cx + 5.0)
    assert np.all(ed.borders.lumen_r_px[3] <= ed.borders.eem_r_px[3])
    with pytest.raises(IndexError):
        ed.drag(9, "lumen", 1, 1)
    with pytest.raises(ValueError, match="lumen' or 'eem"):
        ed.drag(0, "media", 1, 1)
