"""Arc annotator widget: drawing by simulated mouse gestures, undo/redo, autosave and reload."""

from __future__ import annotations

import json

import numpy as np
import pytest
from app_model.types import KeyBinding

from napari_plaque.ivus.arcs import ArcSet
from napari_plaque.layers import pullback_layer_data
from napari_plaque.samples.ivus import make_ivus_sample
from napari_plaque.widgets.ivus import ARCS_LAYER, ArcAnnotatorWidget, autosave_path


class FakeEvent:
    """The parts of a napari mouse event the drag callback uses."""

    def __init__(self, position, type_="mouse_press"):
        self.position = position
        self.type = type_
        self.button = 1
        self.modifiers = ()


@pytest.fixture(autouse=True)
def _no_remembered_reader(tmp_path):
    """The dock remembers the reader's name in the Qt settings: tests keep theirs in a
    temporary folder (never the user's) and start without a name."""
    import os

    from qtpy.QtCore import QSettings

    from napari_plaque.widgets.ivus import remember_reader

    formats = (QSettings.Format.NativeFormat, QSettings.Format.IniFormat)
    scope = QSettings.Scope.UserScope
    default = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    for fmt in formats:
        QSettings.setPath(fmt, scope, str(tmp_path / "qsettings"))
    remember_reader("")
    yield
    for fmt in formats:
        QSettings.setPath(fmt, scope, default)


@pytest.fixture
def setup(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    pb, truth = make_ivus_sample(tmp_path / "pb.dcm", n_frames=12, seed=5, size=96)
    layer = viewer._add_layer_from_data(*pullback_layer_data(pb))[0]
    widget = ArcAnnotatorWidget(viewer)
    return viewer, widget, layer, pb, tmp_path


def _world(widget, layer, frame, angle_deg, radius=30.0):
    cy, cx = widget.arcset.center_of(frame)
    a = np.radians(angle_deg)
    return tuple(layer.data_to_world([frame, cy + radius * np.sin(a), cx + radius * np.cos(a)]))


def drag(widget, layer, frame, angles):
    """Simulate press at angles[0], moves through angles[1:-1], release at angles[-1]."""
    ev = FakeEvent(_world(widget, layer, frame, angles[0]))
    gen = widget.on_mouse_drag(layer, ev)
    next(gen)
    for a in angles[1:]:
        ev.type = "mouse_move"
        ev.position = _world(widget, layer, frame, a)
        next(gen)
    ev.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)


def _arcs(widget):
    return [
        (a.frame, a.cls, round(a.start_deg, 3), round(a.end_deg, 3)) for a in widget.arcset.arcs
    ]


def test_draw_arc_by_mouse_undo_redo_autosave(setup):
    viewer, widget, layer, pb, tmp_path = setup
    assert widget.layer is layer and widget.arcset.n_frames == 12
    widget.set_frame(3)
    assert widget.current_frame() == 3
    drag(widget, layer, 3, [30, 60, 90, 120])
    assert _arcs(widget) == [(3, "calcium", 30.0, 120.0)]
    # the arcs layer shows a class-1 sector on the right side; the preview is cleared
    # (a lazy 3D stack in mm, aligned with the pullback: napari slices it while scrolling)
    arcs_layer = viewer.layers[ARCS_LAYER]
    assert arcs_layer.data.shape == (12, 96, 96)
    assert np.allclose(arcs_layer.scale, layer.scale) and str(arcs_layer.units[0]) == "millimeter"
    sectors = np.asarray(arcs_layer.data[3])
    assert not np.asarray(arcs_layer.data[4]).any()
    assert (sectors == 1).any() and viewer.layers["arc preview"].data.max() == 0
    cy, cx = widget.arcset.center_of(3)
    r = int(0.9 * 48)
    assert sectors[int(cy + r * np.sin(np.radians(75))), int(cx + r * np.cos(np.radians(75)))] == 1
    assert sectors[int(cy - r * np.sin(np.radians(75))), int(cx)] == 0
    # autosaved beside the pullback
    saved = autosave_path(tmp_path / "pb.dcm")
    assert saved.exists()
    doc = json.loads(saved.read_text())
    assert [(a["frame"], a["start_deg"], a["end_deg"]) for a in doc["arcs"]] == [(3, 30.0, 120.0)]
    # live measurements
    assert widget.stats["calcium"]["max_arc_deg"] == pytest.approx(90.0)
    assert widget.stats["calcium"]["ics"] == pytest.approx(1000 * 90 / (12 * 360))
    # a drag through 0 deg makes one wrapping arc; counter-clockwise drags work too
    widget.class_combo.setCurrentText("attenuation")
    drag(widget, layer, 3, [340, 355, 10, 20])
    drag(widget, layer, 5, [200, 180, 150])
    assert (3, "attenuation", 340.0, 20.0) in _arcs(widget)
    assert (5, "attenuation", 150.0, 200.0) in _arcs(widget)
    # undo twice, redo once
    assert widget.undo() and widget.undo()
    assert _arcs(widget) == [(3, "calcium", 30.0, 120.0)]
    assert len(json.loads(saved.read_text())["arcs"]) == 1
    assert widget.redo()
    assert (3, "attenuation", 340.0, 20.0) in _arcs(widget)
    assert len(json.loads(saved.read_text())["arcs"]) == 2


