"""Polar <-> cartesian transforms of IVUS frames about a centre.

Conventions (``docs/conventions.md``): the polar image of a frame has one row per A-line and one
column per depth sample. A-line ``k`` of ``N`` covers angles ``[k*360/N, (k+1)*360/N)`` and is
sampled along its centre angle ``(k + 0.5) * 360 / N``; the angle is
``theta = atan2(row - cy, col - cx)`` in degrees, 0 deg = +column (3 o'clock), clockwise on
screen. Depth sample ``j`` of ``D`` lies at ``(j + 0.5) * depth / D`` from the centre. The angle
is always the *pixel* angle (also with non-square pixels, where it differs from the physical
angle): :func:`to_polar`, :func:`from_polar`, :func:`pixel_angles_deg` and arc rendering agree,
and with ``depth_mm`` the depth is physical (equal mm along every A-line).

The sampling maps (flat indices and bilinear weights) are computed once per centre and reused
for every frame. They are held as a sparse matrix (one row per polar sample, its in-frame
non-zero bilinear weights in the fixed corner order), so a frame is one sparse matrix-vector
product: the same float32 products summed in the same order as the four-gather formula
``f[i0]*w0 + f[i1]*w1 + f[i2]*w2 + f[i3]*w3`` (a corner outside the frame or with weight 0
adds an exact +0 there), hence bit-identical results, with a quarter of the memory traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .._progress import completes

__all__ = [
    "N_ALINES",
    "PolarGrid",
    "aline_angles_deg",
    "default_center",
    "default_depth_px",
    "from_polar",
    "iter_to_polar",
    "pixel_angles_deg",
    "to_polar",
]

#: A-lines per frame by default everywhere (one per degree): the polar grid, the arc labels,
#: the features, the live measurements and the synthetic truth
N_ALINES = 360


def aline_angles_deg(n_alines: int = N_ALINES) -> np.ndarray:
    """Centre angle (degrees) of each A-line: ``(k + 0.5) * 360 / n_alines``."""
    return (np.arange(n_alines) + 0.5) * (360.0 / n_alines)


def default_center(frame_shape: tuple[int, int]) -> tuple[float, float]:
    """The catheter centre of a scan-converted IVUS frame: the image centre (cy, cx)."""
    return ((frame_shape[0] - 1) / 2.0, (frame_shape[1] - 1) / 2.0)


def default_depth_px(frame_shape: tuple[int, int]) -> float:
    """Largest depth (pixels) that stays inside the frame from its centre: half the short side."""
    return min(frame_shape) / 2.0


def pixel_angles_deg(frame_shape: tuple[int, int], center: tuple[float, float]) -> np.ndarray:
    """Angle (degrees, [0, 360)) of every pixel about ``center`` with the project convention."""
    rr, cc = np.indices(frame_shape, dtype=np.float64)
    return np.mod(np.degrees(np.arctan2(rr - center[0], cc - center[1])), 360.0)


@dataclass(frozen=True)
class PolarGrid:
    """Precomputed bilinear sampling maps for one frame shape, centre and polar geometry."""

    frame_shape: tuple[int, int]
    center: tuple[float, float]
    n_alines: int
    depth_samples: int
    depth_px: tuple[float, float]  # (rows, cols) radius in pixels (differs if pixels anisotropic)
    idx: np.ndarray  # (4, N*D) int64 flat indices into the frame
    w: np.ndarray  # (4, N*D) float32 bilinear weights (0 outside the frame)
    # (N*D, rows*cols) float32 CSR of the non-zero weights in corner order: built when the grid
    # samples a second frame (a lumen-centred grid serves one frame: the gathers are cheaper)
    matrix: Any = field(default=None, compare=False, repr=False)

    _sampled: list = field(default_factory=lambda: [False], compare=False, repr=False)

    @property
    def polar_shape(self) -> tuple[int, int]:
        return (self.n_alines, self.depth_samples)

    def sample(self, frames: np.ndarray) -> np.ndarray:
        """Polar images (B, N, D) float32 of a batch of frames (B, rows, cols)."""
        frames = np.asarray(frames)
        flat = frames.reshape(frames.shape[0], -1)
        # the four-gather formula computes in the promoted type of the frames and the float32
        # weights; the matrix product does the same products and sums in that type
        ct = np.result_type(flat.dtype, np.float32)
        if ct not in (np.float32, np.float64) or not _matrix_exact(flat):
            return self.sample_gather(frames)
        if self.matrix is None:
            if flat.shape[0] < 2 and not self._sampled[0]:
                self._sampled[0] = True
                return self.sample_gather(frames)
            object.__setattr__(self, "matrix", _weight_matrix(self))
        m = self.matrix if ct == np.float32 else self.matrix.astype(np.float64)
        out = np.empty((flat.shape[0], self.n_alines * self.depth_samples), ct)
        for b in range(flat.shape[0]):
            # csr_matvec starts each row from 0 and adds its products in corner order
            out[b] = m @ flat[b].astype(ct, copy=False)
        return out.reshape(frames.shape[0], self.n_alines, self.depth_samples)

    def sample_gather(self, frames: np.ndarray) -> np.ndarray:
        """:meth:`sample` by four gathers per sample (the reference formula; slower)."""
        frames = np.asarray(frames)
        flat = frames.reshape(frames.shape[0], -1)
        out = flat[:, self.idx[0]] * self.w[0]
        for k in range(1, 4):
            out += flat[:, self.idx[k]] * self.w[k]
        return out.reshape(frames.shape[0], self.n_alines, self.depth_samples)


def _matrix_exact(flat: np.ndarray) -> bool:
    """Whether dropping the zero-weight terms leaves every bit as the four-gather formula.

    ``x * 0`` is +0 (adds nothing) for finite ``x >= 0``; a negative pixel makes it -0 (a
    sample wholly outside the frame is then -0, not +0) and a NaN/inf makes it NaN.
    """
    if flat.dtype.kind in "ub":
        return True
    if flat.dtype.kind == "i":
        return not (flat < 0).any()
    return bool(np.isfinite(flat).all()) and not np.signbit(flat).any()


def _weight_matrix(grid: PolarGrid):
    """CSR matrix of a grid's non-zero bilinear weights, each row's corners in order 0..3."""
    from scipy.sparse import csr_array

    keep = grid.w != 0  # (4, S): a zero weight (outside the frame, or on a pixel edge) adds +0
    n_samples = grid.w.shape[1]
    n_pixels = grid.frame_shape[0] * grid.frame_shape[1]
    itype = np.int32 if n_pixels < 2**31 and keep.sum() < 2**31 else np.int64
    indptr = np.zeros(n_samples + 1, itype)
    np.cumsum(keep.sum(axis=0), out=indptr[1:])
    keep_t = keep.T  # sample-major, corner order within a sample
    indices = grid.idx.T[keep_t].astype(itype)
    data = grid.w.T[keep_t].astype(np.float32)
    return csr_array((data, indices, indptr), shape=(n_samples, n_pixels), copy=False)


@lru_cache(maxsize=8)
def _offsets(
    n_alines: int, depth_samples: int, depth_px: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column offsets (N, D) float64 of the polar samples from the centre."""
    theta = np.radians(aline_angles_deg(n_alines))[:, None]
    frac = ((np.arange(depth_samples) + 0.5) / depth_samples)[None, :]
    # sample along the A-line's *pixel* angle (the convention of from_polar, pixel_angles_deg
    # and arc rendering); with non-square pixels the covered depth is an ellipse in pixels (a
    # circle in mm), reached at radius R(theta) along that direction
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    reach = 1.0 / np.hypot(sin_t / depth_px[0], cos_t / depth_px[1])
    dr = sin_t * frac * reach
    dc = cos_t * frac * reach
    dr.setflags(write=False)
    dc.setflags(write=False)
    return dr, dc


