"""Calcium scoring on small synthetic volumes with hand-computed scores."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.ccta import (
    CAC_CATEGORIES,
    CAC_DRS_CATEGORIES,
    cac_category,
    cac_drs,
    calcium_score,
    calibrate_mass,
    density_weight,
)


def _vol(shape=(4, 20, 20)):
    return np.zeros(shape, np.int16)


def test_weights_at_199_200_and_edges():
    assert density_weight([130, 199, 199.9, 200, 299, 300, 399, 400, 1500]).tolist() == [
        1, 1, 1, 2, 2, 3, 3, 4, 4
    ]  # fmt: skip
    hu = _vol()
    hu[1, 2:4, 2:4] = 199  # 4 px x 0.25 mm^2 = 1.0 mm^2, weight 1
    hu[1, 10:12, 10:12] = 200  # weight 2
    r = calcium_score(hu, (3.0, 0.5, 0.5))
    assert r.n_lesions == 2
    assert r.lesions["weight"].tolist() == [1, 2]
    assert r.lesions["area_mm2"].tolist() == [1.0, 1.0]
    assert r.agatston == pytest.approx(1.0 * 1 + 1.0 * 2)
    assert r.volume_mm3 == pytest.approx(2 * 1.0 * 3.0)


def test_threshold_is_inclusive_and_below_is_ignored():
    hu = _vol()
    hu[1, 2:5, 2:5] = 129
    hu[2, 2:5, 2:5] = 130
    r = calcium_score(hu, (3.0, 0.5, 0.5))
    assert r.n_lesions == 1 and r.lesions["slice"][0] == 2
    assert r.agatston == pytest.approx(9 * 0.25 * 1)


def test_min_area_just_under_and_over_1mm2():
    hu = _vol((2, 30, 30))
    hu[0, 2:4, 2:5] = 500  # 6 px x 0.16 = 0.96 mm^2 -> dropped
    hu[0, 10:12, 10:13] = 500  # 6 px ...
    hu[0, 12, 10] = 500  # ... + 1 = 7 px = 1.12 mm^2 -> kept
    r = calcium_score(hu, (3.0, 0.4, 0.4))
    assert r.n_lesions == 1
    assert r.lesions["n_voxels"][0] == 7
    assert r.agatston == pytest.approx(7 * 0.16 * 4)
    # lowering the minimum area keeps both
    assert calcium_score(hu, (3.0, 0.4, 0.4), min_area_mm2=0.5).n_lesions == 2


def test_lesion_spanning_slices_counts_per_slice_with_increment_normalisation():
    hu = _vol((6, 20, 20))
    hu[1:5, 5:9, 5:9] = 350  # 4 slices of 16 px
    hu[2, 6, 6] = 450  # slice 2 peaks at 450 -> weight 4 there only
    dz = 1.5
    r = calcium_score(hu, (dz, 0.5, 0.5))
    assert r.n_lesions == 4
    assert r.lesions["slice"].tolist() == [1, 2, 3, 4]
    assert r.lesions["weight"].tolist() == [3, 4, 3, 3]
    area = 16 * 0.25
    assert r.agatston == pytest.approx(area * (3 + 4 + 3 + 3) * dz / 3.0)
    assert r.volume_mm3 == pytest.approx(4 * area * dz)
    assert r.lesions["mean_hu"][1] == pytest.approx((15 * 350 + 450) / 16)
    assert r.lesions["centroid_y"][0] == pytest.approx(6.5)


def test_eight_connectivity_in_plane_only():
    hu = _vol((3, 20, 20))
    hu[1, 2:4, 2:4] = 300
    hu[1, 4:6, 4:6] = 300  # touches the first block only diagonally -> same lesion
    hu[2, 2:4, 2:4] = 300  # next slice: separate lesion
    r = calcium_score(hu, (3.0, 0.5, 0.5))
    assert r.n_lesions == 2
    assert r.lesions["n_voxels"].tolist() == [8, 4]


def test_roi_and_vessel_assignment_and_cac_drs():
    hu = _vol((2, 30, 30))
    hu[0, 2:6, 2:6] = 450  # 16 px, weight 4
    hu[0, 20:24, 20:24] = 250  # weight 2
    hu[1, 20:24, 2:6] = 250  # outside ROI
    roi = np.ones(hu.shape, bool)
    roi[1] = False
    vessels = np.zeros(hu.shape, np.uint8)
    vessels[0, :10, :10] = 2  # LAD
    vessels[0, 20:22, 20:24] = 4  # half the second lesion RCA ...
    vessels[0, 22:24, 20:24] = 7  # ... half "label 7" -> tie, smallest label wins
    r = calcium_score(hu, (3.0, 0.5, 0.5), roi=roi, vessel_labels=vessels)
    assert r.n_lesions == 2
    assert r.lesions["vessel"].tolist() == [2, 4]
    pv = r.per_vessel
    assert pv["LAD"]["agatston"] == pytest.approx(16 * 0.25 * 4)
    assert pv["RCA"]["agatston"] == pytest.approx(16 * 0.25 * 2)
    assert pv["LM"]["agatston"] == 0 and pv["LCX"]["n_lesions"] == 0
    assert r.cac_drs == "A1/N2"
    assert r.category == "1-99"


def test_any_label_map_names_and_unassigned():
    hu = _vol((1, 20, 20))
    hu[0, 2:6, 2:6] = 450
    hu[0, 10:14, 10:14] = 450
    v = np.zeros(hu.shape, np.int32)
    v[0, 2:6, 2:6] = 12
    r = calcium_score(hu, (3.0, 0.5, 0.5), vessel_labels=v)
    assert set(r.per_vessel) >= {"label 12", "unassigned", "total", "LM"}
    assert r.n_vessels == 1


def test_assignment_edit_recomputes_per_vessel():
    hu = _vol((1, 20, 20))
    hu[0, 2:6, 2:6] = 450
    r = calcium_score(hu, (3.0, 0.5, 0.5))
    assert r.cac_drs == "A1" and r.n_vessels is None
    r2 = r.with_assignments({1: 3})
    assert r2.per_vessel["LCX"]["agatston"] == pytest.approx(16.0)
    assert r2.cac_drs == "A1/N1"
    assert r.lesions["vessel"][0] == 0  # original untouched
    with pytest.raises(ValueError, match="unknown lesion"):
        r.with_assignments({5: 1})
    with pytest.raises(ValueError, match="no lesions"):
        calcium_score(_vol(), (3.0, 0.5, 0.5)).with_assignments({1: 1})


def test_lesion_labels_volume_matches_ids():
    hu = _vol((2, 20, 20))
    hu[0, 2:4, 2:3] = 450  # 2 px, too small -> not in the label volume
    hu[1, 5:9, 5:9] = 450
    r = calcium_score(hu, (3.0, 0.5, 0.5), return_labels=True)
    assert r.lesion_labels.shape == hu.shape
    assert np.count_nonzero(r.lesion_labels) == 16
    assert set(np.unique(r.lesion_labels)) == {0, 1}


def test_mass_with_rod_and_water_calibration():
    hu = np.zeros((3, 20, 20), np.int16)
    hu[0, :, :10] = 300  # rod, 200 mg/cm^3
    hu[0, :, 10:] = 20  # water-equivalent
    hu[2, 5:9, 5:9] = 400
    rod = np.zeros(hu.shape, bool)
    rod[0, :, :10] = True
    water = np.zeros(hu.shape, bool)
    water[0, :, 10:] = True
    cal = calibrate_mass(hu, rod, 200.0)
    assert cal.factor_mg_per_mm3_hu == pytest.approx(0.2 / 300)
    cal_w = calibrate_mass(hu, rod, 200.0, water_roi=water)
    assert cal_w.factor_mg_per_mm3_hu == pytest.approx(0.2 / 280)
    roi = np.zeros(hu.shape, bool)
    roi[2] = True
    r = calcium_score(hu, (3.0, 0.5, 0.5), roi=roi, calibration=cal_w)
    assert r.mass_mg == pytest.approx(0.2 / 280 * (16 * 0.25 * 3.0) * 400)
    d = r.to_dict()
    assert d["mass_mg"] == pytest.approx(r.mass_mg)
    assert d["calibration"]["rod_mean_hu"] == pytest.approx(300)


def test_missing_calibration_gives_none_not_a_guess():
    hu = _vol()
    hu[1, 2:6, 2:6] = 450
    r = calcium_score(hu, (3.0, 0.5, 0.5))
    assert r.mass_mg is None
    d = r.to_dict()
    assert d["mass_mg"] is None and d["per_vessel"]["total"]["mass_mg"] is None
    assert d["lesions"][0]["mass_mg"] is None


def test_calibration_errors():
    hu = _vol()
    with pytest.raises(ValueError, match="rod ROI is empty"):
        calibrate_mass(hu, np.zeros(hu.shape, bool))
    with pytest.raises(ValueError, match="not above water"):
        calibrate_mass(hu, np.ones(hu.shape, bool))
    with pytest.raises(ValueError, match="shape"):
        calibrate_mass(hu, np.ones((2, 2, 2), bool))


def test_no_calcium_and_empty_roi_give_zero():
    hu = _vol()
    for r in (
        calcium_score(hu, (3.0, 0.5, 0.5)),
        calcium_score(hu + 500, (3.0, 0.5, 0.5), roi=np.zeros(hu.shape, bool)),
    ):
        assert r.agatston == 0 and r.n_lesions == 0 and r.volume_mm3 == 0
        assert r.cac_drs == "A0" and r.category == "0"
        assert r.to_dict()["lesions"] == []


def test_bad_input_messages():
    hu = _vol()
    with pytest.raises(ValueError, match=r"ROI shape \(2, 2, 2\) does not match"):
        calcium_score(hu, (3.0, 0.5, 0.5), roi=np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="vessel label shape"):
        calcium_score(hu, (3.0, 0.5, 0.5), vessel_labels=np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="spacing_mm"):
        calcium_score(hu, (0.0, 0.5, 0.5))
    with pytest.raises(ValueError, match="3D"):
        calcium_score(hu[0], (3.0, 0.5, 0.5))


@pytest.mark.parametrize(
    ("score", "cat", "drs"),
    [
        (0, "0", "A0"),
        (0.4, "1-99", "A1"),
        (99.99, "1-99", "A1"),
        (100, "100-399", "A2"),
        (299.9, "100-399", "A2"),
        (300, "100-399", "A3"),
        (399.9, "100-399", "A3"),
        (400, ">=400", "A3"),
        (2500, ">=400", "A3"),
    ],
)
def test_categories(score, cat, drs):
    assert cac_category(score) == cat
    assert cac_drs(score) == drs
    assert cat in CAC_CATEGORIES and drs in CAC_DRS_CATEGORIES
    assert cac_drs(score, 2) == (drs if score == 0 else f"{drs}/N2")


def test_category_rejects_negative():
    with pytest.raises(ValueError):
        cac_category(-1)


def test_with_calibration_recomputes_mass():
    hu = _vol()
    hu[1, 2:6, 2:6] = 450
    r = calcium_score(hu, (3.0, 0.5, 0.5))
    rod = np.zeros(hu.shape, bool)
    rod[3] = True
    hu[3] = 250
    cal = calibrate_mass(hu, rod, 200)
    r2 = r.with_calibration(cal)
    assert r2.mass_mg == pytest.approx(0.2 / 250 * 16 * 0.25 * 3.0 * 450)
    assert r2.parameters["mass_calibrated"] is True
    assert r2.with_calibration(None).mass_mg is None


def test_matches_per_slice_scipy_labelling_on_random_volume():
    from scipy import ndimage

    rng = np.random.default_rng(1)
    hu = np.where(rng.random((6, 40, 33)) < 0.3, rng.integers(130, 600, (6, 40, 33)), 0)
    hu = hu.astype(np.int16)
    r = calcium_score(hu, (1.0, 1.0, 1.0), min_area_mm2=0)
    expected = []
    for z in range(hu.shape[0]):
        lab, n = ndimage.label(hu[z] >= 130, structure=np.ones((3, 3)))
        idx = np.arange(1, n + 1)
        sizes = ndimage.sum(np.ones_like(lab), lab, idx)
        peaks = ndimage.maximum(hu[z], lab, idx)
        expected += [(z, s, p) for s, p in zip(sizes, peaks, strict=True)]
    got = sorted(zip(r.lesions["slice"], r.lesions["n_voxels"], r.lesions["peak_hu"], strict=True))
    assert got == sorted(expected)
    # raster order of lesion ids: slices non-decreasing
    assert np.all(np.diff(r.lesions["slice"]) >= 0)


def _reference_lesions(hu, spacing, roi=None, vessels=None, threshold=130.0, min_area=1.0):
    """Slow per-slice reference (scipy.ndimage.label + a loop over lesions), computing every
    field of LESION_DTYPE the way the definition says; the vectorised scoring must give the
    same table bit for bit (kept for the one-pass rewrite, issue 25)."""
    from scipy import ndimage

    from napari_plaque.ccta.calcium import LESION_DTYPE

    dz, dy, dx = spacing
    rows = []
    for z in range(hu.shape[0]):
        m = hu[z] >= threshold
        if roi is not None:
            m &= roi[z] != 0
        lab, n = ndimage.label(m, structure=np.ones((3, 3)))
        for i in range(1, n + 1):
            yy, xx = np.nonzero(lab == i)
            cnt = yy.size
            area = cnt * (dy * dx)
            if area < min_area * (1 - 1e-9):
                continue
            v = hu[z][yy, xx].astype(np.float64)
            vessel = 0
            if vessels is not None:
                vv = vessels[z][yy, xx]
                vv = vv[vv != 0]
                if vv.size:
                    u, c = np.unique(vv, return_counts=True)
                    vessel = int(u[np.argmax(c)])
            rows.append((z, yy.sum() / cnt, xx.sum() / cnt, cnt, area, v.max(), v.sum() / cnt,
                         vessel))
    les = np.zeros(len(rows), LESION_DTYPE)
    for k, (z, cy, cx, cnt, area, peak, mean, vessel) in enumerate(rows):
        w = int(density_weight(peak))
        les[k] = (k + 1, z, z, cy, cx, cnt, area, peak, mean, w, area * w * (dz / 3.0),
                  area * dz, np.nan, vessel)
    return les


@pytest.mark.parametrize("seed,chunk_slices", [(0, None), (1, None), (2, None), (1, 2), (2, 3)])
def test_vectorised_scoring_equals_the_slow_reference_bit_for_bit(seed, chunk_slices, monkeypatch):
    if chunk_slices is not None:  # several chunks of slices, scanned on two threads
        from napari_plaque.ccta import calcium as cal

        monkeypatch.setattr(cal, "_CHUNK_VOXELS", chunk_slices * 61 * 67)
        monkeypatch.setattr(cal, "_SCAN_THREADS", 2)
    rng = np.random.default_rng(seed)
    shape = (7, 61, 67)
    hu = rng.normal(40, 60, shape)
    hu[rng.random(shape) < 0.08] = rng.integers(130, 1500, shape)[rng.random(shape) < 0.08][0]
    blobs = rng.random(shape) < 0.25
    hu = np.where(blobs, rng.integers(100, 900, shape), hu).astype(np.int16)
    hu[:, :, 0] = 500  # runs at the row edges (no wrap into the next row)
    hu[:, :, -1] = 500
    hu[:, -1, :] = 300
    roi = rng.random(shape) < 0.9 if seed == 1 else None
    vessels = rng.integers(0, 5, shape).astype(np.uint8) if seed != 0 else None
    sp = (0.5, 0.4, 0.45)
    want = _reference_lesions(hu, sp, roi, vessels)
    r = calcium_score(hu, sp, roi=roi, vessel_labels=vessels, return_labels=True)
    assert r.lesions.dtype == want.dtype and r.lesions.shape == want.shape
    for name in want.dtype.names:
        a, b = r.lesions[name], want[name]
        assert np.array_equal(a, b, equal_nan=True), name
    # the label volume holds each lesion's voxels
    assert np.array_equal(np.bincount(r.lesion_labels.ravel())[1:], want["n_voxels"])
    # float HU volumes score the same as their integer values
    r2 = calcium_score(hu.astype(np.float32), sp, roi=roi, vessel_labels=vessels)
    for name in want.dtype.names:
        assert np.array_equal(r2.lesions[name], want[name], equal_nan=True), name
