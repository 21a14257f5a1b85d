"""Plaque composition by HU ranges on hand-built volumes."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.ccta import (
    DEFAULT_RANGES,
    check_ranges,
    classify,
    composition,
    composition_overlay,
    roi_bbox,
)


def test_default_ranges_follow_the_paper():
    assert DEFAULT_RANGES == {
        "lipid": (-100.0, 49.0),
        "fibrous": (50.0, 149.0),
        "calcium": (150.0, 1300.0),
    }


def test_range_edges_are_inclusive():
    hu = np.array([-101, -100, 49, 50, 149, 150, 1300, 1301])
    assert classify(hu).tolist() == [0, 1, 1, 2, 2, 3, 3, 0]


def _plaque():
    hu = np.zeros((2, 4, 5), np.int16)
    roi = np.zeros(hu.shape, np.uint8)
    # plaque 1: 4 lipid (0 HU), 3 fibrous (100), 2 calcium (500, 1100), 1 metal (2000)
    vals = [0, 0, 0, 0, 100, 100, 100, 500, 1100, 2000]
    hu[0].ravel()[:10] = vals
    roi[0].ravel()[:10] = 1
    # plaque 3 (labels need not be consecutive): 2 fibrous voxels
    hu[1, 0, :2] = 60
    roi[1, 0, :2] = 3
    return hu, roi


def test_composition_metrics():
    hu, roi = _plaque()
    sp = (0.5, 0.4, 0.4)
    v = 0.5 * 0.4 * 0.4
    p1, p3 = composition(hu, sp, roi)
    assert (p1.label, p3.label) == (1, 3)
    assert p1.lipid_mm3 == pytest.approx(4 * v)
    assert p1.fibrous_mm3 == pytest.approx(3 * v)
    assert p1.calcium_mm3 == pytest.approx(2 * v)
    assert p1.volume_mm3 == pytest.approx(9 * v)
    assert p1.roi_volume_mm3 == pytest.approx(10 * v)
    assert p1.n_outside == 1
    assert (p1.lipid_pct, p1.fibrous_pct, p1.calcium_pct) == pytest.approx(
        (400 / 9, 300 / 9, 200 / 9)
    )
    assert p1.calcium_mean_hu == pytest.approx(800)
    assert p1.calcium_density_hu == pytest.approx(800)
    assert p1.lipid_mean_hu == pytest.approx(0)
    assert p1.mean_hu == pytest.approx((300 + 1600) / 9)
    assert p1.one_k_plaque is True
    assert p3.one_k_plaque is False and p3.calcium_mean_hu is None
    assert p3.fibrous_pct == 100.0
    assert p1.plaque_burden_pct is None
    d = p1.to_dict()
    assert {"calcium_mm3", "calcium_pct", "calcium_mean_hu", "one_k_plaque"} <= set(d)


def test_changing_ranges_changes_composition():
    hu, roi = _plaque()
    p1 = composition(hu, (1, 1, 1), roi, ranges={"calcium": (150, 2500)})[0]
    assert p1.n_outside == 0 and p1.calcium_mm3 == 3
    p1 = composition(hu, (1, 1, 1), roi, ranges={"lipid": (-100, 120), "fibrous": (121, 149)})[0]
    assert p1.lipid_mm3 == 7 and p1.fibrous_mm3 == 0


def test_plaque_burden_with_vessel_label():
    hu = np.full((3, 10, 10), 40, np.int16)
    vessel = np.zeros(hu.shape, np.uint8)
    vessel[0:2, 2:8, 2:8] = 2  # 36 voxels per slice
    vessel[2, 2:8, 2:8] = 2  # slice 2 is outside the plaque's slices
    roi = np.zeros(hu.shape, np.uint8)
    roi[0:2, 2:5, 2:5] = 1  # 9 voxels per slice
    p = composition(hu, (1, 1, 1), roi, vessel_labels=vessel)[0]
    assert p.vessel == 2 and p.vessel_name == "LAD"
    assert p.vessel_volume_mm3 == pytest.approx(72)
    assert p.plaque_burden_pct == pytest.approx(100 * 18 / 72)


def test_overlay_in_bbox_only():
    hu, roi = _plaque()
    box = roi_bbox(roi)
    ov = composition_overlay(hu, roi, bbox=box)
    assert ov.dtype == np.uint8
    assert ov[0].ravel()[:10].tolist() == [1, 1, 1, 1, 2, 2, 2, 3, 3, 0]
    assert np.all(ov[roi == 0] == 0)
    ov2 = composition_overlay(hu, roi, ranges={"calcium": (150, 2500)}, bbox=box)
    assert ov2[0].ravel()[9] == 3
    assert roi_bbox(np.zeros((2, 2, 2))) is None


def test_bad_input():
    hu, roi = _plaque()
    with pytest.raises(ValueError, match="ROI shape"):
        composition(hu, (1, 1, 1), roi[:1])
    with pytest.raises(ValueError, match="overlap"):
        check_ranges({"fibrous": (40, 149)})
    with pytest.raises(ValueError, match="low <= high"):
        check_ranges({"lipid": (10, -10)})
    with pytest.raises(ValueError, match="unknown component"):
        check_ranges({"fat": (0, 1)})
    assert composition(hu, (1, 1, 1), np.zeros_like(roi)) == []


def test_plaque_outside_every_vessel_has_no_burden():
    hu = np.full((2, 6, 6), 40, np.int16)
    roi = np.zeros(hu.shape, np.uint8)
    roi[0, :2, :2] = 1
    vessel = np.zeros(hu.shape, np.uint8)
    vessel[1, 4:, 4:] = 3
    p = composition(hu, (1, 1, 1), roi, vessel_labels=vessel)[0]
    assert p.vessel == 0 and p.vessel_name == "unassigned"
    assert p.vessel_volume_mm3 is None and p.plaque_burden_pct is None
