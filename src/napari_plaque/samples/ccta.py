"""Synthetic CCTA with known plaque composition and calcium scores.

:func:`make_ccta` builds, on a 64 x 192 x 192 grid of 0.5 x 0.4 x 0.4 mm voxels:

- four coronary-like tubes (1=LM, 2=LAD, 3=LCX, 4=RCA): a 400 HU contrast lumen of radius 4 px
  (1.6 mm) inside a vessel (outer wall) of radius 7 px, surrounded by epicardial fat, in 40 HU
  tissue; LAD and LCX branch from the LM;
- five plaques in the vessel walls (labels 1..5) made of constant-HU lipid, fibrous and
  calcified parts, one of them with "1K" calcium and a few metal voxels (> 1300 HU);
- calcium spots in the tissue, built to test the Agatston rules (199/200 HU, 129 HU, areas
  just under/over 1 mm^2, a lesion spanning 10 slices, a spot whose peak differs from its mean);
- a non-contrast twin (``cac_volume``: same geometry, lumen at 40 HU) for calcium scoring.

The ground truth in ``truth`` is computed by construction (counting the voxels of the shapes
this module draws, with constant HU per part), never by the scoring code. All HU are integers
and the noise-free volumes are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..layers import ct_layer_data, labels_layer_data
from ..types import CTVolume

SHAPE = (64, 192, 192)
SPACING_MM = (0.5, 0.4, 0.4)
ORIGIN_MM = (-16.0, -38.4, -38.4)

TISSUE_HU = 40
FAT_HU = -90
LUMEN_HU = 400
BLOOD_NONCONTRAST_HU = 40
WALL_HU = 40
LUMEN_R_PX = 4.0
VESSEL_R_PX = 7.0
FAT_R_PX = 13.0

#: vessel centre lines: label -> (z0, z1, (y, x) at z0, (y, x) at z1 - 1), linear in between
VESSELS: dict[int, tuple[int, int, tuple[float, float], tuple[float, float]]] = {
    1: (47, 64, (60.0, 96.0), (60.0, 96.0)),  # LM
    2: (0, 48, (36.0, 52.0), (60.0, 96.0)),  # LAD
    3: (0, 48, (84.0, 140.0), (60.0, 96.0)),  # LCX
    4: (0, 64, (150.0, 40.0), (130.0, 62.0)),  # RCA
}


@dataclass
class SyntheticCCTA:
    """A synthetic CCTA study with ground truth.

    Attributes
    ----------
    volume : CTVolume
        Contrast-enhanced CCTA (int16 HU).
    cac_volume : CTVolume
        Non-contrast twin (lumen at blood HU) for calcium scoring; same geometry.
    plaque_labels : ndarray (uint8)
        One label per plaque (1..5).
    vessel_labels : ndarray (uint8)
        1=LM, 2=LAD, 3=LCX, 4=RCA (outer wall: lumen + wall).
    truth : dict
        ``plaques``: label -> volumes (mm^3), voxel counts, mean HU per component, 1K flag,
        n_outside, vessel, vessel volume over the plaque's slices and burden;
        ``cac``: Agatston, volume (mm^3), lesion count and per-vessel Agatston of the noise-free
        ``cac_volume`` at 130 HU / 1 mm^2; ``lesions``: the expected (slice, area, peak, weight)
        of each lesion.
    """

    volume: CTVolume
    cac_volume: CTVolume
    plaque_labels: np.ndarray
    vessel_labels: np.ndarray
    truth: dict[str, Any] = field(default_factory=dict)


def _centres(label: int, nz: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z0, z1, (ya, xa), (yb, xb) = VESSELS[label]
    z = np.arange(nz)
    t = np.clip((z - z0) / max(z1 - 1 - z0, 1), 0.0, 1.0)
    present = (z >= z0) & (z < z1)
    return present, ya + t * (yb - ya), xa + t * (xb - xa)


def _polar(label: int, shape: tuple[int, int, int]):
    """Per-voxel squared distance and angle (deg, atan2(row, col) clockwise) to the vessel
    centre line, plus the vessel's slice mask (broadcast shapes)."""
    nz, ny, nx = shape
    present, cy, cx = _centres(label, nz)
    yy = np.arange(ny)[None, :, None] - cy[:, None, None]
    xx = np.arange(nx)[None, None, :] - cx[:, None, None]
    d2 = yy**2 + xx**2
    ang = np.degrees(np.arctan2(yy, xx)) % 360.0
    return d2, ang, present[:, None, None]


