"""IVUS pullbacks stored as image sequences: a folder of frames, a multi-page TIFF, a NIfTI.

Much research IVUS data exists only in these forms (the IVUS 2011 challenge set, console
exports, NIRS-IVUS JPEG sequences with a colour chemogram ring and burnt-in text).

* **Folder**: PNG, JPEG, TIFF, BMP files in natural order (``frame2`` before ``frame10``);
  other files are skipped with a note. All frames must have one size.
* **Multi-page TIFF**: one page per frame.
* **NIfTI**: a 3-D image, the last axis the frames (as ITK / 3D Slicer write a stack), or a
  4-D RGB one.

Timing and pixel size come from the keyword options, else from a sidecar JSON (``pullback.json``
inside the folder, or ``<name>.json`` next to the folder or file) with keys ``pixel_mm`` (or
``pixel_spacing_mm`` [dy, dx]), ``frame_rate`` (frames/s) or ``frame_time_s``, and
``pullback_mm_s``. Missing values are assumed and flagged in ``Pullback.assumed``: a
10 mm field of view across the short side, 30 frames/s, 0.5 mm/s.

RGB frames become grey (luminance). Content that is not ultrasound is **masked** (set to 0)
before anything sees it: with ``mask="auto"`` the imaging field is the disc about the frame
centre whose pixels change from frame to frame, minus coloured pixels (a NIRS chemogram ring,
coloured overlays); static burnt-in text, tick marks and banners outside that disc go. Pass
``mask=None`` to keep everything, a radius in pixels for a centred disc, or a boolean array.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..types import Pullback
from .dicom_common import IVUS_MAX_FIELD_MM, check_range
from .errors import ReaderError
from .ivus_dicom import (
    DEFAULT_FRAME_TIME_S,
    DEFAULT_PULLBACK_RATE_MM_S,
    LazyFrames,
    check_frame_shape,
)

__all__ = [
    "DEFAULT_FIELD_OF_VIEW_MM",
    "FRAME_SUFFIXES",
    "imaging_field_mask",
    "natural_key",
    "read_frame_sequence",
    "read_ivus",
]

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
#: assumed field of view (mm across the short side of the frame) when no pixel size is given
DEFAULT_FIELD_OF_VIEW_MM = 10.0
_COLOUR_TOL = 24  # channel spread (grey levels) above which a pixel is colour, not grey
#: a sidecar JSON larger than this is not one (read nothing bigger)
SIDECAR_MAX_BYTES = 1 << 20
#: the automatic mask is given up when the field it finds keeps less than this fraction
AUTO_MASK_MIN_FIELD = 0.2
_SIDECAR_KEYS = {"pixel_mm", "pixel_spacing_mm", "frame_rate", "frame_time_s", "pullback_mm_s"}


def natural_key(name: str) -> list:
    """Sort key: digit runs compare as numbers ("f2" < "f10")."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _is_nifti(p: Path) -> bool:
    n = p.name.lower()
    return n.endswith(".nii") or n.endswith(".nii.gz")


