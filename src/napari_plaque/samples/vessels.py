"""Synthetic CCTA vessels with analytic truth for the vessel analysis.

:func:`make_vessel_phantom` draws curved coronary-like vessels in epicardial fat. Each vessel
follows a circular arc (radius of curvature ``curve_radius_mm``) in a plane of any orientation,
so it can run obliquely through all three axes or lie in the axial plane, on any (anisotropic)
voxel grid. Along arc length s each vessel has

- a contrast lumen (``LUMEN_HU``) of radius ``R_l(s) = r_lumen * (1 - DS * f(s))``,
- an outer wall of radius ``R_v(s) = r_vessel * sqrt(1 + (RI - 1) * f(s))``,
- the lumen centre shifted by ``ecc * f(s) * (R_v - R_l - healthy wall)`` away from the
  plaque's thick side at ``angle_deg`` (eccentric plaque),

where ``f`` is a lesion's shape: cosine ramps around a flat plateau (1 on the plateau).
Plaque (wall minus lumen) has the HU of its kind (fibrous, lipid, calcified: a calcium arc of
+-40 degrees on the thick side where f > 0.5, the rest fibrous; mixed: lipid on the thick side,
fibrous elsewhere); the healthy wall is ``WALL_HU`` (fibrous range). Edges are anti-aliased,
then the volume is blurred (Gaussian PSF, ``blur_mm`` sigma: this is what blooms calcium) and
Gaussian noise is added.

Truth (``VesselTruth``) is computed from the analytic geometry, never by the analysis code:
areas are pi R^2, the diameter stenosis is DS, the remodeling index RI, and the component
volumes are integrated numerically over the continuous model (0.02 mm x 2 degrees x 0.2 mm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..layers import ct_layer_data, labels_layer_data
from ..types import CTVolume

LUMEN_HU = 420.0
WALL_HU = 70.0
FAT_HU = -80.0
COMPONENT_HU = {"lipid": 20.0, "fibrous": 110.0, "calcium": 900.0}


@dataclass
class LesionSpec:
    """One lesion of a synthetic vessel (see the module docstring)."""

    s_mm: float
    length_mm: float = 8.0
    stenosis_pct: float = 50.0
    remodeling: float = 1.0
    eccentricity: float = 0.0
    angle_deg: float = 90.0
    kind: str = "fibrous"  # fibrous, lipid, calcified, mixed

    def shape(self, s: np.ndarray) -> np.ndarray:
        """f(s): 1 on the central third, cosine ramps over the outer thirds, 0 outside."""
        half = self.length_mm / 2
        plateau = self.length_mm / 6
        d = np.abs(np.asarray(s, float) - self.s_mm)
        ramp = np.clip((d - plateau) / (half - plateau), 0, 1)
        return np.where(d >= half, 0.0, 0.5 * (1 + np.cos(np.pi * ramp)))


@dataclass
class VesselSpec:
    """A synthetic vessel: a circular arc of ``length_mm`` in the plane (e1, e2)."""

    name: str = "LAD"
    length_mm: float = 50.0
    r_lumen_mm: float = 1.6
    r_vessel_mm: float = 2.0
    curve_radius_mm: float = 45.0
    e1: tuple[float, float, float] = (0.6, 0.5, 0.62)
    e2: tuple[float, float, float] = (-0.5, 0.8, 0.0)
    lesions: list[LesionSpec] = field(default_factory=list)

    def basis(self) -> tuple[np.ndarray, np.ndarray]:
        e1 = np.asarray(self.e1, float)
        e1 /= np.linalg.norm(e1)
        e2 = np.asarray(self.e2, float)
        e2 = e2 - (e2 @ e1) * e1
        return e1, e2 / np.linalg.norm(e2)

    def curve(self, s: np.ndarray, start_mm: np.ndarray) -> np.ndarray:
        """Points (z, y, x mm) at arc length s (start at ``start_mm``)."""
        e1, e2 = self.basis()
        a = np.asarray(s, float) / self.curve_radius_mm
        rc = self.curve_radius_mm
        return start_mm + rc * (np.sin(a)[..., None] * e1 + (1 - np.cos(a))[..., None] * e2)

    def profile(self, s: np.ndarray) -> dict[str, np.ndarray]:
        """Analytic R_l, R_v, eccentric offset and lesion index at s."""
        s = np.asarray(s, float)
        rl = np.full(s.shape, self.r_lumen_mm)
        rv = np.full(s.shape, self.r_vessel_mm)
        off = np.zeros(s.shape)
        ang = np.zeros(s.shape)
        fmax = np.zeros(s.shape)
        which = np.full(s.shape, -1)
        for k, les in enumerate(self.lesions):
            f = les.shape(s)
            m = f > fmax
            rl = np.where(m, self.r_lumen_mm * (1 - les.stenosis_pct / 100 * f), rl)
            rv = np.where(m, self.r_vessel_mm * np.sqrt(1 + (les.remodeling - 1) * f), rv)
            wall0 = self.r_vessel_mm - self.r_lumen_mm
            off = np.where(m, les.eccentricity * f * np.maximum(rv - rl - wall0, 0), off)
            ang = np.where(m, np.radians(les.angle_deg), ang)
            which = np.where(m, k, which)
            fmax = np.maximum(fmax, f)
        return {"rl": rl, "rv": rv, "off": off, "ang": ang, "f": fmax, "lesion": which}

    def plaque_hu(self, s, a, b, prof) -> np.ndarray:
        """HU of the plaque/wall at in-plane coords (a along u, b along v) for samples at s."""
        hu = np.full(np.shape(a), WALL_HU)
        th = np.arctan2(b, a)
        for k, les in enumerate(self.lesions):
            m = (prof["lesion"] == k) & (prof["f"] > 0.05)
            dth = np.abs(np.angle(np.exp(1j * (th - np.radians(les.angle_deg)))))
            if les.kind == "fibrous":
                hu = np.where(m, COMPONENT_HU["fibrous"], hu)
            elif les.kind == "lipid":
                hu = np.where(m, COMPONENT_HU["lipid"], hu)
            elif les.kind == "mixed":
                hu = np.where(m, np.where(dth < np.radians(70), COMPONENT_HU["lipid"],
                                          COMPONENT_HU["fibrous"]), hu)
            elif les.kind == "calcified":
                ca = m & (prof["f"] > 0.5) & (dth < np.radians(40))
                hu = np.where(m, COMPONENT_HU["fibrous"], hu)
                hu = np.where(ca, COMPONENT_HU["calcium"], hu)
            else:
                raise ValueError(f"unknown lesion kind {les.kind!r}")
        return hu


@dataclass
class VesselTruth:
    """Analytic truth of one synthetic vessel."""

    spec: VesselSpec
    start_mm: np.ndarray
    points_mm: np.ndarray  # dense true centreline (0.1 mm)
    user_points_mm: np.ndarray  # sparse points a user would click (ostium first)

    def areas(self, s: np.ndarray) -> dict[str, np.ndarray]:
        p = self.spec.profile(np.asarray(s, float))
        la, va = np.pi * p["rl"] ** 2, np.pi * p["rv"] ** 2
        return {"lumen_area_mm2": la, "vessel_area_mm2": va, "plaque_area_mm2": va - la,
                "lumen_diameter_mm": 2 * p["rl"]}

    def component_volumes(self, s0: float, s1: float, ds: float = 0.2) -> dict[str, float]:
        """lipid / fibrous / calcium / plaque volume (mm^3) between s0 and s1 (numerical)."""
        s = np.arange(s0 + ds / 2, s1, ds)
        if s.size == 0:
            return {"lipid": 0.0, "fibrous": 0.0, "calcium": 0.0, "plaque": 0.0}
        prof = self.spec.profile(s)
        th = np.radians(np.arange(0, 360, 2.0) + 1.0)
        rmax = float(prof["rv"].max())
        r = np.arange(0.01, rmax, 0.02)
        S, T, R = np.meshgrid(np.arange(s.size), th, r, indexing="ij")
        a, b = R * np.cos(T), R * np.sin(T)
        pr = {k: v[S] for k, v in prof.items()}
        la = -pr["off"] * np.cos(pr["ang"])
        lb = -pr["off"] * np.sin(pr["ang"])
        plaque = (R <= pr["rv"]) & (np.hypot(a - la, b - lb) > pr["rl"])
        hu = self.spec.plaque_hu(s[S], a, b, pr)
        w = R * np.radians(2.0) * 0.02 * ds
        from ..ccta.composition import COMPONENTS, classify

        cls = classify(hu, None)  # the default half-open ranges: the one rule
        out = {}
        for i, name in enumerate(COMPONENTS, start=1):
            out[name] = float(np.sum(w * (plaque & (cls == i))))
        out["plaque"] = float(np.sum(w * plaque))
        return out

    def lesions(self) -> list[dict[str, Any]]:
        """Per-lesion truth: extent, DS, AS, MLA, MLD, reference diameter, RI, volumes."""
        out = []
        sp = self.spec
        for les in sp.lesions:
            s0, s1 = les.s_mm - les.length_mm / 2, les.s_mm + les.length_mm / 2
            rl = sp.r_lumen_mm * (1 - les.stenosis_pct / 100)
            out.append({
                "start_mm": s0, "end_mm": s1, "length_mm": les.length_mm,
                "s_mla_mm": les.s_mm, "kind": les.kind,
                "mla_mm2": np.pi * rl**2, "mld_mm": 2 * rl,
                "reference_diameter_mm": 2 * sp.r_lumen_mm,
                "diameter_stenosis_pct": les.stenosis_pct,
                "area_stenosis_pct": 100 * (1 - (1 - les.stenosis_pct / 100) ** 2),
                "remodeling_index": les.remodeling,
                "volumes_mm3": self.component_volumes(s0, s1),
            })
        return out


@dataclass
class VesselPhantom:
    volume: CTVolume
    vessels: list[VesselTruth]
    labels: np.ndarray  # 1 lumen, 2 plaque/wall (noise-free geometry, hard)


def default_vessels() -> list[VesselSpec]:
    """The sample's vessels: an oblique curved LAD with 30/50/70 % stenoses (fibrous,
    eccentric mixed with positive remodeling, calcified) and an in-plane RCA."""
    lad = VesselSpec(
        name="LAD",
        lesions=[
            LesionSpec(11.0, 8.0, 30.0, 1.0, 0.0, kind="fibrous"),
            LesionSpec(25.0, 8.0, 50.0, 1.3, 1.0, angle_deg=90.0, kind="mixed"),
            LesionSpec(39.0, 8.0, 70.0, 1.0, 0.5, angle_deg=200.0, kind="calcified"),
        ],
    )
    rca = VesselSpec(
        name="RCA", length_mm=40.0, r_lumen_mm=1.7, r_vessel_mm=2.1, curve_radius_mm=60.0,
        e1=(0.0, 0.3, 1.0), e2=(0.0, 1.0, -0.3),
        lesions=[LesionSpec(20.0, 8.0, 50.0, 1.2, 1.0, angle_deg=0.0, kind="lipid")],
    )
    return [lad, rca]


def make_vessel_phantom(
    vessels: list[VesselSpec] | None = None,
    spacing_mm: tuple[float, float, float] = (0.5, 0.4, 0.4),
    blur_mm: float = 0.35,
    noise_hu: float = 15.0,
    seed: int = 0,
    margin_mm: float = 6.0,
) -> VesselPhantom:
    """Render the vessels (default :func:`default_vessels`) into one CT volume."""
    from scipy import ndimage as ndi
    from scipy.spatial import cKDTree
    from scipy.special import ndtr

    from ..ccta.centreline import rotation_minimising_frames

    specs = default_vessels() if vessels is None else vessels
    sp = np.asarray(spacing_mm, float)
    # place the vessels side by side along x, each starting at its own origin
    starts, curves = [], []
    shift = np.zeros(3)
    for spec in specs:
        s = np.arange(0, spec.length_mm + 1e-9, 0.05)
        c = spec.curve(s, np.zeros(3))
        c = c - c.min(0) + shift
        starts.append(c[0].copy())
        curves.append((s, c))
        shift = shift + np.array([0.0, 0.0, c[:, 2].max() - c[:, 2].min() + 12.0])
    allp = np.concatenate([c for _, c in curves])
    lo = allp.min(0) - margin_mm
    hi = allp.max(0) + margin_mm
    shape = tuple(int(np.ceil((hi[k] - lo[k]) / sp[k])) + 1 for k in range(3))
    hu = np.full(shape, FAT_HU, np.float32)
    labels = np.zeros(shape, np.uint8)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    world = grid.reshape(-1, 3) * sp + lo
    aa = 0.5 * float(sp.min())  # anti-aliasing width of the drawn edges
    truths = []
    for spec, (s, c), st in zip(specs, curves, starts, strict=True):
        tang = np.gradient(c, s, axis=0)
        tang /= np.linalg.norm(tang, axis=1, keepdims=True)
        _, u, v = rotation_minimising_frames(c, tang)
        rmax = float(spec.profile(s)["rv"].max()) + 1.5
        tree = cKDTree(c)
        dist, j = tree.query(world, distance_upper_bound=rmax)
        sel = np.flatnonzero(np.isfinite(dist))
        j = j[sel]
        d = world[sel] - c[j]
        a, b = np.einsum("ij,ij->i", d, u[j]), np.einsum("ij,ij->i", d, v[j])
        prof = {k: val[j] for k, val in spec.profile(s).items()}
        # the lumen moves away from the plaque's thick side (angle_deg)
        la, lb = -prof["off"] * np.cos(prof["ang"]), -prof["off"] * np.sin(prof["ang"])
        dv = np.hypot(a, b) - prof["rv"]
        dl = np.hypot(a - la, b - lb) - prof["rl"]
        mv = ndtr(-dv / aa)
        ml = ndtr(-dl / aa)
        wall = spec.plaque_hu(s[j], a, b, prof)
        val = FAT_HU + (wall - FAT_HU) * mv
        val = val + (LUMEN_HU - val) * ml
        flat = hu.reshape(-1)
        flat[sel] = np.where(mv > 1e-3, val, flat[sel])
        lflat = labels.reshape(-1)
        lflat[sel] = np.where(dl < 0, 1, np.where(dv < 0, 2, lflat[sel]))
        # sparse user points: ostium, every ~12 mm, distal end
        su = np.r_[np.arange(0, spec.length_mm - 4, 12.0), spec.length_mm]
        up = spec.curve(su, np.zeros(3)) + c[0]
        truths.append(VesselTruth(spec, st, c, up))
    if blur_mm > 0:
        hu = ndi.gaussian_filter(hu, sigma=blur_mm / sp, mode="nearest")
    if noise_hu > 0:
        hu = hu + np.random.default_rng(seed).normal(0, noise_hu, hu.shape).astype(np.float32)
    vol = CTVolume(
        hu=np.round(hu).astype(np.int16), spacing_mm=tuple(sp), origin_mm=tuple(lo),
        meta={"synthetic": "vessels", "blur_mm": blur_mm, "noise_hu": noise_hu},
        name="Synthetic CCTA vessels",
    )
    return VesselPhantom(vol, truths, labels)


def ccta_vessel_sample() -> list:
    """napari sample: the synthetic CCTA vessels, truth labels and one Points layer of sparse
    user points per vessel (ostium first), all in mm."""
    ph = make_vessel_phantom()
    out = [
        ct_layer_data(ph.volume),
        labels_layer_data(ph.labels, like=ph.volume, name="vessel truth", opacity=0.3,
                          visible=False),
    ]
    for t in ph.vessels:
        out.append((t.user_points_mm, {"name": f"{t.spec.name} points", "size": 1.0,
                                       "face_color": "orange", "units": "mm"}, "points"))
    return out
