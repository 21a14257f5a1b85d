"""Images for displaying arcs: cartesian sectors, polar bands, arc maps, longitudinal cuts."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .arcs import ArcSet, arc_extent
from .polar import N_ALINES, default_center, pixel_angles_deg

__all__ = [
    "arc_map",
    "arc_sector_labels",
    "frame_sector_labels",
    "longitudinal_cut",
    "wedge_mask",
]

#: angular resolution of rendered sectors (A-lines per frame used for display)
RENDER_ALINES = 720


def _class_map(lab: np.ndarray) -> np.ndarray:
    """(F, N, C) bool -> (F, N) uint8: 1 + index of the first positive class, 0 for none."""
    any_ = lab.any(axis=2)
    first = np.argmax(lab, axis=2).astype(np.uint8) + 1
    return np.where(any_, first, 0).astype(np.uint8)


@lru_cache(maxsize=16)
def _angles(frame_shape: tuple[int, int], center: tuple[float, float]) -> np.ndarray:
    """Cached pixel angle map (frames are redrawn at every scroll step)."""
    theta = pixel_angles_deg(frame_shape, center)
    theta.setflags(write=False)
    return theta


@lru_cache(maxsize=16)
def _band(frame_shape, center, band: tuple[float, float] | None) -> np.ndarray:
    rr, cc = np.indices(frame_shape, dtype=np.float32)
    rad = np.hypot(rr - center[0], cc - center[1])
    rmax = min(frame_shape) / 2.0
    if band is None:
        out = rad < rmax
        out.setflags(write=False)
        return out
    out = (rad >= band[0] * rmax) & (rad < band[1] * rmax)
    out.setflags(write=False)
    return out


def frame_sector_labels(
    arcset: ArcSet,
    frame: int,
    band: tuple[float, float] | None = (0.78, 0.97),
    n_alines: int = RENDER_ALINES,
) -> np.ndarray:
    """uint8 (rows, cols) image of one frame's arcs as sectors (value = class index + 1).

    ``band`` = (inner, outer) radius as fractions of half the short side; None fills the wedge
    from the centre out.
    """
    arcs = [a for a in arcset.arcs if a.frame == frame]
    lab = _labels_of(arcs, arcset.classes, n_alines)
    cmap = _class_map(lab)[0]
    center = arcset.center_of(frame)
    theta = _angles(tuple(arcset.frame_shape), center)
    k = np.minimum((theta * n_alines / 360.0).astype(np.int64), n_alines - 1)
    return np.where(_band(arcset.frame_shape, center, band), cmap[k], 0).astype(np.uint8)


def _labels_of(arcs, classes, n_alines: int) -> np.ndarray:
    from .arcs import arcs_to_labels

    cidx = {c: i for i, c in enumerate(classes)}
    return arcs_to_labels(
        np.zeros(len(arcs), np.int64),
        np.array([cidx[a.cls] for a in arcs], np.int64),
        np.array([a.start_deg for a in arcs], float),
        np.array([a.end_deg for a in arcs], float),
        1,
        len(classes),
        n_alines,
    )


def arc_sector_labels(
    arcset: ArcSet,
    frame_shape: tuple[int, int] | None = None,
    band: tuple[float, float] | None = (0.78, 0.97),
    n_alines: int = RENDER_ALINES,
    lazy_above_voxels: int = 64_000_000,
):
    """(F, rows, cols) uint8 labels of all arcs as sectors (value = class index + 1).

    Returns a numpy array, or a dask array computed frame by frame for large pullbacks.
    """
    frame_shape = tuple(frame_shape or arcset.frame_shape)
    lab = arcset.labels(n_alines)
    cmap = _class_map(lab)  # (F, N)
    centers = arcset.centers_array()
    n_frames = arcset.n_frames

    def render(f0: int, f1: int) -> np.ndarray:
        out = np.zeros((f1 - f0, *frame_shape), np.uint8)
        for f in range(f0, f1):
            c = tuple(map(float, centers)) if centers.ndim == 1 else tuple(map(float, centers[f]))
            theta = _angles(frame_shape, c)
            k = np.minimum((theta * n_alines / 360.0).astype(np.int64), n_alines - 1)
            out[f - f0] = np.where(_band(frame_shape, c, band), cmap[f][k], 0)
        return out

    if centers.ndim == 1 and n_frames * frame_shape[0] * frame_shape[1] <= lazy_above_voxels:
        c = tuple(map(float, centers))
        theta = _angles(frame_shape, c)
        k = np.minimum((theta * n_alines / 360.0).astype(np.int64), n_alines - 1)
        mask = _band(frame_shape, c, band)
        return (cmap[:, k] * mask[None]).astype(np.uint8)
    import dask.array as da

    chunk = 16
    blocks = [
        da.from_delayed(
            _delayed(render, f0, min(n_frames, f0 + chunk)),
            shape=(min(n_frames, f0 + chunk) - f0, *frame_shape),
            dtype=np.uint8,
        )
        for f0 in range(0, n_frames, chunk)
    ]
    return da.concatenate(blocks, axis=0)


def _delayed(fn, *args):
    import dask

    return dask.delayed(fn)(*args)


def wedge_mask(
    frame_shape: tuple[int, int],
    center: tuple[float, float],
    start_deg: float,
    end_deg: float,
    radius_px: float | None = None,
) -> np.ndarray:
    """Boolean wedge ``[start, end)`` about ``center`` (the live preview while drawing)."""
    ext = arc_extent(start_deg, end_deg)
    theta = pixel_angles_deg(frame_shape, center)
    inside = np.mod(theta - start_deg, 360.0) < ext if ext < 360 else np.ones(frame_shape, bool)
    rr, cc = np.indices(frame_shape, dtype=np.float32)
    rad = np.hypot(rr - center[0], cc - center[1])
    rmax = radius_px if radius_px is not None else min(frame_shape) / 2.0
    return inside & (rad < rmax)


def arc_map(arcset: ArcSet, n_alines: int = N_ALINES) -> np.ndarray:
    """(F, n_alines) uint8 image of the labels: frames x angle, value = class index + 1."""
    return _class_map(arcset.labels(n_alines))


def longitudinal_cut(frames, angle_deg: float, center=None, half_length_px=None) -> np.ndarray:
    """(2 * half_length, F) image: the pullback cut along a line through the centre.

    The line runs at ``angle_deg`` (project angle convention); rows go from the side at
    ``angle_deg + 180`` (top) through the centre to the side at ``angle_deg`` (bottom); columns
    are frames. Nearest-pixel sampling (for display).
    """
    frames_shape = tuple(int(s) for s in frames.shape)
    frame_shape = frames_shape[1:3]
    if center is None:
        center = default_center(frame_shape)
    h = int(half_length_px or min(frame_shape) // 2)
    t = np.arange(-h, h) + 0.5
    a = np.radians(angle_deg)
    rows = np.clip(np.rint(center[0] + t * np.sin(a)), 0, frame_shape[0] - 1).astype(np.int64)
    cols = np.clip(np.rint(center[1] + t * np.cos(a)), 0, frame_shape[1] - 1).astype(np.int64)
    out = np.empty((2 * h, frames_shape[0]), dtype=np.asarray(frames[0]).dtype)
    step = 64
    for f0 in range(0, frames_shape[0], step):
        block = np.asarray(frames[f0 : f0 + step])
        out[:, f0 : f0 + block.shape[0]] = block[:, rows, cols].T
    return out
