"""Inference throughput: IVUS frames/s through the A-line model, CT time through the U-Net.

Runs on the CPU always, and on CUDA too when a GPU is present (with bf16/fp16 autocast).
Each measurement is compared with a baseline run in the same process:

- IVUS: the streamed engine (``predict_pullback``: lazy frames -> polar -> model) at its
  default batch size (4 on a CPU, 64 on a GPU) against batch 1 (one frame at a time) and 32;
- CT: the default tiling (2D U-Net: one tile per slice, slice + context margin) against small
  96 x 96 tiles (many tiles, each re-computing its context margin), on the same volume.

Uses the shipped demo checkpoints (weights do not change the speed). Usage::

    .venv/bin/python benchmarks/bench_inference.py [--frames 300] [--slices 20] [--device cpu]

Targets (issue 6, on an H100): a 3000-frame pullback in < 10 s; a 512 x 512 x 300 CT in < 5 s.
On a CPU the script measures fewer frames/slices and extrapolates linearly (both scale
linearly with frames/slices); it says so in the output.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from napari_plaque.ivus.deep import predict_pullback
from napari_plaque.models import pretrained_models
from napari_plaque.models.checkpoint import load_checkpoint
from napari_plaque.models.inference import default_batch_size, predict_volume
from napari_plaque.types import CTVolume, Pullback


def hardware(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    text = f"CPU {cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if device == "cuda":
        text += f"; GPU {torch.cuda.get_device_name(0)}"
    return text


def _timed(fn, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_ivus(device: str, n_frames: int, size: int = 256) -> None:
    lm = load_checkpoint(pretrained_models()["demo_alines"])
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (n_frames, size, size), dtype=np.uint8)
    pb = Pullback(frames, 0.4, 0.5, (10.0 / size, 10.0 / size))
    predict_pullback(lm, Pullback(frames[:8], 0.4, 0.5, pb.pixel_spacing_mm), device=device)  # warm
    auto = default_batch_size(torch.device(device), "alines")
    print(
        f"[{device}] IVUS A-line model, {n_frames} frames {size}x{size} -> 360 A-lines x "
        f"{lm.metadata['input']['polar']['depth_samples']} samples"
    )
    t_auto = _timed(lambda: predict_pullback(lm, pb, device=device))
    fps = n_frames / t_auto
    print(f"  streamed engine (default batch {auto}): {t_auto:.2f} s = {fps:.1f} frames/s")
    for bs in sorted({1, 32} - {auto}):
        t = _timed(lambda bs=bs: predict_pullback(lm, pb, batch_size=bs, device=device))
        print(f"  batch {bs}: {n_frames / t:.1f} frames/s; default/this ratio {t / t_auto:.2f}x")
    print(f"  3000-frame pullback: {3000 / fps:.1f} s (extrapolated from {n_frames} frames)")


def bench_ct(device: str, n_slices: int, size: int = 512) -> None:
    lm = load_checkpoint(pretrained_models()["demo_ccta_plaque"])
    rng = np.random.default_rng(0)
    hu = rng.normal(40, 200, (n_slices, size, size)).astype(np.float32)
    vol = CTVolume(hu, tuple(lm.metadata["input"].get("spacing_mm", (0.5, 0.4, 0.4))))
    predict_volume(lm, vol.hu[:1], device=device)  # warm-up
    t_def = _timed(lambda: predict_volume(lm, vol, device=device))
    t_small = _timed(lambda: predict_volume(lm, vol, tile_size=(1, 96, 96), device=device))
    print(f"[{device}] CT 2D U-Net ({lm.metadata['hparams']}), volume {n_slices}x{size}x{size}")
    print(
        f"  default tiles (one 568x568 tile per slice): {t_def:.2f} s = {n_slices / t_def:.2f} slices/s"
    )
    print(f"  baseline small tiles (1x96x96): {t_small:.2f} s; ratio {t_small / t_def:.2f}x")
    per300 = t_def * 300 / n_slices
    print(
        f"  512x512x300 volume: {per300:.1f} s = {60 / per300:.2f} volumes/min "
        f"(extrapolated from {n_slices} slices)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="napari-plaque inference throughput")
    ap.add_argument("--frames", type=int, default=300, help="IVUS frames to time")
    ap.add_argument("--slices", type=int, default=20, help="CT slices (512x512) to time")
    ap.add_argument("--device", default=None, help="cpu, cuda (default: cpu, plus cuda if any)")
    args = ap.parse_args()
    devices = (
        [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    )
    for dev in devices:
        print(hardware(dev))
        bench_ivus(dev, args.frames if dev == "cpu" else max(args.frames, 3000))
        bench_ct(dev, args.slices if dev == "cpu" else max(args.slices, 300))
    if "cuda" not in devices:
        print("no CUDA device here: GPU figures not measured")


if __name__ == "__main__":
    main()
