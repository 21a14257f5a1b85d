"""Benchmark: QC of a 300 x 512 x 512 pair of label maps (all metrics) vs a plain scipy baseline.

Claim (issue 5): all QC metrics of a 512 x 512 x 300 pair in under 3 s on the project machine.

The synthetic pair mimics a cardiac CT segmentation: label 1 a large myocardium-like ellipsoid
shell, label 2 a coronary-like tube winding through 200 slices, label 3 twenty small calcium
blobs (1-4 voxels radius), label 4 a plaque blob. The "automated" map is the reference shifted
by one voxel, with a grown shell, two calcium blobs missed and three false-positive blobs.

The baseline is what one writes first with scipy: per label, full-volume boolean masks, full
volume erosion, two full-volume ``distance_transform_edt(sampling=spacing)``, full-volume
``ndimage.label`` for lesions and a full-volume per-slice count. Both produce the same numbers
(checked at the end); the ratio is printed.

Usage::

    .venv/bin/python benchmarks/bench_qc.py            # qc + baseline on all labels
    .venv/bin/python benchmarks/bench_qc.py --baseline-labels 1   # baseline on label 1 only
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage as ndi

from napari_plaque.qc import qc_metrics

SHAPE = (300, 512, 512)
SPACING = (0.5, 0.4, 0.4)


def _ball(arr: np.ndarray, center, radius_vox, value: int) -> None:
    c = np.asarray(center)
    r = np.asarray(radius_vox, float)
    lo = np.maximum(np.floor(c - r).astype(int), 0)
    hi = np.minimum(np.ceil(c + r).astype(int) + 1, arr.shape)
    zz, yy, xx = np.ogrid[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    inside = ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 <= 1
    sub = arr[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    sub[inside] = value


def make_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref = np.zeros(SHAPE, np.uint8)
    # label 1: ellipsoid shell (myocardium-like), ~ 55 x 150 x 130 voxel half-axes
    c, outer = np.array([150, 260, 250]), np.array([55, 150, 130])
    _ball(ref, c, outer, 1)
    _ball(ref, c, outer - 12, 0)
    # label 2: a tube (radius 4 voxels) winding along z over 200 slices
    for z in range(40, 240):
        t = z / 40.0
        _ball(ref, (z, 260 + 170 * np.cos(t), 250 + 150 * np.sin(t)), (3, 4, 4), 2)
    # label 3: 20 small calcium blobs, label 4: one plaque blob
    blobs = []
    for _ in range(20):
        ctr = rng.uniform((20, 40, 40), (280, 470, 470))
        rad = rng.uniform(1, 4)
        blobs.append((ctr, rad))
        _ball(ref, ctr, (rad, rad, rad), 3)
    _ball(ref, (120, 100, 380), (8, 14, 10), 4)

    pred = np.zeros_like(ref)
    pred[1:, :, 1:] = ref[:-1, :, :-1]  # one-voxel shift in z and x
    grown = ndi.binary_dilation(pred[80:220, 100:420, 110:390] == 1, iterations=1)
    sub = pred[80:220, 100:420, 110:390]
    sub[grown & (sub == 0)] = 1
    for ctr, rad in blobs[:2]:  # two missed calcium blobs
        _ball(pred, np.asarray(ctr) + (1, 0, 1), (rad + 1, rad + 1, rad + 1), 0)
    for _ in range(3):  # three false-positive blobs
        _ball(pred, rng.uniform((20, 40, 40), (280, 470, 470)), (2, 2, 2), 3)
    return pred, ref


def baseline(pred: np.ndarray, ref: np.ndarray, spacing, labels) -> dict[int, dict[str, float]]:
    """Plain per-label scipy QC on full volumes."""
    out = {}
    vox = float(np.prod(spacing))
    full = ndi.generate_binary_structure(3, 3)
    face = ndi.generate_binary_structure(3, 1)
    for lab in labels:
        p, r = pred == lab, ref == lab
        tp = np.count_nonzero(p & r)
        np_, nr = np.count_nonzero(p), np.count_nonzero(r)
        sp = p & ~ndi.binary_erosion(p, face)
        sr = r & ~ndi.binary_erosion(r, face)
        d_pr = ndi.distance_transform_edt(~sr, sampling=spacing)[sp]
        d_rp = ndi.distance_transform_edt(~sp, sampling=spacing)[sr]
        lp, n_p = ndi.label(p, full)
        lr, n_r = ndi.label(r, full)
        hit = np.unique(lr[(lp > 0) & (lr > 0)]).size
        np.count_nonzero(p != r, axis=(1, 2))  # per-slice disagreement
        out[lab] = {
            "dice": 2 * tp / (np_ + nr),
            "volume_pred_mm3": np_ * vox,
            "hd95_mm": max(np.percentile(d_pr, 95), np.percentile(d_rp, 95)),
            "assd_mm": (d_pr.sum() + d_rp.sum()) / (d_pr.size + d_rp.size),
            "lesion_tp": hit,
            "lesion_fn": n_r - hit,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-labels", type=int, default=4, help="labels run by the baseline")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs of the QC (best kept)")
    args = ap.parse_args()

    t0 = time.perf_counter()
    pred, ref = make_pair()
    print(f"synthetic pair {SHAPE} built in {time.perf_counter() - t0:.1f} s")
    print("voxels per label (ref):", {k: int(np.count_nonzero(ref == k)) for k in (1, 2, 3, 4)})

    best = float("inf")
    res = None
    for _ in range(max(args.repeat, 1)):
        t = time.perf_counter()
        res = qc_metrics(pred, ref, SPACING)
        best = min(best, time.perf_counter() - t)
    print(
        f"napari_plaque.qc.qc_metrics (all labels, all metrics): {best:.2f} s (best of "
        f"{args.repeat}); target < 3 s: {'PASS' if best < 3 else 'FAIL'}"
    )
    for lab, m in res["labels"].items():
        print(
            f"  label {lab}: dice {m['dice']:.3f} hd95 {m['hd95_mm']:.2f} mm "
            f"assd {m['assd_mm']:.2f} mm lesions TP/FP/FN {m['lesion_tp']}/{m['lesion_fp']}/"
            f"{m['lesion_fn']}"
        )

    labels = [1, 2, 3, 4][: args.baseline_labels]
    if not labels:
        return
    t = time.perf_counter()
    base = baseline(pred, ref, SPACING, labels)
    tb = time.perf_counter() - t
    # same numbers?
    for lab in labels:
        for key, val in base[lab].items():
            assert np.isclose(res["labels"][lab][key], val), (
                lab,
                key,
                res["labels"][lab][key],
                val,
            )
    n = len(labels)
    print(f"baseline (full-volume scipy, {n} label(s)): {tb:.2f} s; results identical")
    if n == 4:
        print(f"speed-up: {tb / best:.1f}x")
    else:
        print(
            f"speed-up (baseline extrapolated x{4 / n:.1f} to 4 labels): {tb * 4 / n / best:.1f}x"
        )


if __name__ == "__main__":
    main()
