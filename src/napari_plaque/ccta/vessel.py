"""CCTA vessel analysis along a centreline: profile, references, lesions, composition.

:func:`analyse_vessel` (and the step generator :func:`iter_analyse_vessel`) runs
polar unwrapping (:mod:`.reformat`) -> lumen and outer-wall contours (:mod:`.contours`) ->
measurements per cross-section -> automatic reference segments -> lesions -> per-lesion
numbers, composition by the HU ranges of :mod:`.composition`.

Definitions (documented in ``docs/vessel.md``):

- per cross-section: lumen / vessel area (polygon areas of the contours), plaque area = vessel -
  lumen, plaque burden = plaque / vessel area, minimal / maximal lumen diameter = shortest /
  longest chord through the lumen contour's centroid (as for IVUS; a caliper width would not
  follow a dent, so an edit changed MLA but not MLD);
- reference lumen diameter profile: a straight line (taper) fitted to the minimal lumen
  diameters of the sections that are not narrowed (robust, iteratively dropping sections more
  than 10 % under the line);
- lesion: a run of sections whose minimal lumen diameter is ``narrowing_min_pct`` under the
  reference line or whose plaque burden >= ``burden_min_pct``, runs closer than
  ``merge_gap_mm`` merged, runs shorter than ``min_length_mm`` dropped;
- proximal / distal reference: the ``reference_length_mm`` of not-narrowed sections just before /
  after the lesion (or the user's segments); reference diameter = mean of the proximal and
  distal reference minimal lumen diameters (one of them at a vessel end); reference area
  likewise;
- % diameter stenosis = 100 (1 - MLD / reference diameter); % area stenosis = 100 (1 - MLA /
  reference area); remodeling index = vessel area at the MLA site / proximal reference vessel
  area (positive >= 1.1);
- composition: the polar samples between the two contours of the lesion's sections, classified
  by :func:`napari_plaque.ccta.composition.classify` (same ranges and 1K rule), each weighted by
  its area so the components add up to the contour plaque volume (samples outside all ranges
  are ``outside_mm3``). Plaque samples within ``spill_mm`` of the lumen contour whose HU is in
  the calcium range but below the lumen's contrast level are lumen partial volume
  (``lumen_spill_mm3``), not calcium; calcium brighter than the lumen stays calcium.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._progress import run_steps
from ..types import CTVolume
from .centreline import Centreline, check_source
from .composition import COMPONENTS, ONE_K_HU, check_ranges, classify, one_k_flags
from .contours import (
    CONTOUR_DEFAULTS,
    ContourSet,
    iter_find_contours,
    lumen_diameters,
    lumen_levels,
    polygon_area,
)
from .reformat import REFORMAT_DEFAULTS, polar_radii, polar_sections
from .reformat import cross_section as cross_section  # re-exported (CT-IVUS fusion draws on it)

#: every default of the vessel analysis (function, CLI and widget read this dict)
VESSEL_DEFAULTS: dict[str, Any] = {
    **{k: REFORMAT_DEFAULTS[k] for k in ("field_mm", "pixel_mm", "n_angles", "dr_mm")},
    **CONTOUR_DEFAULTS,
    "narrowing_min_pct": 20.0,  # lesion: min lumen diameter this far under the reference line
    "burden_min_pct": 70.0,  # ... or plaque burden at least this
    "wall_seen_min_pct": 50.0,  # ... where the outer wall is seen on this % of the rays
    "merge_gap_mm": 2.0,  # lesions closer than this are merged
    "min_length_mm": 1.5,  # shorter runs are not lesions
    "reference_length_mm": 5.0,  # length of the proximal / distal reference segments
    "positive_remodeling_ri": 1.1,  # remodeling index >= this: positive remodeling
    "one_k_hu": ONE_K_HU,
    "spill_mm": 0.6,  # plaque this close to the lumen, calcium-range but dimmer than the lumen
}

#: the per-cross-section profile fields (CLI JSON ``profile`` entries)
PROFILE_FIELDS = (
    "s_mm",
    "lumen_area_mm2",
    "vessel_area_mm2",
    "plaque_area_mm2",
    "plaque_burden_pct",
    "lumen_min_diameter_mm",
    "lumen_max_diameter_mm",
    "reference_diameter_mm",
    "edited",
    "lumen_resolved",
    "wall_seen_pct",
)


@dataclass
class Lesion:
    """One lesion's numbers (the CLI JSON ``lesions`` entries; lengths mm, areas mm^2,
    volumes mm^3, HU)."""

    index: int
    start_mm: float
    end_mm: float
    length_mm: float
    s_mla_mm: float
    mla_mm2: float
    mld_mm: float
    reference_diameter_mm: float | None
    reference_area_mm2: float | None
    proximal_reference_mm: list[float] | None
    distal_reference_mm: list[float] | None
    diameter_stenosis_pct: float | None
    area_stenosis_pct: float | None
    vessel_area_at_mla_mm2: float
    proximal_reference_vessel_area_mm2: float | None
    remodeling_index: float | None
    positive_remodeling: bool | None
    plaque_volume_mm3: float
    vessel_volume_mm3: float
    lumen_volume_mm3: float
    plaque_burden_pct: float
    max_plaque_burden_pct: float
    lipid_mm3: float
    fibrous_mm3: float
    calcium_mm3: float
    outside_mm3: float
    lumen_spill_mm3: float
    lipid_pct: float | None
    fibrous_pct: float | None
    calcium_pct: float | None
    lipid_mean_hu: float | None
    fibrous_mean_hu: float | None
    calcium_mean_hu: float | None
    calcium_density_hu: float | None
    one_k_plaque: bool
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VesselResult:
    """Everything :func:`analyse_vessel` found for one vessel."""

    centreline: Centreline
    contours: ContourSet
    polar: np.ndarray  # (N, A, R) HU of the polar unwrapping (kept for fast re-measurement)
    dr_mm: float
    params: dict[str, Any]
    profile: dict[str, np.ndarray] = field(default_factory=dict)
    lesions: list[Lesion] = field(default_factory=list)
    reference_override: dict[str, tuple[float, float]] = field(default_factory=dict)
    lumen_level: np.ndarray | None = None  # contrast level per section (HU)
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.centreline.name

    @property
    def length_mm(self) -> float:
        return self.centreline.length_mm

    def remeasure(self) -> VesselResult:
        """Recompute profile and lesions from the current contours (after an edit; fast)."""
        self.profile = measure_profile(self.contours, self.centreline, self.params)
        self.lesions = find_lesions(self, self.params)
        return self

    def set_references(self, proximal_mm=None, distal_mm=None) -> VesselResult:
        """Override the reference segments ((start, end) mm each; None = automatic)."""
        self.reference_override = {}
        if proximal_mm is not None:
            self.reference_override["proximal"] = _segment(proximal_mm, self.length_mm)
        if distal_mm is not None:
            self.reference_override["distal"] = _segment(distal_mm, self.length_mm)
        return self.remeasure()

    def profile_rows(self) -> list[dict[str, Any]]:
        n = len(self.profile["s_mm"])
        return [{k: _py(self.profile[k][i]) for k in PROFILE_FIELDS} for i in range(n)]

    def to_rows(self) -> list[dict[str, Any]]:
        """The lesion table: one flat row per lesion (vessel name first), numbers rounded as in
        the JSON (``report.round_floats``), so the dock's and the CLI's CSV read alike."""
        from ..report import round_floats

        rows = []
        for les in self.lesions:
            d = les.to_dict()
            d["flags"] = ";".join(d["flags"])
            for k in ("proximal_reference_mm", "distal_reference_mm"):
                v = d.pop(k)
                d[k.replace("_mm", "_start_mm")] = None if v is None else v[0]
                d[k.replace("_mm", "_end_mm")] = None if v is None else v[1]
            rows.append(round_floats({"vessel": self.name, **d}))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The CLI JSON object (no NaN: unknown values are null)."""
        from ..report import json_safe, round_floats

        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.params.items()}
        params["ranges_hu"] = {k: list(v) for k, v in check_ranges(params.pop("ranges")).items()}
        params["reference_override"] = {k: list(v) for k, v in self.reference_override.items()}
        return json_safe({
            "vessel": self.name,
            "length_mm": round(self.length_mm, 4),
            "step_mm": self.centreline.step_mm,
            "n_sections": len(self.centreline),
            "profile": self.profile_rows(),
            "lesions": [round_floats(les.to_dict()) for les in self.lesions],
            "parameters": params,
            "warnings": list(self.warnings),
            "centreline_source": dict(self.centreline.source),
        })


