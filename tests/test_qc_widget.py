"""QCWidget with a real napari viewer: disagreement layer, jump-to-slice, review file, plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.qc import ReviewFile
from napari_plaque.widgets.qc import DISAGREEMENT_LAYER, QCWidget

pytestmark = pytest.mark.gui

SCALE = (3.0, 0.5, 0.5)
TRANSLATE = (-20.0, 5.0, 7.0)


def _viewer_with_case(make_napari_viewer):
    viewer = make_napari_viewer()
    img = np.zeros((8, 16, 16), np.int16)
    ref = np.zeros(img.shape, np.uint8)
    pred = np.zeros_like(ref)
    ref[2:5, 4:9, 4:9] = 1
    pred[2:5, 4:9, 5:10] = 1  # shifted: FP column x=9, FN column x=4 on slices 2-4
    pred[6, 1:5, 1:5] = 1  # 16 false-positive voxels on slice 6: the worst slice
    viewer.add_image(img, name="case01", scale=SCALE, translate=TRANSLATE)
    viewer.add_labels(pred, name="auto", scale=SCALE, translate=TRANSLATE)
    viewer.add_labels(ref, name="manual", scale=SCALE, translate=TRANSLATE)
    return viewer, pred, ref


def _run(widget, qtbot):
    widget.compute()
    qtbot.waitUntil(lambda: widget.result is not None and widget._worker is None, timeout=15000)


def test_disagreement_layer_table_and_jump(make_napari_viewer, qtbot):
    viewer, pred, ref = _viewer_with_case(make_napari_viewer)
    w = QCWidget(viewer)
    assert (w.image_combo.currentText(), w.pred_combo.currentText(), w.ref_combo.currentText()) == (
        "case01",
        "auto",
        "manual",
    )
    _run(w, qtbot)
    layer = viewer.layers[DISAGREEMENT_LAYER]
    np.testing.assert_allclose(layer.scale, SCALE)
    np.testing.assert_allclose(layer.translate, TRANSLATE)
    d = np.asarray(layer.data)
    assert d[3, 5, 9] == 1 and d[3, 5, 4] == 2 and d[6, 2, 2] == 1 and d[3, 5, 6] == 0
    assert np.count_nonzero(d == 1) == 15 + 16 and np.count_nonzero(d == 2) == 15
    # FP and FN have distinct colours
    c1, c2 = layer.colormap.map(np.array([1, 2]))
    assert not np.allclose(c1, c2)
    assert w.table.columnCount() == 2 and w.table.item(0, 0).text() == "Dice"  # one label
    assert float(w.table.item(0, 1).text()) == pytest.approx(2 * 60 / (75 + 91), abs=1e-3)
    # worst slice first; clicking it moves the viewer there (world = translate + i*scale)
    assert w.worst_list.count() == 4
    item = w.worst_list.item(0)
    assert item.text().startswith("slice 6")
    w.worst_list.itemClicked.emit(item)
    assert viewer.dims.point[0] == pytest.approx(TRANSLATE[0] + 6 * SCALE[0])
    img_layer = viewer.layers["case01"]
    assert img_layer.world_to_data(viewer.dims.point)[0] == pytest.approx(6)
    w.worst_list.itemClicked.emit(w.worst_list.item(1))
    assert img_layer.world_to_data(viewer.dims.point)[0] == pytest.approx(2)


def test_shape_mismatch_reports_without_crash(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((3, 4, 4), np.uint8), name="a")
    viewer.add_labels(np.zeros((3, 4, 5), np.uint8), name="b")
    w = QCWidget(viewer)
    w.compute()
    assert "Shapes differ" in w.status.text() and w.result is None


def test_review_file_survives_restart(make_napari_viewer, qtbot, tmp_path):
    viewer, _, _ = _viewer_with_case(make_napari_viewer)
    path = tmp_path / "review.json"
    _, qc = viewer.window.add_plugin_dock_widget("napari-plaque", "Segmentation QC")
    _run(qc, qtbot)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Segmentation review")
    assert w.open_review(path)
    assert w.case_edit.text() == "case01"
    w.note_edit.setText("leak into LV")
    assert w.set_flag("fix")
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["cases"]["case01"]["flag"] == "fix"
    # the QC dock's metrics reach the review through the layer metadata
    assert data["cases"]["case01"]["metrics"]["1"]["dice"] == pytest.approx(120 / 166)
    w.case_edit.setText("case02")
    w.set_flag("accept")
    # a "restart": a new review dock opening the same file shows the saved flags
    from napari_plaque.widgets.review import ReviewWidget

    w2 = ReviewWidget(viewer)
    w2.open_review(path)
    w2.case_edit.setText("case01")
    assert "FIX" in w2.flag_label.text() and w2.note_edit.text() == "leak into LV"
    assert ReviewFile(path).summary() == {"accept": 1, "reject": 0, "fix": 1}
    assert ReviewFile(path).pending(["case01", "case02", "case03"]) == ["case03"]
    # a foreign file is shown, not raised
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert not w2.open_review(bad) and "bad.json" in w2.flag_label.text()


def test_review_session_without_qt(tmp_path):
    from napari_plaque.qc.review import ReviewSession

    s = ReviewSession()
    events = []
    s.changed.connect(lambda: events.append(1))
    assert not s.set_flag("accept") and "review file" in s.message
    assert s.open(tmp_path / "r.json")
    assert not s.set_flag("accept") and "case id" in s.message
    s.set_case("c1")
    assert s.set_flag("reject", note="bad", metrics={"1": {"dice": float("nan")}})
    assert "REJECT" in s.message and len(events) == 5
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["cases"]["c1"]["metrics"] == {"1": {"dice": None}}  # JSON never holds NaN


def test_review_file_rejects_foreign_json(tmp_path):
    from napari_plaque.io import FormatError

    p = tmp_path / "other.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(FormatError, match="other.json"):
        ReviewFile(p)
    p.write_text('{"format": "napari-plaque-review", "version": 99, "cases": {}}')
    with pytest.raises(FormatError, match="version"):
        ReviewFile(p)


def test_cohort_plots_and_png_export(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Cohort agreement")
    csv = tmp_path / "cohort.csv"
    rng = np.random.default_rng(0)
    a = rng.gamma(1.0, 200, 30)
    b = a * 1.05 + rng.normal(0, 10, 30)
    csv.write_text(
        "case,auto,manual\n"
        + "\n".join(f"c{i},{x:.2f},{y:.2f}" for i, (x, y) in enumerate(zip(a, b, strict=True)))
        + "\n"
    )
    assert w.load_cohort(csv) == ["case", "auto", "manual"]
    stats = w.plot_cohort()
    assert stats["n"] == 30 and stats["icc"]["icc"] > 0.9
    ba_ax, sc_ax = w.figure.axes
    assert len(ba_ax.collections[0].get_offsets()) == 30
    ys = sorted(line.get_ydata()[0] for line in ba_ax.lines)
    bland = stats["bland_altman"]
    assert ys == pytest.approx(sorted([bland["bias"], bland["loa_low"], bland["loa_high"]]))
    assert len(sc_ax.collections[0].get_offsets()) == 30
    out = w.export_png(tmp_path / "plots.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ivus_aline_mode_lists_frames_and_jumps(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    frames = np.zeros((12, 20, 20), np.uint8)
    viewer.add_image(frames, name="pullback", scale=(0.25, 0.05, 0.05))
    ref = np.zeros((12, 16), np.uint8)
    ref[3:6, 0:8] = 1
    auto = ref.copy()
    auto[4, 0:4] = 0  # 4 missed A-lines on frame 4
    auto[9, 10:12] = 1  # 2 false-positive A-lines on frame 9
    viewer.add_labels(auto, name="model")
    viewer.add_labels(ref, name="annotator")
    w = QCWidget(viewer)
    w.pred_combo.setCurrentText("model")
    w.ref_combo.setCurrentText("annotator")
    _run(w, qtbot)
    assert w.result["fn"] == 4 and w.result["fp"] == 2
    assert w.table.item(0, 0).text() == "accuracy"
    assert float(w.table.item(0, 1).text()) == pytest.approx(1 - 6 / 192, abs=1e-3)
    assert w.worst_list.count() == 2 and w.worst_list.item(0).text().startswith("frame 4")
    w.worst_list.itemClicked.emit(w.worst_list.item(1))
    assert viewer.layers["pullback"].world_to_data(viewer.dims.point)[0] == pytest.approx(9)


def test_deleted_dock_does_not_break_layer_events(make_napari_viewer, qtbot):
    from qtpy.QtCore import QCoreApplication, QEvent

    viewer = make_napari_viewer()
    w = QCWidget(viewer)
    w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    viewer.add_labels(np.zeros((2, 3, 3), np.uint8), name="after")  # must not raise
    assert "after" in viewer.layers


def test_qc_and_review_docks_fit_a_1080_pixel_screen(make_napari_viewer):
    """Issue 21 item 12: QC and the review it feeds, docked together, fit 1920 x 1080."""
    from qtpy.QtWidgets import QApplication

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 16, 16), np.int16), name="CT")
    docks = [viewer.window.add_plugin_dock_widget("napari-plaque", n)[0]
             for n in ("Segmentation QC", "Segmentation review")]  # fmt: skip
    need = sum(d.minimumSizeHint().height() for d in docks)
    assert 200 < need < 1080 - 120, need
    win = viewer.window._qt_window
    win.resize(1920, 1080)
    win.show()
    QApplication.processEvents()
    dims = viewer.window._qt_viewer.dims
    assert win.height() <= 1080 and dims.isVisible()
