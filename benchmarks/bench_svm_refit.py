"""Benchmark: one refit of the A-line SVM on 50,000 A-lines.

Claim (issue 20, section 2, active learning): after each annotation round the dock refits the
SVM; a refit on 50,000 A-lines takes under 2 s on the 2-core development machine. A refit is
:func:`napari_plaque.ivus.svm.train_svm` without cross-validation (one pullback: no folds),
i.e. the standardisation and the ``LinearSVC`` fit that every train ends with.

The A-lines are the real features of a synthetic pullback (``samples/ivus.py``, 256 x 256
frames, its true calcium arcs as labels), tiled to ``--alines`` rows. Prints the best of
``--repeat`` refits (wall and CPU) with the load average (the machine may be shared).

    .venv/bin/python benchmarks/bench_svm_refit.py [--alines 50000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alines", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from napari_plaque.ivus.features import FEATURE_NAMES, FEATURE_VERSION, aline_features
    from napari_plaque.ivus.polar import to_polar
    from napari_plaque.ivus.svm import train_svm
    from napari_plaque.samples.ivus import make_pullback_frames, truth_arcset

    n_al, depth, depth_mm = 360, 256, 4.5
    n_frames = int(np.ceil(args.alines / n_al))
    frames, truth = make_pullback_frames(n_frames=min(n_frames, 160), size=256, seed=0)
    px = truth["pixel_spacing_mm"]
    pol = to_polar(frames, None, n_al, depth, depth_mm=depth_mm, pixel_spacing_mm=px,
                   dtype=np.uint8)  # fmt: skip
    feats = aline_features(pol, depth_mm)
    lab = truth_arcset(truth).labels(n_al, ["calcium"])[:, :, 0]
    reps = int(np.ceil(n_frames / feats.shape[0]))
    X = np.tile(feats, (reps, 1, 1))[:n_frames].reshape(-1, feats.shape[2])[: args.alines]
    y = np.tile(lab, (reps, 1))[:n_frames].reshape(-1)[: args.alines]
    fr = np.repeat(np.arange(n_frames), n_al)[: args.alines]
    al = np.tile(np.arange(n_al), n_frames)[: args.alines]
    data = {
        "manifest": {
            "classes": ["calcium"],
            "feature_names": list(FEATURE_NAMES),
            "feature_version": FEATURE_VERSION,
            "n_alines": n_al,
            "depth_samples": depth,
            "depth_mm": depth_mm,
        },
        "X": X,
        "y": y[:, None],
        "pullback": np.zeros(X.shape[0], np.int64),
        "frame": fr,
        "aline": al,
    }
    print(f"{X.shape[0]:,} A-lines x {X.shape[1]} features, {100 * y.mean():.1f} % calcium")
    t0 = time.perf_counter()
    import sklearn.preprocessing  # noqa: F401  (the first train of a session pays this)
    import sklearn.svm  # noqa: F401

    print(f"scikit-learn import (once per session): {time.perf_counter() - t0:.2f} s")
    walls, cpus = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        model, report = train_svm(data)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    assert report["n_folds"] == 0 and model.meta["n_train_alines"] == X.shape[0]
    best = min(walls)
    print(f"refit (train_svm, no CV): {best:.2f} s  (best of {args.repeat}: "
          f"{', '.join(f'{w:.2f}' for w in walls)}; CPU {min(cpus):.2f} s)")  # fmt: skip
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"target < 2 s: ratio {best / 2.0:.2f}")


if __name__ == "__main__":
    main()
