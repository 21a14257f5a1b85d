"""Coronary artery calcium scoring: Agatston, volume and mass scores, CAC-DRS and categories.

Conventions (``docs/conventions.md``): lesions are 2D 8-connected components of voxels with
HU >= ``threshold_hu`` in one axial slice (inside the ROI), kept when their area is
>= ``min_area_mm2``; the density weight comes from the lesion's peak HU ([130, 200) -> 1,
[200, 300) -> 2, [300, 400) -> 3, >= 400 -> 4); lesion Agatston = area x weight x
(slice increment / 3 mm); volume = area x slice increment; mass = c x volume x mean HU with
c from a calibration rod (:func:`calibrate_mass`), never guessed.

Everything is vectorised. The volume is read once, in chunks of slices small enough to stay
in cache, on every core (numpy releases the GIL): each chunk is thresholded, its candidate
voxels' HU (and vessel labels) gathered and cut into horizontal runs per image row while it is
in cache, so no per-voxel index array of the whole volume is made. Runs of adjacent rows of
the same slice that touch (8-connectivity) become graph edges, ``scipy.sparse.csgraph`` finds
the components, and per-lesion statistics come from ``bincount``/``reduceat`` over the runs.
There is no Python loop over lesions or slices; the result does not depend on the chunking or
the number of threads (``tests/test_ccta_calcium.py`` compares every lesion field bit for bit
with a per-slice ``scipy.ndimage.label`` reference).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._progress import completes

#: vessel label convention shared by every napari-plaque tool
VESSEL_NAMES: dict[int, str] = {1: "LM", 2: "LAD", 3: "LCX", 4: "RCA"}

#: CAC-DRS (SCCT 2018) Agatston categories, in increasing order
CAC_DRS_CATEGORIES: tuple[str, ...] = ("A0", "A1", "A2", "A3")
#: lower Agatston bound of A2 and A3 (A0 = 0, A1 = (0, 100))
CAC_DRS_CUTS: tuple[float, float] = (100.0, 300.0)
#: guideline / AI-paper cut-points 0 / 100 / 400, in increasing order
CAC_CATEGORIES: tuple[str, ...] = ("0", "1-99", "100-399", ">=400")
#: lower Agatston bound of "100-399" and ">=400"
CAC_CATEGORY_CUTS: tuple[float, float] = (100.0, 400.0)

#: lower HU bound of weights 2, 3 and 4 (weight 1 below 200)
WEIGHT_EDGES_HU: tuple[float, float, float] = (200.0, 300.0, 400.0)

#: relative tolerance for the minimum-area test (so 4 x 0.5 mm x 0.5 mm counts as 1.0 mm^2)
_AREA_RTOL = 1e-9

#: defaults of calcium scoring, read by :func:`calcium_score`, the CLI and the widget
CALCIUM_DEFAULTS: dict[str, float] = {
    "threshold_hu": 130.0,
    "min_area_mm2": 1.0,
    "rod_density_mg_cm3": 200.0,
}

LESION_DTYPE = np.dtype(
    [
        ("id", np.int32),
        ("slice", np.int32),
        ("centroid_z", np.float64),
        ("centroid_y", np.float64),
        ("centroid_x", np.float64),
        ("n_voxels", np.int64),
        ("area_mm2", np.float64),
        ("peak_hu", np.float64),
        ("mean_hu", np.float64),
        ("weight", np.int8),
        ("agatston", np.float64),
        ("volume_mm3", np.float64),
        ("mass_mg", np.float64),
        ("vessel", np.int32),
    ]
)


def vessel_name(label: int) -> str:
    """Name of a vessel label: LM/LAD/LCX/RCA for 1..4, ``"label N"`` otherwise, 0 unassigned."""
    label = int(label)
    if label == 0:
        return "unassigned"
    return VESSEL_NAMES.get(label, f"label {label}")


def density_weight(peak_hu: np.ndarray | float) -> np.ndarray:
    """Agatston density weight (1..4) from peak HU (vectorised)."""
    return (np.digitize(np.asarray(peak_hu, dtype=float), WEIGHT_EDGES_HU) + 1).astype(np.int8)


def cac_category(agatston: float) -> str:
    """Guideline category of an Agatston score: ``"0"``, ``"1-99"``, ``"100-399"``, ``">=400"``.

    Scores are compared unrounded: 0 < score < 100 is "1-99" (a tiny score such as 0.4 is not 0).
    """
    a = float(agatston)
    if a < 0 or not np.isfinite(a):
        raise ValueError(f"Agatston score must be a finite number >= 0, got {agatston}")
    if a == 0:
        return CAC_CATEGORIES[0]
    return CAC_CATEGORIES[1 + int(np.searchsorted(CAC_CATEGORY_CUTS, a, side="right"))]


def cac_drs(agatston: float, n_vessels: int | None = None) -> str:
    """CAC-DRS (SCCT 2018): A0 = 0, A1 = 1-99, A2 = 100-299, A3 >= 300, plus ``/N`` vessels.

    Parameters
    ----------
    agatston : float
        Total Agatston score.
    n_vessels : int or None
        Number of vessels with calcium (N modifier); omitted when None (no vessel labels).
        For A0, N is 0 and not written.
    """
    a = float(agatston)
    if a < 0 or not np.isfinite(a):
        raise ValueError(f"Agatston score must be a finite number >= 0, got {agatston}")
    if a == 0:
        return CAC_DRS_CATEGORIES[0]
    cat = CAC_DRS_CATEGORIES[1 + int(np.searchsorted(CAC_DRS_CUTS, a, side="right"))]
    if n_vessels is None:
        return cat
    return f"{cat}/N{int(n_vessels)}"


@dataclass(frozen=True)
class MassCalibration:
    """Mass calibration factor from a rod of known density.

    ``factor_mg_per_mm3_hu`` = rod density (mg/mm^3) / (HU_rod - HU_water).
    """

    factor_mg_per_mm3_hu: float
    rod_density_mg_cm3: float
    rod_mean_hu: float
    water_mean_hu: float
    n_rod_voxels: int
    n_water_voxels: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "factor_mg_per_mm3_hu": self.factor_mg_per_mm3_hu,
            "rod_density_mg_cm3": self.rod_density_mg_cm3,
            "rod_mean_hu": self.rod_mean_hu,
            "water_mean_hu": self.water_mean_hu,
            "n_rod_voxels": self.n_rod_voxels,
            "n_water_voxels": self.n_water_voxels,
        }


def calibrate_mass(
    hu: np.ndarray,
    rod_roi: np.ndarray,
    rod_density_mg_cm3: float = CALCIUM_DEFAULTS["rod_density_mg_cm3"],
    water_roi: np.ndarray | None = None,
) -> MassCalibration:
    """Mass calibration factor c (mg / (mm^3 HU)) from an ROI on a calibration rod.

    Parameters
    ----------
    hu : ndarray
        HU volume.
    rod_roi : ndarray
        Mask (nonzero = inside) on the rod, same shape as ``hu``.
    rod_density_mg_cm3 : float
        Rod density in mg HA / cm^3 (200 for the QRM rod).
    water_roi : ndarray or None
        Optional mask on water-equivalent material; HU_water = 0 when omitted.
    """
    hu = np.asarray(hu)
    rod = _as_mask(rod_roi, hu.shape, "rod ROI")
    n_rod = int(np.count_nonzero(rod))
    if n_rod == 0:
        raise ValueError("rod ROI is empty: paint the calibration rod first")
    if not rod_density_mg_cm3 > 0:
        raise ValueError(f"rod density must be > 0 mg/cm^3, got {rod_density_mg_cm3}")
    rod_hu = float(hu[rod].mean(dtype=np.float64))
    water_hu, n_water = 0.0, 0
    if water_roi is not None:
        water = _as_mask(water_roi, hu.shape, "water ROI")
        n_water = int(np.count_nonzero(water))
        if n_water == 0:
            raise ValueError("water ROI is empty")
        water_hu = float(hu[water].mean(dtype=np.float64))
    if rod_hu - water_hu <= 0:
        raise ValueError(
            f"rod mean HU ({rod_hu:.1f}) is not above water ({water_hu:.1f}): wrong rod ROI?"
        )
    factor = (rod_density_mg_cm3 / 1000.0) / (rod_hu - water_hu)
    return MassCalibration(factor, float(rod_density_mg_cm3), rod_hu, water_hu, n_rod, n_water)


@dataclass
class CalciumResult:
    """Calcium scores of one volume.

    Attributes
    ----------
    lesions : structured ndarray (dtype :data:`LESION_DTYPE`)
        One row per lesion (2D component in one slice): id (1-based, also the value in
        ``lesion_labels``), slice index, centroid (voxel indices), area, peak/mean HU, weight,
        Agatston, volume, mass (NaN without calibration) and vessel label (0 = unassigned).
    spacing_mm : tuple
        Voxel spacing used.
    parameters : dict
        Threshold, minimum area, slice increment and calibration used.
    calibration : MassCalibration or None
    lesion_labels : ndarray or None
        int32 volume, lesion id per voxel (only with ``return_labels=True``).
    vessel_labels_given : bool
        Whether a vessel label map (or manual assignments) was used (for the CAC-DRS N modifier).
    """

    lesions: np.ndarray
    spacing_mm: tuple[float, float, float]
    parameters: dict[str, Any]
    calibration: MassCalibration | None = None
    lesion_labels: np.ndarray | None = None
    vessel_labels_given: bool = False

    # -- totals -------------------------------------------------------------------------------
    @property
    def agatston(self) -> float:
        return float(self.lesions["agatston"].sum())

    @property
    def volume_mm3(self) -> float:
        return float(self.lesions["volume_mm3"].sum())

    @property
    def mass_mg(self) -> float | None:
        """Total calibrated mass (mg), or None when not calibrated."""
        if self.calibration is None:
            return None
        return float(self.lesions["mass_mg"].sum())

    @property
    def n_lesions(self) -> int:
        return int(len(self.lesions))

    @property
    def n_vessels(self) -> int | None:
        """Number of named vessels (labels != 0) with calcium; None without vessel labels."""
        if not self.vessel_labels_given:
            return None
        v = self.lesions["vessel"][self.lesions["agatston"] > 0]
        return int(np.unique(v[v != 0]).size)

    @property
    def cac_drs(self) -> str:
        return cac_drs(self.agatston, self.n_vessels)

    @property
    def category(self) -> str:
        return cac_category(self.agatston)

    @property
    def per_vessel(self) -> dict[str, dict[str, Any]]:
        """Scores per vessel label (names from :data:`VESSEL_NAMES`) and ``"total"``.

        LM, LAD, LCX and RCA always appear (zeros included) when vessel labels were given; other
        labels appear when they hold calcium; ``"unassigned"`` holds lesions outside all labels.
        """
        les = self.lesions
        out: dict[str, dict[str, Any]] = {}
        labels = set(np.unique(les["vessel"]).tolist())
        if self.vessel_labels_given:
            labels |= set(VESSEL_NAMES)
        for lab in sorted(labels, key=lambda v: (v == 0, v)):
            sel = les["vessel"] == lab
            out[vessel_name(lab)] = self._summary(les[sel])
        out["total"] = self._summary(les)
        return out

    def _summary(self, les: np.ndarray) -> dict[str, Any]:
        return {
            "agatston": float(les["agatston"].sum()),
            "volume_mm3": float(les["volume_mm3"].sum()),
            "mass_mg": None if self.calibration is None else float(les["mass_mg"].sum()),
            "n_lesions": int(len(les)),
        }

    # -- edits --------------------------------------------------------------------------------
    def with_assignments(self, assignments: Mapping[int, int]) -> CalciumResult:
        """A copy with lesions re-assigned to vessels: ``{lesion_id: vessel_label}``."""
        les = self.lesions.copy()
        if assignments:
            ids = np.fromiter(assignments.keys(), dtype=np.int64)
            vessels = np.fromiter(assignments.values(), dtype=np.int64)
            if len(les) == 0:
                raise ValueError(f"unknown lesion id(s): {ids.tolist()} (no lesions)")
            pos = np.searchsorted(les["id"], ids)
            bad = (pos >= len(les)) | (les["id"][np.minimum(pos, len(les) - 1)] != ids)
            if np.any(bad):
                raise ValueError(f"unknown lesion id(s): {ids[bad].tolist()}")
            les["vessel"][pos] = vessels
        return replace(self, lesions=les, vessel_labels_given=True)

    def with_calibration(self, calibration: MassCalibration | None) -> CalciumResult:
        """A copy with lesion masses recomputed from ``calibration`` (None removes them)."""
        les = self.lesions.copy()
        if calibration is None:
            les["mass_mg"] = np.nan
        else:
            les["mass_mg"] = calibration.factor_mg_per_mm3_hu * les["volume_mm3"] * les["mean_hu"]
        params = dict(self.parameters, mass_calibrated=calibration is not None)
        return replace(self, lesions=les, calibration=calibration, parameters=params)

    # -- export -------------------------------------------------------------------------------
    def lesion_table(self) -> list[dict[str, Any]]:
        """Lesions as a list of dicts (JSON/CSV friendly), with the vessel name."""
        names = self.lesions.dtype.names
        rows = []
        for rec in self.lesions.tolist():  # export only; not a hot path
            row = dict(zip(names, rec, strict=True))
            if self.calibration is None:
                row["mass_mg"] = None
            row["vessel_name"] = vessel_name(row["vessel"])
            rows.append(row)
        return rows

    def to_rows(self, study: str = "", decimals: int = 3) -> list[dict[str, Any]]:
        """The one calcium CSV layout: one row for this study (CLI and widget alike).

        Columns: study, totals (Agatston, volume, mass, lesions), CAC-DRS, category, the
        Agatston of LM/LAD/LCX/RCA when vessels were given, and the scoring parameters.
        """
        row: dict[str, Any] = {
            "study": study,
            "agatston": round(self.agatston, decimals),
            "volume_mm3": round(self.volume_mm3, decimals),
            "mass_mg": None if self.mass_mg is None else round(self.mass_mg, decimals),
            "n_lesions": self.n_lesions,
            "cac_drs": self.cac_drs,
            "category": self.category,
        }
        if self.vessel_labels_given:
            pv = self.per_vessel
            for name in VESSEL_NAMES.values():
                row[f"{name}_agatston"] = round(pv[name]["agatston"], decimals)
        row.update(
            {
                "threshold_hu": self.parameters["threshold_hu"],
                "min_area_mm2": self.parameters["min_area_mm2"],
                "slice_increment_mm": self.parameters["slice_increment_mm"],
            }
        )
        return [row]

    def to_dict(self, include_lesions: bool = True) -> dict[str, Any]:
        """JSON-ready report: totals, categories, per-vessel, lesions and parameters."""
        d: dict[str, Any] = {
            "agatston": self.agatston,
            "volume_mm3": self.volume_mm3,
            "mass_mg": self.mass_mg,
            "n_lesions": self.n_lesions,
            "n_vessels": self.n_vessels,
            "cac_drs": self.cac_drs,
            "category": self.category,
            "per_vessel": self.per_vessel,
        }
        if include_lesions:
            d["lesions"] = self.lesion_table()
        d["parameters"] = dict(self.parameters)
        d["calibration"] = None if self.calibration is None else self.calibration.to_dict()
        return d


def _as_mask(mask: np.ndarray | None, shape: tuple[int, ...], what: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{what} shape {m.shape} does not match the image shape {tuple(shape)}")
    return m if m.dtype == bool else m != 0


def _threshold_for(dtype: np.dtype, threshold_hu: float):
    """The threshold as a scalar of ``dtype`` when exact (integer HU >= ceil(t) <=> HU >= t),
    so the comparison runs on the native type instead of upcasting the volume to float64."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        t = int(np.ceil(threshold_hu))
        return dtype.type(max(t, info.min)) if t <= info.max else threshold_hu
    if np.issubdtype(dtype, np.floating):
        return (
            dtype.type(threshold_hu) if dtype.type(threshold_hu) == threshold_hu else threshold_hu
        )
    return threshold_hu


