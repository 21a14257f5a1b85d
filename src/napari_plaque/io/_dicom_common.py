"""Small helpers shared by the DICOM readers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .anon import PATIENT_KEYWORDS
from .errors import ReaderError

#: acquisition facts copied into metadata when present (never patient identifiers)
SAFE_KEYWORDS = {
    "Modality": "modality",
    "Manufacturer": "manufacturer",
    "ManufacturerModelName": "model",
    "KVP": "kvp",
    "ConvolutionKernel": "kernel",
    "SliceThickness": "slice_thickness_mm",
    "SpacingBetweenSlices": "spacing_between_slices_mm",
    "SeriesDescription": "series_description",
    "XRayTubeCurrent": "tube_current_ma",
    "Exposure": "exposure_mas",
    "ContrastBolusAgent": "contrast_agent",
    "BodyPartExamined": "body_part",
    "ReconstructionDiameter": "reconstruction_diameter_mm",
    "TransducerData": "transducer",
}
assert not set(SAFE_KEYWORDS) & PATIENT_KEYWORDS


def safe_meta(ds) -> dict:
    """Non-identifying acquisition facts from a dataset, as plain Python values."""
    out: dict = {}
    for kw, key in SAFE_KEYWORDS.items():
        val = ds.get(kw, None)
        if val is None or val == "":
            continue
        out[key] = plain(val)
    return out


def plain(val):
    """DICOM value -> JSON-friendly Python value."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import IS, DSfloat

    if isinstance(val, MultiValue | list | tuple):
        vals = [plain(v) for v in val]
        if all(isinstance(v, str) for v in vals):
            return "\\".join(vals)
        return vals
    if isinstance(val, DSfloat | float):
        return float(val)
    if isinstance(val, IS | int):
        return int(val)
    return str(val)


def is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def list_files(path: Path) -> tuple[list[Path], list[str]]:
    """All candidate files under ``path`` (recursive, hidden files/folders and DICOMDIR skipped).

    Returns the files and notes about what was skipped.
    """
    notes: list[str] = []
    if path.is_file():
        return [path], notes
    files: list[Path] = []
    for root, dirs, names in os.walk(path):
        hidden_dirs = [d for d in dirs if d.startswith(".")]
        for d in hidden_dirs:
            dirs.remove(d)
        dirs.sort()
        for n in sorted(names):
            p = Path(root) / n
            if n.startswith("."):
                notes.append(f"skipped hidden file {p}")
            elif n.upper() == "DICOMDIR":
                notes.append(f"skipped DICOMDIR {p}")
            else:
                files.append(p)
    return files, notes


def native_pixels(ds, path: Path) -> np.ndarray:
    """Decode the pixel data of a single-frame dataset (fast path for native syntaxes)."""
    ts = ds.file_meta.get("TransferSyntaxUID", None) if hasattr(ds, "file_meta") else None
    if "PixelData" not in ds:
        raise ReaderError(path, "no pixel data")
    try:
        if ts is not None and not ts.is_compressed and ds.BitsAllocated in (8, 16, 32):
            signed = int(ds.get("PixelRepresentation", 0)) == 1
            kind = "i" if signed else "u"
            endian = "<" if ts.is_little_endian else ">"
            dt = np.dtype(f"{endian}{kind}{ds.BitsAllocated // 8}")
            rows, cols = int(ds.Rows), int(ds.Columns)
            spp = int(ds.get("SamplesPerPixel", 1))
            n = rows * cols * spp
            buf = ds.PixelData
            if len(buf) < n * dt.itemsize:
                raise ReaderError(
                    path, f"pixel data truncated ({len(buf)} of {n * dt.itemsize} bytes)"
                )
            arr = np.frombuffer(buf, dtype=dt, count=n)
            bits_stored = int(ds.get("BitsStored", ds.BitsAllocated))
            if bits_stored < ds.BitsAllocated:
                return ds.pixel_array  # needs masking / sign extension: let pydicom do it
            arr = arr.astype(dt.newbyteorder("="), copy=False)
            return arr.reshape(rows, cols) if spp == 1 else ds.pixel_array
        return ds.pixel_array
    except ReaderError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(path, decode_problem(exc, ts)) from exc


def decode_problem(exc: Exception, ts) -> str:
    msg = str(exc)
    name = getattr(ts, "name", str(ts))
    low = msg.lower()
    if "plugin" in low or "handler" in low or "decoder" in low or "no module" in low:
        return (
            f"cannot decode pixel data with transfer syntax {name!s}: decoder missing "
            f"(install pylibjpeg, pylibjpeg-libjpeg and pylibjpeg-openjpeg) [{msg}]"
        )
    return f"cannot decode pixel data ({name!s}): {msg}"
