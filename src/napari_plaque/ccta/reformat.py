"""Reformats along a centreline: cross-sections, polar unwrappings and straightened CPRs.

All sampling is one vectorised ``scipy.ndimage.map_coordinates`` call per chunk of
cross-sections (never a Python loop per cross-section). Planes are spanned by the centreline's
rotation-minimising frames (tangent t, u, v), so nothing twists along the vessel.

Angle convention (the same as IVUS, ``docs/domain.md``): a cross-section image has rows along
``v`` and columns along ``u``; theta = atan2(row - cy, col - cx) in degrees [0, 360), i.e. the
direction ``cos(theta) u + sin(theta) v``. Polar unwrappings use the same theta.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..types import CTVolume
from .centreline import Centreline, world_to_index

#: defaults of the reformats (one home)
REFORMAT_DEFAULTS: dict[str, Any] = {
    "field_mm": 12.0,  # side of a cross-section / width of a CPR
    "pixel_mm": 0.1,  # pixel of cross-sections and CPR columns
    "n_angles": 72,  # rays of the polar unwrapping (5 degrees)
    "dr_mm": 0.1,  # radial step of the polar unwrapping
}

_CHUNK = 2_000_000  # samples per map_coordinates call (bounded memory)


def sample_world(ct: CTVolume, pts_mm: np.ndarray, order: int = 1) -> np.ndarray:
    """HU at world points (..., 3) (linear interpolation; nearest edge value outside)."""
    pts = np.asarray(pts_mm, float)
    idx = np.moveaxis(world_to_index(ct, pts.reshape(-1, 3)), -1, 0).reshape(3, *pts.shape[:-1])
    return sample_index(ct, idx, order)


def sample_index(ct: CTVolume, idx: np.ndarray, order: int = 1) -> np.ndarray:
    """HU at fractional voxel indices given as (3, ...) (chunked ``map_coordinates``)."""
    from scipy.ndimage import map_coordinates

    shape = idx.shape[1:]
    flat = idx.reshape(3, -1)
    out = np.empty(flat.shape[1], np.float32)
    for i in range(0, flat.shape[1], _CHUNK):
        out[i : i + _CHUNK] = map_coordinates(ct.hu, flat[:, i : i + _CHUNK], order=order,
                                              mode="nearest")
    return out.reshape(shape)


def _offsets(field_mm: float, pixel_mm: float) -> np.ndarray:
    n = max(int(round(field_mm / pixel_mm)), 2)
    return (np.arange(n) - (n - 1) / 2.0) * pixel_mm


@dataclass
class SectionFrame:
    """Where a cross-section image lies in the world.

    ``centre_mm`` (z, y, x), unit vectors ``tangent``, ``u`` (image columns), ``v`` (image rows);
    pixel (row, col) maps to ``centre + (row - cy) * pixel_mm * v + (col - cx) * pixel_mm * u``.
    """

    s_mm: float
    centre_mm: np.ndarray
    tangent: np.ndarray
    u: np.ndarray
    v: np.ndarray
    pixel_mm: float
    cy: float
    cx: float

    def to_world(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        r = (np.asarray(rows, float) - self.cy) * self.pixel_mm
        c = (np.asarray(cols, float) - self.cx) * self.pixel_mm
        return self.centre_mm + r[..., None] * self.v + c[..., None] * self.u

    def theta_deg(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Angle convention of the project: atan2(row - cy, col - cx) in [0, 360)."""
        th = np.degrees(np.arctan2(np.asarray(rows) - self.cy, np.asarray(cols) - self.cx))
        return np.mod(th, 360.0)


def cross_sections(
    ct: CTVolume,
    centreline: Centreline,
    field_mm: float = REFORMAT_DEFAULTS["field_mm"],
    pixel_mm: float = REFORMAT_DEFAULTS["pixel_mm"],
    indices: np.ndarray | None = None,
) -> np.ndarray:
    """All cross-section images (N, n, n) float32 (rows along v, columns along u)."""
    t, u, v = centreline.frames()
    sel = np.arange(len(centreline)) if indices is None else np.asarray(indices, int)
    o = _offsets(field_mm, pixel_mm)
    p = centreline.points_mm[sel]
    pts = (
        p[:, None, None, :]
        + o[None, :, None, None] * v[sel][:, None, None, :]
        + o[None, None, :, None] * u[sel][:, None, None, :]
    )
    return sample_world(ct, pts)