def test_reopen_restores_annotations(setup, make_napari_viewer):
    viewer, widget, layer, pb, tmp_path = setup
    drag(widget, layer, 0, [10, 100, 200])
    drag(widget, layer, 7, [90, 180])
    before = _arcs(widget)
    assert before == [(0, "calcium", 10.0, 200.0), (7, "calcium", 90.0, 180.0)]
    # a new viewer opening the same pullback file restores them
    viewer2 = make_napari_viewer()
    layer2 = viewer2._add_layer_from_data(*pullback_layer_data(pb))[0]
    widget2 = ArcAnnotatorWidget(viewer2)
    assert widget2.layer is layer2
    assert _arcs(widget2) == before
    assert "restored 2 arcs" in widget2.save_label.text()


def test_shortcuts_copy_delete_and_map_click(setup):
    viewer, widget, layer, pb, tmp_path = setup
    for key in ("Alt-N", "Alt-P", "Alt-C", "Alt-V", "Alt-D", "Control-Z", "Control-Shift-Z"):
        assert KeyBinding.from_str(key) in viewer.keymap
        assert KeyBinding.from_str(key) in layer.keymap
    drag(widget, layer, 2, [0, 45, 90])
    widget.set_frame(2)
    viewer.keymap[KeyBinding.from_str("Alt-N")](viewer)
    assert widget.current_frame() == 3
    viewer.keymap[KeyBinding.from_str("Alt-V")](viewer)  # copy frame 2's arcs onto frame 3
    assert (3, "calcium", 0.0, 90.0) in _arcs(widget)
    viewer.keymap[KeyBinding.from_str("Alt-C")](viewer)
    assert widget.class_combo.currentText() == "attenuation"
    # delete the arc under the cursor (45 deg on frame 3)
    viewer.cursor.position = _world(widget, layer, 3, 45)
    viewer.keymap[KeyBinding.from_str("Alt-D")](viewer)
    assert _arcs(widget) == [(2, "calcium", 0.0, 90.0)]
    viewer.keymap[KeyBinding.from_str("Control-Z")](viewer)
    assert (3, "calcium", 0.0, 90.0) in _arcs(widget)

    class Click:
        inaxes = widget.ax_map
        xdata = 8.4

    widget._on_canvas_click(Click())
    assert widget.current_frame() == 8
    assert widget._long_cut is not None and widget._long_cut.shape[1] == 12


def test_prediction_accept_and_reject(setup):
    viewer, widget, layer, pb, tmp_path = setup
    pred = ArcSet(12, pb.frame_shape, ["calcium"])
    pred.add(4, "calcium", 100, 160)
    pred.add(6, "calcium", 300, 30)
    widget.predicted = pred
    widget.set_frame(4)
    assert (np.asarray(viewer.layers["predicted"].data[4]) > 0).any()
    assert widget.accept_prediction_frame() == 1
    assert (4, "calcium", 100.0, 160.0) in _arcs(widget)
    widget.reject_prediction_frame(6)
    assert widget.accept_prediction_all() == 0
    # undo after "Reject frame" undoes the reject (the proposal of frame 6 is back), then the
    # accept (issue 20: it used to undo the accept first)
    assert widget.undo() and widget.predicted.arcs_for(6)
    assert (4, "calcium", 100.0, 160.0) in _arcs(widget)
    assert widget.undo() and _arcs(widget) == [] and widget.predicted.arcs_for(4)


def test_bad_arcs_file_is_refused(setup):
    viewer, widget, layer, pb, tmp_path = setup
    other = tmp_path / "other.json"
    from napari_plaque.ivus.arcs import save_arcs

    save_arcs(ArcSet(3, (96, 96)), other)
    from napari_plaque.io.errors import FormatError

    with pytest.raises(FormatError, match="another pullback"):
        widget.load_from(other)


