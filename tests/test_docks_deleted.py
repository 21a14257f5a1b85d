"""The docks moved onto DockBase (vessel, QC, review, fusion) survive their own deletion: the
viewer lives on and its events (layers added / removed, the dims slider) find no dead Qt
object (the base's guard detaches them; issue 23)."""

from __future__ import annotations

import numpy as np
import pytest

DOCKS = ("Vessel analysis", "Segmentation QC", "Segmentation review", "CT-IVUS fusion")


@pytest.mark.parametrize("name", DOCKS)
def test_deleted_dock_leaves_the_viewer_working(make_napari_viewer, name):
    from qtpy import sip

    from napari_plaque.widgets._dock import DockBase

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 8, 8), np.int16), name="ct", metadata={"napari_plaque": "ct"})
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", name)
    assert isinstance(w, DockBase)
    n_inserted = len(viewer.layers.events.inserted.callbacks)
    sip.delete(w)
    viewer.add_labels(np.zeros((4, 8, 8), np.uint8), name="after")  # must not raise
    viewer.dims.set_point(0, 2.0)
    viewer.layers.remove("ct")
    assert "after" in viewer.layers
    assert len(viewer.layers.events.inserted.callbacks) < n_inserted  # detached