@lru_cache(maxsize=32)
def _grid(
    frame_shape: tuple[int, int],
    center: tuple[float, float],
    n_alines: int,
    depth_samples: int,
    depth_px: tuple[float, float],
) -> PolarGrid:
    rows, cols = frame_shape
    off_r, off_c = _offsets(n_alines, depth_samples, depth_px)
    r = (center[0] + off_r).ravel()  # the same float64 sums as centre + sin * frac * reach
    c = (center[1] + off_c).ravel()
    r0 = np.floor(r)
    c0 = np.floor(c)
    fr = (r - r0).astype(np.float32)
    fc = (c - c0).astype(np.float32)
    gr, gc = 1 - fr, 1 - fc
    # corner (dr, dc) is inside when row r0 + dr and column c0 + dc are; its flat index is
    # (r0 + dr) * cols + c0 + dc (exact integers), 0 and weight 0 outside
    r_in = ((r0 >= 0) & (r0 < rows), (r0 >= -1) & (r0 < rows - 1))
    c_in = ((c0 >= 0) & (c0 < cols), (c0 >= -1) & (c0 < cols - 1))
    base = r0 * cols + c0
    idx = np.zeros((4, r.size), np.int64)
    w = np.zeros((4, r.size), np.float32)
    for k, (dr, dc, wr, wc) in enumerate(((0, 0, gr, gc), (0, 1, gr, fc), (1, 0, fr, gc),
                                          (1, 1, fr, fc))):  # fmt: skip
        inside = r_in[dr] & c_in[dc]
        np.copyto(idx[k], base + (dr * cols + dc), where=inside, casting="unsafe")
        np.multiply(wr, wc, out=w[k], where=inside)
    grid = PolarGrid(frame_shape, center, n_alines, depth_samples, depth_px, idx, w)
    grid.idx.setflags(write=False)
    grid.w.setflags(write=False)
    return grid