# plaque definitions: (vessel, z0, z1, parts) with part = (component, HU, r_lo, r_hi, a_lo, a_hi)
_PLAQUE_DEFS: dict[int, tuple[int, int, int, list[tuple[str, int, float, float, float, float]]]] = {
    # lipid-rich plaque with a fibrous cap (LAD)
    1: (2, 10, 21, [("fibrous", 90, 4, 5.5, 0, 160), ("lipid", 10, 5.5, 7, 0, 160)]),
    # fibrocalcific plaque (LCX)
    2: (3, 12, 23, [("fibrous", 110, 4, 7, 200, 260), ("calcium", 600, 4, 7, 260, 330)]),
    # mixed plaque with dense (1K) calcium and metal voxels (RCA)
    3: (
        4,
        20,
        35,
        [
            ("lipid", -30, 5, 7, 30, 120),
            ("fibrous", 120, 4, 5, 30, 120),
            ("fibrous", 120, 4, 7, 120, 150),
            ("calcium", 1100, 4, 7, 150, 230),
        ],
    ),
    # purely fibrous plaque (LM)
    4: (1, 52, 59, [("fibrous", 70, 4, 7, 90, 270)]),
    # calcified plaque exactly at 400 HU (weight 4 edge), 180 degrees (RCA)
    5: (4, 44, 55, [("calcium", 400, 4, 7, 180, 360)]),
}
#: metal voxels (> 1300 HU) inside plaque 3: slice, (row, col) offset from the vessel centre
_METAL = {"plaque": 3, "slice": 30, "hu": 2000, "angle_deg": 75.0, "radius_px": 6.0}

#: calcium spots in the tissue: (name, HU, z0, z1, y0, x0, height, width, extra pixels)
#: extra pixels are (dy, dx, HU) set after the block (e.g. one brighter voxel)
_SPOTS: list[tuple[str, int, int, int, int, int, int, int, list[tuple[int, int, int]]]] = [
    ("hu199", 199, 4, 6, 110, 110, 3, 3, []),
    ("hu200", 200, 4, 6, 110, 120, 3, 3, []),
    ("hu300_one_slice", 300, 8, 9, 110, 130, 3, 3, []),
    ("hu129_below_threshold", 129, 8, 10, 110, 140, 5, 5, []),
    ("area_0.96mm2", 500, 12, 13, 125, 110, 2, 3, []),
    ("area_1.12mm2", 500, 12, 13, 125, 120, 2, 3, [(2, 0, 500)]),
    ("spans_10_slices", 250, 30, 40, 140, 110, 6, 8, []),
    ("peak_350_mean_lower", 150, 20, 22, 160, 150, 4, 4, [(1, 1, 350)]),
]


def _weight(peak_hu: float) -> int:
    # written out independently of napari_plaque.ccta.density_weight
    if peak_hu >= 400:
        return 4
    if peak_hu >= 300:
        return 3
    if peak_hu >= 200:
        return 2
    return 1


