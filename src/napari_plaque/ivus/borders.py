"""Lumen and external elastic membrane (EEM) borders of IVUS frames.

Method (per frame, batched over frames, numpy only):

1. The frame is resampled to a polar image about the catheter (:mod:`.polar` conventions: one
   row per A-line at angle ``theta = atan2(row - cy, col - cx)``, one column per depth sample).
2. Edge maps along depth: a rising edge (dark inside, bright outside) from windowed means.
   The lumen edge is weighted by how dark the A-line is between the catheter and the edge (the
   lumen is the first dark-to-bright transition); the EEM edge is the strongest rising edge
   (media -> adventitia) at least ``min_wall_mm`` beyond the lumen. The cost volumes are
   averaged over ``frame_window`` neighbouring frames (smoothness across frames).
3. Dynamic programming over angle finds the minimum-cost closed path with at most
   ``max_step`` depth samples of change between neighbouring A-lines and a penalty per step
   (smoothness across angle); closure by running over two turns (half a turn of wrap-around
   on each side) and keeping the middle turn.
4. Shadowed A-lines (guide wire, calcium: little signal over the outer half of the A-line
   compared with the frame's other A-lines) are *bridged*: their cost is flat (the path goes
   straight through) and their radii are replaced by a low-order Fourier fit of the
   unshadowed radii of the frame. More than ``max_shadow_fraction`` shadowed is flagged.
5. A running median of the radii over 3 frames removes single-frame outliers.

The result, :class:`VesselBorders`, keeps radii in pixels along each A-line about the catheter;
contours in pixels and mm and all areas derive from it (:mod:`.vessel_measure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import median_filter, uniform_filter, uniform_filter1d

from .defaults import BORDER_DEFAULTS
from .polar import aline_angles_deg, default_center, default_depth_px, to_polar

__all__ = [
    "BORDER_DEFAULTS",
    "VesselBorders",
    "bridge_radii",
    "detect_borders",
    "dp_closed_paths",
    "iter_detect_borders",
    "shadowed_alines",
]


@dataclass
class VesselBorders:
    """Lumen and EEM radii (pixels) along each A-line about a catheter centre, per frame.

    Attributes
    ----------
    lumen_r_px, eem_r_px : ndarray (F, N)
        Radius in pixels (pixel-angle polar convention of :mod:`.polar`) along the centre angle
        of A-line k, ``(k + 0.5) * 360 / N``. NaN where a frame has no border.
    center : (cy, cx)
        Catheter centre in pixels.
    pixel_spacing_mm : (dy, dx)
    shadowed : bool ndarray (F, N)
        A-lines bridged (not followed).
    flags : dict frame -> list of str
        Per-frame warnings (e.g. "shadow over 50 % of the A-lines", "edited").
    """

    lumen_r_px: np.ndarray
    eem_r_px: np.ndarray
    center: tuple[float, float]
    pixel_spacing_mm: tuple[float, float]
    shadowed: np.ndarray | None = None
    flags: dict[int, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lumen_r_px = np.asarray(self.lumen_r_px, dtype=np.float64)
        self.eem_r_px = np.asarray(self.eem_r_px, dtype=np.float64)
        if self.lumen_r_px.ndim != 2 or self.lumen_r_px.shape != self.eem_r_px.shape:
            raise ValueError(
                f"lumen and EEM radii must be (frames, A-lines) of one shape, got "
                f"{self.lumen_r_px.shape} and {self.eem_r_px.shape}"
            )
        if self.shadowed is None:
            self.shadowed = np.zeros(self.lumen_r_px.shape, bool)
        self.center = (float(self.center[0]), float(self.center[1]))
        self.pixel_spacing_mm = (float(self.pixel_spacing_mm[0]), float(self.pixel_spacing_mm[1]))

    @property
    def n_frames(self) -> int:
        return int(self.lumen_r_px.shape[0])

    @property
    def n_alines(self) -> int:
        return int(self.lumen_r_px.shape[1])

    def radii(self, which: str) -> np.ndarray:
        if which == "lumen":
            return self.lumen_r_px
        if which == "eem":
            return self.eem_r_px
        raise ValueError(f"contour must be 'lumen' or 'eem', got {which!r}")

    def contour_px(self, frame: int, which: str) -> np.ndarray:
        """Closed contour (N, 2) of (row, col) pixel coordinates."""
        r = self.radii(which)[frame]
        th = np.radians(aline_angles_deg(self.n_alines))
        return np.stack([self.center[0] + r * np.sin(th), self.center[1] + r * np.cos(th)], 1)

    def contours_px(self, which: str) -> np.ndarray:
        """All contours (F, N, 2) of (row, col) pixels."""
        r = self.radii(which)
        th = np.radians(aline_angles_deg(self.n_alines))[None, :]
        return np.stack([self.center[0] + r * np.sin(th), self.center[1] + r * np.cos(th)], 2)

    def copy(self) -> VesselBorders:
        return VesselBorders(
            self.lumen_r_px.copy(),
            self.eem_r_px.copy(),
            self.center,
            self.pixel_spacing_mm,
            self.shadowed.copy(),
            {k: list(v) for k, v in self.flags.items()},
        )


def _params(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - set(BORDER_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown border parameter(s): {sorted(unknown)}")
    p = dict(BORDER_DEFAULTS)
    p.update({k: v for k, v in overrides.items() if v is not None})
    return p


def dp_closed_paths(cost: np.ndarray, max_step: int, step_penalty: float) -> np.ndarray:
    """Minimum-cost closed paths through cost volumes (B, N angles, D depths) -> (B, N) ints.

    Neighbouring angles differ by at most ``max_step`` depth samples, each sample of change
    costing ``step_penalty``. Closure: the DP runs over the angles with half a turn of
    wrap-around before and after, and the middle turn is kept (the path there no longer
    depends on where it started).
    """
    b, n, d = cost.shape
    h = n // 2
    c3 = np.concatenate([cost[:, n - h :], cost, cost[:, :h]], axis=1).astype(np.float32)
    m = c3.shape[1]
    acc = c3[:, 0].copy()
    back = np.zeros((b, m, d), np.int8)
    best = np.empty_like(acc)
    tmp = np.empty_like(acc)
    better = np.empty(acc.shape, bool)
    arg = np.empty(acc.shape, np.int8)
    big = np.float32(1e9)
    for i in range(1, m):
        np.copyto(best, acc)
        arg.fill(0)
        for s in range(-max_step, max_step + 1):
            if s == 0:
                continue
            pen = np.float32(step_penalty * abs(s))
            # tmp[:, j] = acc[:, j + s] + pen  (predecessor at depth j + s)
            if s > 0:
                np.add(acc[:, s:], pen, out=tmp[:, : d - s])
                tmp[:, d - s :] = big
            else:
                np.add(acc[:, : d + s], pen, out=tmp[:, -s:])
                tmp[:, :-s] = big
            np.less(tmp, best, out=better)
            np.copyto(best, tmp, where=better)
            np.copyto(arg, np.int8(s), where=better)
        np.add(best, c3[:, i], out=acc)
        back[:, i] = arg
    path = np.empty((b, m), np.int64)
    path[:, -1] = np.argmin(acc, axis=1)
    rows = np.arange(b)
    for i in range(m - 1, 0, -1):
        path[:, i - 1] = path[:, i] + back[rows, i, path[:, i]]
    return path[:, h : h + n]


def shadowed_alines(polar: np.ndarray, level: float, start: int) -> np.ndarray:
    """A-lines (B, N) whose outer half is dark compared with the frame's median A-line."""
    d = polar.shape[2]
    outer = polar[:, :, max(start, d // 2) :].mean(axis=2)
    outer = uniform_filter1d(outer, 3, axis=1, mode="wrap")
    med = np.median(outer, axis=1, keepdims=True)
    sh = outer < level * np.maximum(med, 1e-6)
    # widen by one A-line on each side (the shadow's edge is blurred)
    return sh | np.roll(sh, 1, axis=1) | np.roll(sh, -1, axis=1)


def bridge_radii(r: np.ndarray, bad: np.ndarray, order: int) -> np.ndarray:
    """Replace radii at ``bad`` A-lines by a Fourier fit (``order`` harmonics) of the others.

    r, bad : (B, N). Frames with too few good A-lines are left unchanged.
    """
    if not bad.any():
        return r
    b, n = r.shape
    th = np.radians(aline_angles_deg(n))
    cols = [np.ones(n)]
    for k in range(1, order + 1):
        cols += [np.cos(k * th), np.sin(k * th)]
    basis = np.stack(cols, 1)  # (N, P)
    w = (~bad).astype(np.float64)
    ata = np.einsum("np,bn,nq->bpq", basis, w, basis) + 1e-6 * np.eye(basis.shape[1])
    atb = np.einsum("np,bn,bn->bp", basis, w, r)
    coef = np.linalg.solve(ata, atb[..., None])[..., 0]
    fit = coef @ basis.T
    ok = w.sum(axis=1) >= max(2 * basis.shape[1], n // 4)
    out = r.copy()
    use = bad & ok[:, None]
    out[use] = fit[use]
    return out


def _rising_edges(p: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Rising-edge strength at each depth (mean of h outside - mean of h inside) and the
    cumulative mean from the start to each depth (for the darkness-inside weight)."""
    b, n, d = p.shape
    cs = np.concatenate([np.zeros((b, n, 1), np.float32), np.cumsum(p, axis=2)], axis=2)
    j = np.arange(d)
    lo = np.clip(j - h, 0, d)
    hi = np.clip(j + h, 0, d)
    inner = (cs[:, :, j] - cs[:, :, lo]) / np.maximum(j - lo, 1)
    outer = (cs[:, :, hi] - cs[:, :, j]) / np.maximum(hi - j, 1)
    return outer - inner, inner


def iter_detect_borders(
    frames,
    pixel_spacing_mm: tuple[float, float],
    center: tuple[float, float] | None = None,
    mask: np.ndarray | None = None,
    **params: Any,
):
    """Generator form of :func:`detect_borders`: yields frames done, returns VesselBorders."""
    p = _params(params)
    n_frames = int(frames.shape[0])
    shape = (int(frames.shape[1]), int(frames.shape[2]))
    c = default_center(shape) if center is None else (float(center[0]), float(center[1]))
    depth_px = default_depth_px(shape)
    n, d = int(p["n_alines"]), int(p["depth_samples"])
    px_per_sample = depth_px / d
    mm_per_sample = px_per_sample * float(min(pixel_spacing_mm))
    j_cath = int(np.ceil(p["catheter_mm"] / mm_per_sample))
    gap = max(1, int(round(p["min_wall_mm"] / mm_per_sample)))
    h = max(2, int(round(0.15 / mm_per_sample)))
    if j_cath + 2 * h >= d:  # no depth left beyond the catheter zone for a lumen edge
        from ..io.errors import OptionError

        raise OptionError(
            f"frames of {shape[0]} x {shape[1]} px at {float(min(pixel_spacing_mm)):g} mm/px "
            f"image {depth_px * float(min(pixel_spacing_mm)):.2f} mm from the centre: less than "
            f"the catheter zone ({p['catheter_mm']:g} mm) and a lumen edge; check the pixel "
            "spacing (--pixel-mm) or the frames"
        )
    half = int(p["frame_window"]) // 2
    lumen = np.full((n_frames, n), np.nan)
    eem = np.full((n_frames, n), np.nan)
    shadow = np.zeros((n_frames, n), bool)
    flags: dict[int, list[str]] = {}
    batch = int(p["batch"])
    jj = np.arange(d)[None, None, :]
    for b0 in range(0, n_frames, batch):
        b1 = min(n_frames, b0 + batch)
        e0, e1 = max(0, b0 - half), min(n_frames, b1 + half)
        block = np.asarray(frames[e0:e1])
        if mask is not None:
            block = np.where(mask[None], block, 0)
        pol = to_polar(block, c, n, d, depth_px=depth_px)
        pol = uniform_filter(pol, size=(1, 3, 3), mode=("nearest", "wrap", "nearest"))
        scale = np.percentile(pol.reshape(pol.shape[0], -1), 99, axis=1)[:, None, None]
        pol = pol / np.maximum(scale, 1e-6)
        g, inner = _rising_edges(pol, h)
        g = np.maximum(g, 0)
        sh = shadowed_alines(pol, p["shadow_level"], j_cath)
        # lumen: rising edge with a dark A-line between catheter zone and the edge
        cs = np.concatenate([np.zeros((*pol.shape[:2], 1), np.float32),
                             np.cumsum(pol, axis=2)], axis=2)
        jl = np.arange(d)
        cnt = np.maximum(jl - h - j_cath, 1)
        upto = np.clip(jl - h, j_cath, d)
        inside = (cs[:, :, upto] - cs[:, :, j_cath][:, :, None]) / cnt
        # ... and dark just inside the edge too (blood, not plaque): the brighter of the mean
        # from the catheter and the mean over the 2h samples before the edge window
        lo = np.clip(jl - 3 * h, j_cath, d)
        local = (cs[:, :, upto] - cs[:, :, lo]) / np.maximum(upto - lo, 1)
        inside = np.maximum(inside, local)
        # bright-tissue reference: the 90th percentile beyond the catheter zone (the lumen is
        # darker than half of it; a median fails where shadows and deep fading fill the frame)
        ref = np.percentile(pol[:, :, j_cath:].reshape(pol.shape[0], -1), 90, axis=1)
        ref = ref[:, None, None]
        dark = np.clip(1.0 - inside / (0.5 * ref), 0.0, 1.0) ** 2
        cost_l = -(g * dark)
        cost_l[:, :, : j_cath + h] = 1.0
        cost_l[:, :, d - h :] = 1.0
        cost_l = np.where(sh[:, :, None], 0.0, cost_l)
        if half:
            cost_l = uniform_filter1d(cost_l, 2 * half + 1, axis=0, mode="nearest")
        sl = slice(b0 - e0, b0 - e0 + (b1 - b0))
        jl_path = dp_closed_paths(cost_l[sl], p["max_step"], p["step_penalty"])
        # EEM: strongest rising edge at least `gap` beyond the lumen
        cost_e = -g
        cost_e[:, :, d - h :] = 1.0
        cost_e = np.where(sh[:, :, None], 0.0, cost_e)
        if half:
            cost_e = uniform_filter1d(cost_e, 2 * half + 1, axis=0, mode="nearest")
        cost_e = cost_e[sl]
        cost_e = np.where(jj < (jl_path + gap)[:, :, None], 1.0, cost_e)
        je_path = dp_closed_paths(cost_e, p["max_step"], p["step_penalty"])
        shb = sh[sl]
        rl = (jl_path + 0.5) * px_per_sample
        re = (je_path + 0.5) * px_per_sample
        frac = shb.mean(axis=1)
        too_much = frac > p["max_shadow_fraction"]
        rl = bridge_radii(rl, shb & ~too_much[:, None], int(p["bridge_order"]))
        re = bridge_radii(re, shb & ~too_much[:, None], int(p["bridge_order"]))
        re = np.maximum(re, rl + gap * px_per_sample)
        lumen[b0:b1] = rl
        eem[b0:b1] = re
        shadow[b0:b1] = shb
        for i in np.flatnonzero(too_much):
            flags.setdefault(int(b0 + i), []).append(
                f"shadow over {100 * frac[i]:.0f} % of the A-lines (borders not bridged)"
            )
        yield b1
    if n_frames >= 3:
        lumen = median_filter(lumen, size=(3, 1), mode="nearest")
        eem = median_filter(eem, size=(3, 1), mode="nearest")
    return VesselBorders(lumen, eem, c, tuple(pixel_spacing_mm), shadow, flags)


def detect_borders(
    frames,
    pixel_spacing_mm: tuple[float, float],
    center: tuple[float, float] | None = None,
    mask: np.ndarray | None = None,
    **params: Any,
) -> VesselBorders:
    """Lumen and EEM borders of every frame (see the module docstring for the method).

    Parameters
    ----------
    frames : array-like (F, rows, cols)
        Grey frames (may be lazy; read in batches).
    pixel_spacing_mm : (dy, dx)
    center : (cy, cx), optional
        Catheter centre in pixels; default the image centre.
    mask : bool (rows, cols), optional
        Imaging field (False pixels, e.g. burnt-in text, are zeroed before detection).
    **params : overrides of :data:`BORDER_DEFAULTS`.
    """
    from .._progress import run_steps

    return run_steps(iter_detect_borders(frames, pixel_spacing_mm, center, mask, **params))