def _depth_px_pair(
    depth_px: float | None,
    depth_mm: float | None,
    pixel_spacing_mm: tuple[float, float] | None,
    frame_shape: tuple[int, int],
) -> tuple[float, float]:
    if depth_mm is not None:
        if pixel_spacing_mm is None:
            raise ValueError("depth_mm needs pixel_spacing_mm")
        return (float(depth_mm / pixel_spacing_mm[0]), float(depth_mm / pixel_spacing_mm[1]))
    if depth_px is None:
        depth_px = default_depth_px(frame_shape)
    return (float(depth_px), float(depth_px))


def _centers_per_frame(center, n_frames: int, frame_shape) -> np.ndarray:
    if center is None:
        return np.tile(np.asarray(default_center(frame_shape), float), (n_frames, 1))
    c = np.asarray(center, dtype=float)
    if c.shape == (2,):
        return np.tile(c, (n_frames, 1))
    if c.shape == (n_frames, 2):
        return c
    raise ValueError(
        f"center must be (cy, cx) or one pair per frame ({n_frames}, 2); got {c.shape}"
    )


def iter_to_polar(
    frames,
    center=None,
    n_alines: int = N_ALINES,
    depth_samples: int = 256,
    depth_px: float | None = None,
    depth_mm: float | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
    batch: int = 32,
    dtype=np.float32,
):
    """Generator form of :func:`to_polar`: yields frames done, returns (F, N, D) polar images
    ((N, D) for one frame)."""
    single = np.ndim(frames) == 2 if isinstance(frames, np.ndarray) else len(frames.shape) == 2
    if single:
        frames = np.asarray(frames)[None]
    n_frames = int(frames.shape[0])
    frame_shape = (int(frames.shape[1]), int(frames.shape[2]))
    dpx = _depth_px_pair(depth_px, depth_mm, pixel_spacing_mm, frame_shape)
    centers = _centers_per_frame(center, n_frames, frame_shape)
    out = np.empty((n_frames, n_alines, depth_samples), dtype=dtype)
    start = 0
    while start < n_frames:
        stop = min(start + batch, n_frames)
        block = np.asarray(frames[start:stop])
        cblock = centers[start:stop]
        # frames sharing one centre (the usual catheter case) go through one gather
        uniq, inv = np.unique(cblock, axis=0, return_inverse=True)
        inv = np.ravel(inv)
        for u, cen in enumerate(uniq):
            sel = np.flatnonzero(inv == u)
            grid = _grid(frame_shape, (float(cen[0]), float(cen[1])), n_alines, depth_samples, dpx)
            pol = grid.sample(block[sel])
            if np.issubdtype(np.dtype(dtype), np.integer):
                info = np.iinfo(dtype)
                np.rint(pol, out=pol)
                np.clip(pol, info.min, info.max, out=pol)
            if sel.size == stop - start:
                out[start:stop] = pol
            else:
                out[start + sel] = pol
        start = stop
        yield start
    return out[0] if single else out


