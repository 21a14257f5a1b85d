"""The "Vessel analysis" dock as users open it: compute, jump, edit + undo, export, two vessels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.samples.vessels import ccta_vessel_sample

DOCK = "Vessel analysis"


@pytest.fixture(scope="module")
def layers():
    return ccta_vessel_sample()


def _open(make_napari_viewer, layers):
    viewer = make_napari_viewer()
    for data, kw, kind in layers:
        getattr(viewer, f"add_{kind}")(data, **kw)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", DOCK)
    return viewer, w


def _compute(qtbot, w, points: str, name: str):
    w.points_combo.setCurrentText(points)
    w.name_combo.setCurrentText(name)
    w.compute()
    qtbot.waitUntil(lambda: w.worker is None and name in w.session.results, timeout=60000)


def test_vessel_dock_compute_jump_edit_undo_export(make_napari_viewer, qtbot, layers, tmp_path):
    viewer, w = _open(make_napari_viewer, layers)
    assert w.ct_combo.currentText() == "Synthetic CCTA vessels"
    _compute(qtbot, w, "LAD points", "LAD")
    res = w.session.results["LAD"]
    assert len(res.lesions) == 3 and w.table.rowCount() == 3
    assert "LAD on Synthetic CCTA vessels" in w.status.text()  # the image it came from
    cpr = viewer.layers["LAD CPR"]
    assert tuple(cpr.scale) == pytest.approx((0.5, 0.1))
    assert viewer.layers["LAD CPR (v plane)"].data.shape == cpr.data.shape
    roi = viewer.layers["LAD plaque ROI"]
    assert roi.data.shape == viewer.layers["Synthetic CCTA vessels"].data.shape
    assert set(np.unique(roi.data)) == {0, 1, 2, 3}
    # a row click jumps to the lesion's MLA and moves the 3D cursor there
    w._on_row(2)
    les = res.lesions[2]
    assert res.centreline.s_mm[w.session.section] == pytest.approx(les.s_mla_mm)
    p = res.centreline.points_mm[w.session.section]
    assert np.allclose(viewer.dims.point[-3:], p, atol=0.5)
    # a click on the profile plot moves the cross-section
    from types import SimpleNamespace

    w.views._click(SimpleNamespace(inaxes=w.views.ax_p, xdata=18.0, ydata=1.0))
    assert res.centreline.s_mm[w.session.section] == pytest.approx(18.0, abs=0.01)
    # edit the lumen at s = 18 (healthy): the measurements follow; undo restores
    i = w.session.section
    before = res.profile["lumen_area_mm2"][i]
    w.edit_lumen.setChecked(True)
    # a click in the cross-section at (u, v) = (0, 0.6) mm: theta 90, r 0.6
    w.views._click(SimpleNamespace(inaxes=w.views.ax_x, xdata=0.0, ydata=0.6))
    assert res.profile["lumen_area_mm2"][i] < before - 0.5 and res.contours.edited[i]
    assert w.undo_btn.isEnabled()
    w.undo_btn.click()
    assert res.profile["lumen_area_mm2"][i] == pytest.approx(before)
    w.redo_btn.click()
    assert res.profile["lumen_area_mm2"][i] < before - 0.5
    w.session.undo()
    # user reference segments
    w.prox_ref.setText("1-5")
    w.ref_btn.click()
    assert all(les.proximal_reference_mm == pytest.approx([1.0, 5.0], abs=0.02)
               for les in res.lesions)
    w.prox_ref.setText("5-1")
    w.ref_btn.click()
    assert "start < end" in w.status.text()
    w.prox_ref.setText("")
    w.ref_btn.click()
    assert res.reference_override == {}
    # a second vessel on the same scan
    _compute(qtbot, w, "RCA points", "RCA")
    assert set(w.session.results) == {"LAD", "RCA"} and w.table.rowCount() == 4
    w.export_csv(str(tmp_path / "l.csv"))
    w.export_json(str(tmp_path / "v.json"))
    lines = (tmp_path / "l.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("vessel,index")
    d = json.loads((tmp_path / "v.json").read_text())
    assert [v["vessel"] for v in d["vessels"]] == ["LAD", "RCA"]
    w.save_centreline(str(tmp_path / "rca.json"))
    # a label map (here the truth lumen + wall of both vessels) gives a centreline too
    _compute(qtbot, w, "vessel truth", "from labels")
    assert len(w.session.results["from labels"].lesions) >= 3
    w.session.set_current("LAD")
    w.session.go_to_lesion(1)
    w._on_section(w.session.section)
    qtbot.wait(50)
    img = tmp_path / "vessel.png"
    w.resize(620, 1000)
    qtbot.wait(50)
    w.grab().save(str(img))
    assert img.stat().st_size > 10000, (img.stat().st_size, w.size(), w.scroll.widget().size())


def test_vessel_dock_bad_input_message(make_napari_viewer, qtbot, layers):
    viewer, w = _open(make_napari_viewer, layers)
    viewer.add_points(np.array([[0.0, 0.0, 0.0]]), name="one", units="mm")
    w.points_combo.setCurrentText("one")
    w.compute()
    qtbot.waitUntil(lambda: w.worker is None, timeout=30000)
    assert "at least 2 points" in w.status.text()
    assert not w.session.results


def _fits_1080(viewer, names):
    """Dock ``names`` together (stacked, as napari docks them) in a 1920 x 1080 window: the
    docks' minimum heights leave room for the window frame, menu and status bars, and the
    window does not grow past the screen, so the dims slider stays on it."""
    from qtpy.QtWidgets import QApplication

    docks = [viewer.window.add_plugin_dock_widget("napari-plaque", n)[0] for n in names]
    need = sum(d.minimumSizeHint().height() for d in docks)
    win = viewer.window._qt_window
    win.resize(1920, 1080)
    win.show()
    QApplication.processEvents()
    dims = viewer.window._qt_viewer.dims
    return need, win.height(), dims


def test_vessel_and_fusion_docks_fit_a_1080_pixel_screen(make_napari_viewer):
    """Issue 21 item 12: the vessel dock alone needed 863 px."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 16, 16), np.int16), name="CT")  # a slider to see
    need, height, dims = _fits_1080(viewer, ["Vessel analysis", "CT-IVUS fusion"])
    assert 200 < need < 1080 - 120, need
    assert height <= 1080 and dims.isVisible()
    assert dims.mapTo(viewer.window._qt_window, dims.rect().bottomLeft()).y() <= 1080
