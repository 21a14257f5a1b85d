"""npe2 reader: DICOM CT series folders/files, IVUS multi-frame DICOM, NIfTI, label .npy.

``get_reader`` only claims paths it can read (a quick header peek), returns a function that
yields layer data tuples, and turns every reader error into a napari notification naming the
file and the problem, so the viewer never crashes on bad input.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..layers import ct_layer_data, pullback_layer_data
from .detect import Format, detect, layer_reader, peek_dicom
from .errors import ReaderError

log = logging.getLogger(__name__)


def _peek_dicom(p: Path) -> str | None:
    """'multiframe', 'image' or None for a file, from its header only (see io.detect)."""
    kind = peek_dicom(p)
    if kind is None:
        return None
    return "multiframe" if kind is Format.IVUS_DICOM else "image"


def get_reader(path):
    """Return a reader function for ``path`` or None when napari-plaque cannot read it."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    fmt = detect(path)
    if fmt is None or layer_reader(fmt) is None:
        return None
    return read_path


def read_path(path):
    """Read ``path`` into layer data tuples (errors become notifications, not crashes)."""
    if isinstance(path, list):
        path = path[0]
    p = Path(path)
    try:
        return read_layers(p)
    except (ReaderError, ValueError, OSError) as exc:
        _notify_error(str(exc))
        return [(None,)]  # napari: "read, nothing to add"


def read_layers(p: Path) -> list[tuple]:
    """Layer data tuples for ``p`` (raises ReaderError on bad input)."""
    p = Path(p)
    fmt = detect(p)
    func = layer_reader(fmt) if fmt is not None else None
    if func is None:
        raise ReaderError(p, "not a format napari-plaque reads (DICOM, NIfTI, .npy, image frames)")
    return func(p)


def npy_layers(p: Path) -> list[tuple]:
    from . import read_labels

    arr = read_labels(p)
    return [(arr, {"name": p.stem}, "labels")]


def nifti_layers(p: Path) -> list[tuple]:
    from . import read_nifti

    vol = read_nifti(p)
    if vol.hu.dtype.kind in "iu" and _looks_like_labels(vol.hu):
        return [
            (
                vol.hu,
                {
                    "name": vol.name,
                    "scale": vol.spacing_mm,
                    "translate": vol.origin_mm,
                    "metadata": vol.meta,
                    "units": "mm",
                },
                "labels",
            )
        ]
    return [ct_layer_data(vol)]


def pullback_layers(p: Path) -> list[tuple]:
    from . import read_pullback

    pb = read_pullback(p)
    for note in pb.meta.get("notes", []):
        _notify_info(f"{p.name}: {note}")
    return [pullback_layer_data(pb)]


def ct_layers(p: Path) -> list[tuple]:
    from . import read_ct

    vols = read_ct(p)
    notes = vols[0].meta.get("notes", [])
    if notes:
        _notify_info(f"{p}: {len(notes)} file(s) skipped or noted: " + "; ".join(notes[:3]))
    return [ct_layer_data(v) for v in vols]


def _looks_like_labels(arr) -> bool:
    import numpy as np

    if arr.min() < 0:
        return False
    sample = arr[:: max(1, arr.shape[0] // 8)]
    return len(np.unique(sample)) <= 64 and int(arr.max()) < 1000


def _notify_error(msg: str) -> None:
    log.error(msg)
    try:
        from napari.utils.notifications import show_error

        show_error(f"napari-plaque: {msg}")
    except Exception:  # noqa: BLE001
        pass


def _notify_info(msg: str) -> None:
    log.info(msg)
    try:
        from napari.utils.notifications import show_info

        show_info(f"napari-plaque: {msg}")
    except Exception:  # noqa: BLE001
        pass
