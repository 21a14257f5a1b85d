"""Small helpers shared by the DICOM readers, in ``io`` and in the packages that read DICOM
themselves (``cxr.io``) or check against the same ranges (``ccta``, ``ivus``): tag parsing that
names the file and tag on a bad value, the plausible-range table, native pixel decoding and the
identifier-free header summary. Public: import these names from here."""

from __future__ import annotations

import os
import re
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


#: anatomy vocabulary of the header words (one home: the calcium protocol's anatomy check,
#: :func:`napari_plaque.ccta.protocol.header_anatomy`, reads these): chest / heart words ...
CARDIAC_WORDS = re.compile(
    r"CARD|HEART|CORON|CALC|CA\s*SCOR|CACS?\b|AGATSTON|CHEST|THORA|LUNG|TORSO|WHOLE\s*BODY|"
    r"\bTAP\b|\bCAP\b",
    re.IGNORECASE,
)
#: ... and words naming another body part
OTHER_WORDS = re.compile(
    r"HEAD|BRAIN|SKULL|CEREB|SINUS|ORBIT|FACE|NECK|C-?SPINE|L-?SPINE|LUMBAR|SACRUM|ABDOM|"
    r"PELVI|PANCREA|LIVER|KIDNEY|RENAL|COLON|BLADDER|PROSTATE|HIP|KNEE|ANKLE|FOOT|FEET|TIBIA|"
    r"FEMUR|LEG|HAND|WRIST|ELBOW|ARM|EXTREMIT|SHOULDER",
    re.IGNORECASE,
)
#: free-text descriptions of which only the anatomy words are kept (PS3.15's basic profile
#: removes the text itself: it may hold names, dates, accession numbers)
DESCRIPTION_KEYWORDS = {"StudyDescription": "study_description", "ProtocolName": "protocol_name"}


def anatomy_words(text: str) -> str:
    """The anatomy words of a free-text description (:data:`CARDIAC_WORDS`,
    :data:`OTHER_WORDS`), upper case, in their order, each once; "" when none. Only the
    vocabulary's own fragments are kept ("CARDIAC SCORE Smith" -> "CARD"), never other text."""
    found: list[tuple[int, str]] = []
    for pat in (CARDIAC_WORDS, OTHER_WORDS):
        found += [(m.start(), " ".join(m.group(0).upper().split())) for m in pat.finditer(text)]
    out: list[str] = []
    for _, w in sorted(found):
        if w not in out:
            out.append(w)
    return " ".join(out)


def ct_protocol_meta(ds) -> dict:
    """The CT facts the calcium protocol checks read beyond :func:`safe_meta`: ECG gating
    (CardiacSynchronizationTechnique -> ``cardiac_synchronization``) and the anatomy words of
    StudyDescription / ProtocolName (``study_description``, ``protocol_name``)."""
    out: dict = {}
    sync = ds.get("CardiacSynchronizationTechnique", None)
    if sync is not None and str(sync).strip() != "":
        out["cardiac_synchronization"] = str(sync).strip().upper()
    for kw, key in DESCRIPTION_KEYWORDS.items():
        words = anatomy_words(str(ds.get(kw, "") or ""))
        if words:
            out[key] = words
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


