"""Throughput of the IVUS SVM pipeline (polar transform + A-line features + prediction).

Target (issue 4): features + prediction for a 3000-frame pullback in < 30 s on the 2-core
development machine. By default this times a shorter pullback of 512 x 512 frames and
extrapolates linearly to 3000 frames (the work is per frame; say --frames 3000 to time it
directly, ~0.8 GB of frames). The detector's weights do not change its speed, so a model with
random weights is used.

Baseline, in the same process: the polar transform done the usual way, frame by frame with
``scipy.ndimage.map_coordinates`` (bilinear), against the precomputed-map batch gather.

    .venv/bin/python benchmarks/bench_ivus.py [--frames 300] [--size 512]

Claim (issue 25): the whole pipeline (features + prediction + arcs) runs at >= 300,000
A-lines/s on the idle 2-core development machine. The script prints the wall-clock rate and
the CPU time per frame (all threads; less sensitive to other processes on a shared machine)
with the load average, and the same pipeline with the reference polar formula (four gathers
per sample, as before the sparse-matrix form) alternated in the same process, with identical
labels asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--baseline-frames", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3, help="pipeline runs (best is reported)")
    ap.add_argument(
        "--no-reference", action="store_true", help="skip the four-gather reference runs"
    )
    args = ap.parse_args()

    from scipy.ndimage import map_coordinates

    from napari_plaque.ivus.features import FEATURE_NAMES, FEATURE_VERSION
    from napari_plaque.ivus.polar import aline_angles_deg, to_polar
    from napari_plaque.ivus.svm import SVMModel, predict_pullback
    from napari_plaque.samples.ivus import make_pullback_frames
    from napari_plaque.types import Pullback

    base, truth = make_pullback_frames(n_frames=32, size=args.size, seed=0)
    reps = int(np.ceil(args.frames / base.shape[0]))
    frames = np.tile(base, (reps, 1, 1))[: args.frames]
    px = truth["pixel_spacing_mm"]
    pb = Pullback(frames, truth["frame_time_s"], truth["pullback_rate_mm_s"], px)
    n_alines, depth_samples, depth_mm = 360, 256, 4.5
    nf = len(FEATURE_NAMES)
    rng = np.random.default_rng(0)
    model = SVMModel(
        rng.normal(size=nf),
        0.0,
        np.zeros(nf),
        np.ones(nf),
        {
            "n_alines": n_alines,
            "depth_samples": depth_samples,
            "depth_mm": depth_mm,
            "feature_version": FEATURE_VERSION,
            "class": "calcium",
            "smooth_alines": 7,
            "smooth_frames": 3,
            "threshold": 0.0,
        },
    )

    # -- baseline vs ours: polar transform only
    nb = min(args.baseline_frames, args.frames)
    c = truth["center"]
    theta = np.radians(aline_angles_deg(n_alines))[:, None]
    r_px = ((np.arange(depth_samples) + 0.5) / depth_samples * depth_mm / px[0])[None, :]
    coords = np.stack([c[0] + r_px * np.sin(theta), c[1] + r_px * np.cos(theta)])
    t0 = time.perf_counter()
    ref = np.stack([map_coordinates(f.astype(np.float32), coords, order=1) for f in frames[:nb]])
    t_base = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = to_polar(frames[:nb], c, n_alines, depth_samples, depth_mm=depth_mm, pixel_spacing_mm=px)
    t_ours = time.perf_counter() - t0
    inside = coords[0].max() < args.size - 1
    err = float(np.abs(ours - ref).max()) if inside else float("nan")
    print(f"polar transform, {nb} frames {args.size}x{args.size} -> {n_alines}x{depth_samples}:")
    print(f"  map_coordinates per frame: {t_base:.3f} s   batched maps: {t_ours:.3f} s")
    print(f"  speed-up {t_base / t_ours:.1f}x   max abs difference {err:.3g}")

    # -- the whole pipeline; "reference": the same with the polar samples by four gathers (the
    # formula before the sparse-matrix form, issue 25), alternated in this process
    from napari_plaque.ivus.polar import PolarGrid

    fast_sample = PolarGrid.sample
    predict_pullback(model, Pullback(frames[:8], truth["frame_time_s"],
                                     truth["pullback_rate_mm_s"], px))  # warm-up (maps)
    walls, cpus, ref_walls, ref_cpus = [], [], [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        labels, arcs = predict_pullback(model, pb)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if args.no_reference:
            continue
        PolarGrid.sample = PolarGrid.sample_gather
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            ref_labels, _ = predict_pullback(model, pb)
            ref_walls.append(time.perf_counter() - t0)
            ref_cpus.append(time.process_time() - c0)
        finally:
            PolarGrid.sample = fast_sample
        assert np.array_equal(ref_labels, labels), "labels differ from the reference"
    t_all = min(walls)
    n_lines = args.frames * n_alines
    rate = n_lines / t_all
    t3000 = 3000 * n_alines / rate
    print(
        f"features + prediction + arcs, {args.frames} frames {args.size}x{args.size}: "
        f"{t_all:.2f} s = {rate:,.0f} A-lines/s"
    )
    import os

    print(
        f"  best of {args.repeat} (wall s: {', '.join(f'{w:.2f}' for w in walls)}); CPU "
        f"{1000 * min(cpus) / args.frames:.2f} ms per frame (all threads); load average "
        "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    )
    if ref_cpus:
        print(
            f"  reference (polar by four gathers), same process: best wall {min(ref_walls):.2f} s "
            f"= {n_lines / min(ref_walls):,.0f} A-lines/s (wall s: "
            f"{', '.join(f'{w:.2f}' for w in ref_walls)}); CPU "
            f"{1000 * min(ref_cpus) / args.frames:.2f} ms per frame; labels identical"
        )
    # on an idle 2-core machine the per-frame work runs on both cores: an estimate of the
    # idle rate from the CPU time (an upper bound: it assumes perfect scaling)
    est = n_lines / (min(cpus) / min(2, os.cpu_count() or 1))
    print(f"  idle estimate from CPU time (perfect 2-core scaling): {est:,.0f} A-lines/s")
    how = "measured" if args.frames == 3000 else "extrapolated"
    print(f"3000-frame pullback ({how}): {t3000:.1f} s  (target < 30 s: ratio {t3000 / 30:.2f})")


if __name__ == "__main__":
    main()
