"""Claims (issue 15):

1. Lumen + EEM borders of a 3000-frame 512 x 512 pullback take under 60 s on this machine
   (numpy, vectorised over frames). Baseline in the same process: the polar resampling alone
   (``ivus.polar.to_polar`` with the same grid), the part every polar method pays.
2. Scrolling frames in napari with the borders shown (a lazy layer of border lines, rendered
   per frame from the radii) stays within 1.2x of scrolling without them. Measured both as a
   labels layer (what the dock uses) and as an image layer with a colormap. Run it under
   ``xvfb-run`` on a machine without a display (software OpenGL: every extra 512 x 512 layer
   costs a texture upload, which dominates).

The frames are 40 distinct synthetic frames (known borders) repeated lazily to 3000 (the cost
does not depend on content; 3000 distinct 512 x 512 frames would take minutes to synthesise).

Run: ``.venv/bin/python benchmarks/bench_ivus_borders.py [--frames 3000] [--no-scroll]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np


class Tiled:
    """(n, rows, cols) array-like repeating a few frames."""

    def __init__(self, base: np.ndarray, n: int) -> None:
        self.base = base
        self.shape = (n, *base.shape[1:])
        self.dtype = base.dtype
        self.ndim = 3

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        idx = np.arange(self.shape[0])[key[0]]
        out = self.base[np.mod(idx, len(self.base))]
        return out[(slice(None) if np.ndim(idx) else Ellipsis, *key[1:])] if len(key) > 1 else out

    def __array__(self, dtype=None, copy=None):
        return self[:]


def bench_borders(n_frames: int) -> None:
    from napari_plaque.ivus.borders import BORDER_DEFAULTS, detect_borders
    from napari_plaque.ivus.polar import default_depth_px, to_polar
    from napari_plaque.ivus.vessel_synthetic import make_vessel_frames, truth_radii_mm

    base, truth = make_vessel_frames(n_frames=40, size=512, seed=0, field_of_view_mm=8.0)
    frames = Tiled(base, n_frames)
    t0 = time.perf_counter()
    to_polar(frames, None, BORDER_DEFAULTS["n_alines"], BORDER_DEFAULTS["depth_samples"],
             depth_px=default_depth_px((512, 512)), batch=BORDER_DEFAULTS["batch"])
    t_polar = time.perf_counter() - t0
    t0 = time.perf_counter()
    vb = detect_borders(frames, truth["pixel_spacing_mm"])
    t_borders = time.perf_counter() - t0
    px = truth["pixel_spacing_mm"][0]
    err = np.abs(vb.lumen_r_px[:40] * px - truth_radii_mm(truth, "lumen", vb.n_alines)).mean()
    print(f"frames {n_frames} x 512 x 512")
    print(f"polar resampling only (baseline): {t_polar:.1f} s")
    print(f"borders (lumen + EEM):            {t_borders:.1f} s  "
          f"({1000 * t_borders / n_frames:.1f} ms/frame; claim < 60 s: "
          f"{'PASS' if t_borders < 60 else 'FAIL'})")
    print(f"ratio borders / polar: {t_borders / t_polar:.2f}x; lumen radius error {err:.3f} mm")


def bench_scroll(n_steps: int = 60, kind: str = "image", reps: int = 5) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_plaque.ivus.border_editor import BorderLineStack
    from napari_plaque.ivus.borders import detect_borders
    from napari_plaque.ivus.vessel_synthetic import make_vessel_frames

    base, truth = make_vessel_frames(n_frames=40, size=512, seed=0, field_of_view_mm=8.0)
    frames = Tiled(base, 400)
    vb = detect_borders(base, truth["pixel_spacing_mm"])
    full = np.concatenate([vb.lumen_r_px] * 10), np.concatenate([vb.eem_r_px] * 10)
    from napari_plaque.ivus.borders import VesselBorders

    vb_all = VesselBorders(*full, vb.center, vb.pixel_spacing_mm)
    viewer = napari.Viewer(show=True)
    viewer.add_image(frames, name="pullback")
    app = QApplication.instance()

    def scroll() -> float:
        for i in range(5):
            viewer.dims.set_current_step(0, i)
            app.processEvents()
        t0 = time.perf_counter()
        for i in range(n_steps):
            viewer.dims.set_current_step(0, (i * 7) % 400)
            app.processEvents()
            viewer.window._qt_viewer.canvas.native.update()
            app.processEvents()
        return (time.perf_counter() - t0) / n_steps

    from napari_plaque._napari.colormaps import border_line_colormap

    stack = BorderLineStack(lambda: vb_all, 400, (512, 512))
    if kind == "labels":
        ly = viewer.add_labels(stack, name="borders")
    else:
        ly = viewer.add_image(stack, name="borders", colormap=border_line_colormap(),
                              contrast_limits=(0, 2), blending="translucent",
                              interpolation2d="nearest")
    # alternate hidden / shown several times (the machine is shared: medians of pairs)
    offs, ons = [], []
    for _ in range(reps):
        ly.visible = False
        offs.append(scroll())
        ly.visible = True
        ons.append(scroll())
    t_without, t_with = float(np.median(offs)), float(np.median(ons))
    ratio = float(np.median(np.asarray(ons) / np.asarray(offs)))
    viewer.close()
    print(f"scroll, borders hidden: {1000 * t_without:.1f} ms/frame (median of {reps})")
    print(f"scroll, borders shown ({kind} layer): {1000 * t_with:.1f} ms/frame  "
          f"(median ratio {ratio:.2f}x; claim <= 1.2x: {'PASS' if ratio <= 1.2 else 'FAIL'})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--no-scroll", action="store_true")
    a = ap.parse_args()
    bench_borders(a.frames)
    if not a.no_scroll:
        bench_scroll(kind="labels")  # what the dock uses
        bench_scroll(kind="image")