def _check_spacing(spacing_mm: Any) -> tuple[float, float, float]:
    sp = tuple(float(s) for s in spacing_mm)
    if len(sp) != 3 or not all(s > 0 and np.isfinite(s) for s in sp):
        raise ValueError(f"spacing_mm must be 3 positive numbers (dz, dy, dx), got {spacing_mm}")
    return sp  # type: ignore[return-value]


def iter_calcium_score(
    hu: np.ndarray,
    spacing_mm: tuple[float, float, float],
    roi: np.ndarray | None = None,
    vessel_labels: np.ndarray | None = None,
    threshold_hu: float = CALCIUM_DEFAULTS["threshold_hu"],
    min_area_mm2: float = CALCIUM_DEFAULTS["min_area_mm2"],
    calibration: MassCalibration | None = None,
    return_labels: bool = False,
) -> Generator[int, None, CalciumResult]:
    """Step generator version of :func:`calcium_score` (yields 0..4 steps done)."""
    hu = np.asarray(hu)
    if hu.ndim != 3:
        raise ValueError(f"calcium scoring needs a 3D (slices, rows, cols) volume, got {hu.shape}")
    dz, dy, dx = _check_spacing(spacing_mm)
    if not np.isfinite(threshold_hu):
        raise ValueError(f"threshold_hu must be finite, got {threshold_hu}")
    if min_area_mm2 < 0:
        raise ValueError(f"min_area_mm2 must be >= 0, got {min_area_mm2}")
    params = {
        "threshold_hu": float(threshold_hu),
        "min_area_mm2": float(min_area_mm2),
        "slice_increment_mm": dz,
        "pixel_spacing_mm": [dy, dx],
        "connectivity": "2D 8-connected per slice",
        "weights": "peak HU [130,200)->1, [200,300)->2, [300,400)->3, >=400->4",
        "agatston_normalisation": "area x weight x slice_increment_mm / 3",
        "roi": roi is not None,
        "vessel_labels": vessel_labels is not None,
        "mass_calibrated": calibration is not None,
    }
    yield 0
    if roi is not None:
        roi = np.asarray(roi)
        if roi.shape != hu.shape:
            raise ValueError(f"ROI shape {roi.shape} does not match the image shape {hu.shape}")
    vl = None
    if vessel_labels is not None:
        vl = np.asarray(vessel_labels)
        if vl.shape != hu.shape:
            raise ValueError(
                f"vessel label shape {vl.shape} does not match the image shape {hu.shape}"
            )
        if vl.dtype.kind not in "biu":
            if not np.all(vl == np.round(vl)):
                raise ValueError("vessel labels must be integers")
            vl = vl.astype(np.int64)

    # one pass over the volume, in chunks of slices that stay in cache: threshold, the
    # candidates' HU (and vessel labels) in raster order, and their horizontal runs per row;
    # everything below is proportional to the runs / candidates, not the volume.
    runs, run_sum, run_max, vvals, links = _scan(
        hu, _threshold_for(hu.dtype, threshold_hu), roi, vl
    )
    yield 1
    if runs["length"].size == 0:
        lesions = np.zeros(0, dtype=LESION_DTYPE)
        labels_out = np.zeros(hu.shape, np.int32) if return_labels else None
        yield 4
        return CalciumResult(lesions, (dz, dy, dx), params, calibration, labels_out, vl is not None)
    comp = _connect_runs(*links)
    yield 2

    # per-lesion statistics from per-run sums (no loop over lesions or slices)
    length = runs["length"]
    n_comp = int(comp.max()) + 1
    counts = np.bincount(comp, weights=length, minlength=n_comp)
    sums = np.bincount(comp, weights=run_sum, minlength=n_comp)
    peak = np.full(n_comp, -np.inf)
    np.maximum.at(peak, comp, run_max)
    cy = np.bincount(comp, weights=runs["y"] * length, minlength=n_comp) / counts
    xmid = (runs["x0"] + runs["x1"]) / 2.0
    cx = np.bincount(comp, weights=xmid * length, minlength=n_comp) / counts
    sl = np.zeros(n_comp, np.int64)
    sl[comp] = runs["z"]
    mean = sums / counts
    area = counts * (dy * dx)
    keep = area >= min_area_mm2 * (1 - _AREA_RTOL)
    yield 3

    n = int(keep.sum())
    les = np.zeros(n, dtype=LESION_DTYPE)
    les["id"] = np.arange(1, n + 1)
    les["slice"] = sl[keep]
    les["centroid_z"] = sl[keep]
    les["centroid_y"] = cy[keep]
    les["centroid_x"] = cx[keep]
    les["n_voxels"] = counts[keep]
    les["area_mm2"] = area[keep]
    les["peak_hu"] = peak[keep]
    les["mean_hu"] = mean[keep]
    les["weight"] = density_weight(peak[keep])
    les["agatston"] = les["area_mm2"] * les["weight"] * (dz / 3.0)
    les["volume_mm3"] = les["area_mm2"] * dz
    if calibration is not None:
        les["mass_mg"] = calibration.factor_mg_per_mm3_hu * les["volume_mm3"] * les["mean_hu"]
    else:
        les["mass_mg"] = np.nan

    # component -> lesion id (0 = dropped), then per voxel
    relabel = np.zeros(n_comp, dtype=np.int32)
    relabel[keep] = les["id"]
    lesion_of_voxel = None
    if (vl is not None and n) or return_labels:
        lesion_of_voxel = np.repeat(relabel[comp], length)
    if vl is not None and n:
        les["vessel"] = _majority_vessel(vvals, lesion_of_voxel, n)
    labels_out = None
    if return_labels:
        labels_out = np.zeros(hu.shape, np.int32)
        labels_out.ravel()[_run_voxels(runs)] = lesion_of_voxel
    yield 4
    return CalciumResult(les, (dz, dy, dx), params, calibration, labels_out, vl is not None)


