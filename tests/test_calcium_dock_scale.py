"""The calcium dock at clinical scale (2,000 lesions) and its keys (issue 21, items 1 and 5).

Opened the way users open it (``add_plugin_dock_widget``: a proxy viewer). An exclusion or an
assignment updates only the rows it changed (no model reset, no per-cell refill), and keys 1-4 / X
act on the dock whatever layer is selected, including a CT (whose own ``2`` is transform mode) and
another labels layer (whose ``2`` is paint mode).
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.widgets._calcium import LESION_LAYER

pytestmark = pytest.mark.gui


def many_lesions_ct(n_slices: int = 20, per_side: int = 10) -> tuple[np.ndarray, int]:
    """A CT with ``n_slices * per_side**2`` separate 3 x 3-pixel calcifications of 400 HU, each
    on one slice (every slice holds the same grid, shifted so no two slices' blobs touch)."""
    hu = np.full((2 * n_slices, 8 * per_side + 8, 8 * per_side + 8), -50, np.int16)
    for z in range(n_slices):
        for i in range(per_side):
            for j in range(per_side):
                y, x = 4 + 8 * i, 4 + 8 * j
                hu[2 * z, y : y + 3, x : x + 3] = 400
    return hu, n_slices * per_side**2


def _press(viewer, key: str) -> None:
    viewer.window._qt_viewer._key_map_handler.press_key(key)


@pytest.fixture
def scored_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    hu, n = many_lesions_ct(n_slices=20, per_side=10)  # 2,000 lesions
    viewer.add_image(hu, name="ct", scale=(3.0, 0.5, 0.5))
    viewer.add_labels(np.zeros(hu.shape, np.uint8), name="other labels", scale=(3.0, 0.5, 0.5))
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Calcium scoring")
    w.image_combo.select("ct")
    w.min_area.setValue(0.5)
    w.compute()
    qtbot.waitUntil(lambda: w.base_result is not None, timeout=60000)
    assert w.base_result.n_lesions == n
    return viewer, w


def test_exclusion_at_2000_lesions_updates_rows_not_the_table(scored_dock):
    viewer, w = scored_dock
    model = w.lesion_model
    assert model.rowCount() == 2000 and w.lesion_table.model() is model
    resets = model.n_resets
    lid = int(w.base_result.lesions["id"][100])
    row = w._row_ids.index(lid)
    w.session.exclude(lid)
    assert model.n_resets == resets  # updated by row, not rebuilt
    assert model.data(model.index(row, list(model.columns).index(("excluded", "excluded")))) == (
        "yes"
    )
    assert model.n_row_updates >= 1
    w.undo()
    assert model.n_resets == resets
    assert w.session.excluded == set()
    # the headers are for people, with units where a column has one
    from qtpy.QtCore import Qt

    horizontal = Qt.Orientation.Horizontal
    headers = [model.headerData(c, horizontal) for c in range(model.columnCount())]
    assert "peak HU" in headers and "peak_hu" not in headers


def test_keys_act_on_the_dock_whatever_layer_is_selected(scored_dock):
    viewer, w = scored_dock
    ct = viewer.layers["ct"]
    other = viewer.layers["other labels"]
    viewer.layers.selection.active = ct
    mode_before = ct.mode
    _press(viewer, "2")
    assert w.vessel_choice.currentText() == "LAD" and w.action_combo.currentText() == "assign to"
    assert ct.mode == mode_before  # the CT did not go into transform mode
    assert "LAD" in w.action_label.text()
    viewer.layers.selection.active = other
    _press(viewer, "4")
    assert w.vessel_choice.currentText() == "RCA"
    assert other.mode != "paint"  # the labels layer's own 2/4 did not win
    _press(viewer, "x")
    assert w.action_combo.currentText() == "exclude" and "exclude" in w.action_label.text()
    viewer.layers.selection.active = viewer.layers[LESION_LAYER]
    _press(viewer, "1")
    assert w.vessel_choice.currentText() == "LM"
    # a layer added later gets the keys too
    late = viewer.add_labels(np.zeros((4, 4, 4), np.uint8), name="late")
    viewer.layers.selection.active = late
    _press(viewer, "3")
    assert w.vessel_choice.currentText() == "LCX"


def test_closing_the_dock_gives_the_keys_back(make_napari_viewer):
    viewer = make_napari_viewer()
    ct = viewer.add_image(np.zeros((4, 8, 8), np.int16), name="ct")
    dock, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Calcium scoring")
    assert ct.keymap  # bound while the dock is open
    w._detach()
    assert not ct.keymap and not viewer.keymap.get("2")
