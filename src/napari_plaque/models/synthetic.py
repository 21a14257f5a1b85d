"""Tiny synthetic training data with known truth (numpy only), for tests and benchmarks.

- :func:`synthetic_polar_pullback`: polar IVUS frames (A-line x depth) with calcium arcs (a
  bright leading edge followed by an acoustic shadow) and attenuation arcs (signal fading with
  depth, no bright edge), plus per-A-line labels.
- :func:`synthetic_ct_case`: a small HU volume with bright blobs (calcium label 1) on soft
  tissue with noise.
"""

from __future__ import annotations

import numpy as np

from ..types import CTVolume


def _arc_mask(n_alines: int, start: float, extent: float) -> np.ndarray:
    centres = (np.arange(n_alines) + 0.5) * 360.0 / n_alines
    return np.mod(centres - start, 360.0) < extent


def synthetic_polar_pullback(
    n_frames: int = 40,
    n_alines: int = 90,
    depth_samples: int = 48,
    seed: int = 0,
    classes: tuple[str, ...] = ("calcium", "attenuation"),
) -> tuple[np.ndarray, np.ndarray]:
    """Polar frames uint8 (F, A, D) and labels bool (F, A, len(classes)).

    Arcs persist over runs of frames with a slowly drifting start angle; calcium and attenuation
    never share an A-line.
    """
    rng = np.random.default_rng(seed)
    depth = np.arange(depth_samples) / depth_samples
    lumen = 0.15 + 0.05 * rng.random()
    base = np.where(depth < lumen, 15.0, 110.0 * np.exp(-1.2 * (depth - lumen)))
    polar = np.tile(base, (n_frames, n_alines, 1))
    labels = np.zeros((n_frames, n_alines, len(classes)), bool)
    f = 0
    while f < n_frames:
        run = int(rng.integers(4, 12))
        kind = int(rng.integers(0, 3))  # 0 none, 1 calcium, 2 attenuation
        start = rng.uniform(0, 360)
        extent = rng.uniform(40, 200)
        edge = lumen + rng.uniform(0.05, 0.2)
        for g in range(f, min(n_frames, f + run)):
            if kind == 0:
                continue
            m = _arc_mask(n_alines, start + 3.0 * (g - f), extent)
            e = int(edge * depth_samples)
            if kind == 1 and "calcium" in classes:
                polar[g, m, e : e + 3] = 235.0
                polar[g, m, e + 3 :] *= 0.12
                labels[g, m, classes.index("calcium")] = True
            elif kind == 2 and "attenuation" in classes:
                fade = np.exp(-6.0 * np.clip(depth - edge, 0, None))
                polar[g, m, e:] *= 0.7 * fade[e:]
                labels[g, m, classes.index("attenuation")] = True
        f += run
    polar *= rng.gamma(4.0, 0.25, polar.shape)  # speckle
    return np.clip(polar, 0, 255).astype(np.uint8), labels


def synthetic_ct_case(
    shape: tuple[int, int, int] = (8, 48, 48),
    n_blobs: int = 4,
    seed: int = 0,
    spacing_mm: tuple[float, float, float] = (1.0, 0.5, 0.5),
    noise_hu: float = 25.0,
) -> tuple[CTVolume, np.ndarray]:
    """A CT volume (soft tissue ~40 HU, noise) with bright blobs (400-900 HU) labelled 1."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape, dtype=np.float32)
    hu = 40.0 + rng.normal(0, noise_hu, shape).astype(np.float32)
    lab = np.zeros(shape, np.uint8)
    for _ in range(n_blobs):
        c = [rng.uniform(0, shape[0]), rng.uniform(6, shape[1] - 6), rng.uniform(6, shape[2] - 6)]
        r = rng.uniform(1.5, 3.5)
        d2 = ((zz - c[0]) / max(r / 2, 1.0)) ** 2 + ((yy - c[1]) / r) ** 2 + ((xx - c[2]) / r) ** 2
        inside = d2 <= 1.0
        hu[inside] = rng.uniform(400, 900) + rng.normal(0, noise_hu, int(inside.sum()))
        lab[inside] = 1
    vol = CTVolume(hu.astype(np.float32), spacing_mm, name=f"synthetic-{seed}")
    return vol, lab