#: voxels per thresholding chunk: 4 Mi (16 slices of 512 x 512, a 4 MB mask per thread);
#: the ~30 numpy calls per chunk hold the GIL between the threads' long calls, so fewer,
#: larger chunks beat cache-sized ones (1-32 Mi timed on 300 x 512^2: benchmarks/README.md)
_CHUNK_VOXELS = 1 << 22
#: threads scanning chunks (numpy releases the GIL there); results do not depend on it
_SCAN_THREADS = max(1, min(4, os.cpu_count() or 1))


def _scan(hu: np.ndarray, threshold, roi: np.ndarray | None, vl: np.ndarray | None):
    """One pass over the volume: (runs, run HU sums, run HU maxima, candidate vessel labels,
    run links).

    The sums and maxima (float64) are those of each run's candidate HU: integer HU summed
    exactly in int64, float HU summed as float64 (per run, so the chunking changes nothing);
    the vessel labels (None without ``vl``) are the candidates' in raster order.

    Candidates are voxels >= ``threshold`` (inside ``roi`` when given), in raster order. Runs
    are the horizontal runs of consecutive candidates in each image row, sorted by
    (slice, row, x0), as a dict of int64 arrays: ``head`` (flat index of the first voxel),
    ``z``, ``y``, ``x0`` / ``x1`` (inclusive columns), ``length`` and ``start`` (index into the
    candidate arrays). Each chunk of slices is thresholded, gathered and cut into
    runs while it is in cache; only per-run quantities need a division by the row length.
    The links ``(indptr, indices, n_runs)`` are the 8-connected run adjacency (run -> runs of
    the next row of its slice) as CSR arrays, found per chunk too: chunks hold whole slices
    and components never cross slices.
    """
    nz, ny, nx = hu.shape
    step = max(1, _CHUNK_VOXELS // max(ny * nx, 1))
    w = nx + 2  # row stride of the link sort keys (columns -1 .. nx fit in one row)

    local = threading.local()

    def chunk(z0: int):
        c = hu[z0 : z0 + step]
        buf = getattr(local, "buf", None)
        if buf is None:  # one mask buffer per thread, reused (no page faults per chunk)
            buf = local.buf = np.empty((step, ny, nx), bool)
        m = buf[: c.shape[0]]
        np.greater_equal(c, threshold, out=m)
        if roi is not None:
            r = roi[z0 : z0 + step]
            m &= r if r.dtype == bool else r != 0
        idx = np.flatnonzero(m)
        if idx.size == 0:
            return None
        v = np.take(c.reshape(-1), idx)  # take: ~3x faster than fancy indexing here
        vv = None if vl is None else np.take(vl[z0 : z0 + step].reshape(-1), idx)
        # a run starts after a gap, and at column 0 (runs never wrap into the next row)
        new = np.empty(idx.size, bool)
        new[0] = True
        np.not_equal(np.diff(idx), 1, out=new[1:])
        row0 = np.flatnonzero(m[:, :, 0]) * nx  # candidates in column 0
        if row0.size:
            new[np.searchsorted(idx, row0)] = True
        st = np.flatnonzero(new)
        # per-run sums and maxima while the candidates are in cache (on every core)
        if np.can_cast(v.dtype, np.int64):  # exact integer sums, then float64
            v = v.astype(np.int64)  # once: int64 reduceats beat int16 ones (and a cast each)
            rsum = np.add.reduceat(v, st).astype(np.float64)
        elif v.dtype.kind in "iub":
            rsum = np.add.reduceat(v, st, dtype=np.int64).astype(np.float64)
        else:
            rsum = np.add.reduceat(v.astype(np.float64), st)
        rmax = np.maximum.reduceat(v, st).astype(np.float64)
        head = idx[st]
        length = np.diff(np.r_[st, idx.size])
        row = head // nx  # in the chunk
        x0 = head - row * nx
        z = row // ny
        y = row - z * ny
        x1 = x0 + length - 1
        # a run in row r touches runs of row r + 1 whose [x0, x1] overlaps [x0 - 1, x1 + 1]
        # (none past the chunk's last row: it ends a slice)
        rw = row * w
        lo = np.searchsorted(rw + x1 + 1, rw + w + x0, side="left")
        hi = np.searchsorted(rw + x0 + 1, rw + w + x1 + 2, side="right")
        cnt = np.where(y < ny - 1, np.maximum(hi - lo, 0), 0)
        ptr = np.cumsum(cnt)
        nbr = np.repeat(lo - (ptr - cnt), cnt) + np.arange(ptr[-1])
        off = z0 * ny * nx
        return head + off, z + z0, y, x0, x1, length, rsum, rmax, vv, ptr, nbr

    # numpy releases the GIL in the comparisons, nonzero, gathers and searches: chunks on
    # every core
    starts = range(0, nz, step)
    workers = min(_SCAN_THREADS, len(starts))
    if workers > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = [p for p in pool.map(chunk, starts) if p is not None]
    else:
        parts = [p for p in map(chunk, starts) if p is not None]
    names = ("head", "z", "y", "x0", "x1", "length")
    if not parts:
        return {k: np.zeros(0, np.int64) for k in names}, np.zeros(0), np.zeros(0), None, None
    runs = {k: np.concatenate([p[i] for p in parts]) for i, k in enumerate(names)}
    runs["start"] = np.cumsum(runs["length"]) - runs["length"]
    run_sum = np.concatenate([p[6] for p in parts])
    run_max = np.concatenate([p[7] for p in parts])
    vv = np.concatenate([p[8] for p in parts]) if vl is not None else None
    sizes = np.array([p[0].size for p in parts])
    run_off = np.cumsum(sizes) - sizes
    edge_off = np.cumsum([p[9][-1] for p in parts])
    n = int(sizes.sum())
    idx_t = np.int32 if n < 2**31 - 1 else np.int64
    indptr = np.zeros(n + 1, idx_t)
    indptr[1:] = np.concatenate(
        [p[9] + e for p, e in zip(parts, np.r_[0, edge_off[:-1]], strict=True)]
    )
    indices = np.concatenate(
        [(p[10] + o).astype(idx_t, copy=False) for p, o in zip(parts, run_off, strict=True)]
    )
    return runs, run_sum, run_max, vv, (indptr, indices, n)


def _run_voxels(runs: dict[str, np.ndarray]) -> np.ndarray:
    """Flat indices of the runs' voxels, in the candidates' (raster) order."""
    length = runs["length"]
    return np.arange(int(length.sum())) + np.repeat(runs["head"] - runs["start"], length)


def _connect_runs(indptr: np.ndarray, indices: np.ndarray, n: int) -> np.ndarray:
    """2D 8-connected components of runs from their links (CSR arrays from :func:`_scan`):
    component id per run, numbered in raster order (slice, row, column of the first voxel)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    graph = csr_matrix((np.ones(indices.size, np.int8), indices, indptr), shape=(n, n))
    _k, comp = connected_components(graph, directed=False)
    # components numbered by their first run (raster order); scipy labels them in order of
    # their smallest node already, checked here so the renumbering runs only if it did not
    seen = np.maximum.accumulate(comp)
    if comp.size and comp[0] == 0 and np.all(seen[1:] <= seen[:-1] + 1):
        return comp.astype(np.int64, copy=False)
    first = np.full(_k, n, np.int64)
    np.minimum.at(first, comp, np.arange(n))
    order = np.argsort(first, kind="stable")
    rank = np.empty(_k, np.int64)
    rank[order] = np.arange(_k)
    return rank[comp]


def _majority_vessel(vessel_vals: np.ndarray, lesion_of_voxel: np.ndarray, n: int) -> np.ndarray:
    """Most frequent nonzero vessel label per lesion (0 when none); ties -> smallest label."""
    sel = (lesion_of_voxel > 0) & (vessel_vals != 0)
    if not np.any(sel):
        return np.zeros(n, np.int32)
    uniq, vidx = np.unique(vessel_vals[sel], return_inverse=True)
    table = np.bincount(
        (lesion_of_voxel[sel] - 1).astype(np.int64) * uniq.size + vidx, minlength=n * uniq.size
    ).reshape(n, uniq.size)
    best = uniq[np.argmax(table, axis=1)]
    return np.where(table.max(axis=1) > 0, best, 0).astype(np.int32)


@completes(iter_calcium_score)
def calcium_score(*args: Any, **kwargs: Any) -> CalciumResult:
    """Agatston, volume and (calibrated) mass scores of a non-contrast CT volume.

    Parameters
    ----------
    hu : ndarray, shape (slices, rows, cols)
        HU volume, slices ordered along the slice normal.
    spacing_mm : (dz, dy, dx)
        Slice increment and pixel spacing in mm (dz is the increment, not the thickness).
    roi : ndarray or None
        Optional mask (heart / insert region); only voxels inside count.
    vessel_labels : ndarray or None
        Optional label map (1=LM, 2=LAD, 3=LCX, 4=RCA, any other value "label N"); each lesion
        goes to the most frequent nonzero label among its voxels (0 = unassigned).
    threshold_hu : float
        Lesion threshold (>=), 130 HU at 120 kVp.
    min_area_mm2 : float
        Minimum lesion area in one slice (>=).
    calibration : MassCalibration or None
        From :func:`calibrate_mass`; without it the mass is None (not calibrated).
    return_labels : bool
        Also return the lesion-id volume (``result.lesion_labels``) for display.

    Returns
    -------
    CalciumResult
    """