@completes(iter_to_polar)
def to_polar(*args: Any, **kwargs: Any) -> np.ndarray:
    """Polar images (A-line x depth) of frames about a centre, by bilinear interpolation.

    Parameters
    ----------
    frames : array-like, shape (F, rows, cols) or (rows, cols)
        Cartesian frames (may be lazy; read in batches).
    center : (cy, cx), or array (F, 2), optional
        Centre in pixels, one for all frames or one per frame. Default: the image centre
        (the catheter of a scan-converted frame).
    n_alines : int
        A-lines per frame (rows of the polar image).
    depth_samples : int
        Samples per A-line (columns of the polar image).
    depth_px, depth_mm : float, optional
        Depth covered, in pixels or (with ``pixel_spacing_mm``) in mm. Default: half the
        frame's short side. Samples outside the frame are 0.
    pixel_spacing_mm : (dy, dx), optional
        Pixel size, needed with ``depth_mm``.
    dtype : numpy dtype
        Output dtype; integer types are rounded and clipped (``np.uint8`` for exports).

    Returns
    -------
    ndarray, shape (F, n_alines, depth_samples) (or (n_alines, depth_samples) for one frame)
    """


def from_polar(
    polar: np.ndarray,
    frame_shape: tuple[int, int],
    center=None,
    depth_px: float | None = None,
    depth_mm: float | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
    fill=0,
    order: int | None = None,
) -> np.ndarray:
    """Cartesian frames from polar images (inverse of :func:`to_polar`).

    Each pixel takes the A-line whose angular sector contains it (nearest A-line) and is
    linearly interpolated along depth (``order=1``) or takes the nearest depth sample
    (``order=0``); pixels beyond the covered depth get ``fill``. Default: linear for float and
    uint8 images, nearest for everything else (bool, label images). Pass ``order=0`` for uint8
    label images.

    Parameters
    ----------
    polar : ndarray, shape (F, N, D) or (N, D)
    frame_shape : (rows, cols)
    center, depth_px, depth_mm, pixel_spacing_mm :
        As in :func:`to_polar` (must match the forward transform).
    """
    polar = np.asarray(polar)
    single = polar.ndim == 2
    if single:
        polar = polar[None]
    n_frames, n_alines, depth_samples = polar.shape
    frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
    dpx = _depth_px_pair(depth_px, depth_mm, pixel_spacing_mm, frame_shape)
    centers = _centers_per_frame(center, n_frames, frame_shape)
    if order is None:
        order = 1 if (polar.dtype.kind == "f" or polar.dtype == np.uint8) else 0
    interp = order == 1
    out_dtype = polar.dtype
    out = np.empty((n_frames, *frame_shape), dtype=out_dtype)
    uniq, inv = np.unique(centers, axis=0, return_inverse=True)
    inv = np.ravel(inv)
    rr, cc = np.indices(frame_shape, dtype=np.float64)
    for u, cen in enumerate(uniq):
        sel = np.flatnonzero(inv == u)
        dy = (rr - cen[0]) / dpx[0]
        dx = (cc - cen[1]) / dpx[1]
        rad = np.hypot(dy, dx)  # fraction of the covered depth
        theta = np.mod(np.degrees(np.arctan2(rr - cen[0], cc - cen[1])), 360.0)
        k = np.minimum((theta * n_alines / 360.0).astype(np.int64), n_alines - 1)
        pos = rad * depth_samples - 0.5  # continuous depth index
        outside = rad >= 1.0
        src = polar[sel]
        if interp:
            j0 = np.clip(np.floor(pos), 0, depth_samples - 1).astype(np.int64)
            j1 = np.minimum(j0 + 1, depth_samples - 1)
            t = np.clip(pos - j0, 0.0, 1.0).astype(np.float32)
            v = src[:, k, j0] * (1 - t) + src[:, k, j1] * t
            if out_dtype.kind in "iu":
                v = np.rint(v)
            v = v.astype(out_dtype)
        else:
            j = np.clip(np.rint(pos), 0, depth_samples - 1).astype(np.int64)
            v = src[:, k, j]
        v[:, outside] = fill
        out[sel] = v
    return out[0] if single else out