def _py(v: Any) -> Any:
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.floating, float)):
        return round(float(v), 4) if np.isfinite(v) else None
    return v


def _segment(seg, length: float) -> tuple[float, float]:
    a, b = (float(x) for x in seg)
    if not (np.isfinite(a) and np.isfinite(b)) or a >= b:
        raise ValueError(f"a reference segment must be start < end mm, got {seg}")
    if b < 0 or a > length:
        raise ValueError(f"reference segment {a}..{b} mm lies outside the vessel (0..{length:.1f})")
    return (max(a, 0.0), min(b, length))


def check_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults updated with ``params``; unknown names and bad values refused."""
    out = dict(VESSEL_DEFAULTS)
    out["ranges"] = None
    for k, v in (params or {}).items():
        if k not in out:
            raise ValueError(f"unknown vessel analysis parameter {k!r}")
        out[k] = v
    out["ranges"] = check_ranges(out["ranges"])
    for k in ("field_mm", "pixel_mm", "dr_mm", "reference_length_mm"):
        if not float(out[k]) > 0:
            raise ValueError(f"{k} must be > 0, got {out[k]}")
    if int(out["n_angles"]) < 8:
        raise ValueError("n_angles must be >= 8")
    return out


# --------------------------------------------------------------------------- measurements
def measure_profile(cs: ContourSet, cl: Centreline, params: Mapping[str, Any]) -> dict:
    la = polygon_area(cs.r_lumen, cs.theta_deg)
    va = polygon_area(cs.r_vessel, cs.theta_deg)
    dmin, dmax = lumen_diameters(cs.r_lumen, cs.theta_deg)
    pa = va - la
    with np.errstate(invalid="ignore", divide="ignore"):
        burden = np.where(va > 0, 100.0 * pa / va, np.nan)
    ref = _reference_line(cl.s_mm, dmin, cs.lumen_resolved)
    return {
        "s_mm": cl.s_mm.copy(),
        "lumen_area_mm2": la,
        "vessel_area_mm2": va,
        "plaque_area_mm2": pa,
        "plaque_burden_pct": burden,
        "lumen_min_diameter_mm": dmin,
        "lumen_max_diameter_mm": dmax,
        "reference_diameter_mm": ref,
        "edited": cs.edited.copy(),
        "lumen_resolved": cs.lumen_resolved.copy(),
        "wall_seen_pct": cs.wall_seen_pct.copy(),
    }


def _reference_line(s: np.ndarray, d: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Robust straight-line fit of the healthy lumen diameter along s (vessel taper)."""
    use = ok & np.isfinite(d)
    if use.sum() < 2:
        return np.full_like(d, np.nan)
    hi = np.percentile(d[use], 75)
    use = use & (d >= 0.8 * hi)
    for _ in range(4):
        if use.sum() < 2 or np.ptp(s[use]) < 1e-6:
            return np.full_like(d, float(np.median(d[use])) if use.any() else np.nan)
        a, b = np.polyfit(s[use], d[use], 1)
        line = a * s + b
        new = ok & (d >= 0.9 * line)
        if np.array_equal(new, use):
            break
        use = new
    return line


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    m = np.r_[False, mask.astype(bool), False]
    d = np.diff(m.astype(int))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1, strict=True))