def cross_section(
    ct: CTVolume,
    centreline: Centreline,
    s_mm: float,
    field_mm: float = REFORMAT_DEFAULTS["field_mm"],
    pixel_mm: float = REFORMAT_DEFAULTS["pixel_mm"],
) -> tuple[np.ndarray, SectionFrame]:
    """The cross-section at the centreline sample nearest ``s_mm``: (image, frame)."""
    i = centreline.index_at(s_mm)
    img = cross_sections(ct, centreline, field_mm, pixel_mm, indices=[i])[0]
    return img, frame_at(centreline, i, field_mm, pixel_mm)


def frame_at(centreline: Centreline, i: int, field_mm: float, pixel_mm: float) -> SectionFrame:
    t, u, v = centreline.frames()
    n = len(_offsets(field_mm, pixel_mm))
    c = (n - 1) / 2.0
    return SectionFrame(
        s_mm=float(centreline.s_mm[i]),
        centre_mm=centreline.points_mm[i].copy(),
        tangent=t[i],
        u=u[i],
        v=v[i],
        pixel_mm=float(pixel_mm),
        cy=c,
        cx=c,
    )


def polar_angles(n_angles: int) -> np.ndarray:
    """Ray angles (radians) of the polar unwrapping: k * 360 / n degrees."""
    return np.arange(n_angles) * (2 * np.pi / n_angles)


def polar_radii(r_max_mm: float, dr_mm: float) -> np.ndarray:
    """Sample radii (mm) of the polar unwrapping: 0, dr, 2 dr, ... < r_max."""
    return np.arange(int(round(r_max_mm / dr_mm))) * dr_mm


def polar_sections(
    ct: CTVolume,
    centreline: Centreline,
    n_angles: int = REFORMAT_DEFAULTS["n_angles"],
    r_max_mm: float = REFORMAT_DEFAULTS["field_mm"] / 2,
    dr_mm: float = REFORMAT_DEFAULTS["dr_mm"],
    frames: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Polar unwrapping of every cross-section: (N, n_angles, n_radii) float32 HU.

    Ray k points along ``cos(th_k) u + sin(th_k) v`` (th_k = k * 360 / n_angles degrees).
    """
    t, u, v = centreline.frames() if frames is None else frames
    th = polar_angles(n_angles)
    r = polar_radii(r_max_mm, dr_mm).astype(np.float32)
    sp = np.asarray(ct.spacing_mm)
    # built directly in voxel-index space, (3, N, A, R) float32: no world-size temporaries
    c0 = ((centreline.points_mm - np.asarray(ct.origin_mm)) / sp).T.astype(np.float32)
    d = ((np.cos(th)[None, :, None] * u[:, None, :] + np.sin(th)[None, :, None] * v[:, None, :])
         / sp).astype(np.float32)  # (N, A, 3) index units per mm
    idx = c0[:, :, None, None] + np.moveaxis(d, -1, 0)[:, :, :, None] * r
    return sample_index(ct, idx)


@dataclass
class CPR:
    """A straightened curved planar reformat: rows along s, columns across the vessel.

    ``image`` (N, n) HU; ``scale`` = (step_mm, pixel_mm) for napari (units mm); ``plane`` is
    "u" or "v" (the frame vector spanning the columns); column ``(n - 1) / 2`` is the centreline.
    """

    image: np.ndarray
    plane: str
    step_mm: float
    pixel_mm: float
    s_mm: np.ndarray

    @property
    def scale(self) -> tuple[float, float]:
        return (self.step_mm, self.pixel_mm)


def straightened_cpr(
    ct: CTVolume,
    centreline: Centreline,
    width_mm: float = REFORMAT_DEFAULTS["field_mm"],
    pixel_mm: float = REFORMAT_DEFAULTS["pixel_mm"],
) -> tuple[CPR, CPR]:
    """Straightened CPRs in the two orthogonal longitudinal planes (t-u and t-v)."""
    t, u, v = centreline.frames()
    o = _offsets(width_mm, pixel_mm)
    p = centreline.points_mm
    out = []
    for name, vec in (("u", u), ("v", v)):
        pts = p[:, None, :] + o[None, :, None] * vec[:, None, :]
        out.append(CPR(sample_world(ct, pts), name, centreline.step_mm, pixel_mm, centreline.s_mm))
    return out[0], out[1]