def make_ccta(
    noise_hu: float = 0.0,
    seed: int = 0,
    lumen_hu: int = LUMEN_HU,
    shape: tuple[int, int, int] = SHAPE,
    spacing_mm: tuple[float, float, float] = SPACING_MM,
) -> SyntheticCCTA:
    """Build the synthetic CCTA (see module docstring) and its ground truth.

    Parameters
    ----------
    noise_hu : float
        Standard deviation of additive Gaussian noise (HU); the truth is for noise-free data.
    seed : int
        Noise seed.
    lumen_hu : int
        Contrast lumen HU (350..450 is typical).
    shape, spacing_mm
        Grid size (>= the default 64 x 192 x 192 keeps every structure inside) and spacing.
    """
    nz, ny, nx = shape
    if nz < 64 or ny < 192 or nx < 192:
        raise ValueError(f"shape must be at least {SHAPE}, got {shape}")
    dz, dy, dx = (float(s) for s in spacing_mm)
    vox_mm3 = dz * dy * dx
    px_mm2 = dy * dx

    ccta = np.full(shape, TISSUE_HU, np.int16)
    vessels = np.zeros(shape, np.uint8)
    lumen = np.zeros(shape, bool)
    polar = {lab: _polar(lab, shape) for lab in VESSELS}
    for d2, _ang, present in polar.values():
        ccta[present & (d2 <= FAT_R_PX**2)] = FAT_HU
    for lab, (d2, _ang, present) in polar.items():
        v = present & (d2 <= VESSEL_R_PX**2)
        vessels[v] = lab
        ccta[v] = WALL_HU
        lumen |= present & (d2 <= LUMEN_R_PX**2)

    plaques = np.zeros(shape, np.uint8)
    zz = np.arange(nz)[:, None, None]
    part_masks: list[tuple[int, str, int, np.ndarray]] = []
    for pid, (vlab, z0, z1, parts) in _PLAQUE_DEFS.items():
        d2, ang, present = polar[vlab]
        in_z = present & (zz >= z0) & (zz < z1)
        for comp, hu, r_lo, r_hi, a_lo, a_hi in parts:
            m = in_z & (d2 > r_lo**2) & (d2 <= r_hi**2) & (ang >= a_lo) & (ang < a_hi)
            m &= plaques == 0
            plaques[m] = pid
            ccta[m] = hu
            part_masks.append((pid, comp, hu, m))
    # metal voxels inside plaque 3 (outside every composition range)
    vlab = _PLAQUE_DEFS[_METAL["plaque"]][0]
    _present, cy, cx = _centres(vlab, nz)
    z_m = _METAL["slice"]
    a = np.radians(_METAL["angle_deg"])
    my = cy[z_m] + _METAL["radius_px"] * np.sin(a)
    mx = cx[z_m] + _METAL["radius_px"] * np.cos(a)
    yy, xx = np.mgrid[:ny, :nx]
    metal = np.zeros(shape, bool)
    metal[z_m] = ((yy - my) ** 2 + (xx - mx) ** 2 <= 1.0) & (plaques[z_m] == _METAL["plaque"])
    ccta[metal] = _METAL["hu"]

    ccta[lumen & (plaques == 0)] = lumen_hu

    # calcium spots in the tissue
    spot_masks: list[tuple[str, np.ndarray]] = []
    for name, hu, z0, z1, y0, x0, h, w, extra in _SPOTS:
        m = np.zeros(shape, bool)
        m[z0:z1, y0 : y0 + h, x0 : x0 + w] = True
        ccta[m] = hu
        for ddy, ddx, ehu in extra:
            m[z0:z1, y0 + ddy, x0 + ddx] = True
            ccta[z0:z1, y0 + ddy, x0 + ddx] = ehu
        spot_masks.append((name, m))

    noncontrast = ccta.copy()
    noncontrast[lumen & (plaques == 0)] = BLOOD_NONCONTRAST_HU

    truth = _truth(ccta, noncontrast, plaques, vessels, part_masks, metal, spot_masks, (dz, dy, dx))
    truth["voxel_volume_mm3"] = vox_mm3
    truth["pixel_area_mm2"] = px_mm2

    if noise_hu > 0:
        rng = np.random.default_rng(seed)
        ccta = _add_noise(ccta, noise_hu, rng)
        noncontrast = _add_noise(noncontrast, noise_hu, rng)
    meta = {"synthetic": True, "noise_hu": float(noise_hu), "seed": int(seed), "kvp": 120.0}
    vol = CTVolume(ccta, (dz, dy, dx), ORIGIN_MM, meta=dict(meta), name="synthetic CCTA")
    cac = CTVolume(
        noncontrast, (dz, dy, dx), ORIGIN_MM, meta=dict(meta), name="synthetic CAC (non-contrast)"
    )
    return SyntheticCCTA(vol, cac, plaques, vessels, truth)


