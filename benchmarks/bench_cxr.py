"""Claim: the CXR CAC-category model scores radiographs at a useful rate on a CPU.

Measures images per second of ``predict_radiographs`` with the shipped demo model (128 px input,
ResNet-18 layout at width 8) on synthetic radiographs, by batch size, against the baseline of
one image per call in the same process; and Grad-CAM's extra cost. A GPU is used when
``--device cuda`` is given and one is present.

    .venv/bin/python benchmarks/bench_cxr.py [--n 64] [--device cpu]
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=512, help="synthetic radiograph side (pixels)")
    args = ap.parse_args()

    from napari_plaque.cxr.model import load_cxr_model, predict_radiographs
    from napari_plaque.cxr.synthetic import make_cases

    model = load_cxr_model("demo_cxr")
    images = [c.image for c in make_cases(args.n, args.size, seed=3)]
    predict_radiographs(model, images[:4], device=args.device)  # warm-up

    def rate(batch: int, saliency: bool = False, n: int | None = None) -> float:
        imgs = images[: n or len(images)]
        t0 = time.perf_counter()
        if batch == 1:
            for im in imgs:
                predict_radiographs(model, [im], device=args.device, saliency=saliency)
        else:
            predict_radiographs(
                model, imgs, device=args.device, batch_size=batch, saliency=saliency
            )
        return len(imgs) / (time.perf_counter() - t0)

    base = rate(1)
    print(f"baseline, one image per call: {base:.1f} images/s")
    for b in (8, 32):
        r = rate(b)
        print(f"batch {b:3d}: {r:.1f} images/s ({r / base:.2f}x the baseline)")
    cam = rate(8, saliency=True, n=min(16, args.n))
    print(f"batch 8 with Grad-CAM: {cam:.1f} images/s")
    print(f"device {args.device}, {args.n} radiographs of {args.size} px, demo_cxr (synthetic)")


if __name__ == "__main__":
    main()
