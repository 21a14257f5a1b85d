"""Slice stepping with docks open (issue 21 item 4): a hidden dock, or one whose pullback frame
did not change, does no drawing work on a step; shown again, it catches up once."""

from __future__ import annotations

import pytest

from napari_plaque.layers import pullback_layer_data
from napari_plaque.samples.ivus import make_pullback_frames
from napari_plaque.types import Pullback

pytestmark = pytest.mark.gui


def test_hidden_annotator_does_not_redraw_on_step(make_napari_viewer, qtbot):
    frames, truth = make_pullback_frames(n_frames=12, size=96, seed=1)
    pb = Pullback(frames, truth["frame_time_s"], truth["pullback_rate_mm_s"],
                  truth["pixel_spacing_mm"], name="pullback")
    viewer = make_napari_viewer(show=True)  # a hidden window hides every dock
    data, attrs, _ = pullback_layer_data(pb)
    viewer.add_image(data, **attrs)
    dock, w = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS arc annotator")
    qtbot.waitUntil(lambda: w.model is not None, timeout=20000)
    calls = []
    w._frame_timer.timeout.connect(lambda: calls.append(w.current_frame()))
    qtbot.wait(500)
    calls.clear()
    viewer.dims.set_current_step(0, 3)
    qtbot.waitUntil(lambda: calls == [3], timeout=5000)
    viewer.dims.set_current_step(0, 3)  # the same frame: nothing to draw
    dock.hide()
    for k in (4, 5, 6):
        viewer.dims.set_current_step(0, k)
    qtbot.wait(300)
    assert calls == [3]  # hidden: no redraw while stepping
    dock.show()
    qtbot.waitUntil(lambda: calls == [3, 6], timeout=5000)  # shown: once, at the frame shown
