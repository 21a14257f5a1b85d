"""A simple lumen-centre estimate, for lumen-centred arcs (``center_mode = "lumen"``).

Per frame: in the polar image about the catheter, the lumen border on each A-line is the first
sample beyond the catheter zone brighter than a fraction of the frame's bright level; the
border points are fitted with a circle (algebraic least squares, one pass of outlier
rejection, e.g. the guide wire), and the centres are smoothed over neighbouring frames.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter, uniform_filter1d

from .polar import aline_angles_deg, default_center, default_depth_px, to_polar

__all__ = ["estimate_lumen_centers", "fit_circles"]


def fit_circles(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted algebraic circle fits, batched: points (F, K) -> (F, 3) of (cy, cx, r)."""
    a = np.stack([x, y, np.ones_like(x)], axis=2) * w[..., None]
    b = (x**2 + y**2) * w
    ata = np.einsum("fki,fkj->fij", a, a) + 1e-9 * np.eye(3)
    atb = np.einsum("fki,fk->fi", a, b)
    sol = np.linalg.solve(ata, atb[..., None])[..., 0]
    cx, cy = sol[:, 0] / 2, sol[:, 1] / 2
    r = np.sqrt(np.maximum(sol[:, 2] + cx**2 + cy**2, 0))
    return np.stack([cy, cx, r], axis=1)


def estimate_lumen_centers(
    frames,
    catheter_center=None,
    skip_fraction: float = 0.13,
    level: float = 0.35,
    smooth_frames: int = 9,
    n_alines: int = 180,
    depth_samples: int = 128,
) -> np.ndarray:
    """Estimated lumen centre (cy, cx) in pixels for every frame, shape (F, 2).

    Parameters
    ----------
    frames : array-like (F, rows, cols)
    catheter_center : (cy, cx), optional; default the image centre
    skip_fraction : catheter zone ignored, as a fraction of the polar depth (half the short side)
    level : border threshold as a fraction of the frame's 95th-percentile brightness
    smooth_frames : window of the moving average of the centres along the pullback
    """
    shape = (int(frames.shape[1]), int(frames.shape[2]))
    c = default_center(shape) if catheter_center is None else tuple(catheter_center)
    depth_px = default_depth_px(shape)
    pol = to_polar(frames, c, n_alines, depth_samples, depth_px=depth_px)
    j0 = int(np.ceil(skip_fraction * depth_samples))
    p = uniform_filter(pol[:, :, j0:], size=(1, 3, 5), mode=("nearest", "wrap", "nearest"))
    thr = level * np.percentile(p.reshape(p.shape[0], -1), 95, axis=1)
    above = p > thr[:, None, None]
    found = above.any(axis=2)
    j = np.argmax(above, axis=2) + j0
    r = (j + 0.5) * depth_px / depth_samples
    theta = np.radians(aline_angles_deg(n_alines))[None, :]
    x = c[1] + r * np.cos(theta)
    y = c[0] + r * np.sin(theta)
    w = found.astype(np.float64)
    fit = fit_circles(x, y, w)
    # one pass of outlier rejection (guide wire, side branches)
    resid = np.abs(np.hypot(x - fit[:, 1:2], y - fit[:, 0:1]) - fit[:, 2:3])
    med = np.median(np.where(found, resid, np.nan), axis=1, keepdims=True)
    w = w * (resid <= 2.5 * np.nan_to_num(med, nan=np.inf) + 1.0)
    fit = fit_circles(x, y, w)
    centers = fit[:, :2]
    bad = ~np.isfinite(centers).all(axis=1)
    centers[bad] = c
    if smooth_frames > 1:
        centers = uniform_filter1d(centers, size=smooth_frames, axis=0, mode="nearest")
    return centers
