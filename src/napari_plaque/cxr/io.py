"""Chest radiographs: CR / DX DICOM and PNG / JPEG files, read with their display conventions.

:func:`read_radiograph` returns a :class:`Radiograph`: the stored pixel values untouched
(``stored``), the photometric interpretation, the display window and the pixel spacing with
where it came from. Conventions:

- **MONOCHROME1** (low values bright, as in RG1_UNCR.dcm) is shown inverted so that bone is
  bright: the layer keeps the stored values and uses the reversed grey colormap; the model's
  input (:meth:`Radiograph.bone_bright`) is inverted about the stored value range.
- **Display window**: the VOI LUT Sequence when present (exact, :meth:`Radiograph.display`;
  the layer's contrast limits span its input range), else Window Center / Width, else the
  1st-99th percentile of the stored values. The stored values are never rescaled.
- **Spacing**: ``PixelSpacing`` (calibrated at the patient) is preferred; otherwise
  ``ImagerPixelSpacing`` (at the detector: anatomy looks about 10 % larger than it is, flagged in
  ``spacing_source``). A zero, negative, non-finite or missing spacing is *unknown*: it is
  flagged (``spacing_mm`` None) and never used; the layer is then in pixels, not mm.
- PNG / JPEG: grey (colour converted by luminance), bone assumed bright, spacing unknown.

Metadata holds acquisition facts only (never patient identifiers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import ReaderError

PHOTOMETRIC = ("MONOCHROME1", "MONOCHROME2")
#: what ``spacing_source`` can be
SPACING_SOURCES = ("PixelSpacing", "ImagerPixelSpacing", None)


@dataclass
class Radiograph:
    """One 2D radiograph with its display and geometry facts.

    Attributes
    ----------
    stored : ndarray (rows, cols)
        The stored pixel values (after the modality rescale when one is present), unaltered.
    photometric : str
        ``MONOCHROME1`` (low = bright) or ``MONOCHROME2`` (high = bright).
    value_range : (lo, hi)
        The range the stored values can take (from Bits Stored / Pixel Representation, or the
        image dtype), used to invert MONOCHROME1.
    window : (lo, hi)
        Display limits in stored values (bone bright after the photometric handling).
    voi_lut : ndarray or None
        VOI LUT (input values ``voi_first + i`` -> output), applied by :meth:`display`.
    spacing_mm : (row, col) or None
        Pixel spacing in mm; None when unknown (zero / missing / invalid in the file).
    spacing_source : str or None
        ``PixelSpacing`` or ``ImagerPixelSpacing`` (detector plane), None when unknown.
    spacing_note : str
        Why the spacing is unknown, or what it means.
    """

    stored: np.ndarray
    photometric: str = "MONOCHROME2"
    value_range: tuple[float, float] = (0.0, 255.0)
    window: tuple[float, float] = (0.0, 255.0)
    window_source: str = "percentile"
    voi_lut: np.ndarray | None = None
    voi_first: float = 0.0
    spacing_mm: tuple[float, float] | None = None
    spacing_source: str | None = None
    spacing_note: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    name: str = "radiograph"

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.stored.shape[0]), int(self.stored.shape[1]))

    @property
    def spacing_known(self) -> bool:
        return self.spacing_mm is not None

    @property
    def inverted(self) -> bool:
        return self.photometric == "MONOCHROME1"

    def bone_bright(self) -> np.ndarray:
        """float32 (rows, cols): the stored values with bone bright (MONOCHROME1 inverted)."""
        x = np.asarray(self.stored, np.float32)
        if self.inverted:
            lo, hi = self.value_range
            x = np.float32(lo + hi) - x
        return x

    def display(self) -> np.ndarray:
        """float32 (rows, cols) in [0, 1], bone bright: the VOI LUT or window applied."""
        x = np.asarray(self.stored, np.float64)
        if self.voi_lut is not None:
            lut = np.asarray(self.voi_lut, np.float64)
            idx = np.clip(np.rint(x - self.voi_first), 0, lut.size - 1).astype(np.intp)
            y = lut[idx]
            lo, hi = float(lut.min()), float(lut.max())
        else:
            y = x
            lo, hi = self.window
        y = np.clip((y - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
        if self.inverted:
            y = 1.0 - y
        return y.astype(np.float32)

    def layer_meta(self) -> dict[str, Any]:
        """JSON-friendly facts for the napari layer's metadata (no patient identifiers): every
        field (:func:`radiograph_from_layer` gives the radiograph back), ``meta`` beside them
        and whole under ``"meta"`` (an entry sharing a field's name survives too)."""
        from ..layers import META_KEY

        return {
            **self.meta,
            "napari_plaque": "radiograph",
            "photometric": self.photometric,
            "value_range": [float(v) for v in self.value_range],
            "window": [float(v) for v in self.window],
            "window_source": self.window_source,
            "spacing_mm": list(self.spacing_mm) if self.spacing_mm else None,
            "spacing_known": self.spacing_known,
            "spacing_source": self.spacing_source,
            "spacing_note": self.spacing_note,
            "source": self.source,
            "voi_lut": None if self.voi_lut is None else np.asarray(self.voi_lut).tolist(),
            "voi_first": float(self.voi_first),
            META_KEY: dict(self.meta),
        }


# --------------------------------------------------------------------------- spacing


def _spacing_pair(ds, kw: str) -> tuple[tuple[float, float] | None, str]:
    """(spacing, note) of one spacing tag: None with the reason when unusable."""
    try:
        val = ds.get(kw, None)
    except Exception as exc:  # noqa: BLE001 - malformed DS string
        return None, f"{kw} is malformed ({exc})"
    if val is None or (isinstance(val, str | bytes) and not str(val).strip()):
        return None, f"{kw} is missing"
    vals = list(val) if hasattr(val, "__iter__") and not isinstance(val, str | bytes) else [val]
    try:
        arr = np.array([float(v) for v in vals], float)
    except (TypeError, ValueError):
        return None, f"{kw} is not numeric ({val!r})"
    if arr.size != 2:
        return None, f"{kw} has {arr.size} values, expected 2"
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        return None, f"{kw} is {arr.tolist()} (zero, negative or not finite): spacing unknown"
    return (float(arr[0]), float(arr[1])), ""


def dicom_spacing(ds) -> tuple[tuple[float, float] | None, str | None, str]:
    """(spacing_mm, source, note) of a radiograph dataset (see the module docstring)."""
    px, px_note = _spacing_pair(ds, "PixelSpacing")
    if px is not None:
        return px, "PixelSpacing", "calibrated at the patient (PixelSpacing)"
    imager, imager_note = _spacing_pair(ds, "ImagerPixelSpacing")
    if imager is not None:
        return (
            imager,
            "ImagerPixelSpacing",
            "at the detector (ImagerPixelSpacing): not corrected for magnification",
        )
    notes = [n for n in (px_note, imager_note) if n and "missing" not in n]
    return None, None, "; ".join(notes) or "no PixelSpacing or ImagerPixelSpacing"


# --------------------------------------------------------------------------- DICOM


def _value_range(ds, path: Path, arr: np.ndarray) -> tuple[float, float]:
    from ..io.dicom_common import tag_int

    bits = tag_int(ds, "BitsStored", path, int(arr.dtype.itemsize * 8), lo=1, hi=32)
    signed = tag_int(ds, "PixelRepresentation", path, 0, lo=0, hi=1) == 1
    if signed:
        return (-float(2 ** (bits - 1)), float(2 ** (bits - 1) - 1))
    return (0.0, float(2**bits - 1))


def _read_dicom(path: Path) -> Radiograph:
    import pydicom

    from ..io.detect import Format, peek_dicom
    from ..io.dicom_common import native_pixels, safe_meta, tag_floats, tag_int

    kind = peek_dicom(path)
    if kind is not Format.RADIOGRAPH_DICOM:
        what = kind.value if kind is not None else "not DICOM"
        raise ReaderError(path, f"not a CR / DX radiograph ({what})")
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(path, f"unreadable DICOM ({exc})") from None
    frames = tag_int(ds, "NumberOfFrames", path, 1, lo=1, hi=100000)
    if frames != 1:
        raise ReaderError(path, f"a radiograph has one frame, this file has {frames}")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if photometric not in PHOTOMETRIC:
        raise ReaderError(
            path, f"photometric interpretation {photometric!r}: a radiograph must be grey"
        )
    arr = native_pixels(ds, path)
    if arr.ndim != 2:
        raise ReaderError(path, f"pixel data is {arr.shape}, expected one grey image")
    vr = _value_range(ds, path, arr)
    slope = tag_floats(ds, "RescaleSlope", path, 1, nonzero=True)
    intercept = tag_floats(ds, "RescaleIntercept", path, 1)
    stored = arr
    if slope is not None or intercept is not None:
        s = float(slope[0]) if slope is not None else 1.0
        b = float(intercept[0]) if intercept is not None else 0.0
        if (s, b) != (1.0, 0.0):
            stored = arr.astype(np.float32) * np.float32(s) + np.float32(b)
            ends = sorted((vr[0] * s + b, vr[1] * s + b))
            vr = (ends[0], ends[1])
    voi_lut, voi_first, window, wsrc = None, 0.0, None, "percentile"
    seq = ds.get("VOILUTSequence", None)
    if seq is not None and len(seq):
        item = seq[0]
        desc = item.get("LUTDescriptor", None)
        data = item.get("LUTData", None)
        if desc is not None and data is not None and len(desc) == 3:
            voi_first = float(desc[1])
            lut = np.asarray(data if not isinstance(data, bytes) else np.frombuffer(data, "<u2"))
            voi_lut = lut.astype(np.float32).ravel()
            window = (voi_first, voi_first + voi_lut.size - 1)
            wsrc = "VOILUTSequence"
    if window is None:
        wc = tag_floats(ds, "WindowCenter", path)
        ww = tag_floats(ds, "WindowWidth", path)
        if wc is not None and ww is not None and ww[0] > 0:
            c, w = float(wc[0]), float(ww[0])
            window = (c - w / 2.0, c + w / 2.0)
            wsrc = "WindowCenter/WindowWidth"
    if window is None:
        window = _percentile_window(stored)
    spacing, src, note = dicom_spacing(ds)
    meta = safe_meta(ds)
    for kw, key in (
        ("BodyPartExamined", "body_part"),
        ("ViewPosition", "view_position"),
        ("ImageType", "image_type"),
        ("EstimatedRadiographicMagnificationFactor", "magnification_factor"),
        ("DistanceSourceToDetector", "source_detector_mm"),
    ):
        v = ds.get(kw, None)
        if v not in (None, ""):
            from ..io.dicom_common import plain

            meta[key] = plain(v)
    meta["transfer_syntax"] = str(getattr(ds.file_meta, "TransferSyntaxUID", ""))
    return Radiograph(
        stored=stored,
        photometric=photometric,
        value_range=vr,
        window=(float(window[0]), float(window[1])),
        window_source=wsrc,
        voi_lut=voi_lut,
        voi_first=voi_first,
        spacing_mm=spacing,
        spacing_source=src,
        spacing_note=note,
        meta=meta,
        source=str(path),
        name=path.stem,
    )


def _percentile_window(x: np.ndarray) -> tuple[float, float]:
    sample = np.asarray(x)[:: max(1, x.shape[0] // 512), :: max(1, x.shape[1] // 512)]
    lo, hi = np.percentile(sample, [1.0, 99.0])
    if hi <= lo:
        hi = lo + 1.0
    return (float(lo), float(hi))


# --------------------------------------------------------------------------- PNG / JPEG


def _read_image(path: Path) -> Radiograph:
    from ..io.detect import image_size_problem

    why = image_size_problem(path)  # a decompression bomb is refused before it is decoded
    if why:
        raise ReaderError(path, why)
    try:
        from PIL import Image

        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im)
                arr = arr.astype(np.uint16) if arr.min() >= 0 and arr.max() < 65536 else arr
            elif mode in ("L", "P", "LA", "1"):
                arr = np.asarray(im.convert("L"))
            else:
                rgb = np.asarray(im.convert("RGB")).astype(np.float32)
                if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(
                    rgb[..., 1], rgb[..., 2]
                ):
                    arr = rgb[..., 0].astype(np.uint8)
                else:
                    lum = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
                    arr = np.clip(np.rint(lum), 0, 255).astype(np.uint8)
    except (OSError, ValueError) as exc:
        raise ReaderError(path, f"not a readable image ({exc})") from None
    if arr.ndim != 2 or min(arr.shape) < 8:
        raise ReaderError(path, f"image is {arr.shape}: not one grey radiograph")
    vr = (0.0, 255.0) if arr.dtype == np.uint8 else (0.0, float(np.iinfo(np.uint16).max))
    return Radiograph(
        stored=arr,
        photometric="MONOCHROME2",
        value_range=vr,
        window=_percentile_window(arr) if arr.dtype != np.uint8 else (0.0, 255.0),
        window_source="percentile" if arr.dtype != np.uint8 else "full 8-bit range",
        spacing_mm=None,
        spacing_source=None,
        spacing_note="an image file holds no pixel spacing: spacing unknown",
        meta={"format": path.suffix.lower().lstrip(".")},
        source=str(path),
        name=path.stem,
    )


def read_radiograph(path: str | Path) -> Radiograph:
    """Read a CR / DX DICOM radiograph or a PNG / JPEG file (ReaderError naming the problem)."""
    p = Path(path)
    if not p.is_file():
        raise ReaderError(p, "file not found")
    from ..io.detect import IMAGE_SUFFIXES, is_dicom_file

    if is_dicom_file(p):
        return _read_dicom(p)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return _read_image(p)
    raise ReaderError(p, "not a radiograph (CR / DX DICOM, PNG or JPEG)")


def radiograph_layer_data(rg: Radiograph, **kwargs: Any) -> tuple[Any, dict[str, Any], str]:
    """An image layer tuple: stored values, bone bright, scale in mm when the spacing is known."""
    from ..layers import UNITS

    attrs: dict[str, Any] = {
        "name": rg.name,
        "colormap": "gray_r" if rg.inverted else "gray",
        "contrast_limits": tuple(float(v) for v in rg.window),
        "metadata": rg.layer_meta(),
        "translate": (0.0, 0.0),
    }
    if rg.spacing_known:
        attrs["scale"] = tuple(rg.spacing_mm)  # type: ignore[arg-type]
        attrs["units"] = UNITS
    else:
        attrs["scale"] = (1.0, 1.0)  # pixels: never a guessed mm
    attrs.update(kwargs)
    return (rg.stored, attrs, "image")


#: the layer metadata keys :meth:`Radiograph.layer_meta` owns (the fields, and ``meta``)
_LAYER_KEYS = (
    "napari_plaque", "photometric", "value_range", "window", "window_source", "spacing_mm",
    "spacing_known", "spacing_source", "spacing_note", "source", "voi_lut", "voi_first", "meta",
)


def radiograph_from_layer(layer: Any) -> Radiograph:
    """A :class:`Radiograph` back from a napari image layer (ours or any 2D grey image)."""
    from ..layers import core_meta

    data = np.asarray(layer.data)
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        data = data[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if data.ndim != 2:
        raise ValueError(f"layer {layer.name!r} is {data.ndim}D; a radiograph is one 2D image")
    meta = dict(getattr(layer, "metadata", {}) or {})
    photometric = meta.get("photometric", "MONOCHROME2")
    vr = meta.get("value_range")
    if vr is None:
        vr = (float(np.min(data)), float(np.max(data)))
    known = bool(meta.get("spacing_known", False))
    sp = meta.get("spacing_mm") if known else None
    win = meta.get("window") or list(getattr(layer, "contrast_limits", _percentile_window(data)))
    lut = meta.get("voi_lut")
    return Radiograph(
        stored=data,
        photometric=photometric if photometric in PHOTOMETRIC else "MONOCHROME2",
        value_range=(float(vr[0]), float(vr[1])),
        window=(float(win[0]), float(win[1])),
        window_source=str(meta.get("window_source", "layer")),
        voi_lut=None if lut is None else np.asarray(lut, np.float32),
        voi_first=float(meta.get("voi_first", 0.0)),
        spacing_mm=(float(sp[0]), float(sp[1])) if sp else None,
        spacing_source=meta.get("spacing_source") if sp else None,
        spacing_note=str(meta.get("spacing_note", "")),
        meta=core_meta(meta, _LAYER_KEYS),
        source=str(meta.get("source", "")),
        name=str(layer.name),
    )
