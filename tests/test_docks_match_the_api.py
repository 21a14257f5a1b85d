"""A dock that runs what a command runs reports the command's rows (issue 23): the QC dock's
worker calls ``api.qc``; the composition dock (incremental after a range edit, so it keeps its
own gathered voxels) shows per plaque what ``api.composition(per_plaque=True)`` returns."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from napari_plaque import api


@pytest.fixture(scope="module")
def sample(synthetic_ccta):
    return copy.deepcopy(synthetic_ccta)  # the viewer's layers share (and may write) its arrays


def test_composition_dock_rows_are_the_api_rows(make_napari_viewer, qtbot, sample):
    viewer = make_napari_viewer()
    v = sample.volume
    kw = {"scale": v.spacing_mm, "translate": v.origin_mm}
    viewer.add_image(v.hu, name="ccta", **kw)
    viewer.add_labels(sample.plaque_labels, name="plaques", **kw)
    viewer.add_labels(sample.vessel_labels, name="vessels", **kw)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Plaque composition")
    w.image_combo.select("ccta")
    w.roi_combo.select("plaques")
    w.vessel_combo.select("vessels")
    w.compute()
    qtbot.waitUntil(lambda: len(w.results) == 5 and w.worker is None, timeout=20000)
    for edit in (None, {"lipid": (-100, 95), "fibrous": (95, 150)}):
        if edit is not None:  # after an edit: the incremental path, same rows
            w.set_ranges(edit)
            qtbot.waitUntil(lambda: w._state is not None and w._state["ranges"] == w.ranges()
                            and w.worker is None, timeout=20000)  # fmt: skip
        res = api.composition(v, roi=sample.plaque_labels, vessels=sample.vessel_labels,
                              ranges=w.ranges(), per_plaque=True)  # fmt: skip
        want = [{k: val for k, val in row.items() if k != "study"} for row in res.to_rows()]
        assert [p.to_dict() for p in w.results] == want


def test_qc_dock_table_is_the_api_result(make_napari_viewer, qtbot):
    from napari_plaque.widgets.qc import QCWidget

    viewer = make_napari_viewer()
    ref = np.zeros((6, 12, 12), np.uint8)
    ref[1:4, 3:8, 3:8] = 1
    ref[2:5, 8:11, 1:4] = 2
    pred = np.roll(ref, 1, axis=2)
    scale = (2.0, 0.5, 0.5)
    viewer.add_image(np.zeros(ref.shape, np.int16), name="ct", scale=scale)
    viewer.add_labels(pred, name="auto", scale=scale)
    viewer.add_labels(ref, name="manual", scale=scale)
    w = QCWidget(viewer)
    w.compute()
    qtbot.waitUntil(lambda: w.result is not None and w.worker is None, timeout=15000)
    want = api.qc(pred, ref, spacing=scale).to_dict()
    assert w.result == want  # the dock shows the `qc --json` object
    assert w.table.columnCount() == 3  # metric, label 1, label 2
    assert w.table.item(0, 2).text() == f"{want['labels']['2']['dice']:.3f}"


def test_calcium_dock_row_is_the_cli_row(make_napari_viewer, qtbot, sample):
    """The calcium dock scores interactively (assignments kept across rescoring, lesion ids
    for clicks, protocol departures shown, not refused), so it keeps its session; its CSV row
    is still ``napari-plaque cac``'s, warnings included."""
    from napari_plaque.layers import ct_layer_data

    viewer = make_napari_viewer()
    v = sample.cac_volume
    data, attrs, _ = ct_layer_data(v)  # as the reader adds it: its header in the metadata
    viewer.add_image(data, **{**attrs, "name": "cac"})
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Calcium scoring")
    w.image_combo.select("cac")
    w.compute()
    qtbot.waitUntil(lambda: w.result is not None and w.worker is None, timeout=30000)
    assert w.rows() == api.cac(v, study_id="cac").to_rows()


@pytest.mark.slow
def test_vessel_dock_rows_are_the_cli_rows(make_napari_viewer, qtbot, tmp_path):
    """The vessel dock refines the points and analyses on its worker (a step generator, for
    its progress bar and Cancel: ``api.vessel`` takes neither a progress callback nor points
    in memory); its lesion rows are ``napari-plaque vessel``'s on the same points."""
    from napari_plaque.samples.vessels import ccta_vessel_sample

    viewer = make_napari_viewer()
    for data, kw, kind in ccta_vessel_sample():
        getattr(viewer, f"add_{kind}")(data, **kw)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Vessel analysis")
    w.points_combo.setCurrentText("LAD points")
    w.name_combo.setCurrentText("LAD")
    w.compute()
    qtbot.waitUntil(lambda: w.worker is None and "LAD" in w.session.results, timeout=60000)
    layer = viewer.layers["LAD points"]
    pts = np.asarray([layer.data_to_world(p) for p in layer.data], float)
    csv = tmp_path / "lad.csv"
    lines = "".join(f"{z!r},{y!r},{x!r}\n" for z, y, x in pts.tolist())
    csv.write_text("axis-0,axis-1,axis-2\n" + lines)  # the Points CSV napari saves
    res = api.vessel(w.session.ct, str(csv), name="LAD", step_mm=float(w.step.value()))
    assert w.session.results["LAD"].to_rows() == res.to_rows()
    assert len(res.to_rows()) == 3
