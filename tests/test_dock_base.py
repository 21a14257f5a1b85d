"""The dock base (widgets/_dock.py): picker by kind, worker with Cancel, the deleted-dock guard."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_plaque.widgets._dock import NONE, DockBase, LayerKind, dock_alive  # noqa: E402


def _ct(viewer, name):
    return viewer.add_image(np.zeros((3, 4, 4)), name=name, metadata={"napari_plaque": "ct"})


def test_picker_follows_layers_and_keeps_the_users_choice(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = DockBase(viewer)
    p = dock.layer_picker(LayerKind.IMAGE)
    labels = dock.layer_picker("labels", optional=True)
    assert p.count() == 0 and p.layer() is None and labels.currentText() == NONE
    viewer.add_image(np.zeros((3, 4, 4)), name="photo")
    assert p.currentText() == "photo"
    _ct(viewer, "ct")
    assert p.currentText() == "ct"  # the one default rule: a tagged CT beats an untagged image
    viewer.add_image(np.zeros((3, 4, 4)), name="other")
    assert p.currentText() == "ct"
    viewer.add_labels(np.zeros((3, 4, 4), int), name="mask")
    assert [labels.itemText(i) for i in range(labels.count())] == [NONE, "mask"]
    assert labels.currentText() == NONE and p.count() == 3  # labels are not images
    p.setCurrentText("photo")  # the user's choice stays while its layer exists
    _ct(viewer, "ct2")
    assert p.currentText() == "photo" and p.layer() is viewer.layers["photo"]
    viewer.layers.remove("photo")
    assert p.currentText() == "ct2"  # then the default rule again


def test_picker_kinds(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = DockBase(viewer)
    pb = dock.layer_picker(LayerKind.PULLBACK)
    cxr = dock.layer_picker(LayerKind.RADIOGRAPH)
    viewer.add_image(np.zeros((8, 8)), name="xray", metadata={"napari_plaque": "radiograph"})
    viewer.add_image(np.zeros((8, 8)), name="sal", metadata={"napari_plaque": "cxr-saliency"})
    viewer.add_image(np.zeros((4, 8, 8)), name="ivus", metadata={"napari_plaque": "ivus"})
    _ct(viewer, "ct")
    assert [pb.itemText(i) for i in range(pb.count())] == ["ivus", "ct"]
    assert pb.currentText() == "ivus"  # a pullback dock never defaults to the CT
    assert "sal" not in [cxr.itemText(i) for i in range(cxr.count())]
    assert cxr.currentText() == "xray"


def _slow(n):
    for i in range(n):
        time.sleep(0.02)
        yield i
    return "done"


def test_cancel_stops_the_worker(make_napari_viewer, qtbot):
    from qtpy.QtWidgets import QVBoxLayout

    viewer = make_napari_viewer()
    dock = DockBase(viewer)
    dock.build_run_row(QVBoxLayout(dock), on_run=lambda: None)
    got = []
    w = dock.start(_slow, 10_000, total=10_000, desc="test", on_done=got.append)
    assert dock.running and not dock.run_btn.isEnabled() and dock.cancel_btn.isEnabled()
    assert dock.start(_slow, 3, total=3, desc="test", on_done=got.append) is None  # one at a time
    qtbot.waitUntil(lambda: dock.progress.value() > 0, timeout=5000)
    dock.cancel_btn.click()
    qtbot.waitUntil(lambda: not dock.running, timeout=5000)
    assert got == [] and "cancelled" in dock.status.text()
    assert dock.run_btn.isEnabled() and not dock.cancel_btn.isEnabled()
    assert not w.is_running
    # a finished run hands its result over; replace=True cancels the old one first
    dock.start(_slow, 10_000, total=10_000, desc="test", on_done=got.append)
    dock.start(_slow, 3, total=3, desc="test", on_done=got.append, replace=True)
    qtbot.waitUntil(lambda: not dock.running, timeout=5000)
    qtbot.wait(100)
    assert got == ["done"]


def test_the_guard_detaches_after_the_dock_is_deleted(make_napari_viewer, qtbot):
    from qtpy import sip  # PyQt: sip.delete deletes the C++ object, the wrapper lives on

    viewer = make_napari_viewer()
    dock = DockBase(viewer)
    picker = dock.layer_picker("image")
    calls, detached = [], []
    dock.on_detach = lambda: detached.append(True)
    cb = dock.links.connect(viewer.layers.events.inserted, lambda e: calls.append(e.value.name))
    clicks = []

    def on_click(viewer, event):
        clicks.append(1)
        yield

    mouse = dock.links.mouse(viewer.mouse_drag_callbacks, on_click)
    _ct(viewer, "a")
    assert calls == ["a"] and picker.currentText() == "a"
    list(mouse(viewer, None))
    assert clicks == [1]
    sip.delete(dock)
    assert not dock_alive(dock) and not dock_alive(picker)
    _ct(viewer, "b")  # no RuntimeError: the first event after deletion detaches everything
    assert calls == ["a"] and detached == [True]
    assert cb not in viewer.layers.events.inserted.callbacks
    assert mouse not in viewer.mouse_drag_callbacks
    viewer.layers.remove("a")  # nothing left to call
    assert detached == [True]


def test_close_detaches(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = DockBase(viewer)
    cb = dock.links.connect(viewer.layers.events.inserted, lambda e: None)
    dock.close()
    assert cb not in viewer.layers.events.inserted.callbacks


def test_picker_filter_selection_rule_and_picked_signal(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = DockBase(viewer)
    own = dock.layer_picker(LayerKind.CENTRELINE, where=lambda ly: not ly.name.endswith(" ROI"))
    img = dock.layer_picker(LayerKind.IMAGE, optional=True, default_none=False, selection=True)
    assert img.currentText() == NONE
    picked = []
    img.picked.connect(picked.append)
    viewer.add_points(np.zeros((2, 3)), name="pts")
    viewer.add_labels(np.zeros((3, 4, 4), int), name="lumen")
    viewer.add_labels(np.zeros((3, 4, 4), int), name="LAD ROI")  # the dock's own output
    viewer.add_labels(np.zeros((4, 4), int), name="flat")  # 2D: no centreline in it
    assert [own.itemText(i) for i in range(own.count())] == ["pts", "lumen"]
    a = _ct(viewer, "a")
    assert img.currentText() == "a" and picked == ["a"]  # the rule's layer, said
    viewer.layers.selection.clear()
    _ct(viewer, "b")
    assert img.currentText() == "b" and picked == ["a", "b"]  # the newest CT
    viewer.layers.selection = {a}
    viewer.add_image(np.zeros((2, 2)), name="untagged")
    assert img.currentText() == "a" and picked == ["a", "b", "a"]  # the selected CT
    ref = dock.layer_picker(LayerKind.IMAGE, default_fn=lambda layers: layers[0].name)
    assert ref.currentText() == "a"


_SEEN: list[int] = []


def _stepped(n, progress=None):
    """An api-like function: ``progress(desc, total)`` gives a step callback."""
    step = progress("test", n) if progress is not None else None
    _SEEN.clear()
    for i in range(n):
        time.sleep(0.005)
        _SEEN.append(i)
        if step is not None:
            step(i)
    return len(_SEEN)


def test_start_call_runs_an_api_function_and_cancel_stops_it(make_napari_viewer, qtbot):
    from qtpy.QtWidgets import QVBoxLayout

    viewer = make_napari_viewer()
    dock = DockBase(viewer)
    dock.build_run_row(QVBoxLayout(dock), on_run=lambda: None)
    got = []
    dock.start_call(_stepped, 5, total=5, desc="test", on_done=got.append)
    qtbot.waitUntil(lambda: not dock.running, timeout=5000)
    assert got == [5] and dock.progress.value() == 5
    errors = []
    n = 100_000
    dock.start_call(_stepped, n, total=n, desc="test", on_done=got.append,
                    on_error=errors.append)  # fmt: skip
    qtbot.waitUntil(lambda: dock.progress.value() > 3, timeout=5000)
    dock.cancel_btn.click()
    qtbot.waitUntil(lambda: not dock.running, timeout=5000)
    qtbot.wait(100)
    stopped = len(_SEEN)
    qtbot.wait(200)
    assert got == [5] and errors == [] and "cancelled" in dock.status.text()
    assert len(_SEEN) == stopped < n  # the function itself stopped at its next step


def test_start_call_reports_the_functions_error(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    dock = DockBase(viewer)

    def bad(progress=None):
        raise ValueError("no lumen")

    errors = []
    dock.start_call(bad, total=0, desc="test", on_done=lambda r: None, on_error=errors.append)
    qtbot.waitUntil(lambda: not dock.running, timeout=5000)
    assert [str(e) for e in errors] == ["no lumen"]


def test_side_jobs_on_running_hook_keep_and_drop(make_napari_viewer, qtbot):
    """What the arc annotator needs: a side job beside the main one (the newest of its key
    kept), a hook for a dock's own run buttons, a picker choice kept against a newer layer, one
    link dropped (a replaced model's)."""
    from qtpy import sip

    viewer = make_napari_viewer()
    dock = DockBase(viewer)
    states = []
    dock.on_running = states.append
    got, side = [], []
    dock.start(_slow, 10_000, total=10_000, desc="main", on_done=got.append)
    assert states == [True]
    first = dock.start_side("cut", _slow, 10_000, desc="side", on_done=side.append)
    dock.start_side("cut", _slow, 2, desc="side", on_done=side.append)  # replaces the first
    qtbot.waitUntil(lambda: side == ["done"] and not dock._side, timeout=5000)
    assert not first.is_running and dock.running  # the main job runs on
    dock.cancel()
    qtbot.waitUntil(lambda: not dock.running, timeout=5000)
    assert states == [True, False] and got == []
    # keep: a newer CT does not take the place of the layer the dock opened
    p = dock.layer_picker(LayerKind.IMAGE)
    _ct(viewer, "a")
    _ct(viewer, "b")
    assert p.currentText() == "b"
    p.keep("a")
    _ct(viewer, "c")
    assert p.currentText() == "a"
    # drop: one link disconnected, the others stay
    calls = []
    cb = dock.links.connect(viewer.layers.events.inserted, lambda e: calls.append(1))
    mouse = dock.links.mouse(viewer.mouse_drag_callbacks, lambda v, e: None)
    dock.links.drop(cb)
    dock.links.drop(cb)  # twice: nothing left to drop
    _ct(viewer, "d")
    assert calls == [] and mouse in viewer.mouse_drag_callbacks
    dock.links.drop(mouse)
    assert mouse not in viewer.mouse_drag_callbacks and p.currentText() == "a"
    # a side job's result is dropped once the dock is deleted
    dock.start_side("cut", _slow, 5, desc="side", on_done=side.append)
    sip.delete(dock)
    qtbot.wait(400)
    assert side == ["done"]
