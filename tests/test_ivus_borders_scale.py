"""The IVUS borders editor and dock at clinical size (issue 21, items 1, 2 and 11).

An edit measures only its frame for the table (one row signalled), the whole-pullback summary
comes from a worker once the edits pause, the autosave runs on a background thread and always
ends with the last state on disk, and a lumen drag cannot cross the EEM.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.ivus.border_editor import BorderEditor
from napari_plaque.ivus.borders import VesselBorders
from napari_plaque.layers import pullback_layer_data
from napari_plaque.types import Pullback

REDRAW_WAIT_MS = 400


def _borders(n_frames: int, seed: int = 0) -> VesselBorders:
    rng = np.random.default_rng(seed)
    lum = 30 + rng.random((n_frames, 360))
    eem = 50 + rng.random((n_frames, 360))
    return VesselBorders(lum, eem, (80.0, 80.0), (0.05, 0.05))

def _dock_with_borders(make_napari_viewer, tmp_path, n: int):
    """The borders dock, opened as a user opens it, on a blank n-frame pullback whose editor
    holds synthetic borders (saved beside it)."""
    pb = Pullback(np.zeros((n, 160, 160), np.uint8), 1 / 30, 0.5, (0.05, 0.05),
                  source=str(tmp_path / "pb.dcm"), name="pullback")
    viewer = make_napari_viewer()
    data, attrs, _ = pullback_layer_data(pb)
    viewer.add_image(data, **attrs)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS vessel borders")
    w._pullback()
    w._attach(BorderEditor(_borders(n), pb.frame_shape, pb.mm_per_frame,
                           tmp_path / "pb.dcm.borders.json", pb.source))
    return w



def test_measure_frames_equals_the_pullback_measurement_of_that_frame():
    ed = BorderEditor(_borders(50), (160, 160), 0.5)
    full = ed.measurements().to_rows()
    for f in (0, 7, 49):
        assert ed.measure_frames([f]).to_rows()[0] == full[f]


def test_undo_of_one_edit_names_its_frame():
    ed = BorderEditor(_borders(40), (160, 160), 0.5)
    seen = []
    ed.borders_changed.connect(seen.append)
    ed.drag(12, "eem", 80, 80 + 60)
    ed.undo()
    ed.redo()
    assert seen == [12, 12, 12]
    ed.set_borders(_borders(40, seed=1))
    ed.undo()
    assert seen[-2:] == [-1, -1]  # a whole new detection: every frame


def test_lumen_drag_stops_at_the_eem_and_says_so():
    ed = BorderEditor(_borders(10), (160, 160), 0.5)
    notes = []
    ed.notice.connect(notes.append)
    eem_before = ed.borders.eem_r_px[3].copy()
    ed.drag(3, "lumen", 80, 80 + 70)  # 70 px: far outside the EEM (~50 px)
    lum = ed.borders.lumen_r_px[3]
    assert np.all(lum <= ed.borders.eem_r_px[3])
    np.testing.assert_array_equal(ed.borders.eem_r_px[3], eem_before)  # the EEM did not move
    assert notes and "kept inside the EEM" in notes[-1] and "frame 3" in notes[-1]
    ed.drag(4, "eem", 80, 80 + 10)  # the EEM pushed inside the lumen stops at the lumen
    assert np.all(ed.borders.eem_r_px[4] >= ed.borders.lumen_r_px[4])
    assert "outside the lumen" in notes[-1]


def test_background_autosave_journals_each_edit_and_ends_with_the_last_state(tmp_path):
    """With background saving, each edit appends its frame to the journal (no rewrite of the
    pullback per edit); the borders file is written once the edits pause (or on flush) and
    then holds the last state. (Was: a coalesced rewrite of the whole file per edit.)"""
    from napari_plaque.ivus.vessel_files import journal_path, load_borders

    path = tmp_path / "pb.dcm.borders.json"
    ed = BorderEditor(_borders(200), (160, 160), 0.5, path, str(tmp_path / "pb.dcm"))
    ed.background_save = True
    ed.autosave()
    assert ed.flush()
    written = ed._store.n_compactions
    for k in range(20):
        ed.drag(5, "lumen", 80, 80 + 31 + k * 0.5)
    assert ed._store.n_records == 20 and ed._store.n_compactions == written  # not yet
    assert ed.flush()
    assert ed._store.n_compactions == written + 1
    back, edited = load_borders(path, 200, replay_journal=False)  # the file alone
    assert back.lumen_r_px[5, 0] == pytest.approx(ed.borders.lumen_r_px[5, 0], abs=1e-3)
    assert edited == {5}
    assert journal_path(path).stat().st_size < 100  # emptied: just its header


@pytest.mark.gui
def test_dock_edit_at_1000_frames_updates_one_row(make_napari_viewer, qtbot, tmp_path):
    n = 1000
    w = _dock_with_borders(make_napari_viewer, tmp_path, n)
    model = w.table_model
    # a new pullback of this size is measured on a worker (was: on the main thread)
    qtbot.waitUntil(lambda: model.rowCount() == n, timeout=30000)
    resets, updates = model.n_resets, model.n_row_updates
    before = model.row(7)["lumen_area_mm2"]
    mld_before = model.row(7)["lumen_min_diameter_mm"]
    w.editor.drag(7, "lumen", 80, 80 + 40)
    assert model.n_resets == resets and model.n_row_updates == updates + 1
    assert model.row(7)["lumen_area_mm2"] > before
    assert model.row(7)["lumen_min_diameter_mm"] != pytest.approx(mld_before, abs=1e-6)  # MLD too
    # the summary is of the edited borders at once (from the per-frame cache), and equals a
    # measurement of the whole pullback from scratch
    from napari_plaque.ivus.vessel_measure import measure_vessel

    fresh = measure_vessel(w.editor.borders, w.editor.mm_per_frame)
    assert w.editor.measurements().summary == fresh.summary
    assert model.row(7) == fresh.row(7)
    qtbot.wait(REDRAW_WAIT_MS)  # the plots follow once the edits pause
    assert model.n_resets == resets
    assert w.flush()
    saved = json.loads((tmp_path / "pb.dcm.borders.json").read_text())
    assert saved["edited_frames"] == [7]
    w.editor.undo()
    assert model.row(7)["lumen_area_mm2"] == pytest.approx(before)
    assert model.n_resets == resets


def test_borders_file_holds_the_same_values_as_the_per_value_writer(tmp_path):
    """The version-2 file (float32 blocks) holds the values the version-1 per-value writer
    (kept here) wrote, to its 3 decimals, NaN where it wrote null; both load."""
    from napari_plaque.ivus.vessel_files import load_borders, save_borders

    def old_radii_list(r):
        return [[None if not np.isfinite(v) else round(float(v), 3) for v in row] for row in r]

    vb = _borders(30, seed=3)
    vb.lumen_r_px[4, 10:20] = np.nan
    vb.eem_r_px[7, :] = np.nan
    vb.flags[4] = ["shadow over 50 % of the A-lines"]
    vb.shadowed[4, 10:20] = True
    path = save_borders(tmp_path / "b.json", vb, (160, 160), {4, 7}, "pb.dcm")
    obj = json.loads(path.read_text())
    assert obj["version"] == 2 and obj["edited_frames"] == [4, 7]
    assert obj["flags"] == {"4": vb.flags[4]}
    old = dict(obj, version=1, lumen_r_px=old_radii_list(vb.lumen_r_px),
               eem_r_px=old_radii_list(vb.eem_r_px),
               shadowed=[np.flatnonzero(s).tolist() for s in vb.shadowed])
    (tmp_path / "v1.json").write_text(json.dumps(old))
    back, edited = load_borders(path, 30, (160, 160))
    back1, edited1 = load_borders(tmp_path / "v1.json", 30, (160, 160))
    assert edited == edited1 == {4, 7}
    for a, b in ((back.lumen_r_px, back1.lumen_r_px), (back.eem_r_px, back1.eem_r_px)):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], atol=5e-4 + 1e-5)
    np.testing.assert_allclose(back.lumen_r_px, vb.lumen_r_px, atol=1e-5)
    np.testing.assert_array_equal(back.shadowed, vb.shadowed)
    np.testing.assert_array_equal(back1.shadowed, vb.shadowed)


def test_chord_diameters_vectorised_equal_the_per_frame_loop():
    """The diameters of every contour at once equal the former per-frame np.interp loop (kept
    here) to 1e-9 mm, on round, eccentric, dented and NaN contours."""
    from napari_plaque.ivus.vessel_measure import chord_diameters_mm

    def loop(contours_px, sp, step_deg=1.0):
        y = contours_px[..., 0] * sp[0]
        x = contours_px[..., 1] * sp[1]
        cr = x * np.roll(y, -1, -1) - np.roll(x, -1, -1) * y
        a = 0.5 * cr.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = ((x + np.roll(x, -1, -1)) * cr).sum(-1) / (6 * a)
            cy = ((y + np.roll(y, -1, -1)) * cr).sum(-1) / (6 * a)
        ang = np.arange(0.0, 360.0, step_deg)
        out = np.full((2, y.shape[0]), np.nan)
        for i in range(y.shape[0]):
            if not (np.isfinite(cx[i]) and np.isfinite(x[i]).all() and np.isfinite(y[i]).all()):
                continue
            th = np.mod(np.degrees(np.arctan2(y[i] - cy[i], x[i] - cx[i])), 360.0)
            r = np.hypot(y[i] - cy[i], x[i] - cx[i])
            o = np.argsort(th)
            r_at = np.interp(ang, th[o], r[o], period=360.0)
            h = len(ang) // 2
            d = r_at[:h] + r_at[h : 2 * h]
            out[:, i] = d.min(), d.max()
        return out

    rng = np.random.default_rng(4)
    vb = _borders(40, seed=5)
    vb.lumen_r_px[3] = 20 + 10 * np.cos(np.radians(np.arange(360)))  # eccentric
    vb.lumen_r_px[4, 100:140] = 12.0  # a dent
    vb.lumen_r_px[6, 7] = np.nan
    vb.lumen_r_px[8] = 25 + rng.random(360) * 3
    c = vb.contours_px("lumen")
    for sp in ((0.05, 0.05), (0.04, 0.06)):
        new = np.array(chord_diameters_mm(c, sp))
        old = loop(c, sp)
        np.testing.assert_array_equal(np.isnan(new), np.isnan(old))
        np.testing.assert_allclose(new[~np.isnan(new)], old[~np.isnan(old)], rtol=0, atol=1e-9)


@pytest.mark.gui
def test_an_edit_before_the_pullback_is_measured_is_in_the_table(make_napari_viewer, qtbot,
                                                                  tmp_path):
    """A large pullback is measured on a worker; an edit made meanwhile starts no second one
    and is in the table once the worker's result is adopted."""
    from napari_plaque.ivus.vessel_measure import measure_vessel

    n = 600
    w = _dock_with_borders(make_napari_viewer, tmp_path, n)
    first = w._measure_worker
    assert first is not None and not w.editor.has_frame_cache
    w.editor.drag(7, "lumen", 80, 80 + 40)
    assert w._measure_worker is first  # no second whole-pullback measurement
    qtbot.waitUntil(lambda: w.table_model.rowCount() == n, timeout=30000)
    assert w.table_model.row(7) == measure_vessel(w.editor.borders, w.editor.mm_per_frame).row(7)
    assert w.flush()
