"""Every pair of docks a workflow uses together fits a 1920 x 1080 screen with the dims slider
visible (issue 21 item 12): calcium + composition (CCTA scoring), arc annotator + IVUS borders
(IVUS reading). Before: 1142 px and 1636 px of minimum height."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


@pytest.mark.parametrize(
    "names",
    [
        ["Calcium scoring", "Plaque composition"],
        ["IVUS arc annotator", "IVUS vessel borders"],
    ],
)
def test_workflow_docks_fit_1080(make_napari_viewer, docks_fit_1080, names):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 16, 16), np.int16), name="CT")  # a slider to see
    need, height, dims = docks_fit_1080(viewer, names)
    assert 100 < need < 1080 - 120, (names, need)
    assert height <= 1080 and dims.isVisible()
    assert dims.mapTo(viewer.window._qt_window, dims.rect().bottomLeft()).y() <= 1080