def _sidecar(path: Path, covered: bool = False) -> tuple[dict[str, Any], Path | None, str | None]:
    """The sidecar JSON of a pullback: (values, its path, a note). ``covered``: every value
    is given as an option, so a file that is not a usable sidecar is ignored with a note.

    A ``<folder>.json`` beside a folder is often not a sidecar at all (``> folder.json`` in
    the shell makes an empty one; a saved report is JSON too): an empty file, or an object
    with none of the sidecar keys, is ignored with a note; a damaged sidecar is refused unless
    the options cover every value.
    """
    cands = []
    if path.is_dir():
        cands.append(path / "pullback.json")
    base = path.name[:-7] if path.name.lower().endswith(".nii.gz") else path.stem
    cands.append(path.with_name(base + ".json") if not path.is_dir() else
                 path.with_name(path.name + ".json"))
    for c in cands:
        if not c.is_file():
            continue
        try:
            if c.stat().st_size > SIDECAR_MAX_BYTES:
                raise OSError(f"{c.stat().st_size} bytes, more than a sidecar holds")
            text = c.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problem = f"sidecar JSON is not readable ({exc})"
        else:
            beside = c.parent != path  # <name>.json next to it: maybe not meant as a sidecar
            if not text.strip() and beside:
                return {}, None, f"{c}: empty file, not a sidecar: ignored"
            problem = None
            try:
                d = json.loads(text)
            except (ValueError, RecursionError) as exc:
                problem = f"sidecar JSON is not readable ({str(exc)[:200]})"
            else:
                if not isinstance(d, dict):
                    problem = "sidecar JSON must be an object"
                elif beside and not set(d) & _SIDECAR_KEYS:
                    return {}, None, (
                        f"{c}: JSON without any sidecar key ({sorted(_SIDECAR_KEYS)}), not a "
                        "sidecar: ignored"
                    )
                else:
                    unknown = set(d) - _SIDECAR_KEYS
                    if unknown:
                        problem = (f"unknown sidecar key(s) {sorted(unknown)[:10]}; "
                                   f"known: {sorted(_SIDECAR_KEYS)}")
                    else:
                        return d, c, None
        if covered:
            return {}, None, f"{c}: {problem}; ignored (every value is given as an option)"
        raise ReaderError(c, problem)
    return {}, None, None


def _positive(v: Any, what: str, where: Path | str, key: str | None = None) -> float:
    """A positive finite number (never a bool: ``true`` is not 1 mm), inside the plausible
    range of ``key`` (:data:`~napari_plaque.io.dicom_common.PLAUSIBLE_RANGES`) when given."""
    if isinstance(v, bool) or not isinstance(v, int | float | str | np.number):
        raise ReaderError(where, f"{what} must be a number, got {v!r}")
    try:
        f = float(v)
    except (TypeError, ValueError, OverflowError):
        raise ReaderError(where, f"{what} must be a number, got {v!r}") from None
    if not np.isfinite(f) or f <= 0:
        raise ReaderError(where, f"{what} must be a positive number, got {v!r}")
    if key is not None:
        check_range(key, f, where, what)
    return f


def _option_or_sidecar(option: Any, what: str, flag: str, side: dict, key: str,
                       where: Path | str) -> float | None:
    """The option's value (checked, named by its ``flag``), else the sidecar's ``key``
    (checked, named by the sidecar ``where``), else None."""
    if option is not None:
        return _positive(option, what, flag, key)
    if key in side:
        return _positive(side[key], key, where, key)
    return None


