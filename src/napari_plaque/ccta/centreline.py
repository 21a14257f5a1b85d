"""Vessel centrelines: from user points or a label map, refined, smoothed, resampled, saved.

World coordinates are napari's: (z, y, x) in mm = voxel index * spacing + origin (the CT
layer's ``scale`` and ``translate``). A :class:`Centreline` is resampled at a fixed arc-length
step; ``s_mm`` is the arc length from the first point (the ostium, s = 0).

- :func:`refine_centreline` (and the generator :func:`iter_refine_centreline`): ordered sparse
  points -> a minimal-cost path between consecutive points (``skimage.graph.MCP_Geometric``) on a
  lumen-likelihood cost (contrast HU range, centred by the lumen's distance transform) ->
  smoothing spline -> arc-length resampling.
- :func:`centreline_from_labels`: a lumen or vessel label map -> skeleton end points -> the
  longest centred path through the mask -> the same smoothing and resampling.
- :meth:`Centreline.frames`: rotation-minimising frames (double reflection, Wang et al. 2008),
  so cross-sections do not twist along the vessel.
- JSON files (``napari-plaque-centreline``, versioned, atomic write, validated on load) and the
  CSV a napari Points layer saves (columns ``axis-0, axis-1, axis-2``).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import FormatError
from ..types import CTVolume

FORMAT_NAME = "napari-plaque-centreline"
FORMAT_VERSION = 1

#: defaults of centreline extraction (one home: function, CLI and widget read them)
CENTRELINE_DEFAULTS: dict[str, Any] = {
    "step_mm": 0.5,  # arc-length step of the resampled centreline
    "lumen_hu": (200.0, 700.0),  # contrast lumen HU range (lumen likelihood of the path cost)
    "margin_mm": 6.0,  # search box around each pair of points
    "smoothing_mm": 0.3,  # RMS deviation allowed to the smoothing spline
    "min_point_distance_mm": 0.5,  # closer consecutive points are duplicates
}


#: a vessel label covering more of the scan than this is not a vessel (an all-ones mask)
MAX_VESSEL_FRACTION = 0.2
#: the widest inscribed radius (mm) of a coronary (or aortic-root) label
MAX_VESSEL_RADIUS_MM = 20.0
def geometry_hash(ct: CTVolume) -> str:
    """A short, non-identifying hash of a scan's geometry (shape, spacing, origin, direction).

    A centreline made on one scan carries it; loading it onto a scan with another geometry is
    refused (:func:`check_source`).
    """
    parts = [
        ",".join(str(int(s)) for s in ct.shape),
        ",".join(f"{v:.4f}" for v in ct.spacing_mm),
        ",".join(f"{v:.3f}" for v in ct.origin_mm),
        ",".join(f"{v:.4f}" for v in np.asarray(ct.direction, float).ravel()),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def source_of(ct: CTVolume) -> dict[str, Any]:
    """The ``source`` record of a centreline made on ``ct`` (geometry only, never a path)."""
    return {
        "geometry_hash": geometry_hash(ct),
        "shape": [int(s) for s in ct.shape],
        "spacing_mm": [float(s) for s in ct.spacing_mm],
        "origin_mm": [float(s) for s in ct.origin_mm],
    }


def check_source(centreline: Centreline, ct: CTVolume, what: str = "centreline") -> None:
    """Raise ValueError when ``centreline`` was made on a scan with another geometry, or when
    its points lie outside ``ct``."""
    src = centreline.source or {}
    h = src.get("geometry_hash")
    if h and h != geometry_hash(ct):
        raise ValueError(
            f"{what} {centreline.name!r} was made on another scan (geometry "
            f"{src.get('shape')} @ {src.get('spacing_mm')} mm, origin {src.get('origin_mm')}); "
            f"this scan is {list(ct.shape)} @ {list(ct.spacing_mm)} mm, origin "
            f"{list(ct.origin_mm)}"
        )
    idx = world_to_index(ct, centreline.points_mm)
    bad = np.flatnonzero(~_inside(idx, ct.shape))
    if bad.size:
        raise ValueError(
            f"{what} {centreline.name!r}: {bad.size} of {len(idx)} points lie outside the scan "
            f"(first at s = {centreline.s_mm[bad[0]]:.1f} mm)"
        )


def world_to_index(ct: CTVolume, pts_mm: np.ndarray) -> np.ndarray:
    """World (z, y, x) mm -> fractional voxel index."""
    return (np.asarray(pts_mm, float) - np.asarray(ct.origin_mm)) / np.asarray(ct.spacing_mm)


def index_to_world(ct: CTVolume, idx: np.ndarray) -> np.ndarray:
    return np.asarray(idx, float) * np.asarray(ct.spacing_mm) + np.asarray(ct.origin_mm)


def _inside(idx: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    idx = np.atleast_2d(idx)
    return np.all((idx >= -0.5) & (idx <= np.asarray(shape) - 0.5), axis=1)


# ------------------------------------------------------------------------------ Centreline
@dataclass
class Centreline:
    """A vessel centreline resampled at a fixed arc-length step.

    Attributes
    ----------
    points_mm : ndarray (N, 3)
        World (z, y, x) mm, from the ostium (first) to distal.
    s_mm : ndarray (N,)
        Arc length from the first point (0 at the first point).
    step_mm : float
        Arc-length step (the last interval may be shorter).
    name : str
        Vessel name (LM, LAD, LCX, RCA or any).
    source : dict
        Geometry of the scan it was made on (``geometry_hash``, shape, spacing, origin), or {}.
    """

    points_mm: np.ndarray
    s_mm: np.ndarray | None = None
    step_mm: float = 0.5
    name: str = "vessel"
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = np.asarray(self.points_mm, dtype=float)
        if p.ndim != 2 or p.shape[1] != 3 or len(p) < 2:
            raise ValueError(f"a centreline needs >= 2 points of (z, y, x) mm, got {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError("centreline points must be finite numbers")
        self.points_mm = p
        seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
        if np.any(seg <= 1e-9):
            raise ValueError("centreline has duplicate consecutive points")
        self.s_mm = np.r_[0.0, np.cumsum(seg)] if self.s_mm is None else np.asarray(self.s_mm)
        if np.any(np.diff(self.s_mm) <= 0):
            raise ValueError("centreline arc length does not increase (coordinates too large "
                             "for their spacing?)")
        self.step_mm = float(self.step_mm)

    def __len__(self) -> int:
        return len(self.points_mm)

    @property
    def length_mm(self) -> float:
        return float(self.s_mm[-1])

    def point_at(self, s_mm: float | np.ndarray) -> np.ndarray:
        """World point(s) at arc length ``s_mm`` (linear between samples, clipped to the ends)."""
        s = np.clip(np.asarray(s_mm, float), 0.0, self.length_mm)
        out = np.stack([np.interp(s, self.s_mm, self.points_mm[:, k]) for k in range(3)], -1)
        return out

    def index_at(self, s_mm: float) -> int:
        """Index of the sample nearest to arc length ``s_mm``."""
        return int(np.argmin(np.abs(self.s_mm - float(s_mm))))

    def tangents(self) -> np.ndarray:
        """Unit tangents (N, 3) by central differences."""
        t = np.gradient(self.points_mm, self.s_mm, axis=0)
        return t / np.linalg.norm(t, axis=1, keepdims=True)

    def frames(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rotation-minimising frames: (tangent, u, v), each (N, 3) unit vectors in (z, y, x).

        Built by the double-reflection method (Wang et al., ACM TOG 2008) from an initial ``u``
        perpendicular to the first tangent (the world axis least aligned with it, projected).
        A cross-section image has rows along ``v`` and columns along ``u``.
        """
        return rotation_minimising_frames(self.points_mm, self.tangents())

    def resampled(self, step_mm: float) -> Centreline:
        pts = resample_polyline(self.points_mm, step_mm)
        return Centreline(pts, step_mm=step_mm, name=self.name, source=dict(self.source))

    # ---- files
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "step_mm": self.step_mm,
            "units": "mm",
            "axes": ["z", "y", "x"],
            "source": dict(self.source),
            "points_mm": np.round(self.points_mm, 5).tolist(),
        }

    def save(self, path: str | Path) -> Path:
        """Write the versioned JSON file atomically."""
        from ..io.atomic import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Centreline:
        """Read a centreline JSON file, validating it (``FormatError`` naming the problem)."""
        from ..io.versioned import read_versioned_json

        path = Path(path)
        d = read_versioned_json(path, FORMAT_NAME, FORMAT_VERSION, "centreline")
        try:
            pts = np.asarray(d["points_mm"], dtype=float)
            step = float(d.get("step_mm", 0.5))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise FormatError(path, f"bad 'points_mm' ({exc})") from None
        if pts.ndim != 2 or pts.shape[-1] != 3:
            raise FormatError(path, f"'points_mm' must be a list of 3 coordinates, got shape "
                              f"{pts.shape}")
        pts, factor = _honour_units_axes(path, d, pts)
        step = step * factor
        _check_plausible(path, pts, step)
        src = d.get("source") or {}
        if not isinstance(src, dict):
            raise FormatError(path, "'source' must be an object")
        try:
            return cls(pts, step_mm=step, name=str(d.get("name", "vessel")), source=src)
        except ValueError as exc:
            raise FormatError(path, str(exc)) from None

    @classmethod
    def from_points_csv(cls, path: str | Path, name: str | None = None) -> np.ndarray:
        """Points (N, 3) world mm from the CSV a napari Points layer saves.

        Columns ``axis-0, axis-1, axis-2`` (z, y, x in mm, i.e. index x scale + translate);
        an ``index`` column, if any, is ignored; rows are taken in file order. Returns the raw
        points (refine them with :func:`refine_centreline` or build ``Centreline(points)``).
        """
        path = Path(path)
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        except FileNotFoundError:
            raise FormatError(path, "no such file") from None
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise FormatError(path, f"cannot read the CSV ({exc})") from None
        cols = ["axis-0", "axis-1", "axis-2"]
        if not rows or any(c not in rows[0] for c in cols):
            raise FormatError(path, "expected a napari Points CSV with columns axis-0, axis-1, "
                              "axis-2 (z, y, x mm)")
        try:
            pts = np.array([[float(r[c]) for c in cols] for r in rows], dtype=float)
        except (TypeError, ValueError) as exc:
            raise FormatError(path, f"non-numeric coordinate ({exc})") from None
        if not np.all(np.isfinite(pts)):
            raise FormatError(path, "non-finite coordinate")
        _check_plausible(path, pts)
        return pts


