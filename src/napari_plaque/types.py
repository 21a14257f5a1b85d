"""The two data types that carry physical scale through the core.

Neither imports napari. Widgets and readers convert them to and from layers at the edge
(:mod:`napari_plaque.layers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class CTVolume:
    """A CT volume in Hounsfield units with its physical geometry.

    Attributes
    ----------
    hu : ndarray, shape (slices, rows, cols)
        HU values; int16 whenever the rescale is exact, float32 otherwise. Slices are ordered
        by increasing position along the slice normal.
    spacing_mm : tuple of 3 floats
        (slice increment, row spacing, column spacing) in mm.
    origin_mm : tuple of 3 floats
        Position of voxel (0, 0, 0) projected on the (normal, column-direction, row-direction)
        axes, i.e. the napari ``translate`` in the same axis order as ``hu``. For a standard axial
        scan this is (z, y, x) of ImagePositionPatient of the first slice, in LPS mm.
    direction : ndarray, shape (3, 3)
        Rows are the unit vectors (in patient LPS coordinates, (z, y, x) components like
        ``origin_mm``) of the array axes (slice normal, column direction = down the rows, row
        direction = along a row); the identity (what the readers give) is the canonical
        axis-aligned order. :attr:`affine` combines it with the spacing and origin.
    meta : dict
        Acquisition facts (kVp, slice thickness, kernel, manufacturer, ...). Never patient
        identifiers.
    name : str
        Display name (SeriesDescription or file name).
    """

    hu: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    meta: dict[str, Any] = field(default_factory=dict)
    name: str = "CT"

    def __post_init__(self) -> None:
        self.hu = np.asarray(self.hu)
        if self.hu.ndim != 3:
            raise ValueError(f"CTVolume needs a 3D array (slices, rows, cols), got {self.hu.shape}")
        self.spacing_mm = tuple(float(s) for s in self.spacing_mm)  # type: ignore[assignment]
        self.origin_mm = tuple(float(s) for s in self.origin_mm)  # type: ignore[assignment]
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            raise ValueError(f"spacing_mm must be 3 positive numbers, got {self.spacing_mm}")
        self.direction = np.asarray(self.direction, dtype=float)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.hu.shape)  # type: ignore[return-value]

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))

    @property
    def affine(self) -> np.ndarray:
        """4x4 index -> patient LPS (x, y, z) mm: ``affine @ (slice, row, col, 1)``
        (:func:`lps_affine` of the spacing, origin and direction)."""
        return lps_affine(self.spacing_mm, self.origin_mm, self.direction)


def lps_affine(spacing_mm, origin_mm, direction=None) -> np.ndarray:
    """4x4 index (slice, row, col) -> patient LPS (x, y, z) mm of a :class:`CTVolume` grid: the
    one home of that matrix (a DICOM SEG's grid; a NIfTI file's affine is it after RAS -> LPS,
    with the index order (x, y, z): ``lps_affine(...)[:, [2, 1, 0, 3]]``). ``direction`` None:
    the readers' canonical axes (axis 0 = +z, 1 = +y, 2 = +x)."""
    d = np.eye(3) if direction is None else np.asarray(direction, float)
    out = np.eye(4)
    out[:3, :3] = (d * np.asarray(spacing_mm, float)[:, None]).T[::-1]  # columns: axes, xyz
    out[:3, 3] = (d.T @ np.asarray(origin_mm, float))[::-1]  # voxel 0: (z, y, x) -> (x, y, z)
    return out


@dataclass
class Pullback:
    """An IVUS pullback: lazily decoded grey frames plus timing and pixel size.

    Attributes
    ----------
    frames : array-like, shape (frames, rows, cols)
        Grey frames (uint8 usually). May be lazy (decoded per frame on access); index it like a
        numpy array. ``np.asarray(frames)`` decodes everything.
    frame_time_s : float
        Time between frames in seconds.
    pullback_rate_mm_s : float
        Motorised pullback speed in mm/s.
    pixel_spacing_mm : tuple of 2 floats
        (row, column) pixel size in mm.
    assumed : set of str
        Names of the attributes above that were not read from the file but assumed
        (e.g. ``{"pullback_rate_mm_s"}``).
    meta : dict
        Non-identifying acquisition facts, notes and warnings from the reader.
    source : str
        Path the pullback was read from ("" for in-memory data).
    uid_hash : str
        A salted hash of the SOP/Series Instance UID: a stable, non-identifying pullback id.
    frame_times_s : ndarray or None
        Per-frame times (from Frame Time Vector) when irregular.
    """

    frames: Any
    frame_time_s: float
    pullback_rate_mm_s: float
    pixel_spacing_mm: tuple[float, float]
    assumed: set[str] = field(default_factory=set)
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    uid_hash: str = ""
    name: str = "IVUS"
    frame_times_s: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def frame_shape(self) -> tuple[int, int]:
        return (int(self.frames.shape[1]), int(self.frames.shape[2]))

    @property
    def mm_per_frame(self) -> float:
        """Distance between consecutive frames along the pullback (mm)."""
        return float(self.frame_time_s * self.pullback_rate_mm_s)

    @property
    def scale(self) -> tuple[float, float, float]:
        """napari scale: (mm per frame, mm per pixel row, mm per pixel column)."""
        return (self.mm_per_frame, *map(float, self.pixel_spacing_mm))  # type: ignore[return-value]

    def frame(self, i: int) -> np.ndarray:
        return np.asarray(self.frames[i])
