"""Plaque composition on CCTA by HU ranges (lipid / fibrous / calcium).

Ranges are half-open intervals ``low <= HU < high`` that meet without gaps (so interpolated,
non-integer HU are always classified): lipid [-100, 50), fibrous [50, 150), calcium
[150, 1300). These are Zhao et al. 2026's inclusive integer bounds (-100..49, 50..149,
150..1300, ``docs/conventions.md``) without their gaps. The calcium upper bound is Zhao's
convention (their workstation's cap, meant to keep metal out), not a property of calcium: dense
calcium above it is reported, never dropped silently. Each plaque counts the voxels the cap
removes (``n_above_range``, also in ``n_outside``), :func:`composition_warnings` names them, and
the "1K plaque" flag (> 1000 HU) ignores the cap. ``ranges={"calcium": (150, inf)}``
(:func:`uncapped_ranges`; CLI ``calcium=150:inf``) lifts the cap. Voxels of a plaque ROI outside
every range are excluded from the composition and counted (``n_outside``). All statistics are
computed with ``bincount`` over the ROI voxels, one pass for every plaque at once.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._progress import completes
from .calcium import _check_spacing, vessel_name

COMPONENTS: tuple[str, ...] = ("lipid", "fibrous", "calcium")

#: Zhao et al. 2026's upper calcium bound (their workstation's 150..1300 HU)
ZHAO_CALCIUM_CAP_HU = 1300.0

#: default HU ranges per component, half-open ``[low, high)`` and contiguous (no gaps); the
#: calcium high is Zhao's cap (reported when it removes voxels; ``inf`` lifts it)
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "lipid": (-100.0, 50.0),
    "fibrous": (50.0, 150.0),
    "calcium": (150.0, ZHAO_CALCIUM_CAP_HU),
}

#: display colours (RGBA) of the components, as in the paper's figure
COMPONENT_COLORS: dict[str, tuple[float, float, float, float]] = {
    "lipid": (1.0, 0.0, 0.0, 1.0),
    "fibrous": (0.0, 0.3, 1.0, 1.0),
    "calcium": (1.0, 1.0, 0.0, 1.0),
}

#: "1K plaque": any calcium voxel above this HU
ONE_K_HU = 1000.0


@dataclass
class PlaqueComposition:
    """Composition of one plaque (ROI label).

    Volumes in mm^3, percentages of the classified plaque volume (lipid + fibrous + calcium),
    densities as mean HU (None when the component is empty). ``volume_mm3`` is the classified
    plaque volume; ``roi_volume_mm3`` also counts the ``n_outside`` voxels outside all ranges,
    of which ``n_above_range`` lie at or above a capped calcium range (0 without a cap).
    """

    label: int
    n_voxels: int
    roi_volume_mm3: float
    volume_mm3: float
    lipid_mm3: float
    fibrous_mm3: float
    calcium_mm3: float
    lipid_pct: float
    fibrous_pct: float
    calcium_pct: float
    lipid_mean_hu: float | None
    fibrous_mean_hu: float | None
    calcium_mean_hu: float | None
    mean_hu: float | None
    calcium_density_hu: float | None
    one_k_plaque: bool
    max_hu: float
    n_outside: int
    outside_mm3: float
    n_above_range: int = 0
    above_range_mm3: float = 0.0
    vessel: int = 0
    vessel_name: str = "unassigned"
    vessel_volume_mm3: float | None = None
    plaque_burden_pct: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_ranges(
    ranges: Mapping[str, tuple[float, float]] | None,
) -> dict[str, tuple[float, float]]:
    """Validate HU ranges: keys lipid/fibrous/calcium, each a half-open ``[low, high)`` with
    low < high, in the order lipid < fibrous < calcium, each ending where the next begins (no
    gaps, no overlaps). Only the calcium high may be ``inf`` (no cap); missing keys keep the
    defaults. ValueError names the problem."""
    out = dict(DEFAULT_RANGES)
    if ranges:
        unknown = set(ranges) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown component(s) {sorted(unknown)}; use {list(COMPONENTS)}")
        for k, v in ranges.items():
            lo, hi = (float(x) for x in v)
            out[k] = (lo, hi)
    for k, (lo, hi) in out.items():
        hi_ok = np.isfinite(hi) or (k == COMPONENTS[-1] and hi == np.inf)
        if not (np.isfinite(lo) and hi_ok) or not lo < hi:
            raise ValueError(
                f"{k} range must be low < high (half-open, low <= HU < high), got {lo}..{hi} HU"
            )
    for k1, k2 in zip(COMPONENTS[:-1], COMPONENTS[1:], strict=True):
        hi1, lo2 = out[k1][1], out[k2][0]
        if lo2 < hi1:
            raise ValueError(f"HU ranges overlap: {k1} ends at {hi1:g} but {k2} starts at {lo2:g}")
        if lo2 > hi1:
            raise ValueError(
                f"HU ranges leave a gap: {k1} ends at {hi1:g} (exclusive) but {k2} starts at "
                f"{lo2:g}; ranges are half-open low <= HU < high, so {k1} should end at {lo2:g}"
            )
    return {k: out[k] for k in COMPONENTS}


def zhao_ranges() -> dict[str, tuple[float, float]]:
    """Zhao et al. 2026's convention: calcium capped at 1300 HU (the default)."""
    return check_ranges({"calcium": (DEFAULT_RANGES["calcium"][0], ZHAO_CALCIUM_CAP_HU)})


