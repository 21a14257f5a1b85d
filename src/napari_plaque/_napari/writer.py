"""npe2 writer hook: a labels layer to NIfTI (with its scale/translate), .npy (reader axis
order) or, when the layer lies on a DICOM CT series, a DICOM SEG (``.dcm``) of that series.

The files are written by the core writers (:mod:`napari_plaque.io.nifti`,
:mod:`napari_plaque.io.seg`, :mod:`napari_plaque.io.atomic`); this module only finds the CT
series a layer lies on (its metadata, else a CT layer of the current viewer on the same grid).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_path
from ..io.errors import WriterError
from ..io.nifti import write_nifti
from . import viewer as _viewer


def write_labels(path: str, data, meta: dict) -> list[str]:
    p = Path(path)
    arr = np.asarray(data)
    if p.suffix.lower() == ".dcm":
        try:
            return [str(write_labels_seg(p, arr, meta))]
        except ValueError as exc:  # napari only says "not a valid writer": say why
            from . import reader

            reader._notify_error(str(exc))
            raise
    if p.suffix == ".npy":
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        return [str(p)]
    scale = tuple(meta.get("scale", (1.0, 1.0, 1.0)))[-3:]
    translate = tuple(meta.get("translate", (0.0, 0.0, 0.0)))[-3:]
    write_nifti(p, arr, scale, translate)
    return [str(p)]


def _same_grid(layer: Any, shape, scale, translate) -> bool:
    return (
        tuple(np.shape(layer.data)) == tuple(shape)
        and np.allclose(np.asarray(layer.scale)[-3:], scale, rtol=1e-4, atol=1e-4)
        and np.allclose(np.asarray(layer.translate)[-3:], translate, atol=1e-3)
    )


def series_of_labels(arr: np.ndarray, meta: dict, viewer=None) -> tuple[str, str | None] | None:
    """(series folder, series_uid_hash) the labels lie on: from the layer's own metadata (set
    by the SEG reader and the CT reader's layers), else from a CT layer of ``viewer`` (default:
    the current viewer) with the same shape, scale and translate (labels drawn on it)."""
    md = meta.get("metadata") or {}
    if md.get("source"):
        return str(md["source"]), md.get("series_uid_hash")
    scale = tuple(meta.get("scale", (1.0, 1.0, 1.0)))[-3:]
    translate = tuple(meta.get("translate", (0.0, 0.0, 0.0)))[-3:]
    if viewer is None:
        viewer = _viewer.current_viewer()
    for layer in [] if viewer is None else list(viewer.layers):
        lmd = getattr(layer, "metadata", {}) or {}
        if lmd.get("napari_plaque") == "ct" and lmd.get("source"):
            if _same_grid(layer, arr.shape, scale, translate):
                return str(lmd["source"]), lmd.get("series_uid_hash")
    return None


def write_labels_seg(path: Path, arr: np.ndarray, meta: dict, viewer=None) -> Path:
    """A labels layer as a DICOM SEG of the CT series it lies on (see :mod:`napari_plaque.io.seg`)."""
    from ..io.seg import write_seg

    found = series_of_labels(arr, meta, viewer)
    name = str(meta.get("name", "labels"))
    if found is None:
        raise WriterError(
            name,
            "a DICOM SEG needs the CT series the labels were drawn on; open the DICOM "
            "series with napari-plaque and draw on a labels layer of the same grid "
            "(or save as .nii.gz / .npy)",
        )
    source, uid_hash = found
    md = meta.get("metadata") or {}
    seg_names = md.get("segment_names") or {}
    names = None
    if seg_names:
        top = max(int(k) for k in seg_names)
        top = min(top, int(arr.max()) if arr.size else 0)
        names = [seg_names.get(str(v), f"segment {v}") for v in range(1, top + 1)]
    manual = not md.get("algorithm")
    return write_seg(path, arr, source, names=names, manual=manual, series_uid_hash=uid_hash,
                     where=name)
