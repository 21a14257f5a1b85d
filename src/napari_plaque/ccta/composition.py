"""Plaque composition on CCTA by HU ranges (lipid / fibrous / calcium).

Defaults follow Zhao et al. 2026 as summarised in ``docs/conventions.md``: lipid -100..49 HU,
fibrous 50..149 HU, calcium 150..1300 HU, all inclusive. Voxels of a plaque ROI outside every
range are excluded from the composition and counted (``n_outside``). All statistics are
computed with ``bincount`` over the ROI voxels, one pass for every plaque at once.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._progress import run_steps
from .calcium import _check_spacing, vessel_name

COMPONENTS: tuple[str, ...] = ("lipid", "fibrous", "calcium")

#: default inclusive HU ranges per component
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "lipid": (-100.0, 49.0),
    "fibrous": (50.0, 149.0),
    "calcium": (150.0, 1300.0),
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
    plaque volume; ``roi_volume_mm3`` also counts the ``n_outside`` voxels outside all ranges.
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
    vessel: int = 0
    vessel_name: str = "unassigned"
    vessel_volume_mm3: float | None = None
    plaque_burden_pct: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_ranges(
    ranges: Mapping[str, tuple[float, float]] | None,
) -> dict[str, tuple[float, float]]:
    """Validate HU ranges: keys lipid/fibrous/calcium, low <= high, no overlap."""
    out = dict(DEFAULT_RANGES)
    if ranges:
        unknown = set(ranges) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown component(s) {sorted(unknown)}; use {list(COMPONENTS)}")
        for k, v in ranges.items():
            lo, hi = (float(x) for x in v)
            out[k] = (lo, hi)
    for k, (lo, hi) in out.items():
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
            raise ValueError(f"{k} range must be low <= high, got {lo}..{hi} HU")
    spans = sorted((lo, hi, k) for k, (lo, hi) in out.items())
    for (_lo1, hi1, k1), (lo2, _hi2, k2) in zip(spans[:-1], spans[1:], strict=True):
        if lo2 <= hi1:
            raise ValueError(f"HU ranges overlap: {k1} ..{hi1} and {k2} {lo2}..")
    return out


def classify(hu: np.ndarray, ranges: Mapping[str, tuple[float, float]] | None = None) -> np.ndarray:
    """Component index per voxel: 1 lipid, 2 fibrous, 3 calcium, 0 outside all ranges (uint8)."""
    r = check_ranges(ranges)
    hu = np.asarray(hu)
    out = np.zeros(hu.shape, np.uint8)
    for i, name in enumerate(COMPONENTS, start=1):
        lo, hi = r[name]
        out[(hu >= lo) & (hu <= hi)] = i
    return out


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
    voxel_mm3 = float(np.prod(sp))
    flat = np.flatnonzero(roi)
    if flat.size == 0:
        yield 3
        return []
    labs = roi.ravel()[flat]
    uniq, pidx = np.unique(labs, return_inverse=True)
    n = uniq.size
    vals = hu.ravel()[flat].astype(np.float64)
    cls = classify(vals, r).astype(np.int64)
    yield 1

    key = pidx * 4 + cls
    counts = np.bincount(key, minlength=n * 4).reshape(n, 4)
    sums = np.bincount(key, weights=vals, minlength=n * 4).reshape(n, 4)
    one_k = np.bincount(pidx, weights=(cls == 3) & (vals > one_k_hu), minlength=n) > 0
    max_hu = np.full(n, -np.inf)
    np.maximum.at(max_hu, pidx, vals)
    yield 2

    vessel = np.zeros(n, np.int64)
    vessel_vol: np.ndarray | None = None
    if vessel_labels is not None:
        vessel, vessel_vol = _plaque_vessels(flat, pidx, n, roi.shape, vessel_labels, voxel_mm3)

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
                vessel=int(vessel[i]),
                vessel_name=vessel_name(int(vessel[i])),
                vessel_volume_mm3=vv,
                plaque_burden_pct=(100.0 * vol / vv) if vv else None,
            )
        )
    yield 3
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


def composition(
    hu: np.ndarray,
    spacing_mm: tuple[float, float, float],
    roi_labels: np.ndarray,
    vessel_labels: np.ndarray | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    one_k_hu: float = ONE_K_HU,
) -> list[PlaqueComposition]:
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
        Inclusive HU ranges ``{"lipid": (lo, hi), "fibrous": ..., "calcium": ...}``; missing
        keys keep the defaults (:data:`DEFAULT_RANGES`). Ranges must not overlap.
    one_k_hu : float
        A plaque is a "1K plaque" when any calcium voxel is above this HU.

    Returns
    -------
    list of PlaqueComposition, one per ROI label, in increasing label order
    (empty list for an empty ROI).
    """
    return run_steps(iter_composition(hu, spacing_mm, roi_labels, vessel_labels, ranges, one_k_hu))
