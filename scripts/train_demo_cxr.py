"""Reproduce ``src/napari_plaque/models/pretrained/demo_cxr.pt``, the SYNTHETIC demo CXR model.

Trained only on synthetic chest radiographs (:mod:`napari_plaque.cxr.synthetic`), image-only
(no clinical inputs), so the demo runs with no download. It is NOT a clinical model: it learned
the drawing rule of the synthetic cardiac calcification, nothing about real patients.

    .venv/bin/python scripts/train_demo_cxr.py [--out-dir DIR] [--n 400] [--size 128]

Steps: write ``--n`` synthetic radiographs (seed 0) and a manifest, run 3-fold patient-grouped
cross-validation plus the final model (``napari_plaque.cxr.train``), then evaluate it on 200
held-out synthetic radiographs (seed 1). The held-out figures are stored in the checkpoint's
metadata (``metrics.held_out``); the CV and held-out plots go to ``docs/images/``.
CPU, about 10 minutes on 2 busy cores (``torch.set_num_threads(1)`` is faster there).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from napari_plaque.cxr.synthetic import write_manifest
from napari_plaque.cxr.train import evaluate_cxr, train_cxr
from napari_plaque.models.checkpoint import load_model, save_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "napari_plaque" / "models" / "pretrained"
NOTES = (
    "SYNTHETIC DEMO: trained on napari_plaque.cxr.synthetic radiographs only (drawn chest "
    "anatomy with a CAC-dependent cardiac signal); not a clinical model. "
    "Reproduce with scripts/train_demo_cxr.py."
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        man = write_manifest(tmp / "train", a.n, size=256, seed=0)
        held = write_manifest(tmp / "held_out", 200, size=256, seed=1)
        model = tmp / "demo_cxr.pt"
        res = train_cxr(
            man,
            model,
            folds=a.folds,
            epochs=a.epochs,
            image_size=a.size,
            width=8,
            batch_size=16,
            lr=3e-3,
            patience=4,
            clinical=False,
            synthetic=True,
            notes=NOTES,
        )
        rep = evaluate_cxr(model, held, out=tmp / "held_out")
        lm = load_model(model)
        meta = dict(lm.metadata)
        meta["metrics"] = dict(meta["metrics"])
        meta["metrics"]["held_out"] = {
            "data": "200 synthetic radiographs, seed 1 (never seen in training)",
            **{
                f"{k}_auc": [e["auc"], e["auc_ci_low"], e["auc_ci_high"]]
                for k, e in rep["cut_points"].items()
            },
        }
        a.out_dir.mkdir(parents=True, exist_ok=True)
        out = save_model(a.out_dir / "demo_cxr.pt", lm.module, meta)
        a.images.mkdir(parents=True, exist_ok=True)
        for src, name in (
            (res.files["roc_plot"], "cxr_demo_cv_roc.png"),
            (res.files["calibration_plot"], "cxr_demo_cv_calibration.png"),
            (rep["files"]["roc_plot"], "cxr_demo_heldout_roc.png"),
        ):
            shutil.copyfile(src, a.images / name)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")
    for k, e in res.report["cut_points"].items():
        print(f"CV {k}: AUC {e['auc']:.3f} ({e['auc_ci_low']:.3f}-{e['auc_ci_high']:.3f})")
    for k, e in rep["cut_points"].items():
        print(f"held-out {k}: AUC {e['auc']:.3f} ({e['auc_ci_low']:.3f}-{e['auc_ci_high']:.3f})")


if __name__ == "__main__":
    main()
