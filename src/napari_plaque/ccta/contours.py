"""Lumen and outer-wall contours on the polar unwrapping of every cross-section.

Each cross-section is unwrapped into rays (theta, the project's angle convention) x radii. A
contour is one radius per ray. Both contours are found by dynamic programming over the rays
(circular, vectorised over all cross-sections at once) on a region cost:

- lumen: each sample gets a lumen likelihood D in [0, 1]: (HU - wall) / (level - wall) below the
  local lumen level, and (c_hi - HU) / (c_hi - level) above it, where c_hi is the brightest
  sample of the ray (or level + (level - wall) when the ray has no calcium). So a calcium
  blooming into the lumen is *not* lumen: the boundary sits half-way between the lumen level and
  the calcium peak, and everything beyond belongs to plaque. The cost of a boundary at radius b
  is sum_{r<b} (1 - D) + sum_{b<=r<b+w} D: its minimum is the half-maximum crossing, robust to
  noise;
- outer wall: wall likelihood E = (HU - fat) / (inner - fat), clipped (anything brighter than
  the wall, calcium included, is vessel), where ``inner`` is wall_hu on a first pass and then
  the plaque level just inside the boundary (lipid plaque meets fat at its own half-way level),
  never above wall_hu; the same cost from the lumen boundary outwards.

Smoothness: across angle the DP charges ``smooth_angle`` per radial sample of jump between
neighbouring rays (at most ``max_jump`` samples); along the vessel the costs are averaged with a
Gaussian of ``smooth_along_mm``. The chosen radius is refined to the sub-sample 0.5 crossing.

Where no fat follows the outer wall (myocardium, another vessel), the wall is not "seen" on
that ray; ``wall_seen_pct`` per section says on how many rays it is, and the outer wall is
never more than ``max_wall_mm`` beyond the lumen.

Edits: :class:`ContourSet` keeps the radii; a section edited by the user is flagged and kept
when the contours are recomputed.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import FormatError

CONTOUR_DEFAULTS: dict[str, Any] = {
    "wall_hu": 60.0,  # vessel wall / non-calcified plaque level
    "fat_hu": -80.0,  # epicardial fat level
    "lumen_hu_min": 150.0,  # below this lumen level: no contrast lumen (refused)
    "window_mm": 1.0,  # radial window of the outside part of the region cost
    "smooth_angle": 0.4,  # DP cost per radial sample of jump between neighbouring rays
    "max_jump": 2,  # max radial samples of jump between neighbouring rays
    "smooth_along_mm": 0.3,  # Gaussian sigma of cost averaging along the vessel
    "r_search_mm": 4.5,  # largest lumen / vessel radius searched
    "max_wall_mm": 3.0,  # thickest wall + plaque (outer wall at most this beyond the lumen)
}

FORMAT_NAME = "napari-plaque-contours"
FORMAT_VERSION = 1


@dataclass
class ContourSet:
    """Lumen and outer-wall radii per cross-section and ray (mm), with the edit flags.

    ``theta_deg`` (A,) ray angles; ``r_lumen``/``r_vessel`` (N, A); ``edited`` (N,) bool: the
    user edited that cross-section (kept when contours are recomputed).
    """

    theta_deg: np.ndarray
    r_lumen: np.ndarray
    r_vessel: np.ndarray
    edited: np.ndarray | None = None
    lumen_resolved: np.ndarray | None = None
    wall_seen_pct: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = self.r_lumen.shape[0]
        if self.edited is None:
            self.edited = np.zeros(n, bool)
        if self.lumen_resolved is None:
            self.lumen_resolved = np.ones(n, bool)
        if self.wall_seen_pct is None:
            self.wall_seen_pct = np.full(n, 100.0)

    @property
    def n_sections(self) -> int:
        return int(self.r_lumen.shape[0])

    def copy(self) -> ContourSet:
        return ContourSet(self.theta_deg.copy(), self.r_lumen.copy(), self.r_vessel.copy(),
                          self.edited.copy(), self.lumen_resolved.copy(),
                          self.wall_seen_pct.copy())

    def set_section(self, i: int, r_lumen: np.ndarray | None = None,
                    r_vessel: np.ndarray | None = None) -> None:
        """Replace section ``i``'s radii (mm per ray); the vessel stays outside the lumen."""
        if r_lumen is not None:
            self.r_lumen[i] = np.maximum(np.asarray(r_lumen, float), 0.0)
        if r_vessel is not None:
            self.r_vessel[i] = np.asarray(r_vessel, float)
        self.r_vessel[i] = np.maximum(self.r_vessel[i], self.r_lumen[i])
        self.edited[i] = True
        self.lumen_resolved[i] = True

    def xy(self, which: str = "lumen") -> np.ndarray:
        """Contour vertices (N, A, 2) as (u, v) mm in each cross-section's frame."""
        r = self.r_lumen if which == "lumen" else self.r_vessel
        th = np.radians(self.theta_deg)
        return np.stack([r * np.cos(th), r * np.sin(th)], -1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "theta_deg": np.round(self.theta_deg, 4).tolist(),
            "r_lumen_mm": np.round(self.r_lumen, 4).tolist(),
            "r_vessel_mm": np.round(self.r_vessel, 4).tolist(),
            "edited": np.flatnonzero(self.edited).tolist(),
            "lumen_unresolved": np.flatnonzero(~self.lumen_resolved).tolist(),
            "wall_seen_pct": np.round(self.wall_seen_pct, 2).tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContourSet:
        th = np.asarray(d["theta_deg"], float)
        rl = np.asarray(d["r_lumen_mm"], float)
        rv = np.asarray(d["r_vessel_mm"], float)
        if rl.ndim != 2 or rl.shape != rv.shape or rl.shape[1] != th.size:
            raise ValueError(f"contour arrays do not match: {rl.shape}, {rv.shape}, {th.shape}")
        if not (np.all(np.isfinite(rl)) and np.all(np.isfinite(rv))) or rl.min() < 0:
            raise ValueError("contour radii must be finite and >= 0")
        ed = np.zeros(len(rl), bool)
        ed[np.asarray(d.get("edited", []), int)] = True
        res = np.ones(len(rl), bool)
        res[np.asarray(d.get("lumen_unresolved", []), int)] = False
        seen = np.asarray(d.get("wall_seen_pct", np.full(len(rl), 100.0)), float)
        if seen.shape != (len(rl),):
            raise ValueError("wall_seen_pct must have one value per section")
        return cls(th, rl, rv, ed, res, seen)


def save_contours(path: str | Path, contours: ContourSet, centreline, extra=None) -> Path:
    """Write contours with their centreline (versioned JSON, atomic)."""
    from ..io.atomic import atomic_write_text

    d = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "units": "mm",
        "angle_convention": "theta = atan2(row - cy, col - cx), rows along v, columns along u",
        "centreline": centreline.to_dict(),
        "contours": contours.to_dict(),
        **(extra or {}),
    }
    return atomic_write_text(path, json.dumps(d) + "\n")