def _to_grey(a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey uint8 frame and the colour-pixel mask (None for grey input)."""
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        rgb = a[..., :3].astype(np.float32)
        if a.dtype != np.uint8:
            rgb = rgb * (255.0 / max(float(rgb.max()), 1.0))
        colour = (rgb.max(-1) - rgb.min(-1)) > _COLOUR_TOL
        g = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
        return np.clip(np.rint(g), 0, 255).astype(np.uint8), colour
    if a.ndim != 2:
        raise ValueError(f"frame of shape {a.shape} is neither grey nor RGB")
    if a.dtype != np.uint8:
        a = a.astype(np.float32)
        hi = float(a.max()) if a.size else 1.0
        a = np.clip(np.rint(a * (255.0 / max(hi, 1.0))), 0, 255)
    return a.astype(np.uint8), None


def _read_image(p: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(p) as im:
            if im.mode in ("P", "PA", "LA", "CMYK", "YCbCr"):
                im = im.convert("RGB")
            return np.asarray(im)
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(p, f"not a readable image ({type(exc).__name__}: {exc})") from exc


def imaging_field_mask(
    sample: np.ndarray, colour: np.ndarray | None = None, min_frac: float = 0.5
) -> tuple[np.ndarray, float]:
    """Auto mask of the imaging field from a few frames (S, rows, cols).

    The field is the disc about the frame centre out to the radius where fewer than
    ``min_frac`` of the pixels of a one-pixel ring change between frames (burnt-in text and
    ticks are static); static bright pixels inside it (with 4 or more frames) and coloured
    pixels are removed. With one frame, the disc inscribed in the
    frame. Returns (mask, radius in pixels).
    """
    s, rows, cols = sample.shape
    cy, cx = (rows - 1) / 2.0, (cols - 1) / 2.0
    rr, cc = np.indices((rows, cols))
    rad = np.hypot(rr - cy, cc - cx)
    rmax = float(np.hypot(rows, cols) / 2.0)
    radius = min(rows, cols) / 2.0
    if s >= 2:
        moving = (np.ptp(sample.astype(np.int16), axis=0) > 2)
        ring = np.minimum(rad.astype(np.int64), int(rmax))
        cnt = np.bincount(ring.ravel(), minlength=int(rmax) + 1)
        mov = np.bincount(ring.ravel(), weights=moving.ravel(), minlength=int(rmax) + 1)
        frac = mov / np.maximum(cnt, 1)
        # smallest radius (beyond the catheter, 5 % of the short side) where motion stops
        start = max(1, int(0.05 * min(rows, cols)))
        low = np.flatnonzero(frac[start:] < min_frac)
        radius = float(start + low[0]) if low.size else rmax
    mask = rad < radius
    if s >= 4:
        # static bright pixels (burnt-in text, ticks, overlays) go wherever they are
        mask &= moving | (sample.max(axis=0) < 16)
    if colour is not None:
        mask &= ~colour
    return mask, radius


class _MaskedGrey:
    def __init__(self, get_raw, mask):
        self.get_raw = get_raw
        self.mask = mask

    def __call__(self, i: int) -> np.ndarray:
        g, _ = _to_grey(self.get_raw(i))
        if self.mask is not None:
            g = np.where(self.mask, g, 0).astype(np.uint8)
        return g


def _sources(path: Path, notes: list[str]):
    """(n_frames, frame_shape, get_raw(i) -> array) of a folder, TIFF or NIfTI."""
    if path.is_dir():
        files, skipped = [], []
        for p in sorted(path.iterdir(), key=lambda q: natural_key(q.name)):
            if not p.is_file() or p.name.startswith("."):
                continue
            if p.suffix.lower() in FRAME_SUFFIXES:
                files.append(p)
            elif p.name != "pullback.json":
                skipped.append(p.name)
        if skipped:
            notes.append(f"{len(skipped)} non-image file(s) skipped: {skipped[:5]}")
        if not files:
            raise ReaderError(path, f"no frames ({', '.join(FRAME_SUFFIXES)}) in the folder")
        first = _read_image(files[0])
        shape = first.shape[:2]
        from PIL import Image

        for p in files[1:]:
            try:
                with Image.open(p) as im:
                    size = (im.size[1], im.size[0])
            except Exception as exc:  # noqa: BLE001
                raise ReaderError(p, f"not a readable image ({exc})") from exc
            if size != shape:
                raise ReaderError(
                    p, f"frame size {size[0]}x{size[1]} differs from {shape[0]}x{shape[1]} of "
                    f"{files[0].name}; all frames of a pullback must have one size"
                )
        return len(files), shape, lambda i: _read_image(files[i])
    if _is_nifti(path):
        import nibabel as nib

        try:
            data = np.asanyarray(nib.load(str(path)).dataobj)
        except Exception as exc:  # noqa: BLE001
            raise ReaderError(path, f"not a readable NIfTI file ({exc})") from exc
        data = np.squeeze(data)
        if data.dtype.names:  # RGB NIfTI (structured dtype)
            data = np.stack([data[n] for n in data.dtype.names[:3]], -1)
            data = np.moveaxis(data, 2, 0).swapaxes(1, 2)
        elif data.ndim == 3:
            data = np.moveaxis(data, 2, 0).swapaxes(1, 2)  # (x, y, frames) -> (F, rows, cols)
        else:
            raise ReaderError(path, f"NIfTI of shape {data.shape} is not a frame stack")
        return data.shape[0], data.shape[1:3], lambda i: data[i]
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        try:
            with tifffile.TiffFile(str(path)) as tf:
                shapes = [tuple(pg.shape) for pg in tf.pages]
            arr = tifffile.imread(str(path))
        except Exception as exc:  # noqa: BLE001
            raise ReaderError(path, f"not a readable TIFF ({exc})") from exc
        odd = [k for k, sh in enumerate(shapes) if sh != shapes[0]]
        if odd:
            k = odd[0]
            raise ReaderError(
                path,
                f"page {k + 1} of {len(shapes)} is {'x'.join(map(str, shapes[k]))}, page 1 is "
                f"{'x'.join(map(str, shapes[0]))}: all frames of a pullback must have one size",
            )
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] < 8):
            arr = arr[None]
        if arr.ndim not in (3, 4):
            raise ReaderError(path, f"TIFF of shape {arr.shape} is not a frame stack")
        if len(shapes) > 1 and arr.shape[0] != len(shapes):
            raise ReaderError(
                path, f"the TIFF holds {len(shapes)} pages but reads as {arr.shape[0]} frame(s)"
            )
        return arr.shape[0], arr.shape[1:3], lambda i: arr[i]
    raise ReaderError(path, "not a folder of frames, a TIFF or a NIfTI")


def read_frame_sequence(
    path: str | Path,
    pixel_mm: float | tuple[float, float] | None = None,
    frame_rate: float | None = None,
    pullback_mm_s: float | None = None,
    mask: Any = "auto",
) -> Pullback:
    """Read an image-sequence pullback (see the module docstring).

    Parameters
    ----------
    pixel_mm : float or (dy, dx), optional
        Pixel size; else the sidecar's; else assumed (10 mm across the short side), flagged.
    frame_rate : float, optional
        Frames per second; else the sidecar's; else 30, flagged.
    pullback_mm_s : float, optional
        Pullback speed; else the sidecar's; else 0.5 mm/s, flagged.
    mask : "auto", None, float or bool array
        Imaging-field mask (see the module docstring).
    """
    path = Path(path)
    if not path.exists():
        raise ReaderError(path, "no such file or folder")
    notes: list[str] = []
    covered = pixel_mm is not None and frame_rate is not None and pullback_mm_s is not None
    side, side_path, side_note = _sidecar(path, covered)
    if side_note:
        notes.append(side_note)
    n, shape, get_raw = _sources(path, notes)
    check_frame_shape(path, shape)
    if n == 1:
        notes.append("a single frame: measured as one cross-section (no pullback length, no "
                     "frame-to-frame imaging-field mask)")
    assumed: set[str] = set()
    where = side_path or path
    if pixel_mm is None and "pixel_spacing_mm" in side:
        pixel_mm = side["pixel_spacing_mm"]
    if pixel_mm is None:
        pixel_mm = side.get("pixel_mm")
    if pixel_mm is None:
        px = DEFAULT_FIELD_OF_VIEW_MM / min(shape)
        spacing = (px, px)
        assumed.add("pixel_spacing_mm")
        notes.append(f"no pixel size: assumed {DEFAULT_FIELD_OF_VIEW_MM:g} mm across the frame "
                     f"({px:.4f} mm/pixel)")
    elif np.ndim(pixel_mm) == 0:
        v = _positive(pixel_mm, "pixel size", where, "pixel_mm")
        spacing = (v, v)
    else:
        vals = list(pixel_mm) if isinstance(pixel_mm, list | tuple | np.ndarray) else [pixel_mm]
        if len(vals) != 2:
            raise ReaderError(where, f"pixel size must be one number or [dy, dx], got {pixel_mm}")
        spacing = (_positive(vals[0], "pixel size", where, "pixel_mm"),
                   _positive(vals[1], "pixel size", where, "pixel_mm"))
    fps = _option_or_sidecar(frame_rate, "frame rate", "--frame-rate", side, "frame_rate", where)
    if fps is not None:
        frame_time = 1.0 / fps
    elif "frame_time_s" in side:
        frame_time = _positive(side["frame_time_s"], "frame_time_s", where, "frame_time_s")
    else:
        frame_time = DEFAULT_FRAME_TIME_S
        assumed.add("frame_time_s")
        notes.append(f"no frame rate: assumed {1 / DEFAULT_FRAME_TIME_S:g} frames/s")
    rate = _option_or_sidecar(pullback_mm_s, "pullback speed", "--pullback-mm-s", side,
                              "pullback_mm_s", where)
    if rate is None:
        rate = DEFAULT_PULLBACK_RATE_MM_S
        assumed.add("pullback_rate_mm_s")
        notes.append(f"no pullback speed: assumed {DEFAULT_PULLBACK_RATE_MM_S:g} mm/s")

    # sample a few frames for the grey conversion and the auto mask
    pick = np.unique(np.linspace(0, n - 1, min(n, 8)).round().astype(int))
    raws = [np.asarray(get_raw(int(i))) for i in pick]
    for r in raws:
        if not (r.ndim == 2 or (r.ndim == 3 and r.shape[-1] in (3, 4))):
            raise ReaderError(path, f"frames of shape {r.shape} are neither grey nor RGB")
    greys = [_to_grey(r) for r in raws]
    colour = None
    if greys[0][1] is not None:
        colour = np.any([c for _, c in greys], axis=0)
        notes.append("RGB frames converted to grey")
    radius = None
    if isinstance(mask, str):
        if mask != "auto":
            raise ValueError(f"mask must be 'auto', None, a radius or a boolean array, not {mask!r}")
        sample = np.stack([g for g, _ in greys])
        m, radius = imaging_field_mask(sample, colour)
        if len(sample) >= 2 and float(m.mean()) < AUTO_MASK_MIN_FIELD:
            moving = float(np.mean(np.ptp(sample.astype(np.int16), axis=0) > 2))
            notes.append(
                f"automatic imaging-field mask: the frames hardly change ({100 * moving:.1f} % "
                f"of pixels move; static frames?), the field found keeps only "
                f"{100 * float(m.mean()):.1f} % of the frame: no mask applied (pass a radius, "
                "or --no-mask, to choose)"
            )
            m, radius = None, None
    elif mask is None or mask is False:
        m = None
    elif np.ndim(mask) == 0:
        radius = _positive(mask, "mask radius", "mask")
        rr, cc = np.indices(shape)
        m = np.hypot(rr - (shape[0] - 1) / 2, cc - (shape[1] - 1) / 2) < radius
    else:
        m = np.asarray(mask, bool)
        if m.shape != tuple(shape):
            raise ValueError(f"mask shape {m.shape} differs from the frame shape {tuple(shape)}")
    if m is not None:
        out = int((~m).sum())
        if out:
            notes.append(
                f"{out} pixel(s) outside the imaging field masked"
                + (f" (field radius {radius:.0f} px)" if radius is not None else "")
            )
    frames = LazyFrames(n, shape, np.uint8, _MaskedGrey(get_raw, m))
    warnings_: list[str] = []
    fov = min(spacing[0] * shape[0], spacing[1] * shape[1])
    if "pixel_spacing_mm" not in assumed and fov > IVUS_MAX_FIELD_MM:
        warnings_.append(
            f"pixel size {spacing[0]:g} x {spacing[1]:g} mm gives a {fov:.0f} mm field of view, "
            f"more than the {IVUS_MAX_FIELD_MM:g} mm of an intravascular image: is the pixel "
            "size right?"
        )
        notes.append(f"warning: {warnings_[-1]}")
    meta: dict[str, Any] = {
        "notes": notes, "format": "frame-sequence", "n_frames": n, "warnings": warnings_,
    }
    if m is not None:
        meta["imaging_field_radius_px"] = radius
    if side_path is not None:
        meta["sidecar"] = str(side_path)
    pb = Pullback(
        frames=frames,
        frame_time_s=float(frame_time),
        pullback_rate_mm_s=float(rate),
        pixel_spacing_mm=spacing,
        assumed=assumed,
        meta=meta,
        source=str(path),
        name=path.name[:-7] if path.name.lower().endswith(".nii.gz") else path.stem,
    )
    return pb


def _reassess_intravascular(pb: Pullback) -> None:
    """After a --pixel-mm override, judge the field of view again (a multi-frame DICOM)."""
    from .ivus_dicom import intravascular_verdict

    header = pb.meta.get("intravascular_header")
    if not header:
        return
    verdict, why = intravascular_verdict(tuple(header), pb.pixel_spacing_mm, False,
                                         pb.frame_shape)
    pb.meta["intravascular"], pb.meta["intravascular_evidence"] = verdict, why
    pb.meta["warnings"] = [w for w in pb.meta.get("warnings", [])
                           if not w.startswith("not recognised as an intravascular")]
    notes = pb.meta.setdefault("notes", [])
    notes[:] = [n for n in notes if not n.startswith("warning: not recognised as an intravasc")]
    if verdict is not True:
        pb.meta["warnings"].append(f"not recognised as an intravascular pullback: {why}")
        notes.append(f"warning: {pb.meta['warnings'][-1]}")


def read_ivus(
    path: str | Path,
    pixel_mm: float | None = None,
    frame_rate: float | None = None,
    pullback_mm_s: float | None = None,
    mask: Any = "auto",
) -> Pullback:
    """Any IVUS pullback napari-plaque reads (multi-frame DICOM, folder of frames, multi-page
    TIFF, NIfTI); the options override (and un-flag) what the file says or what was assumed."""
    from .detect import Format, detect

    path = Path(path)
    if not path.exists():
        raise ReaderError(path, "no such file or folder")
    fmt = detect(path)
    if fmt is Format.IVUS_DICOM:
        from . import read_pullback

        pb = read_pullback(path)
        if pixel_mm is not None:
            v = _positive(pixel_mm, "pixel size", "--pixel-mm", "pixel_mm")
            pb.pixel_spacing_mm = (v, v)
            pb.assumed.discard("pixel_spacing_mm")
            _reassess_intravascular(pb)
        if frame_rate is not None:
            pb.frame_time_s = 1.0 / _positive(frame_rate, "frame rate", "--frame-rate",
                                              "frame_rate")
            pb.frame_times_s = None
            pb.assumed.discard("frame_time_s")
        if pullback_mm_s is not None:
            pb.pullback_rate_mm_s = _positive(pullback_mm_s, "pullback speed", "--pullback-mm-s",
                                              "pullback_mm_s")
            pb.assumed.discard("pullback_rate_mm_s")
        return pb
    if fmt is None and path.is_dir():
        raise ReaderError(
            path,
            f"no IVUS frames in the folder (expected {', '.join(FRAME_SUFFIXES)} files or a "
            "multi-frame DICOM)",
        )
    if fmt in (Format.FRAME_SEQUENCE, Format.TIFF_STACK, Format.NIFTI) or path.suffix.lower() in (
        ".tif",
        ".tiff",
    ):
        return read_frame_sequence(path, pixel_mm, frame_rate, pullback_mm_s, mask)
    raise ReaderError(
        path,
        f"not an IVUS pullback ({_what_it_is(path, fmt)}); expected a multi-frame DICOM, a "
        "folder of frames, a multi-page TIFF or a NIfTI",
    )


def _what_it_is(path: Path, fmt) -> str:
    """Words for what a path holds: a DICOM file is named from its header ("single-frame
    ultrasound image (Modality US)"), never "ct-series" for something that is not CT."""
    from .detect import Format

    if fmt is Format.CT_SERIES and path.is_file():
        try:
            import pydicom

            from .dicom_common import describe_object

            ds = pydicom.dcmread(path, stop_before_pixels=True,
                                 specific_tags=["Modality", "NumberOfFrames"])
            return describe_object(ds)
        except Exception:  # noqa: BLE001  only words for a message
            pass
    return fmt.value if fmt else "unknown format"
