"""CCTA widgets in a real viewer: live composition overlay/table, lesion assignment + undo."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from napari_plaque.samples.ccta import make_ccta
from napari_plaque.widgets.ccta import (
    LESION_LAYER,
    OVERLAY_LAYER,
    CalciumScoringWidget,
    CompositionWidget,
)


@pytest.fixture(scope="module")
def sample():
    return make_ccta()


def _add(viewer, sample):
    v = sample.volume
    kw = {"scale": v.spacing_mm, "translate": v.origin_mm}
    viewer.add_image(v.hu, name="ccta", **kw)
    viewer.add_image(sample.cac_volume.hu, name="cac", **kw)
    viewer.add_labels(sample.plaque_labels, name="plaques", **kw)
    viewer.add_labels(sample.vessel_labels, name="vessels", **kw)


def test_composition_widget_overlay_follows_ranges(make_napari_viewer, qtbot, sample, tmp_path):
    viewer = make_napari_viewer()
    _add(viewer, sample)
    w = CompositionWidget(viewer)
    w.image_combo.select("ccta")
    w.roi_combo.select("plaques")
    w.vessel_combo.select("vessels")
    w.compute()
    assert w.results == [] and w.worker is not None  # runs off the main thread
    qtbot.waitUntil(lambda: len(w.results) == 5, timeout=10000)
    ov = viewer.layers[OVERLAY_LAYER]
    assert tuple(ov.scale) == sample.volume.spacing_mm
    assert tuple(ov.translate) == sample.volume.origin_mm
    t3 = sample.truth["plaques"][3]
    n_ca = np.count_nonzero((ov.data == 3) & (sample.plaque_labels == 3))
    assert n_ca == t3["calcium_voxels"]
    assert np.all(ov.data[sample.plaque_labels == 0] == 0)
    assert w.table.rowCount() == 5
    before = w.table.item(2, 7).text()  # calcium mm^3 of plaque 3
    assert float(before) == pytest.approx(t3["calcium_mm3"], abs=0.01)

    # widen calcium to swallow the metal voxels: overlay and table follow (debounced worker)
    w.set_ranges({"calcium": (150, 3000)})
    qtbot.waitUntil(lambda: w.table.item(2, 7).text() != before, timeout=10000)
    assert w.results[2].n_outside == 0
    n_ca2 = np.count_nonzero((ov.data == 3) & (sample.plaque_labels == 3))
    assert n_ca2 == n_ca + t3["n_outside"]  # the metal voxels are now calcium
    # fibrous range shrunk: plaque 4 (70 HU) leaves every range
    w.set_ranges({"fibrous": (80, 149)})
    qtbot.waitUntil(lambda: w.results[3].fibrous_mm3 == 0, timeout=10000)
    assert np.all(ov.data[sample.plaque_labels == 4] == 0)

    out = tmp_path / "comp.csv"
    w.export_csv(out)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("label,") and len(lines) == 6
    assert "80..149" in lines[1]


def test_calcium_widget_assign_undo_calibrate_export(make_napari_viewer, qtbot, sample, tmp_path):
    viewer = make_napari_viewer()
    _add(viewer, sample)
    w = CalciumScoringWidget(viewer)
    w.image_combo.select("cac")
    w.compute()
    assert w.base_result is None  # runs off the main thread
    qtbot.waitUntil(lambda: w.base_result is not None, timeout=10000)
    t = sample.truth["cac"]
    assert w.result.agatston == pytest.approx(t["agatston"])
    layer = viewer.layers[LESION_LAYER]
    assert layer.data.max() == t["n_lesions"]
    assert "A2" in w.summary.text() and "not calibrated" in w.summary.text()

    # find the lesion of the 10-slice spot in slice 35 and click it (world coordinates)
    les = w.result.lesions
    lid = int(les["id"][(les["slice"] == 35) & (les["centroid_x"] > 100)][0])
    z, y, x = np.argwhere(layer.data == lid)[0]
    pos = np.array([z, y, x]) * np.array(layer.scale) + np.array(layer.translate)
    w.vessel_choice.setCurrentText("LAD")
    viewer.dims.set_point(0, pos[0])
    # a drag (pan) assigns nothing; a click (press, release) assigns
    drag = SimpleNamespace(position=tuple(pos), button=1, type="mouse_press",
                           view_direction=None, dims_displayed=[1, 2])  # fmt: skip
    gen = w._on_lesion_click(layer, drag)
    next(gen)
    drag.type = "mouse_move"
    next(gen)
    drag.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert w.assignments == {}
    click = SimpleNamespace(position=tuple(pos), button=1, type="mouse_press",
                            view_direction=None, dims_displayed=[1, 2])  # fmt: skip
    gen = w._on_lesion_click(layer, click)
    next(gen)
    click.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert w.assignments == {lid: 2}
    assert w._on_lesion_click in layer.mouse_drag_callbacks
    lad = w.result.per_vessel["LAD"]
    assert lad["n_lesions"] == 1
    assert lad["agatston"] == pytest.approx(float(les["agatston"][les["id"] == lid][0]))
    assert w.result.cac_drs.endswith("/N1")
    w.assign_lesion(lid, 4)
    assert w.result.per_vessel["RCA"]["n_lesions"] == 1
    w.undo()
    assert w.result.per_vessel["LAD"]["n_lesions"] == 1
    w.undo()
    assert w.assignments == {} and "LAD" not in w.result.per_vessel

    # calibrate from a painted rod ROI (an area of 250 HU painted into the image)
    hu = viewer.layers["cac"].data
    rod = np.zeros(hu.shape, np.uint8)
    rod[60:63, 5:15, 5:15] = 1
    hu[rod > 0] = 250
    viewer.add_labels(rod, name="rod", scale=layer.scale, translate=layer.translate)
    w.rod_combo.select("rod")
    w.calibrate()
    assert w.calibration.rod_mean_hu == pytest.approx(250)
    assert w.result.mass_mg == pytest.approx(
        0.2 / 250 * float(np.sum(les["volume_mm3"] * les["mean_hu"]))
    )
    out = tmp_path / "cac.json"
    w.export_report(out)
    rep = json.loads(out.read_text())
    assert rep["agatston"] == pytest.approx(t["agatston"])
    assert rep["parameters"]["threshold_hu"] == 130 and rep["calibration"] is not None
    csv_lines = out.with_suffix(".csv").read_text().splitlines()
    assert csv_lines[0].startswith("vessel,agatston") and csv_lines[-1].startswith("total,")


def test_calcium_widget_bad_roi_shape_message(make_napari_viewer, sample):
    viewer = make_napari_viewer()
    _add(viewer, sample)
    viewer.add_labels(np.zeros((2, 2, 2), np.uint8), name="tiny")
    w = CalciumScoringWidget(viewer)
    w.image_combo.select("cac")
    w.roi_combo.select("tiny")
    w.compute()
    assert "tiny" in w.status.text() and "shape" in w.status.text()
    w.rod_combo.select("tiny")
    w.calibrate()
    assert "shape" in w.status.text() and w.calibration is None


def test_widgets_survive_dock_deletion(make_napari_viewer, qtbot):
    from qtpy.QtCore import QCoreApplication, QEvent

    viewer = make_napari_viewer()
    widgets = [CompositionWidget(viewer), CalciumScoringWidget(viewer)]
    viewer.add_image(np.zeros((2, 4, 4)), name="a")
    assert widgets[0].image_combo.currentText() == "a"
    for w in widgets:
        w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    viewer.add_labels(np.zeros((2, 4, 4), np.uint8), name="b")  # must not raise
    viewer.layers.remove("a")