def find_lesions(res: VesselResult, params: Mapping[str, Any]) -> list[Lesion]:
    p = res.profile
    s = p["s_mm"]
    ref = p["reference_diameter_mm"]
    with np.errstate(invalid="ignore", divide="ignore"):
        narrowing = 100.0 * (1.0 - p["lumen_min_diameter_mm"] / ref)
    narrowed = (narrowing >= params["narrowing_min_pct"]) | ~p["lumen_resolved"]
    # plaque burden only counts where the outer wall is seen on most rays (fat around it)
    seen = p["wall_seen_pct"] >= params["wall_seen_min_pct"]
    bad = narrowed | (seen & (p["plaque_burden_pct"] >= params["burden_min_pct"]))
    runs = _runs(bad)
    merged: list[list[int]] = []
    for a, b in runs:
        if merged and s[a] - s[merged[-1][1]] <= params["merge_gap_mm"]:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    merged = [r for r in merged if s[r[1]] - s[r[0]] + res.centreline.step_mm >=
              params["min_length_mm"]]
    healthy = ~bad
    out = []
    for k, (a, b) in enumerate(merged, start=1):
        out.append(_lesion(res, k, a, b, healthy, params))
    return out


def _ref_segment(s, healthy, a, b, length, side):
    """Indices of the healthy reference segment before (side=-1) / after (+1) run a..b."""
    if side < 0:
        cand = np.flatnonzero(healthy[:a])
        cand = cand[s[cand] >= s[a] - length - 3.0]  # within 3 mm of extra search
        cand = cand[s[cand] >= (s[cand].max() - length)] if cand.size else cand
    else:
        cand = np.flatnonzero(healthy[b + 1 :]) + b + 1
        cand = cand[s[cand] <= s[b] + length + 3.0]
        cand = cand[s[cand] <= (s[cand].min() + length)] if cand.size else cand
    return cand