def uncapped_ranges() -> dict[str, tuple[float, float]]:
    """The default ranges with no upper calcium bound (calcium is every HU >= 150)."""
    return check_ranges({"calcium": (DEFAULT_RANGES["calcium"][0], float("inf"))})


def classify(hu: np.ndarray, ranges: Mapping[str, tuple[float, float]] | None = None) -> np.ndarray:
    """Component index per voxel: 1 lipid, 2 fibrous, 3 calcium, 0 outside all ranges (uint8).

    Ranges are half-open (``low <= HU < high``) and contiguous: one ``searchsorted`` over the
    four bounds. NaN is outside.
    """
    r = check_ranges(ranges)
    edges = np.array([r[c][0] for c in COMPONENTS] + [r[COMPONENTS[-1]][1]])
    hu = np.asarray(hu)
    # index of the first edge > HU: 0 below lipid, 1..3 inside, 4 at/above the cap (or NaN)
    idx = np.searchsorted(edges, hu, side="right")
    out = np.where(idx <= len(COMPONENTS), idx, 0).astype(np.uint8)
    return out


def one_k_flags(
    vals: np.ndarray,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    one_k_hu: float = ONE_K_HU,
) -> np.ndarray:
    """Voxels that make a "1K plaque": calcium (HU >= the calcium low) above ``one_k_hu``,
    whatever the calcium cap (a capped range drops dense calcium from the volume, never from
    the 1K flag)."""
    r = check_ranges(ranges)
    vals = np.asarray(vals)
    return (vals >= r["calcium"][0]) & (vals > one_k_hu)


