"""CCTA widgets in a real viewer: live composition overlay/table, lesion assignment + undo."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import numpy as np
import pytest
from app_model.types import KeyBinding

from napari_plaque.widgets.ccta import (
    LESION_LAYER,
    OVERLAY_LAYER,
    CalciumScoringWidget,
    CompositionWidget,
)


@pytest.fixture(scope="module")
def sample(synthetic_ccta):
    return copy.deepcopy(synthetic_ccta)  # the viewer's layers share (and write) its arrays


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
    assert w.table.columnCount() == 1 + 5  # metric names, then one column per plaque
    assert w.table.item(6, 0).text() == "calcium mm³"
    before = w.table.item(6, 3).text()  # calcium mm^3 of plaque 3
    assert float(before) == pytest.approx(t3["calcium_mm3"], abs=0.01)

    # widen calcium to swallow the metal voxels: overlay and table follow (debounced worker)
    w.set_ranges({"calcium": (150, 3000)})
    qtbot.waitUntil(lambda: w.table.item(6, 3).text() != before, timeout=10000)
    assert w.results[2].n_outside == 0
    n_ca2 = np.count_nonzero((ov.data == 3) & (sample.plaque_labels == 3))
    assert n_ca2 == n_ca + t3["n_outside"]  # the metal voxels are now calcium
    # lipid / fibrous bound moved to 80 HU: plaque 4 (70 HU) becomes lipid
    w.set_ranges({"lipid": (-100, 80), "fibrous": (80, 150)})
    qtbot.waitUntil(lambda: w.results[3].fibrous_mm3 == 0, timeout=10000)
    assert np.all(ov.data[sample.plaque_labels == 4] == 1)

    out = tmp_path / "comp.csv"
    w.export_csv(out)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("label,") and len(lines) == 6
    assert "[80, 150)" in lines[1]


def test_calcium_widget_assign_undo_calibrate_export(make_napari_viewer, qtbot, sample, tmp_path):
    viewer = make_napari_viewer()
    _add(viewer, sample)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Calcium scoring")
    w.image_combo.select("cac")
    w.compute()
    assert w.base_result is None  # runs off the main thread
    qtbot.waitUntil(lambda: w.base_result is not None, timeout=10000)
    t = sample.truth["cac"]
    assert w.result.agatston == pytest.approx(t["agatston"])
    layer = viewer.layers[LESION_LAYER]
    assert layer.data.max() == t["n_lesions"] and str(layer.units[0]) == "millimeter"
    assert "A2" in w.summary.text() and "not calibrated" in w.summary.text()
    assert "roi: scored without a heart/coronary ROI" in w.warning.text()  # the protocol check
    assert w.lesion_table.rowCount() == t["n_lesions"]

    # the 10-slice spot: its lesion in slice 35 (world coordinates)
    les = w.result.lesions
    lid = int(les["id"][(les["slice"] == 35) & (les["centroid_x"] > 100)][0])
    z, y, x = np.argwhere(layer.data == lid)[0]
    pos = np.array([z, y, x]) * np.array(layer.scale) + np.array(layer.translate)
    spot = w.session.members(lid)
    assert len(spot) == 10  # one 3D calcification, ten 2D lesions
    spot_agatston = float(les["agatston"][np.isin(les["id"], spot)].sum())
    w.vessel_choice.setCurrentText("LAD")
    viewer.dims.set_point(0, pos[0])
    viewer.layers.selection.active = viewer.layers["cac"]  # clicks work whatever is selected
    # a drag (pan) does nothing; a click (press, release) assigns the whole calcification
    drag = SimpleNamespace(position=tuple(pos), button=1, type="mouse_press")
    gen = w._on_click(viewer, drag)
    next(gen)
    drag.type = "mouse_move"
    next(gen)
    drag.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    assert w.assignments == {}
    _click(w, viewer, pos)
    assert w.assignments == {i: 2 for i in spot}
    lad = w.result.per_vessel["LAD"]
    assert lad["n_lesions"] == 10 and lad["agatston"] == pytest.approx(spot_agatston)
    assert w.result.cac_drs.endswith("/N1")
    # per-slice on request
    w.slice_only.setChecked(True)
    w.vessel_choice.setCurrentText("RCA")
    _click(w, viewer, pos)
    assert w.result.per_vessel["RCA"]["n_lesions"] == 1
    w.undo()
    assert w.result.per_vessel["LAD"]["n_lesions"] == 10
    w.undo()
    assert w.assignments == {} and "LAD" not in w.result.per_vessel
    # paint mode on the lesion layer: the click is not taken as an assignment
    layer.mode = "paint"
    w.slice_only.setChecked(False)
    _click(w, viewer, pos)
    assert w.assignments == {} and "paint" in w.status.text()
    layer.mode = "pan_zoom"
    # keys 1-4 pick the vessel
    viewer.keymap[KeyBinding.from_str("4")](viewer)
    assert w.vessel_choice.currentText() == "RCA"
    # exclude the spot (undoable), then score again: decisions and history are kept
    w.action_combo.setCurrentText("exclude")
    _click(w, viewer, pos)
    assert w.result.agatston == pytest.approx(t["agatston"] - spot_agatston)
    w.action_combo.setCurrentText("assign to")
    w.vessel_choice.setCurrentText("LCX")
    other = int(les["id"][~np.isin(les["id"], spot)][0])
    w.assign_lesion(other, 3)
    w.compute()
    qtbot.waitUntil(lambda: "kept" in w.status.text(), timeout=10000)
    assert len(w.session.excluded) == 10 and w.result.per_vessel["LCX"]["n_lesions"] >= 1
    assert w.result.agatston == pytest.approx(t["agatston"] - spot_agatston)
    w.undo()
    assert "LCX" not in w.result.per_vessel
    w.undo()
    assert w.result.agatston == pytest.approx(t["agatston"])
    # the lesion list jumps to a lesion's slice
    w.lesion_table.clicked.emit(w.lesion_model.index(w._row_ids.index(lid), 0))
    assert viewer.dims.current_step[0] == 35
    # CT window preset
    w.apply_window("lung (W 1500 L -600)")
    assert tuple(viewer.layers["cac"].contrast_limits) == (-1350.0, 150.0)

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
    # the one calcium CSV layout (the CLI's): one row per study
    assert csv_lines[0].startswith("study,agatston,volume_mm3,mass_mg,n_lesions,cac_drs")
    assert len(csv_lines) == 2 and csv_lines[1].startswith("cac,")


def _click(w, viewer, pos):
    click = SimpleNamespace(position=tuple(pos), button=1, type="mouse_press")
    gen = w._on_click(viewer, click)
    next(gen)
    click.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)


def test_composition_range_editor_cannot_overlap(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Plaque composition")
    assert w.ranges() == {"lipid": (-100, 50), "fibrous": (50, 150), "calcium": (150, 1300)}
    lipid_hi, fib_lo = w.range_spins["lipid"][1], w.range_spins["fibrous"][0]
    lipid_hi.setValue(80)  # one shared bound: fibrous starts where lipid ends (no gap)
    assert fib_lo.value() == 80 and w.ranges()["fibrous"] == (80, 150)
    lipid_hi.setValue(500)  # would run over fibrous: stops below the fibrous high, and says so
    assert lipid_hi.value() == fib_lo.value() == 149
    note = w.range_editor.note.text()
    assert "lipid high stops at 149 HU" in note and "cannot overlap" in note
    w.range_spins["calcium"][0].setValue(-500)  # clamped above the fibrous low
    assert w.range_spins["calcium"][0].value() == w.range_spins["fibrous"][1].value() == 150
    with pytest.raises(ValueError, match="overlap"):
        w.set_ranges({"fibrous": (0, 200)})
    with pytest.raises(ValueError, match="gap"):
        w.set_ranges({"lipid": (-100, 50), "fibrous": (80, 150)})
    # the Zhao cap can be lifted (calcium >= 150 HU, no upper bound) and set again
    w.range_editor.cap_box.setChecked(False)
    assert w.ranges()["calcium"] == (150, float("inf"))
    w.set_ranges({"calcium": (150, 1300)})
    assert w.range_editor.cap_box.isChecked() and w.ranges()["calcium"] == (150, 1300)


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


def test_composition_edits_update_the_overlay_in_place_as_a_full_recompute(
    make_napari_viewer, qtbot, sample
):
    """After a range edit only the touched voxels are reclassified on a worker and written
    into the same overlay array; overlay and table equal a full recomputation (issue 25)."""
    from napari_plaque.ccta import composition, composition_overlay

    viewer = make_napari_viewer()
    _add(viewer, sample)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Plaque composition")
    w.image_combo.select("ccta")
    w.roi_combo.select("plaques")
    w.vessel_combo.select("vessels")
    w.compute()
    qtbot.waitUntil(lambda: len(w.results) == 5, timeout=10000)
    ov = viewer.layers[OVERLAY_LAYER]
    data = ov.data
    hu, roi = sample.volume.hu, sample.plaque_labels
    edits = [
        {"calcium": (150, float("inf"))},
        {"lipid": (-100, 95), "fibrous": (95, 150)},
        {"fibrous": (95, 450), "calcium": (450, 1300)},
        {"lipid": (-30, 95)},
    ]
    for edit in edits:
        gen = w._generation
        w.set_ranges(edit)
        # the edit's job takes milliseconds: its worker may be done (DockBase.worker None) by
        # the first poll, so wait for the request, then for its state
        qtbot.waitUntil(lambda g=gen: w._generation > g, timeout=5000)
        qtbot.waitUntil(lambda: w._state is not None and w._state["ranges"] == w.ranges(),
                        timeout=10000)  # fmt: skip
        assert ov.data is data  # updated in place, not a new layer or array
        assert "changed" in w._state  # by the edit path (only the touched voxels)
        want = composition_overlay(hu, roi, w.ranges())
        assert np.array_equal(ov.data, want), edit
        full = composition(hu, sample.volume.spacing_mm, roi, sample.vessel_labels, w.ranges())
        assert [p.to_dict() for p in w.results] == [p.to_dict() for p in full]
    # painting the ROI starts over (the gathered voxels are stale)
    rl = viewer.layers["plaques"]
    rl.events.paint(value=[])
    assert w._state is None
    w.set_ranges({"lipid": (-100, 95)})
    qtbot.waitUntil(lambda: w._state is not None, timeout=10000)
    assert np.array_equal(viewer.layers[OVERLAY_LAYER].data,
                          composition_overlay(hu, roi, w.ranges()))  # fmt: skip


def test_calcium_warnings_are_the_protocol_checks(make_napari_viewer, qtbot, sample):
    """The dock's warnings come from ccta.protocol (one home): every check when the CT reader
    made the layer (its header in the metadata), threshold and ROI only for a bare array."""
    from dataclasses import replace

    from napari_plaque.ccta.session import protocol_warnings
    from napari_plaque.layers import ct_layer_data

    viewer = make_napari_viewer()
    _add(viewer, sample)
    w = CalciumScoringWidget(viewer)
    w.image_combo.select("cac")
    w.threshold.setValue(150.0)
    w.compute()
    qtbot.waitUntil(lambda: w.base_result is not None and not w.running, timeout=10000)
    codes = [line.split(":")[0] for line in w.session.warnings]
    assert codes == ["threshold", "roi"]  # no header: no field-by-field "unknown" flags
    assert w.report()["warnings"] == w.session.warnings
    # a layer the reader made: its header is checked (100 kVp is flagged)
    vol = replace(sample.cac_volume, meta={"kvp": 100.0, "modality": "CT"}, name="read")
    data, attrs, _ = ct_layer_data(vol)
    viewer.add_image(data, **attrs)
    w.image_combo.select("read")
    w.compute()
    qtbot.waitUntil(lambda: w.session.warnings and "kvp" in w.warning.text(), timeout=10000)
    expected = protocol_warnings(
        vol.meta, vol.hu, vol.spacing_mm, threshold_hu=150.0, roi_given=False
    )
    assert w.session.warnings == expected and any(x.startswith("kvp:") for x in expected)
    assert any(x.startswith("slice_thickness:") for x in expected)


def test_calcium_scoring_can_be_cancelled(make_napari_viewer, qtbot, sample, monkeypatch):
    import time

    from napari_plaque.widgets import _calcium

    def slow(*args, **kwargs):
        for i in range(10_000):
            time.sleep(0.01)
            yield i

    viewer = make_napari_viewer()
    _add(viewer, sample)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Calcium scoring")
    monkeypatch.setattr(_calcium, "iter_calcium_score", slow)
    w.image_combo.select("cac")
    w.compute()
    assert w.running and w.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: w.progress.value() > 0, timeout=5000)
    w.cancel_btn.click()
    qtbot.waitUntil(lambda: not w.running, timeout=5000)
    assert w.base_result is None and "cancelled" in w.status.text()
    assert LESION_LAYER not in viewer.layers and not w.cancel_btn.isEnabled()


def test_calcium_actions_dispatch_on_the_enum_not_the_text(make_napari_viewer, sample):
    from napari_plaque.ccta.session import Action

    viewer = make_napari_viewer()
    w = CalciumScoringWidget(viewer)
    assert [Action(w.action_combo.itemData(i)) for i in range(w.action_combo.count())] == list(
        Action
    )
    w.action_combo.setItemText(1, "ausschließen")  # a translated label: the dispatch holds
    w.action_combo.setCurrentIndex(1)
    assert w.action is Action.EXCLUDE and w.action_label.text() == "click: exclude"
    w.set_action(Action.OFF)
    assert w.action_combo.currentText() == "off" and w.action_label.text() == "clicks do nothing"


def test_calcium_parameters_are_a_form_of_calcium_defaults(make_napari_viewer):
    from napari_plaque.ccta import CALCIUM_DEFAULTS

    w = CalciumScoringWidget(make_napari_viewer())
    keys = ("threshold_hu", "min_area_mm2")
    assert w.form_values(w.params) == {k: CALCIUM_DEFAULTS[k] for k in keys}
    w.threshold.setValue(150.0)  # the spin box in the dock's grid is the form's own
    assert w.form_values(w.params)["threshold_hu"] == 150.0
