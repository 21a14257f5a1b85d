"""Contours rasterised back into label maps on the CT grid (plaque ROI, vessel mask).

Every CT voxel near the centreline is assigned to its nearest cross-section (a KD-tree over the
centreline samples); within half a step of that section's plane, its in-plane radius and theta
(the project's convention) are compared with the section's lumen and outer-wall radii (linear
between rays). The plaque ROI works with the composition widget, CAC, QC and every export.

One lesion, one composition: the plaque ROI leaves out the voxels the vessel analysis counts
as lumen contrast spill, not plaque (``lumen_spill_mm3`` of the vessel table, the rule of
:mod:`.vessel`): within ``spill_mm`` of the lumen contour, HU in the calcium range but below
that section's lumen contrast level. So :func:`napari_plaque.ccta.composition.composition` on
the written ROI gives the vessel table's per-lesion composition (to the voxel-versus-polar-sample
discretisation: within a few percentage points on the synthetic vessels,
``tests/test_vessel_core.py``), instead of counting contrast as calcium.
"""

from __future__ import annotations

import numpy as np

from ..types import CTVolume
from .centreline import world_to_index


def rasterize(
    res, ct: CTVolume, lesions_only: bool = True, exclude_spill: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """(plaque_labels, vessel_mask) on the CT grid.

    ``plaque_labels`` (uint16): voxels between the lumen and outer-wall contours, labelled by
    lesion number (1..K), or all plaque as 1 when ``lesions_only`` is False; with
    ``exclude_spill`` (default) without the lumen-spill voxels the vessel analysis does not
    count as plaque (see the module docstring). ``vessel_mask`` (uint8): 1 lumen, 2 plaque /
    wall, over the whole analysed vessel (geometry only: spill voxels stay 2).
    """
    from scipy.spatial import cKDTree

    cl = res.centreline
    cs = res.contours
    t, u, v = cl.frames()
    sp = np.asarray(ct.spacing_mm)
    plaque = np.zeros(ct.shape, np.uint16)
    vessel = np.zeros(ct.shape, np.uint8)
    section_label = np.zeros(len(cl), np.uint16)
    if lesions_only:
        s = cl.s_mm
        for les in res.lesions:
            section_label[(s >= les.start_mm - 1e-6) & (s <= les.end_mm + 1e-6)] = les.index
    else:
        section_label[:] = 1
    tree = cKDTree(cl.points_mm)
    rmax = float(cs.r_vessel.max()) + 0.5
    half = 0.5 * max(cl.step_mm, float(np.max(np.diff(cl.s_mm)))) + 0.5 * float(sp.max())
    spill = None
    if exclude_spill and getattr(res, "lumen_level", None) is not None:
        prm = res.params
        spill = (float(prm["spill_mm"]), float(prm["ranges"]["calcium"][0]),
                 np.asarray(res.lumen_level, float))
    hu_all = np.asarray(ct.hu)
    th = np.radians(cs.theta_deg)
    a = th.size
    chunk = 20
    for c0 in range(0, len(cl), chunk):
        pts = cl.points_mm[c0 : c0 + chunk]
        lo = np.floor(world_to_index(ct, pts.min(0) - rmax)).astype(int)
        hi = np.ceil(world_to_index(ct, pts.max(0) + rmax)).astype(int) + 1
        lo = np.clip(lo, 0, ct.shape)
        hi = np.clip(hi, 0, ct.shape)
        if np.any(hi <= lo):
            continue
        grid = np.stack(np.meshgrid(*[np.arange(lo[k], hi[k]) for k in range(3)],
                                    indexing="ij"), -1).reshape(-1, 3)
        world = grid * sp + np.asarray(ct.origin_mm)
        dist, j = tree.query(world, distance_upper_bound=np.hypot(rmax, half))
        ok = np.isfinite(dist) & (j >= c0) & (j < c0 + chunk)
        grid, world, j = grid[ok], world[ok], j[ok]
        d = world - cl.points_mm[j]
        along = np.einsum("ij,ij->i", d, t[j])
        x, y = np.einsum("ij,ij->i", d, u[j]), np.einsum("ij,ij->i", d, v[j])
        r = np.hypot(x, y)
        keep = np.abs(along) <= half
        ang = np.mod(np.arctan2(y, x), 2 * np.pi) / (2 * np.pi / a)
        k0 = np.floor(ang).astype(int) % a
        k1 = (k0 + 1) % a
        f = ang - np.floor(ang)
        rl = (1 - f) * cs.r_lumen[j, k0] + f * cs.r_lumen[j, k1]
        rv = (1 - f) * cs.r_vessel[j, k0] + f * cs.r_vessel[j, k1]
        in_l = keep & (r <= rl)
        in_p = keep & (r > rl) & (r <= rv)
        gi = tuple(grid.T)
        vessel[gi] = np.where(in_l, 1, np.where(in_p, np.maximum(vessel[gi], 2), vessel[gi]))
        lab = section_label[j]
        to_plaque = in_p & (lab > 0)
        if spill is not None:  # lumen partial volume, as in the vessel table (vessel.py)
            spill_mm, ca_lo, level = spill
            val = hu_all[gi]
            to_plaque &= ~(((r - rl) <= spill_mm) & (val >= ca_lo) & (val < level[j]))
        plaque[gi] = np.where(to_plaque, lab, plaque[gi])
    return plaque, vessel
