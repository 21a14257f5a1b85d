"""Segmentation metrics against hand-computed values and an independent brute-force computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial.distance import cdist

from napari_plaque.qc import (
    disagreement_map,
    iter_qc_metrics,
    label_metrics,
    qc_metrics,
    qc_steps,
    slice_disagreement,
    surface_distances,
)


def _brute_distances(p, r, spacing):
    """Independent reference: surface voxels by 6-neighbour test on a padded array, all pairs."""

    def surf(m):
        pad = np.pad(m, 1)
        inner = pad[1:-1, 1:-1, 1:-1]
        nb = np.ones_like(inner)
        for ax in range(3):
            for sh in (-1, 1):
                nb &= np.roll(pad, sh, axis=ax)[1:-1, 1:-1, 1:-1]
        return inner & ~nb

    sp = np.argwhere(surf(p)) * np.asarray(spacing)
    sr = np.argwhere(surf(r)) * np.asarray(spacing)
    d = cdist(sp, sr)
    return d.min(axis=1), d.min(axis=0)


def test_overlap_and_volume_hand_computed():
    # pred: 2x2x2 cube (8 voxels), ref: 2x2x3 box (12 voxels) sharing the cube
    pred = np.zeros((4, 5, 6), np.uint8)
    ref = np.zeros_like(pred)
    pred[1:3, 1:3, 1:3] = 1
    ref[1:3, 1:3, 1:4] = 1
    res = qc_metrics(pred, ref, spacing_mm=(2.0, 0.5, 0.5))
    m = res["labels"][1]
    assert m["voxels_tp"] == 8
    assert m["dice"] == pytest.approx(2 * 8 / 20)
    assert m["jaccard"] == pytest.approx(8 / 12)
    assert m["sensitivity"] == pytest.approx(8 / 12)
    assert m["precision"] == pytest.approx(1.0)
    assert m["volume_pred_mm3"] == pytest.approx(8 * 0.5)
    assert m["volume_ref_mm3"] == pytest.approx(12 * 0.5)
    assert m["volume_diff_mm3"] == pytest.approx(-2.0)
    assert m["volume_diff_pct"] == pytest.approx(-100 / 3)
    # every voxel of both is a surface voxel; ref column x=3 is 0.5 mm from pred's x=2 face
    # pred->ref distances all 0; ref->pred: 8 zeros and 4 of 0.5 mm
    assert m["hd_mm"] == pytest.approx(0.5)
    assert m["assd_mm"] == pytest.approx(4 * 0.5 / 20)
    # directed 95th percentiles: pred->ref 0; ref->pred 12 values (8x0, 4x0.5) -> 0.5
    assert m["hd95_mm"] == pytest.approx(0.5)


def test_anisotropic_spacing_distance_along_slices():
    # two single voxels 3 slices apart (3 mm slices) and 4 columns apart (0.5 mm)
    pred = np.zeros((6, 3, 8), np.uint8)
    ref = np.zeros_like(pred)
    pred[1, 1, 1] = 2
    ref[4, 1, 5] = 2
    m = qc_metrics(pred, ref, (3.0, 0.7, 0.5))["labels"][2]
    expected = math.hypot(3 * 3.0, 4 * 0.5)
    assert m["hd95_mm"] == pytest.approx(expected)
    assert m["assd_mm"] == pytest.approx(expected)
    assert m["dice"] == 0.0
    # one-voxel objects: one lesion each, the predicted one is a false positive, ref missed
    assert (m["lesion_tp"], m["lesion_fp"], m["lesion_fn"]) == (0, 1, 1)


def test_one_voxel_objects_identical():
    pred = np.zeros((3, 3, 3), np.int32)
    pred[1, 1, 1] = 7
    m = qc_metrics(pred, pred.copy(), (1.0, 1.0, 1.0))["labels"][7]
    assert m["dice"] == 1.0 and m["jaccard"] == 1.0
    assert m["hd95_mm"] == 0.0 and m["assd_mm"] == 0.0
    assert (m["lesion_tp"], m["lesion_fp"], m["lesion_fn"]) == (1, 0, 0)
    assert m["volume_pred_mm3"] == 1.0


def test_empty_mask_conventions():
    z = np.zeros((4, 4, 4), np.uint8)
    one = z.copy()
    one[1, 1, 1] = 1
    both = label_metrics(z.astype(bool), z.astype(bool), (1, 1, 1))
    assert both["dice"] == 1.0 and both["jaccard"] == 1.0
    assert both["hd95_mm"] == 0.0 and both["assd_mm"] == 0.0
    assert math.isnan(both["sensitivity"]) and math.isnan(both["precision"])
    pred_only = qc_metrics(one, z, (1, 1, 1))["labels"][1]
    assert pred_only["dice"] == 0.0 and pred_only["ref_empty"] and not pred_only["pred_empty"]
    assert math.isinf(pred_only["hd95_mm"]) and math.isinf(pred_only["assd_mm"])
    assert math.isnan(pred_only["sensitivity"]) and pred_only["precision"] == 0.0
    assert math.isnan(pred_only["volume_diff_pct"])
    assert pred_only["lesion_fp"] == 1
    ref_only = qc_metrics(z, one, (1, 1, 1))["labels"][1]
    assert ref_only["sensitivity"] == 0.0 and math.isnan(ref_only["precision"])
    assert ref_only["lesion_fn"] == 1 and math.isinf(ref_only["hd_mm"])
    # a requested label absent from both maps gets the both-empty values
    res = qc_metrics(one, one, (1, 1, 1), labels=[1, 5])
    assert res["labels"][5]["dice"] == 1.0 and res["labels"][5]["hd95_mm"] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distances_match_brute_force_on_random_shapes(seed):
    rng = np.random.default_rng(seed)
    shape = (12, 20, 18)
    spacing = (2.5, 0.6, 0.45)
    noise_p = ndi.gaussian_filter(rng.random(shape), 1.5)
    noise_r = ndi.gaussian_filter(rng.random(shape), 1.5)
    p = noise_p > np.percentile(noise_p, 85)
    r = noise_r > np.percentile(noise_r, 85)
    d_pr, d_rp = _brute_distances(p, r, spacing)
    for method in ("edt", "kdtree"):
        a, b = surface_distances(p, r, spacing, method=method)
        np.testing.assert_allclose(np.sort(a), np.sort(d_pr), atol=1e-9)
        np.testing.assert_allclose(np.sort(b), np.sort(d_rp), atol=1e-9)
    pred = p.astype(np.uint8) * 3
    ref = r.astype(np.uint8) * 3
    m = qc_metrics(pred, ref, spacing)["labels"][3]
    assert m["hd95_mm"] == pytest.approx(max(np.percentile(d_pr, 95), np.percentile(d_rp, 95)))
    assert m["assd_mm"] == pytest.approx(np.concatenate([d_pr, d_rp]).mean())
    assert m["hd_mm"] == pytest.approx(max(d_pr.max(), d_rp.max()))
    inter = np.count_nonzero(p & r)
    assert m["dice"] == pytest.approx(2 * inter / (p.sum() + r.sum()))


def test_cropping_gives_the_full_volume_result():
    # a small structure in a big volume: cropped computation == full-array computation
    pred = np.zeros((30, 60, 60), np.uint8)
    ref = np.zeros_like(pred)
    pred[10:14, 20:30, 22:31] = 1
    ref[11:15, 21:29, 20:30] = 1
    spacing = (1.5, 0.4, 0.4)
    cropped = qc_metrics(pred, ref, spacing)["labels"][1]
    full = label_metrics(pred == 1, ref == 1, spacing, distance_method="edt")
    for key in ("dice", "hd95_mm", "assd_mm", "hd_mm", "volume_pred_mm3", "lesion_tp"):
        assert cropped[key] == pytest.approx(full[key])


def test_lesion_detection_counts():
    ref = np.zeros((5, 30, 30), np.uint8)
    pred = np.zeros_like(ref)
    ref[2, 2:5, 2:5] = 1  # detected
    ref[2, 10:13, 10:13] = 1  # missed
    ref[2, 20:23, 2:5] = 1  # detected by two pred pieces
    pred[2, 3:6, 3:6] = 1
    pred[2, 20, 2] = 1  # two diagonal neighbours: one lesion with 26-connectivity
    pred[2, 21, 3] = 1
    pred[2, 22, 20] = 1  # false positive
    pred[2, 25:28, 25:28] = 1  # false positive
    m = qc_metrics(pred, ref, (1, 1, 1))["labels"][1]
    assert m["lesions_ref"] == 3 and m["lesions_pred"] == 4
    assert (m["lesion_tp"], m["lesion_fp"], m["lesion_fn"]) == (2, 2, 1)
    assert m["lesion_sensitivity"] == pytest.approx(2 / 3)
    assert m["lesion_ppv"] == pytest.approx(2 / 4)
    # with face connectivity the diagonal pair is two lesions, both true positives
    m6 = qc_metrics(pred, ref, (1, 1, 1), connectivity=1)["labels"][1]
    assert m6["lesions_pred"] == 5 and m6["lesion_fp"] == 2
    assert m6["lesion_ppv"] == pytest.approx(3 / 5)


def test_multilabel_and_per_slice_disagreement():
    pred = np.zeros((4, 6, 6), np.uint8)
    ref = np.zeros_like(pred)
    ref[1, 1:3, 1:3] = 1  # 4 voxels of label 1 on slice 1
    pred[1, 1:3, 1:2] = 1  # 2 agree, 2 FN
    pred[2, 4, 4] = 2  # FP on slice 2
    ref[3, 0, 0] = 2
    pred[3, 0, 0] = 1  # wrong label on slice 3
    ps = slice_disagreement(pred, ref, (3.0, 0.5, 0.5))
    np.testing.assert_array_equal(ps["fp"], [0, 0, 1, 0])
    np.testing.assert_array_equal(ps["fn"], [0, 2, 0, 0])
    np.testing.assert_array_equal(ps["wrong"], [0, 0, 0, 1])
    np.testing.assert_array_equal(ps["disagree"], [0, 2, 1, 1])
    np.testing.assert_allclose(ps["disagree_mm2"], [0, 0.5, 0.25, 0.25])
    np.testing.assert_allclose(ps["dice"], [1.0, 2 * 2 / 6, 0.0, 0.0])
    res = qc_metrics(pred, ref, (3.0, 0.5, 0.5), n_worst=2)
    assert [w["index"] for w in res["worst_slices"]] == [1, 2]  # ties -> lower index first
    assert set(res["labels"]) == {1, 2}
    dm = disagreement_map(pred, ref)
    assert dm[1, 2, 2] == 2 and dm[2, 4, 4] == 1 and dm[3, 0, 0] == 3
    assert np.count_nonzero(dm) == 4
    only2 = disagreement_map(pred, ref, label=2)
    assert only2[2, 4, 4] == 1 and only2[3, 0, 0] == 2 and np.count_nonzero(only2) == 2


def test_generator_yields_progress_and_steps():
    pred = np.zeros((3, 4, 4), np.uint8)
    pred[1, 1, 1] = 1
    pred[2, 2, 2] = 4
    gen = iter_qc_metrics(pred, pred, (1, 1, 1))
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert steps == [1, 2, 3] == list(range(1, qc_steps(pred, pred) + 1))
    assert result["worst_slices"] == []


def test_bad_inputs():
    a = np.zeros((3, 3, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        qc_metrics(a, np.zeros((3, 3, 4), np.uint8), (1, 1, 1))
    with pytest.raises(ValueError, match="spacing"):
        qc_metrics(a, a, (1, 1))
    with pytest.raises(ValueError, match="integer"):
        qc_metrics(a.astype(float), a, (1, 1, 1))
    neg = a.astype(np.int16)
    neg[0, 0, 0] = -1
    with pytest.raises(ValueError, match="negative"):
        qc_metrics(neg, neg, (1, 1, 1))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_sparse_and_dense_paths_agree(seed, rank):
    rng = np.random.default_rng(seed)
    shape = (10, 24, 22)
    # sparse speckle (many small components, touching the array border) vs blobs
    p = rng.random(shape) < 0.04
    r = ndi.gaussian_filter(rng.random(shape), 1.0) > 0.56
    p[0, 0, :] = True
    spacing = (3.0, 0.5, 0.7)
    dense = label_metrics(p, r, spacing, connectivity=rank, mode="dense", distance_method="edt")
    sparse = label_metrics(p, r, spacing, connectivity=rank, mode="sparse")
    assert dense["lesions_pred"] == ndi.label(p, ndi.generate_binary_structure(3, rank))[1]
    for key, val in dense.items():
        assert sparse[key] == pytest.approx(val, nan_ok=True), key


def test_dense_scan_fallback_gives_same_result(monkeypatch):
    import napari_plaque.qc.metrics as qm

    rng = np.random.default_rng(5)
    pred = (ndi.gaussian_filter(rng.random((8, 20, 20)), 1) > 0.52).astype(np.uint8)
    ref = (ndi.gaussian_filter(rng.random((8, 20, 20)), 1) > 0.52).astype(np.uint8) * 2
    pred[pred > 0] = rng.integers(1, 3, int(pred.sum()))
    sparse = qm.qc_metrics(pred, ref, (1.0, 0.5, 0.5))
    monkeypatch.setattr(qm, "SCAN_MAX_FILL", 0.0)
    dense = qm.qc_metrics(pred, ref, (1.0, 0.5, 0.5))
    for k in sparse["per_slice"]:
        np.testing.assert_array_equal(sparse["per_slice"][k], dense["per_slice"][k])
    assert sparse["labels"].keys() == dense["labels"].keys()
    for lab in sparse["labels"]:
        for key, val in sparse["labels"][lab].items():
            assert dense["labels"][lab][key] == pytest.approx(val, nan_ok=True)