def load_contours(path: str | Path):
    """Read a contours file -> (Centreline, ContourSet); FormatError on anything wrong."""
    from ..io.versioned import read_versioned_json
    from .centreline import Centreline

    path = Path(path)
    d = read_versioned_json(path, FORMAT_NAME, FORMAT_VERSION, "contours")
    try:
        c = d["centreline"]
        cl = Centreline(np.asarray(c["points_mm"], float), step_mm=float(c["step_mm"]),
                        name=str(c.get("name", "vessel")), source=dict(c.get("source") or {}))
        cs = ContourSet.from_dict(d["contours"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FormatError(path, f"bad contents ({exc})") from None
    if cs.n_sections != len(cl):
        raise FormatError(path, f"{cs.n_sections} contour sections for {len(cl)} centreline "
                          "points")
    return cl, cs


# ------------------------------------------------------------------------- geometry of contours
def polygon_area(r: np.ndarray, theta_deg: np.ndarray) -> np.ndarray:
    """Area (mm^2) of star-shaped polygons given by radii r (..., A) at angles theta (A,)."""
    th = np.radians(theta_deg)
    dth = np.diff(np.r_[th, th[0] + 2 * np.pi])
    return 0.5 * np.sum(r * np.roll(r, -1, axis=-1) * np.sin(dth), axis=-1)


def feret_diameters(r: np.ndarray, theta_deg: np.ndarray, n_dir: int = 90) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    """Minimal and maximal caliper (Feret) diameters (mm) of polar polygons r (..., A)."""
    th = np.radians(theta_deg)
    x, y = r * np.cos(th), r * np.sin(th)
    phi = np.arange(n_dir) * (np.pi / n_dir)
    proj = x[..., None] * np.cos(phi) + y[..., None] * np.sin(phi)  # (..., A, n_dir)
    width = proj.max(axis=-2) - proj.min(axis=-2)
    return width.min(axis=-1), width.max(axis=-1)


def lumen_diameters(r: np.ndarray, theta_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimal and maximal lumen diameters (mm) of polar contours r (S, A): the shortest and
    longest chord through the contour's centroid (the IVUS consensus definition, Mintz 2001,
    and the one :func:`napari_plaque.ivus.vessel_measure.chord_diameters_mm` measures for IVUS).

    Unlike a caliper (Feret) width, which is a property of the convex hull, a chord through the
    centre follows an edit that dents the lumen on one side, so MLD and % diameter stenosis move
    with MLA and % area stenosis.
    """
    from ..ivus.vessel_measure import chord_diameters_mm

    r = np.atleast_2d(np.asarray(r, float))
    th = np.radians(theta_deg)
    yx = np.stack([r * np.sin(th), r * np.cos(th)], axis=-1)  # (S, A, 2) as (row, col) mm
    dmin, dmax = chord_diameters_mm(yx, (1.0, 1.0))
    empty = ~(polygon_area(r, theta_deg) > 1e-9)  # no lumen (occlusion): 0, not NaN
    dmin[empty], dmax[empty] = 0.0, 0.0
    return dmin, dmax


def radii_from_polygon(uv_mm: np.ndarray, theta_deg: np.ndarray) -> np.ndarray:
    """Radii per ray of a closed polygon drawn in a cross-section (vertices (u, v) mm around the
    centre): the ray-polygon intersection farthest from the centre for every ray."""
    p = np.asarray(uv_mm, float)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) < 3:
        raise ValueError("a contour needs >= 3 vertices (u, v)")
    a = p
    b = np.roll(p, -1, axis=0)
    th = np.radians(np.asarray(theta_deg, float))
    d = np.stack([np.cos(th), np.sin(th)], -1)  # (A, 2)
    e = b - a  # (M, 2)
    # solve t*d = a + w*e  for t >= 0, 0 <= w <= 1
    den = d[:, None, 0] * e[None, :, 1] - d[:, None, 1] * e[None, :, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (a[None, :, 0] * e[None, :, 1] - a[None, :, 1] * e[None, :, 0]) / den
        w = (a[None, :, 0] * d[:, None, 1] - a[None, :, 1] * d[:, None, 0]) / den
    ok = (np.abs(den) > 1e-12) & (t >= 0) & (w >= -1e-9) & (w <= 1 + 1e-9)
    t = np.where(ok, t, -np.inf).max(axis=1)
    if not np.all(np.isfinite(t)):
        raise ValueError("the contour must surround the centre of the cross-section")
    return t


# ------------------------------------------------------------------------------------ finding
def _dp_circular(cost: np.ndarray, lam: float, max_jump: int) -> np.ndarray:
    """Minimise sum_a cost[n, a, b_a] + lam * |b_a - b_{a+1}| over b (circular in a).

    cost (N, A, R). The ray sequence is unrolled with half a turn before and after and the
    middle turn kept, which closes the contour without a per-start search. Vectorised over all
    N cross-sections (one small array operation per ray). Returns b (N, A) int.
    """
    n, a, r = cost.shape
    h = a // 2
    c2 = np.concatenate([cost[:, a - h :], cost, cost[:, :h]], axis=1).astype(np.float32)
    m = c2.shape[1]
    j = int(max_jump)
    pen = (lam * np.abs(np.arange(-j, j + 1))).astype(np.float32)[:, None, None]
    big = np.float32(1e30)
    accp = np.full((n, r + 2 * j), big, np.float32)
    accp[:, j : j + r] = c2[:, 0]
    back = np.empty((m, n, r), np.int8)
    cand = np.empty((2 * j + 1, n, r), np.float32)
    for k in range(1, m):
        for di in range(2 * j + 1):  # predecessor radius = b + (di - j)
            cand[di] = accp[:, di : di + r]
        cand += pen
        arg = np.argmin(cand, axis=0)
        back[k] = arg
        accp[:, j : j + r] = np.take_along_axis(cand, arg[None], axis=0)[0] + c2[:, k]
    b = np.empty((n, m), np.int64)
    b[:, -1] = np.argmin(accp[:, j : j + r], axis=1)
    rows = np.arange(n)
    for k in range(m - 1, 0, -1):
        b[:, k - 1] = b[:, k] + back[k, rows, b[:, k]] - j
    return b[:, h : h + a]


def _subsample(like: np.ndarray, b: np.ndarray, dr: float) -> np.ndarray:
    """Radius of the 0.5 crossing between samples b-1 (inside) and b (outside)."""
    n, a, r = like.shape
    b = np.clip(b, 1, r - 1)
    ii, aa = np.meshgrid(np.arange(n), np.arange(a), indexing="ij")
    d0 = like[ii, aa, b - 1]
    d1 = like[ii, aa, b]
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(d0 - d1 > 1e-6, (d0 - 0.5) / (d0 - d1), 0.5)
    f = np.clip(f, 0.0, 1.0)
    return (b - 1 + f) * dr


def lumen_levels(polar: np.ndarray, dr: float, step_mm: float) -> np.ndarray:
    """Contrast level per cross-section: the central HU (r < 0.45 mm) with stenoses bridged by a
    running upper quantile over 10 mm along the vessel (contrast fades slowly distally)."""
    from scipy.ndimage import percentile_filter

    nr = max(int(round(0.45 / dr)), 1)
    central = np.median(polar[:, :, :nr].reshape(len(polar), -1), axis=1)
    win = max(int(round(10.0 / step_mm)) | 1, 3)
    return percentile_filter(central, 80, size=win, mode="nearest")


def iter_find_contours(
    polar: np.ndarray,
    dr_mm: float,
    step_mm: float,
    wall_hu: float = CONTOUR_DEFAULTS["wall_hu"],
    fat_hu: float = CONTOUR_DEFAULTS["fat_hu"],
    lumen_hu_min: float = CONTOUR_DEFAULTS["lumen_hu_min"],
    window_mm: float = CONTOUR_DEFAULTS["window_mm"],
    smooth_angle: float = CONTOUR_DEFAULTS["smooth_angle"],
    max_jump: int = CONTOUR_DEFAULTS["max_jump"],
    smooth_along_mm: float = CONTOUR_DEFAULTS["smooth_along_mm"],
    r_search_mm: float = CONTOUR_DEFAULTS["r_search_mm"],
    max_wall_mm: float = CONTOUR_DEFAULTS["max_wall_mm"],
    keep: ContourSet | None = None,
) -> Generator[int, None, ContourSet]:
    """Contours of every cross-section from its polar unwrapping (N, A, R) (yields 0..3).

    Sections flagged ``edited`` in ``keep`` keep their radii. Raises ValueError when no
    contrast lumen is found along the vessel.
    """
    from scipy.ndimage import gaussian_filter1d

    p = np.asarray(polar, np.float32)
    n, a, r = p.shape
    rs = min(int(round(r_search_mm / dr_mm)) + 1, r)
    p = p[:, :, :rs]
    level = lumen_levels(p, dr_mm, step_mm)
    med = float(np.median(level))
    if med < lumen_hu_min:
        raise ValueError(
            f"no contrast lumen found along the centreline (median lumen HU {med:.0f} < "
            f"{lumen_hu_min:.0f}): is this a contrast-enhanced CCTA, and does the centreline "
            "run inside the vessel?"
        )
    lv = np.maximum(level, wall_hu + 50.0)[:, None, None]
    yield 1
    # ---- lumen
    ray_max = p.max(axis=2, keepdims=True)
    c_hi = np.maximum(ray_max, lv + (lv - wall_hu))
    above = (c_hi - p) / np.maximum(c_hi - lv, 1.0)
    w = max(int(round(window_mm / dr_mm)), 1)
    mw = max(int(round(max_wall_mm / dr_mm)), 1)
    sig = smooth_along_mm / step_mm
    bg = np.full((n, a, 1), float(wall_hu))
    for _pass in range(2):
        # pass 1: outside level = wall_hu; pass 2: the local level 0.5..1.0 mm beyond the
        # boundary (what really surrounds the lumen: a thin wall in fat, lipid, fibrous
        # plaque; clipped to fat..150 HU, smoothed over +-15 degrees)
        below = (p - bg) / (lv - bg)
        lum = np.clip(np.where(p <= lv, below, above), 0.0, 1.0)
        cost_l = _region_cost(lum, np.zeros((n, a), int), w)
        if sig > 0.1 and n > 1:
            cost_l = gaussian_filter1d(cost_l, sig, axis=0, mode="nearest")
        cost_l[:, :, 0] = 1e9  # the centre belongs to the lumen
        if _pass == 0:  # a rough boundary (best radius per ray) is enough for the levels
            bg = _local_outside(p, np.argmin(cost_l, axis=2), dr_mm, fat_hu)
        else:
            b_l = _dp_circular(cost_l, smooth_angle, max_jump)
    r_l = _subsample(lum, b_l, dr_mm)
    resolved = lum[:, :, 0].mean(axis=1) >= 0.5
    yield 2
    # ---- outer wall
    ridx = np.arange(rs)
    inner = np.full((n, a, 1), float(wall_hu))
    for _pass in range(2):
        # pass 2: the inside level is the plaque just inside the boundary (0.2..0.6 mm), so a
        # lipid plaque (~20 HU) meets fat at its own half-way level; never above wall_hu
        wl = np.clip((p - fat_hu) / (inner - fat_hu), 0.0, 1.0)
        cost_v = _region_cost(wl, b_l, w)
        if sig > 0.1 and n > 1:
            cost_v = gaussian_filter1d(cost_v, sig, axis=0, mode="nearest")
        cost_v = np.where(ridx[None, None, :] <= b_l[:, :, None], 1e9, cost_v)
        # a wall at most max_wall_mm thick (beyond: myocardium or another structure, no fat)
        cost_v = np.where(ridx[None, None, :] > b_l[:, :, None] + mw, 1e9, cost_v)
        if _pass == 0:
            inner = _local_inside(p, np.argmin(cost_v, axis=2), b_l, dr_mm, fat_hu, wall_hu)
        else:
            b_v = _dp_circular(cost_v, smooth_angle, max_jump)
    r_v = np.maximum(_subsample(wl, b_v, dr_mm), r_l)
    # the outer wall is "seen" on a ray when fat follows it (mean likelihood beyond < 0.5)
    k = np.clip(b_v[:, :, None] + np.arange(1, w + 1)[None, None, :], 0, rs - 1)
    seen = np.take_along_axis(wl, k, axis=2).mean(axis=2) < 0.5
    cs = ContourSet(np.degrees(np.arange(a) * 2 * np.pi / a), r_l, r_v, None, resolved,
                    100.0 * seen.mean(axis=1))
    if keep is not None and keep.r_lumen.shape == r_l.shape:
        e = keep.edited
        cs.r_lumen[e], cs.r_vessel[e] = keep.r_lumen[e], keep.r_vessel[e]
        cs.edited[e] = True
        cs.lumen_resolved[e] = True
    yield 3
    return cs


def _local_outside(p: np.ndarray, b: np.ndarray, dr: float, fat_hu: float) -> np.ndarray:
    """Mean HU 0.5..1.0 mm beyond radius index b per ray, clipped and smoothed (N, A, 1)."""
    from scipy.ndimage import uniform_filter1d

    n, a, r = p.shape
    k = np.arange(int(round(0.5 / dr)), int(round(1.0 / dr)))
    idx = np.clip(b[:, :, None] + k[None, None, :], 0, r - 1)
    v = np.take_along_axis(p, idx, axis=2).mean(axis=2)
    v = np.clip(v, fat_hu, 150.0)
    v = uniform_filter1d(v, size=7, axis=1, mode="wrap")
    return v[:, :, None]


def _local_inside(p, b, b_l, dr: float, fat_hu: float, wall_hu: float) -> np.ndarray:
    """Mean HU 0.2..0.6 mm inside the outer boundary b (beyond the lumen boundary b_l),
    clipped to fat + 60 .. wall_hu and smoothed over +-15 degrees (N, A, 1)."""
    from scipy.ndimage import uniform_filter1d

    n, a, r = p.shape
    k = np.arange(int(round(0.2 / dr)), int(round(0.6 / dr)) + 1)
    idx = np.clip(b[:, :, None] - k[None, None, :], b_l[:, :, None], r - 1)
    v = np.take_along_axis(p, idx, axis=2).mean(axis=2)
    v = np.clip(v, fat_hu + 60.0, wall_hu)
    v = uniform_filter1d(v, size=7, axis=1, mode="wrap")
    return v[:, :, None]


def _region_cost(like: np.ndarray, start: np.ndarray, w: int) -> np.ndarray:
    """cost[n, a, b] = sum_{start<=k<b} (1 - like) + sum_{b<=k<b+w} like (region cost)."""
    n, a, r = like.shape
    like = like.astype(np.float32, copy=False)
    z = np.zeros((n, a, 1), np.float32)
    cin = np.concatenate([z, np.cumsum(1.0 - like, axis=2)], axis=2)  # cin[..., b] = sum_{k<b}
    cout = np.concatenate([z, np.cumsum(like, axis=2)], axis=2)
    b = np.arange(r)
    hi = np.minimum(b + w, r)
    st = np.take_along_axis(cin, start[:, :, None], axis=2)
    inside = cin[:, :, b] - st
    outside = cout[:, :, hi] - cout[:, :, b]
    # rays that end before the window is full: scale the outside part to the window
    outside = outside * (w / np.maximum(hi - b, 1))[None, None, :]
    return inside + outside


def find_contours(polar: np.ndarray, dr_mm: float, step_mm: float, **kw: Any) -> ContourSet:
    from .._progress import run_steps

    return run_steps(iter_find_contours(polar, dr_mm, step_mm, **kw))


@dataclass
class ContourEdit:
    """One undoable edit of one cross-section's contours."""

    index: int
    before: tuple[np.ndarray, np.ndarray, bool]
    after: tuple[np.ndarray, np.ndarray, bool]
    meta: dict[str, Any] = field(default_factory=dict)