def test_draw_in_polar_view(setup):
    viewer, widget, layer, pb, tmp_path = setup
    widget.set_frame(1)

    class Ev:
        def __init__(self, x):
            self.inaxes = widget.ax_polar
            self.xdata = x

    widget._on_canvas_click(Ev(250.0))
    widget._on_canvas_release(Ev(200.0))  # dragged leftwards: the arc is [200, 250)
    assert _arcs(widget) == [(1, "calcium", 200.0, 250.0)]
    widget._on_canvas_click(Ev(0.0))
    widget._on_canvas_release(Ev(360.0))
    assert _arcs(widget)[-1] == (1, "calcium", 0.0, 360.0)


def test_predict_fills_predicted_layer(setup, qtbot):
    from napari_plaque.ivus.features import FEATURE_NAMES, FEATURE_VERSION
    from napari_plaque.ivus.svm import SVMModel, save_model

    viewer, widget, layer, pb, tmp_path = setup
    nf = len(FEATURE_NAMES)
    # a detector that calls an A-line calcium when its shadow is dark relative to its peak
    coef = np.zeros(nf)
    coef[FEATURE_NAMES.index("log_shadow_ratio")] = -1.0
    meta = {
        "format": "napari-plaque/aline-svm",
        "version": 1,
        "class": "calcium",
        "feature_names": list(FEATURE_NAMES),
        "feature_version": FEATURE_VERSION,
        "n_alines": 360,
        "depth_samples": 64,
        "depth_mm": 3.5,
        "smooth_alines": 7,
        "smooth_frames": 3,
        "threshold": 1.0,
    }
    path = save_model(SVMModel(coef, 0.0, np.zeros(nf), np.ones(nf), meta), tmp_path / "m.npz")
    widget.predict(path, block=True)
    assert widget.predicted is not None and widget.predicted.arcs
    assert "predicted: ICS" in widget.pred_label.text()
    f = widget.predicted.arcs[0].frame
    widget.set_frame(f)
    assert (np.asarray(viewer.layers["predicted"].data[f]) > 0).any()
    # the same in a background worker (as the button does)
    widget.predicted = None
    worker = widget.predict(path)
    assert worker is not None
    qtbot.waitUntil(lambda: widget.predicted is not None, timeout=30000)
    assert widget.predicted.arcs
    # a bad model file is reported, not raised
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"junk")
    widget.predict(bad, block=True)
    assert "bad.npz" in widget.pred_label.text()


def test_lumen_centre_mode(setup):
    viewer, widget, layer, pb, tmp_path = setup
    from napari_plaque.ivus.arcs import CenterMode

    # the box dispatches on the mode it carries (itemData), not on its text or position
    assert [widget.center_combo.itemData(i) for i in range(2)] == [CenterMode.CATHETER,
                                                                  CenterMode.LUMEN]
    widget.center_combo.setCurrentIndex(1)
    assert widget.arcset.center_mode == "lumen"
    assert np.asarray(widget.arcset.centers).shape == (12, 2)
    drag(widget, layer, 2, [0, 45, 90])  # angles are now about the lumen centre of frame 2
    assert _arcs(widget) == [(2, "calcium", 0.0, 90.0)]
    doc = json.loads(autosave_path(tmp_path / "pb.dcm").read_text())
    assert doc["center_mode"] == "lumen" and len(doc["centers"]) == 12
    # with arcs present the centre cannot change
    widget.center_combo.setCurrentIndex(0)
    assert widget.arcset.center_mode == "lumen" and widget.center_combo.currentIndex() == 1


def test_removing_the_pullback_resets_the_widget(setup):
    viewer, widget, layer, pb, tmp_path = setup
    drag(widget, layer, 1, [0, 90])
    viewer.layers.remove(layer)
    assert widget.layer is None and widget.arcset is None
    assert widget.save_label.text() == "no pullback"
    # buttons and shortcuts do nothing instead of failing
    widget.undo()
    widget.copy_previous_frame()
    widget.clear_frame()
    viewer.keymap[KeyBinding.from_str("Alt-N")](viewer)
    # adding it back restores the autosaved arcs
    layer2 = viewer._add_layer_from_data(*pullback_layer_data(pb))[0]
    assert widget.layer is layer2 and _arcs(widget) == [(1, "calcium", 0.0, 90.0)]