def _add_noise(arr: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    noisy = arr.astype(np.float32) + rng.normal(0.0, sd, arr.shape).astype(np.float32)
    return np.clip(np.round(noisy), -1024, 3071).astype(np.int16)


def _truth(ccta, noncontrast, plaques, vessels, part_masks, metal, spot_masks, spacing):
    dz, dy, dx = spacing
    vox = dz * dy * dx
    px = dy * dx
    plaque_truth: dict[int, dict[str, Any]] = {}
    for pid, (vlab, _z0, _z1, _parts) in _PLAQUE_DEFS.items():
        counts = {"lipid": 0, "fibrous": 0, "calcium": 0}
        hu_sum = {"lipid": 0.0, "fibrous": 0.0, "calcium": 0.0}
        one_k = False
        for p, comp, hu, m in part_masks:
            if p != pid:
                continue
            n = int(np.count_nonzero(m & ~metal))
            counts[comp] += n
            hu_sum[comp] += n * hu
            one_k |= comp == "calcium" and hu > 1000 and n > 0
        n_out = int(np.count_nonzero(metal & (plaques == pid)))
        total = sum(counts.values())
        zs = np.flatnonzero((plaques == pid).any(axis=(1, 2)))
        slab = slice(int(zs[0]), int(zs[-1]) + 1)
        vessel_vox = int(np.count_nonzero(vessels[slab] == vlab))
        plaque_truth[pid] = {
            "vessel": vlab,
            "n_voxels": total + n_out,
            "n_outside": n_out,
            "volume_mm3": total * vox,
            **{f"{c}_mm3": counts[c] * vox for c in counts},
            **{f"{c}_voxels": counts[c] for c in counts},
            **{f"{c}_pct": 100.0 * counts[c] / total for c in counts},
            **{f"{c}_mean_hu": (hu_sum[c] / counts[c] if counts[c] else None) for c in counts},
            "mean_hu": sum(hu_sum.values()) / total,
            "one_k_plaque": bool(one_k),
            "vessel_volume_mm3": vessel_vox * vox,
            "plaque_burden_pct": 100.0 * total / vessel_vox,
        }

    # calcium objects of the non-contrast volume: (vessel, mask) with constant HU per voxel
    objects: list[tuple[str, int, np.ndarray]] = []
    for pid, comp, _hu, m in part_masks:
        if comp == "calcium":
            objects.append((f"plaque{pid}", _PLAQUE_DEFS[pid][0], m))
    objects.append(("metal", _PLAQUE_DEFS[_METAL["plaque"]][0], metal))
    for name, m in spot_masks:
        objects.append((name, 0, m))
    lesions = []
    for name, vlab, m in objects:
        for z in np.flatnonzero(m.any(axis=(1, 2))):
            vals = noncontrast[z][m[z]]
            if vals.max() < 130:
                continue
            n = int(np.count_nonzero(m[z]))
            area = n * px
            if area < 1.0 - 1e-9:
                continue
            peak = float(vals.max())
            w = _weight(peak)
            lesions.append(
                {
                    "object": name,
                    "slice": int(z),
                    "n_voxels": n,
                    "area_mm2": area,
                    "peak_hu": peak,
                    "mean_hu": float(vals.mean()),
                    "weight": w,
                    "agatston": area * w * dz / 3.0,
                    "volume_mm3": area * dz,
                    "vessel": vlab,
                }
            )
    per_vessel = {
        v: sum(les["agatston"] for les in lesions if les["vessel"] == v) for v in (0, 1, 2, 3, 4)
    }
    cac = {
        "agatston": sum(les["agatston"] for les in lesions),
        "volume_mm3": sum(les["volume_mm3"] for les in lesions),
        "n_lesions": len(lesions),
        "per_vessel_agatston": per_vessel,
        "threshold_hu": 130.0,
        "min_area_mm2": 1.0,
    }
    return {"plaques": plaque_truth, "cac": cac, "lesions": lesions}


def ccta_layers(noise_hu: float = 10.0, seed: int = 0, include_noncontrast: bool = True) -> list:
    """napari layer data tuples of the synthetic CCTA: image, plaque labels, vessel labels
    (and, hidden, the non-contrast twin for calcium scoring). All share scale/translate (mm)."""
    s = make_ccta(noise_hu=noise_hu, seed=seed)
    layers = [
        ct_layer_data(s.volume),
        labels_layer_data(s.plaque_labels, like=s.volume, name="plaques"),
        labels_layer_data(s.vessel_labels, like=s.volume, name="vessels", opacity=0.3),
    ]
    if include_noncontrast:
        layers.append(ct_layer_data(s.cac_volume, visible=False))
    return layers