def _check_plausible(path: Path, pts: np.ndarray, step: float | None = None) -> None:
    """Points within the scanner's world (PLAUSIBLE_RANGES 'world_mm') and a plausible step:
    a coordinate of 1e18 mm is not a vessel (and its arc length is lost to rounding)."""
    from ..io.dicom_common import range_problem

    if pts.size and not np.all(np.isfinite(pts)):
        raise FormatError(path, "non-finite coordinate")
    problem = range_problem("world_mm", pts.ravel(), "a point coordinate") if pts.size else None
    if problem is None and step is not None:
        problem = range_problem("step_mm", step, "'step_mm'")
    if problem:
        raise FormatError(path, problem)


#: length units a centreline file may declare, in mm
UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 1e-3}
#: the axis order of ``points_mm`` (napari world order)
AXES = ("z", "y", "x")


def _honour_units_axes(path: Path, d: dict, pts: np.ndarray) -> tuple[np.ndarray, float]:
    """Points in (z, y, x) mm from a file's ``units`` and ``axes`` (honoured, never ignored:
    a file in cm or in x, y, z order is converted; anything else is refused). Returns the
    points and the unit factor to mm."""
    units = d.get("units", "mm")
    if not isinstance(units, str) or units.strip().lower() not in UNITS_MM:
        raise FormatError(path, f"'units' is {units!r}; expected one of {sorted(UNITS_MM)}")
    factor = UNITS_MM[units.strip().lower()]
    axes = d.get("axes", list(AXES))
    if (
        not isinstance(axes, list)
        or not all(isinstance(a, str) for a in axes)
        or sorted(a.strip().lower() for a in axes) != sorted(AXES)
    ):
        raise FormatError(
            path, f"'axes' is {axes!r}; expected an order of 'z', 'y', 'x' (e.g. [\"z\", \"y\", "
            "\"x\"])"
        )
    order = [[a.strip().lower() for a in axes].index(k) for k in AXES]
    return pts[:, order] * factor, factor


