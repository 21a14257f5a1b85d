"""One home for format detection: what a path on disk holds, from names and headers only.

``detect(path)`` is used by the napari reader, the CLI and the widgets alike, so a file is
never recognised one way in the viewer and another on the command line. It never decodes
pixel data: it looks at the name, the first bytes and (for DICOM) a few header tags.

Each format is a member of :class:`Format` (a fixed vocabulary, in the spirit of highdicom's
enums). Which function turns a format into napari layer data tuples is the napari adapters'
business (:data:`napari_plaque._napari.reader.LAYER_READERS`); nothing here imports napari.

A folder is recognised from its first :data:`FOLDER_SCAN_LIMIT` entries at most (listed
lazily, a folder at a time): a folder of a hundred thousand files is not listed in full.
"""

from __future__ import annotations

import enum
import itertools
import os
from pathlib import Path

#: SOP classes that decide the format on their own
SOP_SEGMENTATION = "1.2.840.10008.5.1.4.1.1.66.4"
SOP_CR = "1.2.840.10008.5.1.4.1.1.1"
SOP_DX = ("1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1")
SOP_US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
SOP_SR = (
    "1.2.840.10008.5.1.4.1.1.88.11",
    "1.2.840.10008.5.1.4.1.1.88.22",
    "1.2.840.10008.5.1.4.1.1.88.33",
    "1.2.840.10008.5.1.4.1.1.88.34",
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")



#: the file ``pull`` leaves in a study it retrieved (one sub-folder per series): such a folder is
#: one study for the commands, not a cohort of series (``cohort.study.expand_paths``)
PULLED_STUDY_MARKER = ".napari-plaque-study.json"

class Format(str, enum.Enum):
    """What a path holds, as far as napari-plaque is concerned."""

    CT_SERIES = "ct-series"  # a folder (or one file) of single-frame CT DICOM
    IVUS_DICOM = "ivus-dicom"  # a multi-frame ultrasound DICOM pullback
    DICOM_SEG = "dicom-seg"  # a DICOM Segmentation object
    DICOM_SR = "dicom-sr"  # a DICOM Structured Report
    RADIOGRAPH_DICOM = "radiograph-dicom"  # CR / DX chest radiograph
    RADIOGRAPH_IMAGE = "radiograph-image"  # one PNG / JPEG radiograph
    FRAME_SEQUENCE = "frame-sequence"  # a folder of PNG/JPEG/TIFF/BMP frames (IVUS pullback)
    TIFF_STACK = "tiff-stack"  # a multi-page TIFF (IVUS pullback)
    NIFTI = "nifti"  # a NIfTI image or label map
    NUMPY_LABELS = "npy"  # a label map saved as .npy


def is_nifti(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def is_dicom_file(p: str | Path) -> bool:
    """Whether ``p`` is a DICOM Part 10 file (the ``DICM`` preamble; reads 132 bytes)."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def peek_dicom(p: str | Path) -> Format | None:
    """The format of one DICOM file from its header (None when it is not DICOM)."""
    p = Path(p)
    if not p.is_file() or not is_dicom_file(p):
        return None
    try:
        import pydicom

        ds = pydicom.dcmread(
            p,
            stop_before_pixels=True,
            specific_tags=["SOPClassUID", "Modality", "NumberOfFrames", "MediaStorageSOPClassUID"],
        )
    except Exception:  # noqa: BLE001 - an unreadable header is "not a DICOM we know"
        return None
    sop = str(ds.get("SOPClassUID", "") or getattr(ds.file_meta, "MediaStorageSOPClassUID", ""))
    modality = str(ds.get("Modality", "") or "").upper()
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (TypeError, ValueError, OverflowError):
        frames = 1
    if sop == SOP_SEGMENTATION or modality == "SEG":
        return Format.DICOM_SEG
    if sop in SOP_SR or modality == "SR":
        return Format.DICOM_SR
    if sop == SOP_CR or sop in SOP_DX or modality in ("CR", "DX"):
        return Format.RADIOGRAPH_DICOM
    if frames > 1:
        return Format.IVUS_DICOM
    return Format.CT_SERIES


#: at most this many folder entries (files and sub-folders, hidden ones too) are looked at
FOLDER_SCAN_LIMIT = 200


def _scan(folder: Path, budget: list[int]):
    """The files under ``folder`` in sorted-path order (like ``sorted(folder.rglob("*"))``),
    drawing at most ``budget[0]`` entries from the file system in all: each folder's listing
    is read lazily, cut at what is left of the budget, then sorted."""
    if budget[0] <= 0:
        return
    try:
        with os.scandir(folder) as it:
            entries = list(itertools.islice(it, budget[0]))
    except OSError:
        return
    budget[0] -= len(entries)
    for entry in sorted(entries, key=lambda e: e.name):
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _scan(Path(entry.path), budget)
            elif entry.is_file():
                yield Path(entry.path)
        except OSError:
            continue


def _folder_format(folder: Path, limit: int | None = None) -> Format | None:
    limit = FOLDER_SCAN_LIMIT if limit is None else limit
    n_images = 0
    for p in _scan(folder, [limit]):
        if p.name.startswith("."):
            continue
        kind = peek_dicom(p)
        if kind is not None:
            # a folder holding one SEG / radiograph / pullback is that object; else a CT series
            return Format.CT_SERIES if kind is Format.CT_SERIES else kind
        if p.suffix.lower() in IMAGE_SUFFIXES and p.parent == folder:
            n_images += 1
    if n_images >= 1:  # one frame is a pullback of one cross-section (challenge-style data)
        return Format.FRAME_SEQUENCE
    return None


def image_size_problem(path: str | Path) -> str | None:
    """Why an image file must not be decoded (a decompression bomb: a small file that claims
    more pixels than Pillow's limit), or None. Reads the header only."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return None
    try:
        with Image.open(path) as im:
            im.size  # noqa: B018  header only
    except Image.DecompressionBombError as exc:
        return f"decompression bomb refused: {exc}"
    except Exception:  # noqa: BLE001  unreadable images are the readers' business
        return None
    return None


def detect(path: str | Path) -> Format | None:
    """What ``path`` holds, or None when napari-plaque cannot read it."""
    p = Path(path)
    if p.is_dir():
        return _folder_format(p)
    if not p.is_file():
        return None
    if is_nifti(p):
        return Format.NIFTI
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return Format.NUMPY_LABELS
    kind = peek_dicom(p)
    if kind is not None:
        return kind
    if suffix in (".tif", ".tiff"):
        try:
            from PIL import Image

            with Image.open(p) as im:
                pages = getattr(im, "n_frames", 1)
        except Exception:  # noqa: BLE001
            return None
        return Format.TIFF_STACK if pages > 1 else Format.RADIOGRAPH_IMAGE
    if suffix in (".png", ".jpg", ".jpeg", ".bmp"):
        if image_size_problem(p):  # not opened by any reader (they would decode it)
            return None
        return Format.RADIOGRAPH_IMAGE
    return None
