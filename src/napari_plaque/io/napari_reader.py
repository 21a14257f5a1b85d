"""npe2 reader: DICOM CT series folders/files, IVUS multi-frame DICOM, NIfTI, label .npy.

``get_reader`` only claims paths it can read (a quick header peek), returns a function that
yields layer data tuples, and turns every reader error into a napari notification naming the
file and the problem, so the viewer never crashes on bad input.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..layers import ct_layer_data, pullback_layer_data
from . import is_nifti
from .errors import ReaderError

log = logging.getLogger(__name__)


def _peek_dicom(p: Path) -> str | None:
    """'multiframe', 'image' or None for a file, from its header only."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
        if len(head) < 132 or head[128:132] != b"DICM":
            return None
        import pydicom

        ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["NumberOfFrames"])
        return "multiframe" if int(ds.get("NumberOfFrames", 1) or 1) > 1 else "image"
    except Exception:  # noqa: BLE001
        return None


def _has_dicom(folder: Path, limit: int = 200) -> bool:
    n = 0
    for p in folder.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            if _peek_dicom(p):
                return True
            n += 1
            if n >= limit:
                break
    return False


def get_reader(path):
    """Return a reader function for ``path`` or None when napari-plaque cannot read it."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.is_dir():
        return read_path if _has_dicom(p) else None
    if is_nifti(p) or p.suffix == ".npy":
        return read_path
    if p.is_file() and _peek_dicom(p):
        return read_path
    return None


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
    from . import read_ct, read_labels, read_nifti, read_pullback

    if p.suffix == ".npy":
        arr = read_labels(p)
        return [(arr, {"name": p.stem}, "labels")]
    if is_nifti(p):
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
                    },
                    "labels",
                )
            ]
        return [ct_layer_data(vol)]
    if p.is_file() and _peek_dicom(p) == "multiframe":
        pb = read_pullback(p)
        for note in pb.meta.get("notes", []):
            _notify_info(f"{p.name}: {note}")
        return [pullback_layer_data(pb)]
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