def load_centreline_any(path: str | Path, name: str | None = None) -> tuple[Centreline | None,
                                                                           np.ndarray | None]:
    """A centreline JSON (-> (Centreline, None)) or a Points CSV (-> (None, points))."""
    p = Path(path)
    if p.suffix.lower() == ".csv":
        return None, Centreline.from_points_csv(p)
    cl = Centreline.load(p)
    if name:
        cl.name = name
    return cl, None


# ------------------------------------------------------------------------- geometry helpers
def rotation_minimising_frames(
    points: np.ndarray, tangents: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Double-reflection rotation-minimising frames along a polyline (see Centreline.frames)."""
    x = np.asarray(points, float)
    t = np.asarray(tangents, float)
    n = len(x)
    u = np.empty_like(t)
    t0 = t[0]
    ax = np.eye(3)[int(np.argmin(np.abs(t0)))]
    u0 = ax - np.dot(ax, t0) * t0
    u[0] = u0 / np.linalg.norm(u0)
    for i in range(n - 1):  # sequential by nature (each frame from the previous one)
        v1 = x[i + 1] - x[i]
        c1 = v1 @ v1
        if c1 < 1e-18:
            u[i + 1] = u[i]
            continue
        rl = u[i] - (2.0 / c1) * (v1 @ u[i]) * v1
        tl = t[i] - (2.0 / c1) * (v1 @ t[i]) * v1
        v2 = t[i + 1] - tl
        c2 = v2 @ v2
        ui = rl - (2.0 / c2) * (v2 @ rl) * v2 if c2 > 1e-18 else rl
        ui = ui - (ui @ t[i + 1]) * t[i + 1]
        u[i + 1] = ui / np.linalg.norm(ui)
    v = np.cross(t, u)
    return t, u, v


def resample_polyline(points: np.ndarray, step_mm: float) -> np.ndarray:
    """Points at a fixed arc-length step along a polyline (first and last point kept)."""
    p = np.asarray(points, float)
    if step_mm <= 0:
        raise ValueError(f"step must be > 0 mm, got {step_mm}")
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    keep = np.r_[True, seg > 1e-9]
    p = p[keep]
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))]
    n = int(np.floor(s[-1] / step_mm + 1e-9))
    snew = np.arange(n + 1) * step_mm
    if s[-1] - snew[-1] > 1e-6 * step_mm:
        snew = np.r_[snew, s[-1]]
    return np.stack([np.interp(snew, s, p[:, k]) for k in range(3)], -1)


def smooth_polyline(points: np.ndarray, smoothing_mm: float) -> np.ndarray:
    """A smoothing cubic spline through a dense polyline (RMS deviation ~ ``smoothing_mm``),
    evaluated densely (0.1 mm). Falls back to the input for very short paths."""
    from scipy.interpolate import splev, splprep

    p = np.asarray(points, float)
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
    p = p[np.r_[True, seg > 1e-9]]
    if len(p) < 4:
        return p
    s = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(p, axis=0), axis=1))]
    u = s / s[-1]
    try:
        tck, _ = splprep(p.T, u=u, s=len(p) * smoothing_mm**2, k=3)
    except (ValueError, TypeError):  # pragma: no cover - degenerate input
        return p
    n = max(int(s[-1] / 0.1), 4)
    return np.stack(splev(np.linspace(0, 1, n + 1), tck), -1)


# ------------------------------------------------------------------------------ refinement
def validate_points(ct: CTVolume, points_mm: np.ndarray, min_dist_mm: float = 0.5) -> np.ndarray:
    """Check user points: >= 2, finite, inside the scan, no duplicates. Return (N, 3) array."""
    p = np.asarray(points_mm, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"centreline points must be (N, 3) world z, y, x mm, got {p.shape}")
    if len(p) < 2:
        raise ValueError(f"a centreline needs at least 2 points (ostium, distal), got {len(p)}")
    if not np.all(np.isfinite(p)):
        raise ValueError("centreline points contain NaN or infinite coordinates")
    idx = world_to_index(ct, p)
    out = np.flatnonzero(~_inside(idx, ct.shape))
    if out.size:
        k = int(out[0])
        raise ValueError(
            f"centreline point {k + 1} ({', '.join(f'{v:.1f}' for v in p[k])} mm) lies outside "
            f"the scan (extent {np.round(index_to_world(ct, [-0.5] * 3), 1).tolist()} .. "
            f"{np.round(index_to_world(ct, np.asarray(ct.shape) - 0.5), 1).tolist()} mm)"
        )
    d = np.linalg.norm(np.diff(p, axis=0), axis=1)
    dup = np.flatnonzero(d < min_dist_mm)
    if dup.size:
        k = int(dup[0])
        raise ValueError(
            f"centreline points {k + 1} and {k + 2} are duplicates ({d[k]:.2f} mm apart, "
            f"< {min_dist_mm} mm); remove one"
        )
    return p


def _box(ct: CTVolume, a: np.ndarray, b: np.ndarray, margin_mm: float) -> tuple[slice, ...]:
    sp = np.asarray(ct.spacing_mm)
    ia, ib = world_to_index(ct, a), world_to_index(ct, b)
    lo = np.floor(np.minimum(ia, ib) - margin_mm / sp).astype(int)
    hi = np.ceil(np.maximum(ia, ib) + margin_mm / sp).astype(int) + 1
    lo = np.clip(lo, 0, np.asarray(ct.shape))
    hi = np.clip(hi, 0, np.asarray(ct.shape))
    return tuple(slice(int(x), int(y)) for x, y in zip(lo, hi, strict=True))


def lumen_cost(hu: np.ndarray, spacing_mm: Sequence[float], lumen_hu=(200.0, 700.0)) -> np.ndarray:
    """Path cost: low on the lumen centre, high off the lumen.

    Lumen likelihood = voxels inside the contrast HU range; its Euclidean distance transform (mm)
    makes the centre cheapest: cost = 1 / (eps + d^2) inside, 1e3 outside (passable, so a path
    crosses a severe stenosis where the lumen vanishes under partial volume).
    """
    from scipy import ndimage as ndi

    lo, hi = lumen_hu
    lum = (hu >= lo) & (hu <= hi)
    d = ndi.distance_transform_edt(lum, sampling=spacing_mm)
    return np.where(lum, 1.0 / (0.05 + d**2), 1e3).astype(np.float64)


def iter_refine_centreline(
    ct: CTVolume,
    points_mm: np.ndarray,
    name: str = "vessel",
    step_mm: float = CENTRELINE_DEFAULTS["step_mm"],
    lumen_hu: tuple[float, float] = CENTRELINE_DEFAULTS["lumen_hu"],
    margin_mm: float = CENTRELINE_DEFAULTS["margin_mm"],
    smoothing_mm: float = CENTRELINE_DEFAULTS["smoothing_mm"],
    min_point_distance_mm: float = CENTRELINE_DEFAULTS["min_point_distance_mm"],
) -> Generator[int, None, Centreline]:
    """Generator version of :func:`refine_centreline` (yields the segments done)."""
    from skimage.graph import MCP_Geometric

    p = validate_points(ct, points_mm, min_point_distance_mm)
    sp = tuple(float(s) for s in ct.spacing_mm)
    lo, hi = lumen_hu
    # the user points must sit in (or next to) a contrast lumen: refuse a non-contrast scan
    for k, q in enumerate(p):
        box = _box(ct, q, q, 1.5)
        vals = np.asarray(ct.hu[box])
        if not np.any((vals >= lo) & (vals <= hi)):
            raise ValueError(
                f"no contrast lumen found near centreline point {k + 1} (HU {vals.min():.0f}.."
                f"{vals.max():.0f} within 1.5 mm, lumen range {lo:.0f}..{hi:.0f} HU): is this a "
                f"contrast-enhanced CCTA and is the point in the vessel?"
            )
    path: list[np.ndarray] = []
    yield 0
    for k in range(len(p) - 1):
        a, b = p[k], p[k + 1]
        box = _box(ct, a, b, margin_mm)
        cost = lumen_cost(np.asarray(ct.hu[box], dtype=np.float32), sp, lumen_hu)
        off = np.array([s.start for s in box])
        ia = np.clip(np.round(world_to_index(ct, a)).astype(int) - off, 0,
                     np.array(cost.shape) - 1)
        ib = np.clip(np.round(world_to_index(ct, b)).astype(int) - off, 0,
                     np.array(cost.shape) - 1)
        mcp = MCP_Geometric(cost, fully_connected=True, sampling=sp)
        mcp.find_costs([tuple(ia)], [tuple(ib)])
        tb = np.asarray(mcp.traceback(tuple(ib)), float) + off
        seg = index_to_world(ct, tb)
        path.append(seg if k == 0 else seg[1:])
        yield k + 1
    dense = np.concatenate(path)
    # keep the user's first and last point as the ends (ostium, distal)
    dense = np.vstack([p[0], dense[1:-1], p[-1]]) if len(dense) > 2 else np.vstack([p[0], p[-1]])
    smooth = smooth_polyline(dense, smoothing_mm)
    pts = resample_polyline(smooth, step_mm)
    return Centreline(pts, step_mm=step_mm, name=name, source=source_of(ct))


def refine_centreline(ct: CTVolume, points_mm: np.ndarray, **kwargs: Any) -> Centreline:
    """Ordered sparse points (ostium first) -> a lumen-centred, smooth, resampled centreline.

    Raises ValueError for fewer than 2 points, points outside the scan, duplicate points, or
    no contrast lumen near a point (non-contrast scan). Keyword arguments: see
    :data:`CENTRELINE_DEFAULTS` and ``name``.
    """
    from .._progress import run_steps

    return run_steps(iter_refine_centreline(ct, points_mm, **kwargs))


def centreline_from_labels(
    ct: CTVolume,
    labels: np.ndarray,
    label: int | None = None,
    start_mm: Sequence[float] | None = None,
    name: str = "vessel",
    step_mm: float = CENTRELINE_DEFAULTS["step_mm"],
    smoothing_mm: float = CENTRELINE_DEFAULTS["smoothing_mm"],
) -> Centreline:
    """The centreline of a lumen or vessel label (e.g. a model's output).

    The mask (``labels == label``, or ``labels > 0``) is skeletonised; among the skeleton's end
    points the two farthest apart along the mask (geodesic, centred cost) give the path, which
    is smoothed and resampled. The end nearest ``start_mm`` (world mm) is the ostium; without
    it, the end with the smaller slice index.
    """
    from scipy import ndimage as ndi
    from skimage.graph import MCP_Geometric
    from skimage.morphology import skeletonize

    lab = np.asarray(labels)
    if lab.shape != ct.shape:
        raise ValueError(f"label map shape {lab.shape} does not match the scan {ct.shape}")
    mask = lab == label if label is not None else lab > 0
    what = f"label {label if label is not None else '>0'}"
    if mask.sum() < 8:
        raise ValueError(f"{what} is empty (no vessel)")
    frac = float(mask.mean())
    if frac > MAX_VESSEL_FRACTION:
        raise ValueError(
            f"{what} covers {100 * frac:.0f} % of the scan: not a vessel label (a coronary "
            f"lumen is a thin tube, well under {100 * MAX_VESSEL_FRACTION:.0f} % of a scan)"
        )
    mlab, n = ndi.label(mask)
    if n > 1:  # the largest component
        sizes = np.bincount(mlab.ravel())[1:]
        mask = mlab == (int(np.argmax(sizes)) + 1)
    nz = np.argwhere(mask)
    lo, hi = nz.min(0), nz.max(0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    sub = mask[box]
    sp = tuple(float(s) for s in ct.spacing_mm)
    d = ndi.distance_transform_edt(np.pad(sub, 1), sampling=sp)[1:-1, 1:-1, 1:-1]
    if float(d.max()) > MAX_VESSEL_RADIUS_MM:
        raise ValueError(
            f"{what} is {2 * float(d.max()):.0f} mm across at its widest: not a coronary vessel "
            f"label (at most {2 * MAX_VESSEL_RADIUS_MM:g} mm)"
        )
    cost = np.where(sub, 1.0 / (0.05 + d**2), np.inf)
    skel = skeletonize(sub)
    if skel.sum() == 0:
        skel = sub
    nb = ndi.convolve(skel.astype(np.uint8), np.ones((3, 3, 3), np.uint8), mode="constant")
    ends = np.argwhere(skel & (nb == 2))
    if len(ends) < 2:
        ends = np.argwhere(skel)
    # double sweep: farthest end from an arbitrary end, then farthest from that one
    mcp = MCP_Geometric(cost, fully_connected=True, sampling=sp)
    geo = np.array(sp)

    def farthest(src):
        dist, _ = mcp.find_costs([tuple(src)])
        # the cumulative cost is not a length: take the reachable end farthest in mm
        reach = np.isfinite(dist[tuple(ends.T)])
        e = ends[reach]
        return e[int(np.argmax(np.linalg.norm((e - src) * geo, axis=1)))]

    a = farthest(ends[0])
    b = farthest(a)
    mcp.find_costs([tuple(a)], [tuple(b)])
    path = np.asarray(mcp.traceback(tuple(b)), float) + lo
    pts = index_to_world(ct, path)
    if start_mm is not None:
        if np.linalg.norm(pts[-1] - start_mm) < np.linalg.norm(pts[0] - start_mm):
            pts = pts[::-1]
    elif pts[-1, 0] < pts[0, 0]:
        pts = pts[::-1]
    if len(pts) < 2:
        raise ValueError("the label is too small for a centreline")
    smooth = smooth_polyline(pts, smoothing_mm)
    return Centreline(
        resample_polyline(smooth, step_mm), step_mm=step_mm, name=name, source=source_of(ct)
    )
