"""Inputs shared by the api functions: a path or an in-memory object, read once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..io.errors import OptionError


def ct_volume(path_or_volume: Any):
    """A :class:`~napari_plaque.types.CTVolume` from a path (DICOM folder / file: its largest
    series, every series' headers checked and only that one decoded; NIfTI) or the volume
    itself."""
    from ..types import CTVolume

    if isinstance(path_or_volume, CTVolume):
        return path_or_volume
    from ..io import is_nifti, read_nifti
    from ..io.dicom_series import read_ct_largest

    path = str(path_or_volume)
    return read_nifti(path) if is_nifti(path) else read_ct_largest(path)


def pullback(path_or_pullback: Any):
    """A :class:`~napari_plaque.types.Pullback` from a path (IVUS DICOM, .npy / NIfTI frames) or
    the pullback itself."""
    from ..types import Pullback

    if isinstance(path_or_pullback, Pullback):
        return path_or_pullback
    from ..io import read_pullback

    return read_pullback(str(path_or_pullback))


def label_mask(path: str | Path, shape: tuple[int, ...] | None = None):
    """A label mask from ``.npy`` or NIfTI, in the reader's axis order; its shape checked."""
    from ..io import read_labels

    arr = read_labels(path)
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise OptionError(
            f"{path}: mask shape {tuple(arr.shape)} does not match the image shape {tuple(shape)}"
        )
    return arr


def check_out(path: str | Path | None, suffixes: tuple[str, ...]) -> None:
    """Refuse an output path with the wrong suffix before anything is computed."""
    if path and not str(path).lower().endswith(suffixes):
        raise OptionError(f"{path}: expected a file ending in {' or '.join(suffixes)}")
