"""The whole annotation loop in the arc annotator dock, opened the way users open it.

Annotate 5 frames, train, predict, accept some, reject some, undo, retrain, follow a proposal,
keyframes, paint on the arc map, end-diastolic stepping, two readers, adjudicate. With
``NAPARI_PLAQUE_SHOTS=<folder>`` the dock is saved as a PNG in each state (docs/images).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from napari_plaque.ivus.arcs import ArcSet, load_arcs, save_arcs
from napari_plaque.ivus.readers import ADJUDICATED, reader_path
from napari_plaque.layers import pullback_layer_data
from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

DOCK = ("napari-plaque", "IVUS arc annotator")


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


def _shot(dock, widget, name: str, window: bool = False) -> None:
    """Save the dock (all sections, as tall as its content) when asked to; with ``window``
    also the whole napari window (the frame with its arcs layers beside the dock)."""
    folder = os.environ.get("NAPARI_PLAQUE_SHOTS")
    if not folder:
        return
    from qtpy.QtWidgets import QApplication

    inner = widget.sections["loop"].parentWidget()  # the scroll area's content
    for _ in range(3):
        QApplication.processEvents()
    inner.resize(inner.width(), inner.sizeHint().height())
    QApplication.processEvents()
    widget.views.canvas.draw()
    inner.grab().save(str(Path(folder) / f"ivus_{name}.png"))
    if window:
        qt_win = widget.viewer.window._qt_window
        qt_win.resize(1600, 1000)
        QApplication.processEvents()
        qt_win.grab().save(str(Path(folder) / f"ivus_{name}_window.png"))


@pytest.fixture
def opened(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    pb, truth = make_ivus_sample(tmp_path / "pb.dcm", n_frames=30, seed=3, size=96)
    layer = viewer._add_layer_from_data(*pullback_layer_data(pb))[0]
    dock, widget = viewer.window.add_plugin_dock_widget(*DOCK)
    return viewer, dock, widget, layer, pb, truth_arcset(truth), tmp_path


def test_ct_volume_is_refused_and_dock_fits_1080(make_napari_viewer):
    """Issue 21 item 8: a CT volume is not a pullback; the dock fits a 1080-px screen."""
    viewer = make_napari_viewer()
    ct = viewer.add_image(np.zeros((5, 16, 16), np.int16), name="ct", metadata={
        "napari_plaque": "ct"})
    dock, widget = viewer.window.add_plugin_dock_widget(*DOCK)
    assert widget.layer is None and widget.controls.layer_combo.count() == 0
    assert len(viewer.layers) == 1  # no overlay layers added to the CT
    assert "'ct' (ct)" in widget.controls.layer_note.text()
    assert widget.set_pullback_layer(ct) is False
    assert "not an IVUS pullback" in widget.save_label.text()
    assert dock.minimumSizeHint().height() < 1080 - 120


def test_reader_file_apart_and_other_pullback_refused(opened):
    viewer, dock, widget, layer, pb, truth, tmp_path = opened
    src = tmp_path / "pb.dcm"
    assert widget.set_reader("Ann B.")
    assert widget.save_path == reader_path(src, "Ann B.")
    widget.add_arc(3, "calcium", 10, 50)
    doc = json.loads(widget.save_path.read_text())
    assert doc["version"] == 2 and doc["reader"] == "Ann B."
    assert doc["pullback"]["uid"].startswith("uid:") and doc["pullback"]["n_alines"] == 360
    from napari_plaque.widgets.ivus import remembered_reader

    assert remembered_reader() == "Ann B."
    # arcs of another pullback (same geometry) are refused on load, the file named
    other, _ = make_ivus_sample(tmp_path / "other.dcm", n_frames=30, seed=4, size=96)
    s = ArcSet(30, (96, 96))
    s.add(1, "calcium", 0, 90)
    s.stamp(other, 360)
    bad = save_arcs(s, tmp_path / "other.dcm.arcs.json")
    from napari_plaque.io.errors import FormatError

    with pytest.raises(FormatError, match=r"other\.dcm\.arcs\.json.*another pullback"):
        widget.load_from(bad)
    # ... and a reader file of another pullback placed beside this one is not opened
    save_arcs(s, reader_path(src, "C"))
    assert widget.set_reader("C")
    assert widget.save_path is None and "another pullback" in widget.save_label.text()
    assert widget.arcset.arcs == []


@pytest.mark.slow
def test_the_whole_loop_in_the_dock(opened, qtbot):
    viewer, dock, widget, layer, pb, truth, tmp_path = opened
    src = tmp_path / "pb.dcm"
    widget.set_reader("A")
    _shot(dock, widget, "empty")
    # annotate 5 frames (the truth's arcs, as an expert would draw them)
    keys = [2, 8, 14, 20, 26]
    for f in keys:
        for a in truth.arcs_for(f):
            widget.add_arc(f, a.cls, a.start_deg, a.end_deg)
        widget.mark_frame_done(f)
    assert widget.loop.annotated_frames().tolist() == keys
    # train (blocking here; the button runs it in a worker, below)
    res = widget.train("svm", block=True)
    assert res is not None and widget.loop.model is not None
    assert "held-out F1" in widget.loop_panel.loop_label.text()
    assert len(widget.curve.points) == 1 and widget.curve.points[0][0] == 5
    # predict: proposals on the unannotated frames, in the predicted layer, not the user's
    widget.predict_unannotated(block=True)
    pred = widget.predicted
    assert pred is not None and pred.arcs
    assert not {a.frame for a in pred.arcs} & set(keys)
    assert widget.loop_panel.proposal_list.count() > 0
    f_prop = pred.arcs[0].frame
    widget.set_frame(f_prop)
    assert (np.asarray(viewer.layers["predicted"].data[f_prop]) > 0).any()
    _shot(dock, widget, "proposals", window=True)
    # accept some (one arc; a frame; a range), reject some (a frame; a range)
    frames = sorted({a.frame for a in pred.arcs})
    n0 = len(widget.arcset.arcs)
    assert widget.accept_arc(frames[0], 0) == 1
    assert widget.accept_prediction_frame(frames[1]) >= 1
    assert widget.reject_prediction_frame(frames[2]) >= 1
    n_rej = widget.reject_range(frames[3], frames[4])
    assert n_rej >= 1 and not widget.predicted.arcs_for(frames[3])
    # undo: the range reject comes back, the earlier accepts stay
    assert widget.undo() and widget.predicted.arcs_for(frames[3])
    assert len(widget.arcset.arcs) > n0
    assert widget.accept_range(frames[5], frames[6]) >= 1
    # retrain: one click, accepted frames now labels; a second curve point
    n_ann = len(widget.loop.annotated_frames())
    assert n_ann > 5
    widget.retrain(block=True)
    assert [p[0] for p in widget.curve.points] == [5, n_ann]
    # follow a proposal (the Alt-J key's command)
    widget.predict_unannotated(block=True)
    f = widget.next_proposal()
    assert f in widget.loop.proposals and widget.current_frame() == f
    assert f not in widget.loop.annotated_frames()
    _shot(dock, widget, "retrained")
    # keyframes: interpolated arcs between annotated frames become proposals
    assert widget.interpolate_keyframes() > 0 and widget.predicted.arcs
    # paint on the arc map: one stroke over frames 10..12, one undo
    widget.views.map_mode.setCurrentText("paint")
    before = [(a.frame, a.start_deg, a.end_deg) for a in widget.arcset.arcs]
    widget._on_paint("begin", 10, 10, 170, 190, False)
    widget._on_paint("paint", 10, 12, 170, 190, False)
    widget._on_paint("end", 0, 0, 0, 0, False)
    assert all(widget.arcset.class_labels("calcium")[f, 180] for f in (10, 11, 12))
    assert widget.undo()
    assert [(a.frame, a.start_deg, a.end_deg) for a in widget.arcset.arcs] == before
    widget.views.map_mode.setCurrentText("go to frame")
    # end-diastolic frames: gated with the confidence shown (or why not)
    widget.gate(block=True)
    assert "confidence" in widget.loop_panel.ed_label.text() or "no gating" in (
        widget.loop_panel.ed_label.text()
    )
    # the session file keeps the loop's state for this reader
    sess = json.loads((tmp_path / "pb.dcm.arcs-session.A.json").read_text())
    assert len(sess["loop"]["learning_curve"]) == 2
    # train in a worker and cancel it: nothing changes
    worker = widget.train()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.loop_panel.cancel_btn.isEnabled() is False, timeout=60000)
    assert len(widget.curve.points) in (2, 3)
    # ... and one run to the end in the worker, as the Retrain button does
    n_pts = len(widget.curve.points)
    assert widget.retrain() is not None and widget.loop_panel.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: len(widget.curve.points) == n_pts + 1, timeout=120000)
    assert not widget.loop_panel.cancel_btn.isEnabled()

    # two readers: B's file beside the pullback, hidden until asked
    b = truth.copy()
    b.arcs = [a for a in b.arcs if a.frame not in (8,)]
    for a in b.arcs:
        a.annotator = "B"
    b.stamp(pb, 360)
    b.reader = "B"
    save_arcs(b, reader_path(src, "B"))
    widget.scan_readers()
    assert "B" in widget.others and viewer.layers["reader B"].visible is False
    assert "hidden" in widget.readers_panel.others_label.text()
    widget.readers_panel.show_others.setChecked(True)
    assert viewer.layers["reader B"].visible is True
    out = widget.reader_figures()
    assert out is not None and len(out["pairwise"]) == 1
    assert "κ A–B" in widget.readers_panel.figures_label.text()
    widget.sections["readers"].expand()
    # adjudicate A vs B
    assert widget.start_adjudication("A", "B")
    adj = widget.adjudication
    assert adj.frames and widget.current_frame() == adj.frames[0]
    _shot(dock, widget, "adjudication", window=True)
    first = adj.frames[0]
    assert widget.take("B") and adj.decisions[first] == "B"
    for g in list(adj.pending):
        widget.set_frame(g)
        widget.take("A")
    assert widget.undo_decision() and len(adj.pending) == 1
    widget.set_frame(adj.pending[0])
    assert widget.edit_adjudicated()
    out_path = widget.save_adjudicated()
    assert out_path == reader_path(src, ADJUDICATED)
    saved = load_arcs(out_path)
    assert saved.reader == ADJUDICATED and saved.adjudication["pending"] == []
    assert {a.annotator for a in saved.arcs} <= {"A", "B", "unknown", ""} | {
        a.annotator for a in widget.arcset.arcs
    }
    assert worker is not None


@pytest.mark.slow
def test_deep_detector_from_the_dock(opened):
    """With torch installed the dock trains the deep A-line model (one epoch here)."""
    pytest.importorskip("torch")
    viewer, dock, widget, layer, pb, truth, tmp_path = opened
    combo = widget.loop_panel.kind_combo
    assert combo.model().item(1).isEnabled()
    combo.setCurrentIndex(1)
    for f in (2, 8, 14, 20, 26):
        for a in truth.arcs_for(f):
            widget.add_arc(f, a.cls, a.start_deg, a.end_deg)
        widget.mark_frame_done(f)
    assert widget.train(block=True, epochs=1) is not None
    assert widget.loop.kind == "deep" and widget.loop.learning_curve[-1].kind == "deep"
    widget.predict_unannotated(block=True)
    assert widget.predicted is not None
    assert "failed" not in widget.loop_panel.loop_label.text()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("NAPARI_PLAQUE_BENCH"), reason="NAPARI_PLAQUE_BENCH=1")
def test_bench_main_thread_cost_of_review_actions(make_napari_viewer, tmp_path, qapp):
    """Median main-thread time of review actions on a 300-frame 256 x 256 pullback, event
    processing (the views' repaint) included. Prints the figures; asserts nothing about them."""
    import time

    viewer = make_napari_viewer()
    pb, truth = make_ivus_sample(tmp_path / "pb.dcm", n_frames=300, seed=3, size=256)
    viewer._add_layer_from_data(*pullback_layer_data(pb))
    _, w = viewer.window.add_plugin_dock_widget(*DOCK)
    w.set_reader("A")
    w.predicted = truth_arcset(truth).copy()
    frames = sorted({a.frame for a in w.predicted.arcs})

    def med(fn, n=10):
        ts = []
        for i in range(n):
            t0 = time.perf_counter()
            fn(i)
            qapp.processEvents()
            ts.append(time.perf_counter() - t0)
        return 1000 * float(np.median(ts))

    def stroke(i):
        w._on_paint("begin", 100 + i, 100 + i, 10, 30, False)
        for k in range(5):
            w._on_paint("paint", 100 + i, 101 + i + k, 10 + 5 * k, 30 + 5 * k, False)
        w._on_paint("end", 0, 0, 0, 0, False)

    figures = {
        "accept frame": med(lambda i: w.accept_prediction_frame(frames[i])),
        "reject frame": med(lambda i: w.reject_prediction_frame(frames[20 + i])),
        "undo": med(lambda i: w.undo()),
        "accept arc": med(lambda i: w.accept_arc(frames[40 + i], 0)),
        "paint stroke (6 moves)": med(stroke),
        "go to frame": med(lambda i: w.set_frame(150 + i)),
    }
    print()
    for k, v in figures.items():
        print(f"{k}: {v:.0f} ms")
