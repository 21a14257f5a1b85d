"""The CT-IVUS fusion dock, opened the way users open it; linked views on a synthetic case."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_plaque.fusion.synthetic import make_case, make_ct_volume, render_frames
from napari_plaque.layers import ct_layer_data, pullback_layer_data
from napari_plaque.types import Pullback


@pytest.fixture
def fusion(make_napari_viewer, tmp_path):
    from napari_plaque.ccta.centreline import Centreline
    from napari_plaque.ivus.arcs import save_arcs

    case = make_case(np.random.default_rng(11), n_lesions=2, mm_per_frame=0.2,
                     attenuated=[True, False])  # fmt: skip
    ct, pts = make_ct_volume(case, spacing_mm=(1.0, 0.5, 0.5))
    cl = Centreline(points_mm=pts, name="LAD").resampled(0.5)
    cl.save(tmp_path / "cl.json")
    frames = render_frames(case, size=96)
    case.arcs.frame_shape = (96, 96)
    case.arcs.centers = [47.5, 47.5]
    save_arcs(case.arcs, tmp_path / "arcs.json")
    pb = Pullback(frames, 0.4, 0.5 * case.speed_factor, (0.1, 0.1), name="pullback")
    viewer = make_napari_viewer()
    data, attrs, _ = ct_layer_data(ct)
    viewer.add_image(data, **attrs)
    data, attrs, _ = pullback_layer_data(pb)
    viewer.add_image(data, **attrs)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "CT-IVUS fusion")
    w.ivus_combo.setCurrentText("pullback")
    w.ct_combo.setCurrentText("synthetic")
    w.load_centreline(tmp_path / "cl.json")
    w.load_arcs(tmp_path / "arcs.json")
    w.set_vessel_result(case.centreline_length_mm, case.lesions)
    return viewer, w, case, tmp_path


def test_landmark_links_the_views_and_fills_the_table(fusion):
    viewer, w, case, tmp_path = fusion
    s = w.session
    assert s.mapping is None and w.table.rowCount() == 2  # CT lesions, not joined yet
    # landmark: the true s of frame 100 (pullback speed in the layer is the true one)
    s.set_frame(100)
    w.s_spin.setValue(float(case.true_s(100)))
    assert s.frame == 100  # not linked yet: moving s did not move the frame
    w.add_lm_btn.click()
    assert s.mapping is not None, w.status.text()
    # moving the viewer's frame moves s (and the CT section)
    ly = viewer.layers["pullback"]
    viewer.dims.set_point(0, 250 * float(ly.scale[0]))
    assert s.frame == 250
    assert s.s_mm == pytest.approx(float(case.true_s(250)), abs=0.006)  # s box: 0.01 mm
    assert w.s_spin.value() == pytest.approx(float(case.true_s(250)), abs=0.01)
    sec = viewer.layers["CT section (fusion)"]
    assert sec.metadata["s_mm"] == pytest.approx(s.s_mm)
    # moving s moves the viewer's frame
    w.s_spin.setValue(30.0)
    f = int(round(viewer.dims.point[0] / float(ly.scale[0])))
    assert f == s.frame and abs(case.true_s(f) - 30.0) <= 0.2 * case.speed_factor / 2 + 1e-6
    # the table holds the joined lesions with their true frames and outcome
    m = w.table_model
    assert m.row(0)["frames"] == "{}-{}".format(*case.truth_frames[0])
    assert m.row(0)["attenuated"] == "yes" and m.row(1)["attenuated"] == "no"
    headers = [m.headerData(c, Qt.Orientation.Horizontal) for c in range(m.columnCount())]
    assert "s (mm)" in headers and "calcium max arc (°)" in headers  # units in the header
    # a row click jumps to the lesion
    w.table.clicked.emit(m.index(1, 0))
    mid = 0.5 * (case.lesions[1]["start_mm"] + case.lesions[1]["end_mm"])
    assert s.s_mm == pytest.approx(mid)
    # a second landmark: unlink, move the frame alone, set s, add; linked again with the speed
    w.link_check.setChecked(False)
    viewer.dims.set_point(0, 300 * float(ly.scale[0]))
    assert s.frame == 300 and s.s_mm == pytest.approx(mid)  # s stayed
    w.s_spin.setValue(float(case.true_s(300)))
    assert s.frame == 300  # frame stayed
    w.add_lm_btn.click()
    w.link_check.setChecked(True)
    assert len(s.landmarks) == 2
    assert s.mapping.scale == pytest.approx(1.0, abs=1e-3)  # the layer's rate is the true one
    viewer.dims.set_point(0, 50 * float(ly.scale[0]))
    assert s.s_mm == pytest.approx(float(case.true_s(50)), abs=0.01)


def test_arcs_drawn_on_both_views_with_rotation(fusion):
    viewer, w, case, tmp_path = fusion
    s = w.session
    f = case.truth_frames[0][0] + (case.truth_frames[0][1] - case.truth_frames[0][0]) // 2
    s.add_landmark(float(case.true_s(0)), 0)
    w.rotation_spin.setValue(case.rotation_deg)
    s.set_frame(f)
    ivus = s.ivus_arcs()
    assert ivus, "the lesion's middle frame holds arcs"
    layer = viewer.layers["arcs (fusion)"]
    assert len(layer.data) == 2 * len(ivus)  # each arc on the IVUS frame and on the CT section
    # on CT the calcium arc is centred where the synthetic case put it (CT angle)
    ct = dict((c, (a, b)) for c, a, b in s.ct_arcs())
    ia, ib = dict((c, (a, b)) for c, a, b in ivus)["calcium"]
    rot = w.rotation_spin.value()  # the box keeps 2 decimals
    assert abs(rot - case.rotation_deg) < 0.006
    assert ct["calcium"][0] == pytest.approx(np.mod(ia + rot, 360.0))


@pytest.mark.skipif(
    not __import__("os").environ.get("FUSION_SCREENSHOTS"), reason="docs screenshot on demand"
)
def test_screenshot(fusion, qtbot):
    viewer, w, case, tmp_path = fusion
    from pathlib import Path

    s = w.session
    w.analyse_vessel()
    qtbot.waitUntil(lambda: w.vessel_result is not None, timeout=60000)
    for m in case.landmarks:
        s.add_landmark(m.s_mm, m.frame)
    w.rotation_spin.setValue(case.rotation_deg)
    s.go_to_lesion(0)
    w.table.selectRow(0)
    viewer.reset_view()
    out = Path(__file__).resolve().parents[1] / "docs" / "images"
    if out.is_dir():
        viewer.window._qt_window.resize(1500, 900)
        img = viewer.screenshot(canvas_only=False)
        import imageio.v3 as iio

        iio.imwrite(out / "fusion_widget.png", img)
    assert "CT section (fusion)" in viewer.layers


def test_analyse_vessel_in_a_worker(fusion, qtbot):
    """The dock runs the real vessel analysis off the main thread and joins its lesions."""
    viewer, w, case, tmp_path = fusion
    s = w.session
    s.ct_lesions = []
    s.add_landmark(float(case.true_s(0)), 0)
    w.analyse_vessel()
    qtbot.waitUntil(lambda: len(s.ct_lesions) == 2, timeout=60000)
    qtbot.waitUntil(lambda: s.result is not None and len(s.result.lesions) == 2, timeout=5000)
    assert "vessel analysis of synthetic" in w.status.text()  # the image it came from
    for les, true in zip(s.result.lesions, case.lesions, strict=True):
        assert abs(les["start_mm"] - true["start_mm"]) < 2.5
        assert les["ivus_frames"] is not None
    assert w.table.rowCount() == 2
    # the vessel analysis' lumen and wall contours are drawn on the CT section at the current s
    s.go_to_lesion(0)
    layer = viewer.layers["arcs (fusion)"]
    assert len(layer.data) == 2 * len(s.ivus_arcs()) + 2
    sec = viewer.layers["CT section (fusion)"]
    lo = np.asarray(sec.translate)[-2:]
    hi = lo + np.asarray(sec.data.shape) * np.asarray(sec.scale)[-2:]
    wall = layer.data[-1]
    assert np.all((wall >= lo) & (wall <= hi))  # inside the section image


def test_irregular_frame_times_mapped_from_the_layer(fusion):
    """The layer keeps the pullback's per-frame times, so the dock maps them as `fuse` does
    (issue 22 item 12: the dock mapped them as uniform)."""
    from napari_plaque.fusion.mapping import FrameMapping
    from napari_plaque.layers import pullback_from_layer

    viewer, w, case, tmp_path = fusion
    src = pullback_from_layer(viewer.layers["pullback"])
    n = src.n_frames
    rng = np.random.default_rng(3)
    times = np.cumsum(rng.uniform(0.2, 0.6, n))  # irregular (nominal 0.4 s)
    pb = Pullback(src.frames, 0.4, src.pullback_rate_mm_s, (0.1, 0.1), name="irregular",
                  frame_times_s=times)  # fmt: skip
    data, attrs, _ = pullback_layer_data(pb)
    viewer.add_image(data, **attrs)
    w.ivus_combo.setCurrentText("irregular")
    s = w.session
    s.add_landmark(float(case.true_s(0)), 0)
    assert s.mapping is not None, w.status.text()
    want = FrameMapping.from_pullback(pb, [(float(case.true_s(0)), 0)], case.centreline_length_mm)
    np.testing.assert_allclose(s.mapping.positions_mm, want.positions_mm)
    np.testing.assert_allclose(s.mapping.positions_mm, (times - times[0]) * pb.pullback_rate_mm_s)
    assert not np.allclose(s.mapping.positions_mm, np.arange(n) * pb.mm_per_frame, atol=0.05)


def test_fusion_dock_defaults_to_the_layers_on_screen(make_napari_viewer):
    """Issue 21 item 6 for the fusion dock: not the first (or last) added, hidden image."""
    viewer = make_napari_viewer()
    vol = np.zeros((4, 16, 16), np.int16)
    viewer.add_image(vol, name="old CT", visible=False, metadata={"napari_plaque": "ct"})
    viewer.add_image(vol, name="CTA", metadata={"napari_plaque": "ct"})
    viewer.add_image(vol, name="CAC", visible=False, metadata={"napari_plaque": "ct"})
    pb = Pullback(np.zeros((6, 16, 16), np.uint8), 0.4, 0.5, (0.1, 0.1), name="pullback")
    data, attrs, _ = pullback_layer_data(pb)
    viewer.add_image(data, **attrs)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "CT-IVUS fusion")
    assert w.ct_combo.currentText() == "CTA"
    assert w.ivus_combo.currentText() == "pullback"
