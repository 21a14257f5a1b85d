"""Held-out accuracy of the A-line SVM on synthetic pullbacks (not a timing benchmark).

Trains on synthetic pullbacks of some seeds (grouped CV report) and evaluates on pullbacks of
other seeds, per A-line, against the published detector's figures (precision 0.92, recall
0.85) and the ICS within 10 %. SYNTHETIC DATA: the figures say the pipeline works end to end,
not how it performs on patients.

    .venv/bin/python benchmarks/bench_ivus_accuracy.py [--train 6] [--test 5] [--frames 160]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=6, help="training seeds 0..N-1")
    ap.add_argument("--test", type=int, default=5, help="held-out seeds 100..100+N-1")
    ap.add_argument("--frames", type=int, default=160)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()

    from napari_plaque.ivus import (
        export_training_set,
        ics,
        load_training_set,
        predict_pullback,
        train_svm,
    )
    from napari_plaque.samples.ivus import make_pullback_frames, truth_arcset
    from napari_plaque.types import Pullback

    def pullback(seed: int):
        f, t = make_pullback_frames(n_frames=args.frames, size=args.size, seed=seed)
        pb = Pullback(
            f,
            t["frame_time_s"],
            t["pullback_rate_mm_s"],
            t["pixel_spacing_mm"],
            source=f"synthetic-seed-{seed}",
        )
        return pb, t

    t0 = time.perf_counter()
    items = []
    for s in range(args.train):
        pb, t = pullback(s)
        items.append((pb, truth_arcset(t)))
    with tempfile.TemporaryDirectory() as tmp:
        ds = export_training_set(items, Path(tmp) / "ds")
        model, rep = train_svm(load_training_set(ds))
    print(f"trained on seeds 0..{args.train - 1} in {time.perf_counter() - t0:.1f} s")
    o = rep["overall"]["smoothed"]
    print(
        f"grouped {rep['n_folds']}-fold CV (smoothed): accuracy {o['accuracy']:.3f} precision "
        f"{o['precision']:.3f} recall {o['recall']:.3f} F1 {o['f1']:.3f}"
    )
    tp = fp = fn = tn = 0
    worst_ics = 0.0
    print(f"{'seed':>6} {'prec':>7} {'recall':>7} {'ICS true':>9} {'ICS pred':>9} {'err %':>7}")
    for s in range(100, 100 + args.test):
        pb, t = pullback(s)
        lab, _ = predict_pullback(model, pb)
        y = t["labels"][:, :, 0]
        a, b, c, d = (
            np.count_nonzero(lab & y),
            np.count_nonzero(lab & ~y),
            np.count_nonzero(~lab & y),
            np.count_nonzero(~lab & ~y),
        )
        tp, fp, fn, tn = tp + a, fp + b, fn + c, tn + d
        ti, pi = ics(y), ics(lab)
        err = 100 * abs(pi - ti) / ti
        worst_ics = max(worst_ics, err)
        print(f"{s:>6} {a / (a + b):7.3f} {a / (a + c):7.3f} {ti:9.1f} {pi:9.1f} {err:7.1f}")
    prec, rec = tp / (tp + fp), tp / (tp + fn)
    acc = (tp + tn) / (tp + tn + fp + fn)
    print(
        f"held-out pooled: accuracy {acc:.3f} precision {prec:.3f} (target >= 0.92) "
        f"recall {rec:.3f} (target >= 0.85); worst ICS error {worst_ics:.1f} % (target <= 10 %)"
    )


if __name__ == "__main__":
    main()