def composition_warnings(
    plaques: list[PlaqueComposition],
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> list[str]:
    """Lines naming what a calcium cap removed (empty without a cap or when it removed none)."""
    r = check_ranges(ranges)
    hit = [p for p in plaques if p.n_above_range]
    if not hit:
        return []
    n = sum(p.n_above_range for p in hit)
    mm3 = sum(p.above_range_mm3 for p in hit)
    cap = r["calcium"][1]
    conv = " (Zhao 2026 convention)" if cap == ZHAO_CALCIUM_CAP_HU else ""
    labels = ", ".join(str(p.label) for p in hit)
    return [
        f"the calcium range's upper bound {cap:g} HU{conv} removed {n} voxel(s) "
        f"({mm3:.3g} mm^3) at or above it from the composition of plaque(s) {labels}; they are "
        "counted in n_outside and still make a 1K plaque"
    ]


def composition_overlay(
    hu: np.ndarray,
    roi: np.ndarray,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    bbox: tuple[slice, ...] | None = None,
) -> np.ndarray:
    """Labels volume (0 none, 1 lipid, 2 fibrous, 3 calcium) inside the ROI, for display.

    With ``bbox`` (e.g. from :func:`roi_bbox`) only that box is computed (the rest is 0).
    """
    hu = np.asarray(hu)
    roi = np.asarray(roi)
    if roi.shape != hu.shape:
        raise ValueError(f"ROI shape {roi.shape} does not match the image shape {hu.shape}")
    out = np.zeros(hu.shape, np.uint8)
    box = bbox if bbox is not None else tuple(slice(0, s) for s in hu.shape)
    cls = classify(hu[box], ranges)
    cls[roi[box] == 0] = 0
    out[box] = cls
    return out


def roi_bbox(roi: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box (tuple of slices) of the nonzero voxels of ``roi``; None when empty."""
    roi = np.asarray(roi)
    idx = []
    for ax in range(roi.ndim):
        other = tuple(a for a in range(roi.ndim) if a != ax)
        nz = np.flatnonzero(roi.any(axis=other))
        if nz.size == 0:
            return None
        idx.append(slice(int(nz[0]), int(nz[-1]) + 1))
    return tuple(idx)


def iter_composition(
    hu: np.ndarray,
    spacing_mm: tuple[float, float, float],
    roi_labels: np.ndarray,
    vessel_labels: np.ndarray | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    one_k_hu: float = ONE_K_HU,
) -> Generator[int, None, list[PlaqueComposition]]:
    """Step generator version of :func:`composition` (yields 0..3)."""
    hu = np.asarray(hu)
    sp = _check_spacing(spacing_mm)
    r = check_ranges(ranges)
    roi = np.asarray(roi_labels)
    if roi.shape != hu.shape:
        raise ValueError(f"ROI shape {roi.shape} does not match the image shape {hu.shape}")
    if roi.dtype.kind == "b":
        roi = roi.astype(np.uint8)
    if vessel_labels is not None:
        vessel_labels = np.asarray(vessel_labels)
        if vessel_labels.shape != hu.shape:
            raise ValueError(
                f"vessel label shape {vessel_labels.shape} does not match the image "
                f"shape {hu.shape}"
            )
    yield 0
    vox = roi_voxels(hu, roi, vessel_labels)
    yield 1
    if vox is None:
        yield 3
        return []
    out = compose(vox, sp, r, one_k_hu)
    yield 3
    return out


@dataclass
class RoiVoxels:
    """The voxels of a plaque ROI, gathered once (what :func:`compose` needs, whatever the HU
    ranges): flat indices (raster order), the ROI labels ``uniq`` with each voxel's plaque
    index ``pidx``, the HU values (float64), and each plaque's vessel and vessel volume (mm^3,
    NaN without a vessel) when vessel labels were given. A range edit recomposes from these
    without reading the volume again (the composition dock)."""

    flat: np.ndarray
    uniq: np.ndarray
    pidx: np.ndarray
    vals: np.ndarray
    shape: tuple[int, ...]
    vessel: np.ndarray | None = None
    vessel_counts: np.ndarray | None = None  # vessel voxels per plaque (NaN: no vessel)


def roi_voxels(
    hu: np.ndarray, roi: np.ndarray, vessel_labels: np.ndarray | None = None
) -> RoiVoxels | None:
    """Gather the ROI voxels (one pass over the ROI); None for an empty ROI."""
    hu = np.asarray(hu)
    roi = np.asarray(roi)
    flat = np.flatnonzero(roi)
    if flat.size == 0:
        return None
    labs = roi.ravel()[flat]
    uniq, pidx = np.unique(labs, return_inverse=True)
    pidx = pidx.ravel()
    vals = hu.ravel()[flat].astype(np.float64)
    out = RoiVoxels(flat, uniq, pidx, vals, tuple(hu.shape))
    if vessel_labels is not None:
        out.vessel, out.vessel_counts = _plaque_vessels(
            flat, pidx, uniq.size, roi.shape, np.asarray(vessel_labels), 1.0
        )
    return out


def compose(
    vox: RoiVoxels,
    spacing_mm: tuple[float, float, float],
    ranges: Mapping[str, tuple[float, float]] | None = None,
    one_k_hu: float = ONE_K_HU,
    cls: np.ndarray | None = None,
) -> list[PlaqueComposition]:
    """Per-plaque composition of gathered ROI voxels (``bincount`` over them, every plaque at
    once). ``cls``: the voxels' classes when already known (``classify(vox.vals, ranges)``)."""
    r = check_ranges(ranges)
    voxel_mm3 = float(np.prod(_check_spacing(spacing_mm)))
    n = vox.uniq.size
    pidx, vals = vox.pidx, vox.vals
    cls = classify(vals, r) if cls is None else cls
    key = pidx * 4 + cls.astype(np.int64)
    counts = np.bincount(key, minlength=n * 4).reshape(n, 4)
    sums = np.bincount(key, weights=vals, minlength=n * 4).reshape(n, 4)
    one_k = np.bincount(pidx, weights=one_k_flags(vals, r, one_k_hu), minlength=n) > 0
    above = np.bincount(pidx, weights=vals >= r["calcium"][1], minlength=n).astype(np.int64)
    max_hu = np.full(n, -np.inf)
    np.maximum.at(max_hu, pidx, vals)

    vessel = np.zeros(n, np.int64) if vox.vessel is None else vox.vessel
    vessel_vol = None if vox.vessel_counts is None else vox.vessel_counts * voxel_mm3
    uniq = vox.uniq

    classified = counts[:, 1:].sum(axis=1)
    out: list[PlaqueComposition] = []
    for i in range(n):  # one record per plaque (a handful); the voxel work is done above
        c = counts[i]
        tot = int(classified[i])
        comp_mm3 = c[1:] * voxel_mm3
        pct = (100.0 * c[1:] / tot) if tot else np.zeros(3)
        means = [float(sums[i, k] / c[k]) if c[k] else None for k in (1, 2, 3)]
        vol = tot * voxel_mm3
        vv = None
        if vessel_vol is not None and np.isfinite(vessel_vol[i]):
            vv = float(vessel_vol[i])
        out.append(
            PlaqueComposition(
                label=int(uniq[i]),
                n_voxels=int(c.sum()),
                roi_volume_mm3=float(c.sum() * voxel_mm3),
                volume_mm3=float(vol),
                lipid_mm3=float(comp_mm3[0]),
                fibrous_mm3=float(comp_mm3[1]),
                calcium_mm3=float(comp_mm3[2]),
                lipid_pct=float(pct[0]),
                fibrous_pct=float(pct[1]),
                calcium_pct=float(pct[2]),
                lipid_mean_hu=means[0],
                fibrous_mean_hu=means[1],
                calcium_mean_hu=means[2],
                mean_hu=float(sums[i, 1:].sum() / tot) if tot else None,
                calcium_density_hu=means[2],
                one_k_plaque=bool(one_k[i]),
                max_hu=float(max_hu[i]),
                n_outside=int(c[0]),
                outside_mm3=float(c[0] * voxel_mm3),
                n_above_range=int(above[i]),
                above_range_mm3=float(above[i] * voxel_mm3),
                vessel=int(vessel[i]),
                vessel_name=vessel_name(int(vessel[i])),
                vessel_volume_mm3=vv,
                plaque_burden_pct=(100.0 * vol / vv) if vv else None,
            )
        )
    return out


def _plaque_vessels(
    flat: np.ndarray,
    pidx: np.ndarray,
    n: int,
    shape: tuple[int, ...],
    vessel_labels: np.ndarray,
    voxel_mm3: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Vessel of each plaque (most frequent nonzero label) and that vessel's volume over the
    slices the plaque spans (vessel label voxels united with the plaque's own voxels)."""
    vvals = vessel_labels.ravel()[flat].astype(np.int64)
    vessel = np.zeros(n, np.int64)
    sel = vvals != 0
    if np.any(sel):
        vu, vidx = np.unique(vvals[sel], return_inverse=True)
        table = np.bincount(pidx[sel] * vu.size + vidx, minlength=n * vu.size).reshape(n, vu.size)
        vessel = np.where(table.max(axis=1) > 0, vu[np.argmax(table, axis=1)], 0)
    z = flat // (shape[1] * shape[2])
    zmin = np.full(n, np.iinfo(np.int64).max)
    zmax = np.full(n, -1)
    np.minimum.at(zmin, pidx, z)
    np.maximum.at(zmax, pidx, z)
    # per-slice voxel count of each vessel label (over the slices plaques span), cumulated in z
    labs = np.unique(vessel[vessel != 0])
    vol = np.zeros(n)
    if labs.size:
        z0, z1 = int(zmin[vessel != 0].min()), int(zmax[vessel != 0].max()) + 1
        slab = vessel_labels[z0:z1].reshape(z1 - z0, -1)
        for lab in labs:  # one pass per vessel label holding a plaque (<= a few)
            per_slice = np.count_nonzero(slab == lab, axis=1)
            cum = np.r_[0, np.cumsum(per_slice)]
            mine = vessel == lab
            vol[mine] = cum[zmax[mine] + 1 - z0] - cum[zmin[mine] - z0]
    # plaque voxels outside the vessel label still belong to the vessel cross-section
    outside = np.bincount(pidx, weights=vvals != vessel[pidx], minlength=n)
    vol = (vol + outside) * voxel_mm3
    return vessel, np.where(vessel != 0, vol, np.nan)


@completes(iter_composition)
def composition(*args: Any, **kwargs: Any) -> list[PlaqueComposition]:
    """Per-plaque composition (lipid / fibrous / calcium) by HU ranges.

    Parameters
    ----------
    hu : ndarray, shape (slices, rows, cols)
        CCTA volume in HU.
    spacing_mm : (dz, dy, dx)
        Voxel spacing in mm.
    roi_labels : ndarray of int
        One label per plaque (or segment); 0 = background.
    vessel_labels : ndarray or None
        Vessel (outer wall) labels, 1=LM, 2=LAD, 3=LCX, 4=RCA. When given, each plaque gets the
        vessel most of its voxels lie in and a plaque burden = plaque volume / vessel volume
        over the slices the plaque spans (x 100 %).
    ranges : mapping or None
        Half-open HU ranges ``{"lipid": (lo, hi), "fibrous": ..., "calcium": ...}``
        (``lo <= HU < hi``); missing keys keep the defaults (:data:`DEFAULT_RANGES`). They must
        meet without gaps or overlaps (:func:`check_ranges`). A finite calcium high is a cap
        (default Zhao's 1300 HU); the voxels it removes are ``n_above_range``; ``inf`` lifts it
        (:func:`uncapped_ranges`).
    one_k_hu : float
        A plaque is a "1K plaque" when any voxel of HU >= the calcium low is above this HU
        (a cap on the calcium range does not change it).

    Returns
    -------
    list of PlaqueComposition, one per ROI label, in increasing label order
    (empty list for an empty ROI).
    """