def _lesion(res: VesselResult, k: int, a: int, b: int, healthy, params) -> Lesion:
    p = res.profile
    s = p["s_mm"]
    L = params["reference_length_mm"]
    flags: list[str] = []
    ov = res.reference_override
    segs = {}
    for side, name in ((-1, "proximal"), (1, "distal")):
        if name in ov:
            lo, hi = ov[name]
            idx = np.flatnonzero((s >= lo - 0.01) & (s <= hi + 0.01))
        else:
            idx = _ref_segment(s, healthy, a, b, L, side)
        segs[name] = idx
    sl = slice(a, b + 1)
    la, va = p["lumen_area_mm2"][sl], p["vessel_area_mm2"][sl]
    i_mla = a + int(np.argmin(la))
    mla = float(la.min())
    mld = float(np.min(p["lumen_min_diameter_mm"][sl]))
    ref_d, ref_a, ref_v = [], [], None
    rng = {}
    for name, idx in segs.items():
        if idx.size:
            ref_d.append(float(np.mean(p["lumen_min_diameter_mm"][idx])))
            ref_a.append(float(np.mean(p["lumen_area_mm2"][idx])))
            rng[name] = [float(s[idx[0]]), float(s[idx[-1]])]
            if name == "proximal":
                ref_v = float(np.mean(p["vessel_area_mm2"][idx]))
        else:
            rng[name] = None
            flags.append(f"no {name} reference")
    rd = float(np.mean(ref_d)) if ref_d else None
    ra = float(np.mean(ref_a)) if ref_a else None
    if np.mean(p["wall_seen_pct"][sl]) < params["wall_seen_min_pct"]:
        flags.append("outer wall not seen on most rays (no fat around): vessel area, plaque "
                     "and remodeling unreliable")
    if not np.all(p["lumen_resolved"][sl]):
        flags.append("lumen not resolved in some sections (occlusion or sub-voxel lumen)")
    if np.any(p["edited"][sl]):
        flags.append("edited contours")
    ds = 100.0 * (1 - mld / rd) if rd else None
    as_ = 100.0 * (1 - mla / ra) if ra else None
    va_mla = float(p["vessel_area_mm2"][i_mla])
    ri = va_mla / ref_v if ref_v else None
    if ri is None:
        flags.append("no remodeling index (no proximal reference)")
    ds_w = _section_weights(s)[sl]
    plaque_v = float(np.sum(p["plaque_area_mm2"][sl] * ds_w))
    vessel_v = float(np.sum(va * ds_w))
    lumen_v = float(np.sum(la * ds_w))
    comp = _composition(res, a, b, ds_w, params)
    burden = 100.0 * plaque_v / vessel_v if vessel_v > 0 else np.nan
    return Lesion(
        index=k,
        start_mm=float(s[a]),
        end_mm=float(s[b]),
        length_mm=float(s[b] - s[a] + res.centreline.step_mm),
        s_mla_mm=float(s[i_mla]),
        mla_mm2=mla,
        mld_mm=mld,
        reference_diameter_mm=rd,
        reference_area_mm2=ra,
        proximal_reference_mm=rng["proximal"],
        distal_reference_mm=rng["distal"],
        diameter_stenosis_pct=ds,
        area_stenosis_pct=as_,
        vessel_area_at_mla_mm2=va_mla,
        proximal_reference_vessel_area_mm2=ref_v,
        remodeling_index=ri,
        positive_remodeling=None if ri is None else bool(ri >= params["positive_remodeling_ri"]),
        plaque_volume_mm3=plaque_v,
        vessel_volume_mm3=vessel_v,
        lumen_volume_mm3=lumen_v,
        plaque_burden_pct=float(burden),
        max_plaque_burden_pct=float(np.nanmax(p["plaque_burden_pct"][sl])),
        flags=flags,
        **comp,
    )


def _section_weights(s: np.ndarray) -> np.ndarray:
    """Length of vessel each section stands for (half the gaps on both sides)."""
    if len(s) < 2:
        return np.ones_like(s)
    g = np.diff(s)
    return np.r_[g[0], (g[:-1] + g[1:]) / 2, g[-1]]