def read_or_refuse(path: Path, read, what: str):
    """``read(path)`` (a library reader: ``highdicom.seg.segread``, ``highdicom.sr.srread``)
    with its warnings silenced; any failure becomes a ReaderError naming ``path``: "not a
    readable {what} (the library's exception)"."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read(path)
    except Exception as exc:  # noqa: BLE001  whatever the library raises on a bad file
        raise ReaderError(path, f"not a readable {what} ({type(exc).__name__}: {exc})") from exc


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
    """Decode the pixel data of a single-frame dataset (fast path for native syntaxes).

    The pixel data length must match Rows x Columns x samples x bytes for native syntaxes.
    """
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID", None) if meta is not None else None
    if "PixelData" not in ds:
        raise ReaderError(path, "no pixel data")
    rows = tag_int(ds, "Rows", path, lo=1, hi=65535)
    cols = tag_int(ds, "Columns", path, lo=1, hi=65535)
    spp = tag_int(ds, "SamplesPerPixel", path, 1, lo=1, hi=4)
    bits = tag_int(ds, "BitsAllocated", path, lo=1, hi=64)
    try:
        compressed = ts is not None and ts.is_compressed
    except Exception:  # noqa: BLE001  unknown UID
        compressed = True
    try:
        if ts is not None and not compressed:
            buf = ds.PixelData
            check_pixel_length(path, len(buf), rows, cols, 1, spp, bits)
        if ts is not None and not compressed and bits in (8, 16, 32):
            signed = tag_int(ds, "PixelRepresentation", path, 0, lo=0, hi=1) == 1
            kind = "i" if signed else "u"
            endian = "<" if ts.is_little_endian else ">"
            dt = np.dtype(f"{endian}{kind}{bits // 8}")
            n = rows * cols * spp
            arr = np.frombuffer(buf, dtype=dt, count=n)
            bits_stored = tag_int(ds, "BitsStored", path, bits, lo=1, hi=bits)
            if bits_stored < bits:
                arr = ds.pixel_array  # needs masking / sign extension: let pydicom do it
            else:
                arr = arr.astype(dt.newbyteorder("="), copy=False)
                arr = arr.reshape(rows, cols) if spp == 1 else ds.pixel_array
        else:
            arr = ds.pixel_array
    except ReaderError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(path, decode_problem(exc, ts)) from exc
    if arr.shape[:2] != (rows, cols):
        raise ReaderError(path, f"decoded image is {arr.shape}, the header says {rows} x {cols}")
    return arr


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


# -- plausibility: finite is not enough (one home of the ranges) -----------------------------

#: Plausible ranges of header, sidecar and option values: ``key -> (lo, hi, unit)``. A finite
#: value outside its range (RescaleSlope 1e30, PixelSpacing 1e-30, a pullback of 1e308 mm/s)
#: is not a measurement anyone made: the readers refuse it, naming the tag, or set it aside and
#: flag what they assume instead. The bounds are deliberately wide (they catch corrupt or
#: hostile headers, not unusual protocols); ranges of absolute values where marked in the docs.
PLAUSIBLE_RANGES: dict[str, tuple[float, float, str]] = {
    # CT / any cross-sectional series
    "RescaleSlope": (1e-6, 1e4, ""),
    "RescaleIntercept": (-1e5, 1e5, ""),
    "PixelSpacing": (1e-3, 50.0, "mm"),  # micro-CT 0.01 .. a 10-pixel scout
    "SliceThickness": (1e-3, 100.0, "mm"),
    "SpacingBetweenSlices": (1e-3, 100.0, "mm"),
    "ImagePositionPatient": (-1e5, 1e5, "mm"),  # within 100 m of the scanner's origin
    "hu": (-32768.0, 32767.0, "HU"),  # CT values after rescale (the int16 range)
    # ultrasound / IVUS
    "FrameTime": (0.05, 1e5, "ms"),  # 20,000 .. 0.01 frames/s
    "FrameTimeVector": (0.0, 1e5, "ms"),
    "CineRate": (0.01, 20000.0, "frames/s"),
    "RecommendedDisplayFrameRate": (0.01, 20000.0, "frames/s"),
    "IVUSPullbackRate": (0.01, 100.0, "mm/s"),  # motorised IVUS 0.5-1, IV-OCT up to 40
    "PhysicalDeltaX": (1e-6, 1.0, "cm"),  # |value|: 0.01 um .. 10 mm per pixel
    "PhysicalDeltaY": (1e-6, 1.0, "cm"),
    # frame sequences (sidecar JSON keys and command-line options)
    "pixel_mm": (1e-4, 10.0, "mm"),
    "frame_rate": (0.01, 20000.0, "frames/s"),
    "frame_time_s": (5e-5, 100.0, "s"),
    "pullback_mm_s": (0.01, 100.0, "mm/s"),
    # centreline files (points and step), world mm
    "world_mm": (-1e5, 1e5, "mm"),
    "step_mm": (1e-3, 100.0, "mm"),
}
#: keys whose range applies to the absolute value (the sign carries a direction)
_ABS_RANGE = {"PhysicalDeltaX", "PhysicalDeltaY"}

#: the largest field of view (mm, across the frame) of an intravascular image: IVUS catheters
#: image out to ~10-15 mm from the catheter, IV-OCT ~5 mm; a 150 mm sector is transabdominal
IVUS_MAX_FIELD_MM = 30.0
#: coronary EEM area (mm^2) above which a measurement is not a coronary cross-section
#: (the left main, the largest, is ~ 20-30 mm^2; Mintz et al. 2001)
CORONARY_MAX_EEM_MM2 = 40.0


#: modality code -> what it is called in messages
MODALITY_NAMES = {
    "CT": "CT", "MR": "MR", "US": "ultrasound", "IVUS": "intravascular ultrasound",
    "IVOCT": "intravascular OCT", "OCT": "OCT", "XA": "X-ray angiography", "CR": "radiograph",
    "DX": "radiograph", "MG": "mammogram", "NM": "nuclear medicine", "PT": "PET",
    "OT": "secondary capture", "SC": "secondary capture", "SEG": "segmentation",
    "SR": "structured report", "RTDOSE": "RT dose", "RTSTRUCT": "RT structure set",
    "ES": "endoscopy", "XC": "photograph", "OP": "ophthalmic photograph",
}  # fmt: skip
#: tags only an intravascular acquisition carries (IVUS Image Module, C.8.5.5 of PS3.3)
IVUS_ATTRIBUTES = (
    "IVUSAcquisition", "IVUSPullbackRate", "IVUSGatedRate", "IVUSPullbackStartFrameNumber",
    "IVUSPullbackStopFrameNumber", "LesionNumber",
)  # fmt: skip


def describe_object(ds, n_frames: int | None = None) -> str:
    """What a DICOM object is, in words for messages ("2-frame ultrasound image (Modality US)").
    Never "CT series" for something else."""
    modality = str(ds.get("Modality", "") or "").upper()
    name = MODALITY_NAMES.get(modality, f"{modality} image" if modality else "DICOM image")
    if modality in MODALITY_NAMES and modality not in ("SEG", "SR", "RTDOSE", "RTSTRUCT"):
        name += " image"
    if n_frames is None:
        try:
            n_frames = int(ds.get("NumberOfFrames", 1) or 1)
        except (TypeError, ValueError, OverflowError):
            n_frames = 1
    frames = f"{n_frames}-frame " if n_frames > 1 else "single-frame "
    return f"{frames}{name}" + (f" (Modality {modality})" if modality else " (no Modality)")


def intravascular_evidence(ds) -> tuple[bool | None, str]:
    """Whether a DICOM object is an intravascular pullback: (True, why) for Modality IVUS /
    IVOCT or IVUS attributes; (False, why) for another modality; (None, why) for plain
    ultrasound without intravascular attributes (the geometry decides, see
    :data:`IVUS_MAX_FIELD_MM`)."""
    modality = str(ds.get("Modality", "") or "").upper()
    if modality in ("IVUS", "IVOCT"):
        return True, f"Modality {modality}"
    present = [kw for kw in IVUS_ATTRIBUTES if kw in ds]
    if present:
        return True, f"intravascular attribute(s) {', '.join(present[:3])}"
    if modality and modality != "US":
        name = MODALITY_NAMES.get(modality, "")
        return False, f"Modality {modality}" + (
            f" ({name})" if name and name != modality else ", not ultrasound"
        )
    return None, "ultrasound without intravascular attributes (no Modality IVUS / IVOCT, no " \
        "IVUS Acquisition / Pullback Rate)"


def in_range(key: str, value) -> bool:
    """Whether every value lies inside ``PLAUSIBLE_RANGES[key]`` (finite values only)."""
    lo, hi, _ = PLAUSIBLE_RANGES[key]
    arr = np.atleast_1d(np.asarray(value, float))
    if key in _ABS_RANGE:
        arr = np.abs(arr)
    return bool(np.all(np.isfinite(arr)) and np.all((arr >= lo) & (arr <= hi)))


def range_problem(key: str, value, label: str | None = None) -> str | None:
    """The message for a value outside its plausible range (None when it is inside)."""
    if in_range(key, value):
        return None
    lo, hi, unit = PLAUSIBLE_RANGES[key]
    arr = np.atleast_1d(np.asarray(value, float))
    u = f" {unit}" if unit else ""
    shown = ", ".join(f"{v:g}" for v in arr[:3]) + (", ..." if arr.size > 3 else "")
    absv = "|value| " if key in _ABS_RANGE else ""
    return (
        f"{label or key} is {shown}{u}, outside the plausible {absv}range {lo:g}..{hi:g}{u}: "
        "the value cannot be trusted"
    )


def check_range(key: str, value, where, label: str | None = None) -> None:
    """Raise :class:`ReaderError` (naming ``where`` and ``label``) for an implausible value."""
    problem = range_problem(key, value, label)
    if problem:
        raise ReaderError(where, problem)


# -- checked tag access: never a silent wrong number, never a bare TypeError ----------------


def _tag_label(kw: str) -> str:
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(kw)
    if tag is None:
        return kw
    return f"{kw} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


def tag_value(ds, kw: str, path: Path):
    """The value of tag ``kw`` (None when absent or empty); a value pydicom cannot parse is a
    :class:`ReaderError` naming the file and the tag."""
    try:
        val = ds.get(kw, None)
    except Exception as exc:  # noqa: BLE001  malformed value string
        raise ReaderError(path, f"{_tag_label(kw)} is malformed ({exc})") from None
    if val is None or (isinstance(val, str | bytes) and not str(val).strip()):
        return None
    return val


def tag_floats(
    ds,
    kw: str,
    path: Path,
    n: int | None = None,
    *,
    positive: bool = False,
    nonzero: bool = False,
    plausible: bool = False,
) -> np.ndarray | None:
    """Float values of a numeric tag, checked: parseable, ``n`` of them (when given), finite,
    and > 0 (``positive``) or != 0 (``nonzero``), and (``plausible``) inside the tag's range of
    :data:`PLAUSIBLE_RANGES`. None when the tag is absent.

    Any failure is a :class:`ReaderError` naming the file and the tag.
    """
    val = tag_value(ds, kw, path)
    if val is None:
        return None
    if isinstance(val, str | bytes) or not hasattr(val, "__iter__"):
        vals = [val]
    else:
        vals = list(val)
    try:
        arr = np.array([float(v) for v in vals], float)
    except (TypeError, ValueError) as exc:
        raise ReaderError(path, f"{_tag_label(kw)} is not numeric ({exc})") from None
    label = _tag_label(kw)
    if n is not None and arr.size != n:
        raise ReaderError(path, f"{label} has {arr.size} value(s), expected {n}")
    if arr.size == 0:
        return None
    if not np.all(np.isfinite(arr)):
        raise ReaderError(path, f"{label} is not finite ({arr.tolist()})")
    if positive and np.any(arr <= 0):
        raise ReaderError(path, f"{label} must be > 0, got {arr.tolist()}")
    if nonzero and np.any(arr == 0):
        raise ReaderError(path, f"{label} must not be 0")
    if plausible:
        check_range(kw, arr, path, label)
    return arr


def tag_float(ds, kw: str, path: Path, default: float | None = None, **checks) -> float | None:
    """One checked float (see :func:`tag_floats`); ``default`` when the tag is absent."""
    arr = tag_floats(ds, kw, path, 1, **checks)
    return default if arr is None else float(arr[0])


def tag_int(
    ds,
    kw: str,
    path: Path,
    default: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
) -> int:
    """One checked integer tag within ``[lo, hi]``; ``default`` when absent (ReaderError when
    absent and no default)."""
    val = tag_value(ds, kw, path)
    label = _tag_label(kw)
    if val is None:
        if default is None:
            raise ReaderError(path, f"{label} is missing")
        return int(default)
    try:
        f = float(val)
        if not np.isfinite(f) or f != int(f):
            raise ValueError(f"{val!r}")
        out = int(f)
    except (TypeError, ValueError) as exc:
        raise ReaderError(path, f"{label} is not an integer ({exc})") from None
    if (lo is not None and out < lo) or (hi is not None and out > hi):
        raise ReaderError(path, f"{label} is {out}, expected {lo}..{hi}")
    return out


def expected_pixel_bytes(rows: int, cols: int, frames: int, spp: int, bits: int) -> int:
    """Bytes of native (uncompressed) pixel data, before the even-length padding."""
    n = rows * cols * frames * spp
    return (n * bits + 7) // 8


def check_pixel_length(path: Path, length: int, rows, cols, frames, spp, bits) -> None:
    """Refuse native pixel data whose length does not match Rows x Columns x frames x samples
    x bytes (a wrong Rows would load a cropped or sheared image; a wrong frame count a
    partial pullback)."""
    need = expected_pixel_bytes(rows, cols, frames, spp, bits)
    if length in (need, need + 1) or (length == 0xFFFFFFFF):
        return
    raise ReaderError(
        path,
        f"pixel data holds {length} bytes but Rows x Columns x frames x samples x bytes = "
        f"{rows} x {cols} x {frames} x {spp} x {bits / 8:g} = {need}: the header does not "
        "describe the image",
    )