def test_deleted_dock_detaches_from_the_viewer(setup):
    from qtpy.QtCore import QCoreApplication, QEvent

    viewer, widget, layer, pb, tmp_path = setup
    bound = list(widget._drag_links.values())  # the guarded drag callbacks (dock base links)
    assert bound and bound[0] in layer.mouse_drag_callbacks
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # viewer events, shortcuts and mouse callbacks must not raise on the deleted widget
    viewer.add_image(np.zeros((3, 8, 8), np.uint8), name="after")
    viewer.dims.set_point(0, 0.4)
    viewer.dims.set_point(0, 0.8)
    assert KeyBinding.from_str("Alt-N") not in viewer.keymap
    assert widget.on_mouse_drag not in layer.mouse_drag_callbacks
    assert not any(cb in lyr.mouse_drag_callbacks for cb in bound for lyr in viewer.layers)
    assert "after" in viewer.layers


def test_failed_autosave_shows_red_and_save_as_recovers(make_napari_viewer, tmp_path):
    """Issue 9, widget side: opened from the Plugins menu; a failed write never stops work."""
    viewer = make_napari_viewer()
    pb, _ = make_ivus_sample(tmp_path / "pb.dcm", n_frames=6, seed=5, size=64)
    layer = viewer._add_layer_from_data(*pullback_layer_data(pb))[0]
    _, widget = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS arc annotator")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    widget.model.save_path = blocker / "pb.arcs.json"  # like a read-only folder or a full disk
    drag(widget, layer, 2, [10, 60, 100])
    assert _arcs(widget) == [(2, "calcium", 10.0, 100.0)]
    assert "FAILED" in widget.save_label.text() and "ff5050" in widget.save_label.styleSheet()
    drag(widget, layer, 3, [10, 60])  # keeps working
    assert len(widget.arcset.arcs) == 2
    assert widget.save_to(tmp_path / "elsewhere.json")
    assert widget.save_label.styleSheet() == "" and "elsewhere.json" in widget.save_label.text()
    assert len(json.loads((tmp_path / "elsewhere.json").read_text())["arcs"]) == 2
    # a CT model is refused by the annotator's predict, with the file named
    pytest.importorskip("torch")
    from napari_plaque.models.checkpoint import make_metadata, save_model
    from napari_plaque.models.nets import UNet

    net = UNet(dims=2, n_classes=2, base_channels=4, levels=2)
    norm = {"kind": "hu_window", "window_hu": [-300, 1300]}
    meta = make_metadata(net, "ct-seg", ["background", "calcium"], norm)
    ct = save_model(tmp_path / "ct.pt", net, meta)
    assert widget.predict(ct, block=True) is None
    assert "ct.pt" in widget.pred_label.text() and "A-line model" in widget.pred_label.text()


def test_views_in_mm_and_nothing_annotated_yet(make_napari_viewer, tmp_path):
    """Issue 21 items 13/14: opened as users do; every view axis in physical units; an empty
    pullback says 'nothing annotated yet', not ICS 0.0."""
    viewer = make_napari_viewer()
    pb, _ = make_ivus_sample(tmp_path / "pb.dcm", n_frames=6, seed=5, size=64)
    layer = viewer._add_layer_from_data(*pullback_layer_data(pb))[0]
    _, widget = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS arc annotator")
    widget._show_stats()
    stats = widget.controls.stats_label.text()
    assert "nothing annotated yet" in stats and "ICS" not in stats.split("(")[0]
    v = widget.views
    assert v._empty_text.get_visible()
    assert v.ax_polar.get_ylabel() == "depth (mm)"
    assert v.ax_polar.get_xlabel() == "angle (deg)"
    assert v.ax_long.get_xlabel() == "position (mm)" and v.ax_long.get_ylabel() == "across (mm)"
    assert v.ax_map.get_ylabel() == "angle (deg)" and v.ax_map.get_xlabel() == "frame"
    depth = min(pb.frame_shape) / 2 * pb.pixel_spacing_mm[0]
    assert v.ax_polar.get_ylim() == pytest.approx((depth, 0))
    assert v.ax_long.get_xlim() == pytest.approx((0, pb.n_frames * pb.mm_per_frame))
    widget._start_longitudinal(block=True)
    ext = v._long_im.get_extent()
    assert ext[1] == pytest.approx(pb.n_frames * pb.mm_per_frame)
    # the x label of each plot clears the title of the one below; the bottom label is inside
    v.canvas.draw()
    r = v.canvas.get_renderer()
    for upper, lower in ((v.ax_polar, v.ax_map), (v.ax_map, v.ax_long)):
        xl = upper.xaxis.label.get_window_extent(r)
        assert xl.y0 > lower.title.get_window_extent(r).y1
    assert v.ax_long.xaxis.label.get_window_extent(r).y0 >= 0
    # a click on the cut (its x in mm) goes to that frame
    ev = type("E", (), {"xdata": 3.5 * pb.mm_per_frame, "ydata": 0.0, "inaxes": v.ax_long})()
    v._on_canvas_click(ev)
    assert widget.current_frame() == 3
    drag(widget, layer, 2, [10, 60, 100])
    widget._update_views()  # (the dock does it on a short timer)
    assert not v._empty_text.get_visible()
    assert "ICS" in widget.controls.stats_label.text()
    # values the file did not hold are marked on their axes
    v.reset(6, ["calcium"], 0.2, 0.05, 1.6, assumed={"pullback_rate_mm_s"})
    assert v.ax_long.get_xlabel() == "position (mm, assumed)"
    assert v.ax_polar.get_ylabel() == "depth (mm)"


