"""Per-A-line intensity-profile features for calcium detection.

Each A-line of the polar image (depth in mm from the centre) is described by its leading-edge
brightness, the depth of that edge, the signal before it and the shadow behind it, the
gradients around it and the deep signal; then by the same features averaged over neighbouring
A-lines (narrow and wide windows, wrapping round the frame) and neighbouring frames. All
computations are vectorised over whole batches of frames.

``FEATURE_VERSION`` changes whenever a definition changes; models store it and refuse
features of another version.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter, uniform_filter1d

from .polar import N_ALINES, iter_to_polar

__all__ = [
    "BASE_FEATURES",
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "aline_features",
    "base_features",
    "context_features",
    "iter_pullback_features",
]

FEATURE_VERSION = 1

BASE_FEATURES = (
    "peak",  # brightest (depth-smoothed) sample behind the catheter zone
    "peak_depth_mm",  # depth of that sample
    "pre_mean",  # mean signal between the catheter zone and the peak
    "post_mean",  # mean signal in a window just behind the peak (shadow)
    "deep_mean",  # mean signal over the deepest 40 % of the A-line
    "log_shadow_ratio",  # log((post_mean + 1) / (peak + 1))
    "log_deep_ratio",  # log((deep_mean + 1) / (peak + 1))
    "grad_rise",  # steepest rise before/at the peak
    "grad_fall",  # steepest fall after the peak
    "mean",  # mean of the A-line
    "std",  # standard deviation of the A-line
    "dark_fraction_post",  # fraction of the shadow window below 15 % of the peak
)

#: context windows: (name, A-lines, frames)
CONTEXT = (("a5", 5, 1), ("a21", 21, 1), ("a11f5", 11, 5))

FEATURE_NAMES = tuple(BASE_FEATURES) + tuple(
    f"{name}_{ctx}" for ctx, _, _ in CONTEXT for name in BASE_FEATURES
)


def base_features(
    polar: np.ndarray,
    depth_mm: float,
    skip_mm: float = 0.6,
    shadow_window_mm: float = 1.0,
) -> np.ndarray:
    """Base features (B, N, len(BASE_FEATURES)) float32 of polar images (B, N, D).

    Parameters
    ----------
    polar : ndarray (B, N, D)
        Polar images (grey values 0-255), depth sample ``j`` at ``(j + 0.5) * depth_mm / D``.
    depth_mm : float
        Depth covered by the polar images (mm).
    skip_mm : float
        Catheter zone ignored at the start of each A-line (mm).
    shadow_window_mm : float
        Length of the window behind the peak used for the shadow (mm).
    """
    pol = np.asarray(polar)
    if pol.dtype not in (np.uint8, np.float32):
        pol = pol.astype(np.float32)
    b, n, d = pol.shape
    dz = depth_mm / d
    j0 = min(d - 4, int(np.ceil(skip_mm / dz)))
    # scipy filters in double whatever the input type: uint8 in, float32 out is the same
    # result as converting to float32 first, without the converted copy
    p = uniform_filter1d(pol[:, :, j0:], size=3, axis=2, mode="nearest", output=np.float32)
    m = p.shape[2]
    win = max(2, int(round(shadow_window_mm / dz)))
    gap = max(1, int(round(0.1 / dz)))
    ipk = np.argmax(p, axis=2)
    peak = np.take_along_axis(p, ipk[..., None], axis=2)[..., 0]
    cs = np.zeros((b, n, m + 1), np.float32)  # running sums, the same sequential float32 adds
    np.cumsum(p, axis=2, out=cs[:, :, 1:])

    def window_mean(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        lo = np.clip(lo, 0, m)
        hi = np.clip(hi, 0, m)
        hi = np.maximum(hi, lo + 1)
        lo = np.minimum(lo, m - 1)
        hi = np.minimum(hi, m)
        s = np.take_along_axis(cs, hi[..., None], 2) - np.take_along_axis(cs, lo[..., None], 2)
        return s[..., 0] / (hi - lo)

    pre = np.where(ipk > 0, window_mean(np.zeros_like(ipk), ipk), peak)
    post = window_mean(ipk + gap, ipk + gap + win)
    deep = p[:, :, int(m * 0.6) :].mean(axis=2)
    grad = np.diff(p, axis=2)
    idx = np.arange(m - 1)[None, None, :]
    # masked reductions (no masked copy of the gradient)
    rise = np.max(grad, axis=2, where=idx < np.maximum(ipk, 1)[..., None], initial=-np.inf)
    rise = np.where(np.isfinite(rise), rise, 0.0)
    fall = np.min(grad, axis=2, where=idx >= ipk[..., None], initial=np.inf)
    fall = np.where(np.isfinite(fall), fall, 0.0)
    mean = p.mean(axis=2)
    std = p.std(axis=2)
    # fraction of the shadow window darker than 15 % of the peak: counted in the window only
    # (an exact count, as the difference of a running count over the whole A-line was)
    lo = np.clip(ipk + gap, 0, m - 1)
    hi = np.clip(ipk + gap + win, lo + 1, m)
    pos = lo[..., None] + np.arange(win)
    inwin = pos < hi[..., None]
    wv = np.take_along_axis(p, np.minimum(pos, m - 1), axis=2)
    n_dark = np.count_nonzero((wv < 0.15 * peak[..., None]) & inwin, axis=2)
    dark_frac = n_dark.astype(np.float32) / (hi - lo)
    feats = np.stack(
        [
            peak,
            (ipk + j0 + 0.5) * dz,
            pre,
            post,
            deep,
            np.log((post + 1.0) / (peak + 1.0)),
            np.log((deep + 1.0) / (peak + 1.0)),
            rise,
            fall,
            mean,
            std,
            dark_frac,
        ],
        axis=2,
    )
    return feats.astype(np.float32)


def context_features(base: np.ndarray) -> np.ndarray:
    """Append neighbourhood means of the base features (F, N, nb) -> (F, N, len(FEATURE_NAMES)).

    A-line windows wrap round the frame; frame windows are clipped at the pullback ends.
    """
    parts = [base]
    for _, na, nf in CONTEXT:
        parts.append(uniform_filter(base, size=(nf, na, 1), mode=("nearest", "wrap", "nearest")))
    return np.concatenate(parts, axis=2).astype(np.float32)


#: frames per polar transform / feature computation inside one work item (cache-sized)
_POLAR_SUB_BATCH = 8
_FEATURE_SUB_BATCH = 4


def iter_pullback_features(
    frames,
    center=None,
    n_alines: int = N_ALINES,
    depth_samples: int = 256,
    depth_mm: float = 4.5,
    pixel_spacing_mm: tuple[float, float] = (0.04, 0.04),
    batch: int = 32,
    keep_polar: bool = False,
    workers: int | None = None,
):
    """Generator: yields frames done; returns ``(features (F, N, n_feat), polar or None)``.

    The polar images are made as uint8 (as exported), so features computed here and features
    computed from an exported polar file are identical.
    """
    n_frames = int(frames.shape[0])
    cen = None if center is None else np.asarray(center, float)
    base = np.empty((n_frames, n_alines, len(BASE_FEATURES)), np.float32)
    polar_all = np.empty((n_frames, n_alines, depth_samples), np.uint8) if keep_polar else None

    def work(f0: int) -> int:
        f1 = min(n_frames, f0 + batch)
        c = cen if cen is None or cen.ndim == 1 else cen[f0:f1]
        # small sub-batches keep every temporary in the core's cache (per-frame results, so
        # the sub-batch size changes the speed only, never a value)
        pol = _drain(
            iter_to_polar(
                frames[f0:f1],
                c,
                n_alines,
                depth_samples,
                depth_mm=depth_mm,
                pixel_spacing_mm=pixel_spacing_mm,
                batch=min(batch, _POLAR_SUB_BATCH),
                dtype=np.uint8,
            )
        )
        if polar_all is not None:
            polar_all[f0:f1] = pol
        for s0 in range(0, f1 - f0, _FEATURE_SUB_BATCH):
            s1 = min(f1 - f0, s0 + _FEATURE_SUB_BATCH)
            base[f0 + s0 : f0 + s1] = base_features(pol[s0:s1], depth_mm)
        return f1 - f0

    # numpy releases the GIL in the gathers and reductions: two threads use both cores
    starts = list(range(0, n_frames, batch))
    n_workers = max(1, min(workers or (os.cpu_count() or 1), 4, len(starts)))
    done = 0
    if n_workers == 1:
        for f0 in starts:
            done += work(f0)
            yield done
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            pending = []
            for f0 in starts:
                pending.append(pool.submit(work, f0))
                # keep at most 2 batches per worker in flight (bounded memory)
                while len(pending) >= 2 * n_workers:
                    done += pending.pop(0).result()
                    yield done
            for fut in pending:
                done += fut.result()
                yield done
    return context_features(base), polar_all


def _drain(gen) -> Any:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def aline_features(polar: np.ndarray, depth_mm: float, batch: int = 64) -> np.ndarray:
    """Features (F, N, len(FEATURE_NAMES)) of a whole pullback's polar images (F, N, D)."""
    polar = np.asarray(polar)
    f = polar.shape[0]
    base = np.empty((f, polar.shape[1], len(BASE_FEATURES)), np.float32)
    step = min(batch, _FEATURE_SUB_BATCH)
    for f0 in range(0, f, step):
        base[f0 : f0 + step] = base_features(polar[f0 : f0 + step], depth_mm)
    return context_features(base)
