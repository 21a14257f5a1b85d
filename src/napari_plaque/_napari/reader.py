"""npe2 reader hook: DICOM CT series folders/files, IVUS multi-frame DICOM, DICOM SEG, NIfTI,
label .npy, radiographs and frame sequences, as napari layer data tuples.

``get_reader`` only claims paths it can read (:func:`napari_plaque.io.detect.detect`: names and
headers, no pixel data), and returns a reader function that carries the detected format on (a
path is detected once, not again when it is read). Every reader error becomes a napari
notification naming the file and the problem, so the viewer never crashes on bad input.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from ..io.detect import Format, detect
from ..io.errors import ReaderError
from ..layers import ct_layer_data, pullback_layer_data
from . import viewer

#: format -> "module:function(path) -> list of layer data tuples" (imported lazily)
LAYER_READERS: dict[Format, str] = {
    Format.CT_SERIES: "napari_plaque._napari.reader:ct_layers",
    Format.IVUS_DICOM: "napari_plaque._napari.reader:pullback_layers",
    Format.NIFTI: "napari_plaque._napari.reader:nifti_layers",
    Format.NUMPY_LABELS: "napari_plaque._napari.reader:npy_layers",
    Format.DICOM_SEG: "napari_plaque._napari.reader:seg_layers",
    Format.RADIOGRAPH_DICOM: "napari_plaque._napari.reader:radiograph_layers",
    Format.RADIOGRAPH_IMAGE: "napari_plaque._napari.reader:radiograph_layers",
    Format.FRAME_SEQUENCE: "napari_plaque._napari.reader:frame_sequence_layers",
    Format.TIFF_STACK: "napari_plaque._napari.reader:frame_sequence_layers",
}


def layer_reader(fmt: Format | None):
    """The function that turns a path of format ``fmt`` into layer data tuples (or None)."""
    target = LAYER_READERS.get(fmt) if fmt is not None else None
    if target is None:
        return None
    mod_name, func = target.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError:
        return None
    return getattr(mod, func, None)


def get_reader(path):
    """Return a reader function for ``path`` or None when napari-plaque cannot read it."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    fmt = detect(path)
    if fmt is None or layer_reader(fmt) is None:
        return None
    return functools.partial(read_path, fmt=fmt)


def read_path(path, fmt: Format | None = None):
    """Read ``path`` into layer data tuples (errors become notifications, not crashes).

    ``fmt``: the format :func:`get_reader` detected (detected here when not given)."""
    if isinstance(path, list):
        path = path[0]
    p = Path(path)
    try:
        return read_layers(p, fmt)
    except (ReaderError, ValueError, OSError) as exc:
        _notify_error(str(exc))
        return [(None,)]  # napari: "read, nothing to add"


def read_layers(p: str | Path, fmt: Format | None = None) -> list[tuple]:
    """Layer data tuples for ``p`` (raises ReaderError on bad input); ``fmt`` as detected
    (detected here when None)."""
    p = Path(p)
    if fmt is None:
        fmt = detect(p)
    func = layer_reader(fmt)
    if func is None:
        raise ReaderError(p, "not a format napari-plaque reads (DICOM, NIfTI, .npy, image frames)")
    return func(p)


def npy_layers(p: Path) -> list[tuple]:
    from ..io import read_labels

    arr = read_labels(p)
    return [(arr, {"name": p.stem}, "labels")]


def nifti_layers(p: Path) -> list[tuple]:
    from ..io import read_nifti

    vol = read_nifti(p)
    if vol.hu.dtype.kind in "iu" and looks_like_labels(vol.hu):
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
    from ..io import read_pullback

    pb = read_pullback(p)
    for note in pb.meta.get("notes", []):
        _notify_info(f"{p.name}: {note}")
    return [pullback_layer_data(pb)]


def ct_layers(p: Path) -> list[tuple]:
    from ..io import read_ct

    vols = read_ct(p)
    notes = vols[0].meta.get("notes", [])
    if notes:
        _notify_info(f"{p}: {len(notes)} file(s) skipped or noted: " + "; ".join(notes[:3]))
    return [ct_layer_data(v) for v in vols]


def seg_layers(path: str | Path, series: str | Path | None = None) -> list[tuple]:
    """Labels layer tuples for a DICOM SEG file, or the SEG files of a folder (aligned with
    :func:`ct_layers`: one labels layer per segment, on the referenced series' grid)."""
    from ..io.seg import read_seg, seg_files

    out: list[tuple] = []
    for seg_file in seg_files(path):
        out += seg_result_layers(read_seg(seg_file, series=series))
    return out


def seg_result_layers(res) -> list[tuple]:
    """The labels layer tuples of one :class:`~napari_plaque.io.seg.SegResult`."""
    import numpy as np

    from ..layers import labels_layer_data
    from ..types import CTVolume

    like = CTVolume(
        hu=np.zeros((1, 1, 1), np.int16), spacing_mm=res.spacing_mm, origin_mm=res.origin_mm
    )
    out = []
    for name, arr in res.labels:
        meta = {
            "napari_plaque": "seg",
            "segment_names": {str(k): v for k, v in res.segment_names.items()},
            "notes": res.notes,
        }
        if res.source:
            meta["source"] = res.source
        out.append(labels_layer_data(arr, like=like, name=name, metadata=meta))
    return out


def frame_sequence_layers(path: str | Path) -> list[tuple]:
    """A folder of frames or a multi-page TIFF as one image layer (mm scale, lazy frames)."""
    from ..io.frames import read_frame_sequence

    return [pullback_layer_data(read_frame_sequence(path))]


def radiograph_layers(path: str | Path) -> list[tuple]:
    """A CR / DX DICOM or a PNG / JPEG radiograph as one image layer."""
    from ..cxr.io import radiograph_layer_data, read_radiograph

    return [radiograph_layer_data(read_radiograph(path))]


def looks_like_labels(arr) -> bool:
    """An integer NIfTI that is a label map (non-negative, few values, small maximum)."""
    import numpy as np

    if arr.min() < 0:
        return False
    sample = arr[:: max(1, arr.shape[0] // 8)]
    return len(np.unique(sample)) <= 64 and int(arr.max()) < 1000


def _notify_error(msg: str) -> None:
    # looked up on this module at call time (the writer too): tests patch it here
    viewer.notify_error(msg)


def _notify_info(msg: str) -> None:
    viewer.notify_info(msg)
