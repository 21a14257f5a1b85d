"""Readers and writers: DICOM CT series, IVUS multi-frame pullbacks, NIfTI, label maps.

Everything here is plain Python over numpy (no napari import), returning the core types of
:mod:`napari_plaque.types`. Bad input raises :class:`ReaderError` naming the file and problem
(every user-facing error derives from :class:`NapariPlaqueError`, in :mod:`.errors`).
The napari reader and writer hooks are in :mod:`napari_plaque._napari`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..types import CTVolume, Pullback
from .detect import Format, detect, is_nifti
from .errors import FormatError, NapariPlaqueError, ReaderError, WriterError

__all__ = [
    "CTVolume",
    "FormatError",
    "Pullback",
    "Format",
    "NapariPlaqueError",
    "ReaderError",
    "WriterError",
    "detect",
    "is_nifti",
    "read_ct",
    "read_image",
    "read_labels",
    "read_nifti",
    "read_pullback",
]


def read_ct(path: str | Path) -> list[CTVolume]:
    """Read every CT series in a DICOM folder (or a single file); largest series first."""
    from .dicom_series import read_ct_series

    return read_ct_series(path)


def read_pullback(path: str | Path, default_rate_mm_s: float = 0.5) -> Pullback:
    """Open an IVUS multi-frame DICOM lazily."""
    from .ivus_dicom import read_pullback as _read

    return _read(path, default_rate_mm_s=default_rate_mm_s)


def read_nifti(path: str | Path) -> CTVolume:
    """Read a NIfTI image or label map, oriented like the DICOM reader's arrays."""
    from .nifti import read_nifti as _read

    return _read(path)




def read_image(path: str | Path) -> CTVolume:
    """Read a CT volume from a DICOM folder/file (largest series) or a NIfTI file. Every series'
    headers are checked; only the series kept is decoded."""
    if is_nifti(path):
        return read_nifti(path)
    from .dicom_series import read_ct_largest

    return read_ct_largest(path)


def read_labels(path: str | Path) -> np.ndarray:
    """Read a label map from ``.npy`` (reader axis order) or NIfTI (reoriented like the reader)."""
    p = Path(path)
    if not p.exists():
        raise ReaderError(p, "file not found")
    if p.suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise ReaderError(p, f"not a readable .npy array ({exc})") from exc
    elif is_nifti(p):
        arr = read_nifti(p).hu
    else:
        raise ReaderError(p, "label maps must be .npy or NIfTI (.nii/.nii.gz)")
    if arr.dtype.kind not in "biuf":
        raise ReaderError(p, f"label map has unsupported dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ReaderError(p, "label map holds non-integer values")
        arr = arr.astype(np.int32)
    return arr
