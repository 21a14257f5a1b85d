"""Reproduce the demo checkpoints shipped in ``src/napari_plaque/models/pretrained/``.

Both are trained on SYNTHETIC data only (the package's sample generators) so that the demo
runs inference with no download; they are not clinical models. CPU, a few minutes::

    .venv/bin/python scripts/train_demo_models.py [--out-dir DIR] [--quick]

- ``demo_alines.pt``: the A-line detector (calcium, attenuation) trained on synthetic IVUS
  pullbacks (``samples.ivus.make_pullback_frames``, seeds 0-5), exported with the IVUS
  training-set exporter (360 A-lines x 128 depth samples); held-out seeds 100-101 give the
  per-A-line precision/recall and the ICS error stored in the metadata (``metrics.held_out``).
- ``demo_ccta_plaque.pt``: a 2D U-Net (background, vessel, plaque) trained on the synthetic CCTA
  (``samples.ccta.make_ccta``; noise seeds and in-plane rotations/flips as "studies"); held-out
  Dice on an unseen noise seed / orientation in ``metrics.held_out``. The synthetic CCTA has one
  geometry, so this figure says the model learned the sample, not that it generalises.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from napari_plaque.ivus.arcs import ArcSet
from napari_plaque.ivus.dataset import export_training_set
from napari_plaque.models.checkpoint import load_model, save_model
from napari_plaque.models.data import ct_training_set_from_arrays
from napari_plaque.models.inference import predict_pullback, predict_volume
from napari_plaque.models.train import state_path, train_alines, train_ctseg
from napari_plaque.samples.ccta import make_ccta
from napari_plaque.samples.ivus import make_pullback_frames
from napari_plaque.types import CTVolume, Pullback

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "napari_plaque" / "models" / "pretrained"
NOTE = "trained on synthetic data only (napari-plaque sample generators); not a clinical model"


def _pullback(seed: int, n_frames: int) -> tuple[Pullback, dict]:
    frames, truth = make_pullback_frames(n_frames=n_frames, seed=seed)
    pb = Pullback(
        frames,
        truth["frame_time_s"],
        truth["pullback_rate_mm_s"],
        tuple(truth["pixel_spacing_mm"]),
        uid_hash=f"synthetic-ivus-seed{seed}",
        name=f"synthetic seed {seed}",
    )
    return pb, truth


def _rewrite_metrics(path: Path, held_out: dict) -> None:
    lm = load_model(path)
    meta = dict(lm.metadata)
    meta["metrics"] = {**meta.get("metrics", {}), "held_out": held_out}
    save_model(path, lm.module, meta)


def train_alines_demo(out: Path, quick: bool) -> dict:
    n_frames = 60 if quick else 120
    seeds = range(3 if quick else 6)
    with tempfile.TemporaryDirectory() as tmp:
        items = []
        for s in seeds:
            pb, truth = _pullback(s, n_frames)
            arcs = ArcSet.from_dicts(
                truth["arcs"], pb.n_frames, pb.frame_shape, list(truth["classes"])
            )
            items.append((pb, arcs))
        ds = export_training_set(items, Path(tmp) / "ds", n_alines=360, depth_samples=128)
        t0 = time.perf_counter()
        res = train_alines(
            ds,
            out,
            epochs=4 if quick else 10,
            batch_size=16,
            width=16,
            seed=0,
            patience=4,
            device="cpu",
            synthetic=True,
            notes=NOTE,
        )
        train_s = time.perf_counter() - t0
    held = {}
    for s in (100, 101):
        pb, truth = _pullback(s, n_frames)
        pred = predict_pullback(out, pb, batch_size=32, device="cpu")
        t = truth["labels"][:, :, 0]
        p = pred.class_labels("calcium")
        tp = int((t & p).sum())
        held[f"seed{s}"] = {
            "calcium_precision": round(tp / max(int(p.sum()), 1), 4),
            "calcium_recall": round(tp / max(int(t.sum()), 1), 4),
            "ics_true": round(float(truth["ics"]), 2),
            "ics_predicted": round(pred.ics("calcium"), 2),
        }
    _rewrite_metrics(out, held)
    return {"train_seconds": round(train_s, 1), "epochs": len(res.history), "held_out": held}


def _ccta_case(seed: int, k: int, flip: bool) -> tuple[CTVolume, np.ndarray]:
    s = make_ccta(noise_hu=15.0, seed=seed)
    lab = np.where(s.plaque_labels > 0, 2, np.where(s.vessel_labels > 0, 1, 0)).astype(np.uint8)
    hu = np.rot90(s.volume.hu, k, axes=(1, 2))
    lab = np.rot90(lab, k, axes=(1, 2))
    if flip:
        hu, lab = hu[:, :, ::-1], lab[:, :, ::-1]
    vol = CTVolume(np.ascontiguousarray(hu), s.volume.spacing_mm, name=f"ccta-{seed}-{k}-{flip}")
    return vol, np.ascontiguousarray(lab)


def train_ccta_demo(out: Path, quick: bool) -> dict:
    variants = [(0, 0, False), (1, 1, False), (2, 2, True), (3, 3, False)]
    if not quick:
        variants += [(4, 0, True), (5, 1, True)]
    cases = [_ccta_case(*v) for v in variants]
    ts = ct_training_set_from_arrays(
        [c[0] for c in cases], [c[1] for c in cases], ["background", "vessel", "plaque"]
    )
    t0 = time.perf_counter()
    res = train_ctseg(
        ts,
        out,
        epochs=4 if quick else 30,
        dims=2,
        patch_size=(1, 64, 64),
        batch_size=16,
        patches_per_epoch=128 if quick else 256,
        val_patches=64,
        window_hu=(-300.0, 1300.0),
        base_channels=8,
        levels=3,
        seed=0,
        patience=5,
        device="cpu",
        synthetic=True,
        notes=NOTE,
    )
    train_s = time.perf_counter() - t0
    vol, truth = _ccta_case(99, 3, True)
    pred = predict_volume(out, vol, device="cpu").labels
    held = {}
    for k, name in ((1, "vessel"), (2, "plaque")):
        a, b = pred == k, truth == k
        held[f"{name}_dice"] = round(float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1)), 4)
    _rewrite_metrics(out, {"noise_seed99_rot270_flip": held})
    return {"train_seconds": round(train_s, 1), "epochs": len(res.history), "held_out": held}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--quick", action="store_true", help="fewer data and epochs (smoke test)")
    ap.add_argument("--only", choices=["alines", "ccta"], default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    report = {}
    if args.only in (None, "alines"):
        report["demo_alines"] = train_alines_demo(args.out_dir / "demo_alines.pt", args.quick)
        print(json.dumps({"demo_alines": report["demo_alines"]}), flush=True)
    if args.only in (None, "ccta"):
        report["demo_ccta_plaque"] = train_ccta_demo(
            args.out_dir / "demo_ccta_plaque.pt", args.quick
        )
        print(json.dumps({"demo_ccta_plaque": report["demo_ccta_plaque"]}), flush=True)
    for name in ("demo_alines.pt", "demo_ccta_plaque.pt"):
        state_path(args.out_dir / name).unlink(missing_ok=True)  # resumable state: not shipped
    for p in sorted(args.out_dir.glob("*.pt")):
        print(f"{p.name}: {p.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