def _composition(res: VesselResult, a: int, b: int, ds_w: np.ndarray, params) -> dict:
    """HU-range composition of the plaque between the contours of sections a..b."""
    cs = res.contours
    pol = res.polar[a : b + 1]
    r = polar_radii(pol.shape[2] * res.dr_mm, res.dr_mm)[None, None, :]
    inside = (r > cs.r_lumen[a : b + 1, :, None]) & (r <= cs.r_vessel[a : b + 1, :, None])
    n_ang = cs.theta_deg.size
    w = np.broadcast_to(r * res.dr_mm * (2 * np.pi / n_ang), inside.shape) * inside
    # scale each section's sample weights to its contour plaque area (components add up)
    tot = w.sum(axis=(1, 2))
    pa = res.profile["plaque_area_mm2"][a : b + 1]
    scale = np.where(tot > 0, pa / np.where(tot > 0, tot, 1), 0.0) * ds_w
    w = w * scale[:, None, None]
    # lumen contrast spilling (by blur) into the first ~0.6 mm of plaque looks like calcium;
    # calcium brighter than the lumen is kept (blooming belongs to plaque), dimmer samples
    # next to the lumen are partial volume and count as ``lumen_spill_mm3``, not calcium
    ca_lo = params["ranges"]["calcium"][0]
    level = res.lumen_level[a : b + 1, None, None]
    near = (r - cs.r_lumen[a : b + 1, :, None]) <= params["spill_mm"]
    spill = inside & near & (pol >= ca_lo) & (pol < level)
    keep = inside & ~spill
    vals = pol[keep].astype(np.float64)
    ww = w[keep]
    cls = classify(vals, params["ranges"])
    out: dict[str, Any] = {}
    vol = {}
    for i, name in enumerate(COMPONENTS, start=1):
        m = cls == i
        vol[name] = float(ww[m].sum())
        out[f"{name}_mm3"] = vol[name]
        out[f"{name}_mean_hu"] = float(np.average(vals[m], weights=ww[m])) if ww[m].sum() > 0 \
            else None
    out["outside_mm3"] = float(ww[cls == 0].sum())
    out["lumen_spill_mm3"] = float(w[spill].sum())
    tot_c = sum(vol.values())
    for name in COMPONENTS:
        out[f"{name}_pct"] = 100.0 * vol[name] / tot_c if tot_c > 0 else None
    out["calcium_density_hu"] = out["calcium_mean_hu"]
    # the 1K flag ignores the calcium cap: dense calcium above 1300 HU is still 1K plaque
    out["one_k_plaque"] = bool(np.any(one_k_flags(vals, params["ranges"], params["one_k_hu"])))
    return out


# ------------------------------------------------------------------------------- pipeline
def iter_analyse_vessel(
    ct: CTVolume,
    centreline: Centreline,
    contours: ContourSet | None = None,
    reference_mm: Mapping[str, tuple[float, float]] | None = None,
    **params: Any,
) -> Generator[int, None, VesselResult]:
    """Step generator of :func:`analyse_vessel` (yields 0..6)."""
    prm = check_params(params)
    check_source(centreline, ct)
    yield 0
    # the contours never look beyond r_search_mm: no need to sample farther
    r_max = min(prm["field_mm"] / 2, prm["r_search_mm"] + 2 * prm["dr_mm"])
    frames = centreline.frames()
    polar = polar_sections(ct, centreline, int(prm["n_angles"]), r_max, prm["dr_mm"], frames)
    yield 1
    cparams = {k: prm[k] for k in CONTOUR_DEFAULTS}
    gen = iter_find_contours(polar, prm["dr_mm"], centreline.step_mm, keep=contours, **cparams)
    cs = yield from gen
    res = VesselResult(centreline, cs, polar, float(prm["dr_mm"]), prm)
    res.lumen_level = lumen_levels(polar, prm["dr_mm"], centreline.step_mm)
    if reference_mm:
        for k in reference_mm:
            if k not in ("proximal", "distal"):
                raise ValueError(f"reference segments are 'proximal' and 'distal', got {k!r}")
        res.reference_override = {k: _segment(v, res.length_mm) for k, v in reference_mm.items()}
    yield 5
    res.remeasure()
    if not np.all(cs.lumen_resolved):
        res.warnings.append(
            f"lumen not resolved in {int(np.sum(~cs.lumen_resolved))} of {cs.n_sections} "
            "cross-sections (occlusion or a lumen below the scan's resolution)"
        )
    yield 6
    return res


def analyse_vessel(ct: CTVolume, centreline: Centreline, **params: Any) -> VesselResult:
    """Analyse one vessel of a CCTA along its centreline. See the module docstring.

    Keyword arguments: any of :data:`VESSEL_DEFAULTS`, ``ranges`` (composition HU ranges),
    ``contours`` (a :class:`ContourSet` whose edited sections are kept) and ``reference_mm``
    ({"proximal": (a, b), "distal": (c, d)} in mm). Raises ValueError for a centreline of
    another scan, outside the scan, or no contrast lumen.
    """
    return run_steps(iter_analyse_vessel(ct, centreline, **params))


ANALYSE_STEPS = 6