def test_the_dock_is_on_the_base_and_keeps_its_pullback(setup, tmp_path):
    """Issue 23: the annotator is a DockBase; its picker lists pullbacks only (the CT is
    refused, named in the note) and a pullback added later does not take the opened one's
    place."""
    from napari_plaque.widgets._dock import DockBase, LayerPicker

    viewer, widget, layer, pb, _ = setup
    assert isinstance(widget, DockBase) and isinstance(widget.controls.layer_combo, LayerPicker)
    viewer.add_image(np.zeros((5, 16, 16), np.int16), name="ct", metadata={"napari_plaque": "ct"})
    pb2, _ = make_ivus_sample(tmp_path / "pb2.dcm", n_frames=8, seed=6, size=64)
    layer2 = viewer._add_layer_from_data(*pullback_layer_data(pb2))[0]
    combo = widget.controls.layer_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [layer.name, layer2.name]
    assert widget.layer is layer and combo.currentText() == layer.name
    assert "'ct' (ct)" in widget.controls.layer_note.text()
    combo.setCurrentText(layer2.name)  # the user's choice opens it
    assert widget.layer is layer2 and widget.pullback.n_frames == 8
    viewer.layers.remove(layer2)  # its layer gone: back to the other pullback
    assert widget.layer is layer and combo.currentText() == layer.name


class _SlowDetector:
    name = "slow"

    def __init__(self, n):
        self.n = n

    def iter_predict(self, pullback, center=None):
        import time

        for i in range(self.n):
            time.sleep(0.01)
            yield i
        return ArcSet(pullback.n_frames, pullback.frame_shape, ["calcium"])


def test_predict_and_train_are_the_bases_one_job_with_cancel(setup, qtbot, monkeypatch):
    """Predicting with a model file runs as the dock's job: Cancel and the progress bar on,
    Train refused meanwhile (said), Cancel keeps nothing; then a run to the end."""
    import napari_plaque.ivus.detector as detector

    viewer, widget, layer, pb, tmp_path = setup
    n = [10_000]
    monkeypatch.setattr(detector, "load_aline_detector", lambda path: _SlowDetector(n[0]))
    lp = widget.loop_panel
    assert not lp.cancel_btn.isEnabled() and not lp.progress.isVisibleTo(widget)
    worker = widget.predict("any.npz")
    assert worker is not None and widget.running and lp.cancel_btn.isEnabled()
    assert lp.progress.isVisibleTo(widget) and not lp.train_btn.isEnabled()
    assert lp.progress.maximum() == pb.n_frames  # the base's bar over the pullback's frames
    assert widget.train() is None and "another job is running" in lp.loop_label.text()
    qtbot.waitUntil(lambda: lp.progress.value() > 0, timeout=5000)
    lp.cancel_btn.click()
    qtbot.waitUntil(lambda: not widget.running, timeout=5000)
    assert widget.predicted is None and "cancelled" in widget.pred_label.text()
    assert "cancelled" in lp.loop_label.text()  # not left at "cancelling…"
    assert not lp.cancel_btn.isEnabled() and lp.train_btn.isEnabled()
    assert not lp.progress.isVisibleTo(widget)
    n[0] = 3
    assert widget.predict("any.npz") is not None
    qtbot.waitUntil(lambda: not widget.running, timeout=5000)
    assert widget.predicted is not None and not lp.cancel_btn.isEnabled()
