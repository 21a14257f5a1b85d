"""The IVUS vessel borders dock, opened as users open it."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from napari_plaque.ivus.vessel_synthetic import make_vessel_frames
from napari_plaque.layers import pullback_layer_data
from napari_plaque.types import Pullback


@pytest.fixture
def dock(make_napari_viewer, qtbot, tmp_path):
    frames, truth = make_vessel_frames(n_frames=12, size=160, seed=2, shadow_deg=40)
    pb = Pullback(frames, 1 / 30, 0.5, truth["pixel_spacing_mm"], source=str(tmp_path / "pb.dcm"),
                  name="pullback")
    viewer = make_napari_viewer()
    data, attrs, _ = pullback_layer_data(pb)
    viewer.add_image(data, **attrs)
    _, widget = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS vessel borders")
    widget.detect()
    qtbot.waitUntil(lambda: widget.editor is not None, timeout=30000)
    return viewer, widget, truth, tmp_path


def _event(kind, pos):
    return SimpleNamespace(type=kind, position=pos)


def test_dock_detects_draws_edits_and_autosaves(dock, qtbot):
    viewer, w, truth, tmp = dock
    ed = w.editor
    assert ed.borders.n_frames == 12
    lines = viewer.layers["vessel borders"]
    img = viewer.layers["pullback"]
    np.testing.assert_allclose(lines.scale, img.scale)
    # the border lines are drawn on the frame on screen: lumen (1) and EEM (2) pixels
    viewer.dims.set_current_step(0, 3)
    sl = np.asarray(lines.data[3])
    assert (sl == 1).sum() > 100 and (sl == 2).sum() > 100
    assert w.flush() and (tmp / "pb.dcm.borders.json").is_file()
    assert w.table.rowCount() == 12
    a_before = ed.measurements().frames["lumen_area_mm2"][3]
    # drag the lumen outward at 3 o'clock with the mouse (press, move, release)
    w.mode.setCurrentText("drag lumen")
    assert not viewer.camera.mouse_pan  # a drag edits, it does not pan
    cy, cx = ed.borders.center
    sy, sx = img.scale[1:]
    r0 = ed.borders.lumen_r_px[3, 0]
    ev = _event("mouse_press", (3 * img.scale[0], cy * sy, (cx + r0) * sx))
    gen = w._mouse(viewer, ev)
    next(gen)
    ev.type, ev.position = "mouse_move", (3 * img.scale[0], cy * sy, (cx + r0 + 12) * sx)
    next(gen)
    ev.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert ed.borders.lumen_r_px[3, 0] == pytest.approx(r0 + 12, abs=0.5)
    assert ed.measurements().frames["lumen_area_mm2"][3] > a_before
    assert w.undo_btn.isEnabled()
    w.undo_btn.click()
    assert ed.borders.lumen_r_px[3, 0] == pytest.approx(r0)
    # table and plot clicks jump to the frame
    w._table_click(7, 0)
    assert viewer.dims.current_step[0] == 7
    w.views._on_frame(9)
    assert viewer.dims.current_step[0] == 9
    # redraw a frame as a polygon
    w.mode.setCurrentText("redraw EEM")
    t = np.radians(np.arange(0, 360, 15))
    pts = [(5 * img.scale[0], (cy + 60 * np.sin(a)) * sy, (cx + 60 * np.cos(a)) * sx) for a in t]
    ev = _event("mouse_press", pts[0])
    gen = w._mouse(viewer, ev)
    next(gen)
    for p in pts[1:]:
        ev.type, ev.position = "mouse_move", p
        next(gen)
    ev.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    np.testing.assert_allclose(ed.borders.eem_r_px[9], 60, atol=1.0)
    # gating needs two cardiac cycles: 12 frames are refused with a message, not gated
    w.gated.setChecked(True)
    assert "too few to gate" in w.status.text() and not w.gated.isChecked()
    assert w.table.rowCount() == 12
    # export / import round trip
    w.export_csv(tmp / "c.csv")
    w.import_csv(tmp / "c.csv")
    np.testing.assert_allclose(ed.borders.eem_r_px[9], 60, atol=1.0)
    out = os.environ.get("NAPARI_PLAQUE_SCREENSHOTS")
    if out:
        viewer.dims.set_current_step(0, 4)
        w.mode.setCurrentText("view")
        viewer.window._qt_window.resize(1400, 950)
        qtbot.wait(300)
        viewer.screenshot(os.path.join(out, "ivus-vessel.png"), canvas_only=False)
        w.grab().save(os.path.join(out, "ivus-vessel-dock.png"))


def test_dock_base_cancel_and_deleted_guard(make_napari_viewer, qtbot, tmp_path):
    """The dock is a DockBase: pullback picker by kind, Detect with Cancel (nothing is
    added), and after Qt deletes the dock the viewer's callbacks do nothing (and the journal
    is written into the borders file)."""
    from qtpy import sip

    from napari_plaque.ivus.vessel_files import journal_path, load_borders
    from napari_plaque.widgets._dock import DockBase, dock_alive

    frames, truth = make_vessel_frames(n_frames=12, size=160, seed=2, shadow_deg=40)
    pb = Pullback(frames, 1 / 30, 0.5, truth["pixel_spacing_mm"], source=str(tmp_path / "pb.dcm"),
                  name="pullback")
    viewer = make_napari_viewer()
    data, attrs, _ = pullback_layer_data(pb)
    viewer.add_image(data, **attrs)
    viewer.add_image(np.zeros((40, 40)), name="a 2-D image")  # not a pullback: not listed
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS vessel borders")
    assert isinstance(w, DockBase)
    assert [w.layer_combo.itemText(i) for i in range(w.layer_combo.count())] == ["pullback"]
    w.detect()
    assert w.running and w.cancel_btn.isEnabled() and not w.detect_btn.isEnabled()
    w.cancel()
    qtbot.waitUntil(lambda: not w.running, timeout=30000)
    assert w.editor is None and "vessel borders" not in viewer.layers
    assert w.detect_btn.isEnabled() and not w.cancel_btn.isEnabled()
    w.detect()
    qtbot.waitUntil(lambda: w.editor is not None, timeout=30000)
    ed = w.editor
    assert ed.flush()  # the first borders file and its journal (written at once)
    ed.drag(3, "lumen", *ed.borders.center[:1], ed.borders.center[1] + 20)
    assert journal_path(ed.save_path).stat().st_size > 100  # the edit is journaled
    sip.delete(w)
    assert not dock_alive(w)
    step = int(viewer.dims.current_step[0])
    viewer.dims.set_current_step(0, 0 if step else 11)  # no RuntimeError: the first
    # callback after the deletion detaches them all
    assert w.links.detached
    disk, edited = load_borders(ed.save_path, 12, replay_journal=False)
    assert edited == {3}  # flushed on detach: the file alone holds the edit
    np.testing.assert_allclose(disk.lumen_r_px[3], ed.borders.lumen_r_px[3], atol=1e-4)


def test_load_saved_reopens_the_edits_of_the_journal(dock, qtbot):
    """Load saved (a worker) opens the borders file with the edits its journal holds, as the
    dock left them (here: not yet written into the file)."""
    viewer, w, truth, tmp = dock
    ed = w.editor
    assert ed.flush()
    cy, cx = ed.borders.center
    ed.drag(4, "lumen", cy, cx + ed.borders.lumen_r_px[4, 0] + 6)
    want = ed.borders.lumen_r_px[4].copy()
    w.editor = None  # as a fresh dock would: nothing open (the file is not rewritten)
    w.load_saved()
    qtbot.waitUntil(lambda: w.editor is not None and w.editor is not ed, timeout=30000)
    np.testing.assert_allclose(w.editor.borders.lumen_r_px[4], want, atol=1e-9)
    assert w.editor.edited == {4}
    assert w.table.rowCount() == 12
    (tmp / "pb.dcm.borders.json").write_text("{}")
    w.load_saved()
    qtbot.waitUntil(lambda: "failed" in w.status.text(), timeout=30000)
    assert "borders" in w.status.text()
