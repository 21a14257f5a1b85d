"""Image-based ECG-free gating: end-diastolic frames from inter-frame similarity.

As AIVUS-CAA and DeepIVUS offer: the heart moves the catheter and the vessel once per cycle,
so the dissimilarity of consecutive frames (1 - correlation of block-averaged frames) is
periodic. The cardiac period is the strongest autocorrelation lag of that motion signal
between ``min_bpm`` and ``max_bpm``; the end-diastolic phase is the quietest phase of the
signal folded over the period (the diastasis before systole, when the vessel barely moves);
one frame per cycle is kept, each the quietest frame within a quarter period of that phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d

__all__ = ["GATING_DEFAULTS", "GatingResult", "end_diastolic_frames", "motion_signal"]

#: one home of the gating defaults (function, CLI and widget read it)
GATING_DEFAULTS: dict[str, Any] = {
    "min_bpm": 40.0,
    "max_bpm": 180.0,
    "block": 4,  # frames are averaged in block x block pixels before comparing
    "batch": 64,
}


@dataclass
class GatingResult:
    frames: np.ndarray  # end-diastolic frame indices
    period_frames: float
    heart_rate_bpm: float
    motion: np.ndarray  # (F,) dissimilarity to the previous frame
    confidence: float  # autocorrelation at the period (0..1; < 0.2 is not trustworthy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": [int(f) for f in self.frames],
            "period_frames": float(self.period_frames),
            "heart_rate_bpm": float(self.heart_rate_bpm),
            "confidence": float(self.confidence),
        }


def _blocks(a: np.ndarray, k: int) -> np.ndarray:
    f, r, c = a.shape
    r2, c2 = r // k * k, c // k * k
    a = a[:, :r2, :c2].astype(np.float32)
    return a.reshape(f, r2 // k, k, c2 // k, k).mean(axis=(2, 4))


def motion_signal(frames, block: int = 4, batch: int = 64, mask=None) -> np.ndarray:
    """1 - Pearson correlation of each frame with the previous one (block-averaged), (F,)."""
    n = int(frames.shape[0])
    out = np.zeros(n)
    prev = None
    for b0 in range(0, n, batch):
        blk = np.asarray(frames[b0 : min(n, b0 + batch)])
        if mask is not None:
            blk = np.where(mask[None], blk, 0)
        v = _blocks(blk, block).reshape(blk.shape[0], -1)
        v = v - v.mean(axis=1, keepdims=True)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        allv = v if prev is None else np.concatenate([prev[None], v])
        corr = np.sum(allv[1:] * allv[:-1], axis=1)
        if prev is None:
            out[b0 + 1 : b0 + blk.shape[0]] = 1 - corr
        else:
            out[b0 : b0 + blk.shape[0]] = 1 - corr
        prev = v[-1]
    if n > 1:
        out[0] = out[1]
    return out


def end_diastolic_frames(
    frames,
    frame_time_s: float,
    min_bpm: float | None = None,
    max_bpm: float | None = None,
    block: int | None = None,
    mask=None,
) -> GatingResult:
    """End-diastolic frames of a pullback (see the module docstring).

    Raises ValueError when the pullback is too short for two cycles at ``min_bpm``.
    """
    d = GATING_DEFAULTS
    min_bpm = d["min_bpm"] if min_bpm is None else float(min_bpm)
    max_bpm = d["max_bpm"] if max_bpm is None else float(max_bpm)
    block = d["block"] if block is None else int(block)
    n = int(frames.shape[0])
    fps = 1.0 / float(frame_time_s)
    lag_lo = max(2, int(np.floor(60.0 / max_bpm * fps)))
    lag_hi = int(np.ceil(60.0 / min_bpm * fps))
    if n < 2 * lag_hi + 2:
        raise ValueError(
            f"{n} frames are too few to gate: two cycles at {min_bpm:g} bpm need {2 * lag_hi + 2}"
        )
    m = motion_signal(frames, block, d["batch"], mask)
    x = m - uniform_filter1d(m, size=2 * lag_hi + 1, mode="nearest")  # detrend
    x = x - x.mean()
    ac = np.correlate(x, x, mode="full")[n - 1 :]
    ac = ac / max(ac[0], 1e-12) * n / (n - np.arange(n))  # unbiased
    lags = np.arange(lag_lo, min(lag_hi, n - 2) + 1)
    # local maxima of the autocorrelation; the shortest lag within 80 % of the best one (a
    # multiple of the period correlates as well as the period itself)
    a = ac[lags]
    peak = (a >= np.r_[-np.inf, a[:-1]]) & (a >= np.r_[a[1:], -np.inf])
    cand = lags[peak & (a >= 0.8 * a.max())]
    k = int(cand[0]) if cand.size else int(lags[np.argmax(a)])
    # parabolic refinement of the peak
    if 1 <= k < n - 1:
        y0, y1, y2 = ac[k - 1], ac[k], ac[k + 1]
        den = y0 - 2 * y1 + y2
        period = k + (0.5 * (y0 - y2) / den if den < 0 else 0.0)
    else:
        period = float(k)
    conf = float(np.clip(ac[k], 0, 1))
    # fold the motion over the period; the quietest phase is end-diastole
    nb = max(4, int(round(period)))
    phase = np.mod(np.arange(n) / period, 1.0)
    bins = np.minimum((phase * nb).astype(int), nb - 1)
    fold = np.bincount(bins, weights=m, minlength=nb) / np.maximum(np.bincount(bins, minlength=nb), 1)
    # the diastasis is the longest quiet phase: average over a fifth of the cycle so that a
    # brief turning point of the systolic motion does not win
    fold = uniform_filter1d(fold, size=max(3, nb // 5), mode="wrap")
    ph_ed = (np.argmin(fold) + 0.5) / nb
    centres = (ph_ed + np.arange(int(np.ceil(n / period)) + 1)) * period
    half = max(1, int(period // 4))
    ms = uniform_filter1d(m, size=3, mode="nearest")
    picked = []
    for c in centres:
        ci = int(round(c))
        lo, hi = max(0, ci - half), min(n, ci + half + 1)
        if hi - lo < half + 1:
            continue  # a cycle cut by the ends of the pullback
        picked.append(lo + int(np.argmin(ms[lo:hi])))
    ed = np.unique(np.asarray(picked, dtype=np.int64))
    return GatingResult(ed, float(period), 60.0 * fps / period, m, conf)
