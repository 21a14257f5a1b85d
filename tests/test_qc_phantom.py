"""QC metrics on the real QRM phantom scan (anisotropic 3.0 x 0.488 x 0.488 mm voxels)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.qc import qc_metrics


def test_threshold_masks_on_phantom(phantom):
    hu = np.asarray(phantom.hu)[:, 128:384, 128:384]  # central region: the insert, kept lean
    # reference: >= 130 HU; "automated": >= 200 HU, a strict subset (so precision is exactly 1)
    ref = (hu >= 130).astype(np.uint8)
    pred = (hu >= 200).astype(np.uint8)
    res = qc_metrics(pred, ref, phantom.spacing_mm)
    m = res["labels"][1]
    assert m["precision"] == 1.0
    assert 0 < m["sensitivity"] < 1
    vox = float(np.prod(phantom.spacing_mm))
    assert m["volume_ref_mm3"] == pytest.approx(np.count_nonzero(ref) * vox)
    assert m["volume_diff_mm3"] < 0
    # a subset never adds lesions that miss the reference
    assert m["lesion_fp"] == 0
    assert np.isfinite(m["hd95_mm"]) and m["hd95_mm"] >= 0
    # the worst slice really is the one with most voxels in [130, 200) HU
    band = np.count_nonzero((hu >= 130) & (hu < 200), axis=(1, 2))
    assert res["worst_slices"][0]["index"] == int(np.argmax(band))
    assert res["worst_slices"][0]["fn_voxels"] == int(band.max())
