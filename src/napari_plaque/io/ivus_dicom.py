"""IVUS pullbacks: multi-frame DICOM reader (lazy, frame-level) and writer.

Uncompressed pullbacks are memory-mapped: opening costs only the header parse and any frame is
a slice of the map. Compressed (encapsulated) pullbacks are indexed once (fragment offsets) and
decoded frame by frame on access, with a small cache, so thousands of frames open in well under
a second and scrolling decodes only what is shown.
"""

from __future__ import annotations

import datetime as _dt
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..types import Pullback
from .anon import hash_id
from .atomic import atomic_write_dicom
from .dicom_common import (
    IVUS_MAX_FIELD_MM,
    check_pixel_length,
    decode_problem,
    describe_object,
    in_range,
    intravascular_evidence,
    range_problem,
    safe_meta,
    tag_float,
    tag_floats,
    tag_int,
    tag_value,
)
from .errors import ReaderError

#: assumed motorised pullback speed when the file does not say (mm/s)
DEFAULT_PULLBACK_RATE_MM_S = 0.5
#: assumed frame time when the file gives none (s): 30 frames/s
DEFAULT_FRAME_TIME_S = 1.0 / 30.0

#: smallest frame side (pixels) read as a pullback
MIN_FRAME_PX = 16

_GREY_TOL = 3  # max channel difference (grey levels) for "grey content" in colour frames


def check_frame_shape(where, shape) -> None:
    """Refuse frames too small to hold a vessel cross-section (a 1 x 1 'pullback')."""
    if min(int(shape[0]), int(shape[1])) < MIN_FRAME_PX:
        raise ReaderError(
            where,
            f"frames of {int(shape[0])} x {int(shape[1])} pixels are too small for an IVUS "
            f"pullback (at least {MIN_FRAME_PX} x {MIN_FRAME_PX})",
        )


class LazyFrames:
    """A (frames, rows, cols) array-like that decodes frames on demand.

    Supports ``shape``, ``dtype``, ``ndim``, ``len``, numpy-style indexing (an int, slice or
    list on the first axis, anything numpy accepts on the others) and ``np.asarray``.
    """

    def __init__(self, n_frames, frame_shape, dtype, get_frame, cache_size: int = 64):
        self.shape = (int(n_frames), *map(int, frame_shape))
        self.dtype = np.dtype(dtype)
        self.ndim = 3
        self._get = get_frame
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def frame(self, i: int) -> np.ndarray:
        i = int(i)
        if i < 0:
            i += self.shape[0]
        if not 0 <= i < self.shape[0]:
            raise IndexError(f"frame {i} out of range (0..{self.shape[0] - 1})")
        with self._lock:
            hit = self._cache.get(i)
            if hit is not None:
                self._cache.move_to_end(i)
                return hit
        arr = self._get(i)
        with self._lock:
            self._cache[i] = arr
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return arr

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        first, rest = key[0], key[1:]
        if first is Ellipsis:
            first, rest = slice(None), (Ellipsis, *rest) if len(key) > 1 else ()
        if isinstance(first, int | np.integer):
            out = self.frame(int(first))
            return out[rest] if rest else out
        idx = np.arange(self.shape[0])[first]
        frames = [self.frame(int(i)) for i in np.atleast_1d(idx)]
        out = np.stack(frames) if frames else np.empty((0, *self.shape[1:]), self.dtype)
        return out[(slice(None), *rest)] if rest else out

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out.astype(dtype) if dtype is not None else out

    def __repr__(self) -> str:
        return f"LazyFrames(shape={self.shape}, dtype={self.dtype})"


def _frame_time(
    ds, notes: list[str], path: Path, n_frames: int = 0
) -> tuple[float, set[str], np.ndarray | None]:
    """Frame time (s) from Frame Time, Frame Time Vector or Cine Rate, checked.

    Non-finite values are refused (ReaderError naming the tag); an unusable or implausible
    value (see :data:`PLAUSIBLE_RANGES`; a Frame Time Vector all zero, negative or of the wrong
    length) is set aside with a note, and the next source or the flagged default is used:
    never a frame time of 0 or 1e308. A frame time from Cine Rate or Recommended Display Frame
    Rate (integer display rates, often rounded: 2 for a 0.4 s frame time) is flagged as
    assumed.
    """
    assumed: set[str] = set()
    ft = tag_float(ds, "FrameTime", path)
    ftv = tag_floats(ds, "FrameTimeVector", path)
    cine = tag_float(ds, "CineRate", path)
    rec = tag_float(ds, "RecommendedDisplayFrameRate", path)
    if ft is not None and ft > 0 and in_range("FrameTime", ft):
        return ft / 1000.0, assumed, None
    if ft is not None:
        why = range_problem("FrameTime", ft, "Frame Time (0018,1063)") if ft > 0 else (
            f"Frame Time (0018,1063) is {ft:g} ms"
        )
        notes.append(f"{why}: ignored")
    if ftv is not None and ftv.size > 1:
        v = ftv / 1000.0  # ms, first value is usually 0
        incs = v[1:] if v[0] == 0 else v
        problem = None
        if n_frames and ftv.size != n_frames:
            problem = f"has {ftv.size} values for {n_frames} frames"
        elif np.any(incs <= 0):
            zero = "all zero" if not np.any(incs) else "zero or negative increments"
            problem = f"holds {zero}"
        elif not in_range("FrameTime", incs * 1000.0):
            problem = range_problem("FrameTime", incs * 1000.0, "an increment").replace(
                ": the value cannot be trusted", ""
            )
        if problem is None:
            times = np.cumsum(np.concatenate([[0.0], incs]))[: len(v)]
            return float(np.mean(incs)), assumed, times
        notes.append(f"Frame Time Vector (0018,1065) {problem}: ignored")
    for rate, kw, label in (
        (cine, "CineRate", "Cine Rate (0018,0040)"),
        (rec, "RecommendedDisplayFrameRate", "Recommended Display Frame Rate (0008,2144)"),
    ):
        if rate is None:
            continue
        if rate > 0 and in_range(kw, rate):
            notes.append(
                f"frame time taken from {label} = {rate:g} frames/s, an integer display rate "
                "(may be rounded): frame time assumed, flagged"
            )
            assumed.add("frame_time_s")
            return 1.0 / rate, assumed, None
        why = range_problem(kw, rate, label) if rate > 0 else f"{label} is {rate:g}"
        notes.append(f"{why}: ignored")
    notes.append(
        f"no usable Frame Time / Frame Time Vector / Cine Rate: frame time assumed "
        f"{DEFAULT_FRAME_TIME_S:.4f} s"
    )
    assumed.add("frame_time_s")
    return DEFAULT_FRAME_TIME_S, assumed, None


def _pixel_size(ds, notes: list[str], path: Path | None = None) -> tuple[tuple[float, float], bool]:
    """Pixel size (dy, dx) mm from the ultrasound regions (cm) or PixelSpacing; an implausible
    value (:data:`PLAUSIBLE_RANGES`) is set aside with a note; none usable: 1.0, flagged."""
    path = Path(path or "?")
    regions = tag_value(ds, "SequenceOfUltrasoundRegions", path)
    if regions:
        for r in regions:
            ux = tag_int(r, "PhysicalUnitsXDirection", path, -1)
            uy = tag_int(r, "PhysicalUnitsYDirection", path, -1)
            dx = tag_float(r, "PhysicalDeltaX", path)
            dy = tag_float(r, "PhysicalDeltaY", path)
            if ux == 3 and uy == 3 and dx and dy:  # 3 = cm
                bad = range_problem("PhysicalDeltaX", dx, "Physical Delta X (0018,602C)") or (
                    range_problem("PhysicalDeltaY", dy, "Physical Delta Y (0018,602E)")
                )
                if bad:
                    notes.append(f"{bad}: ignored")
                    continue
                return (abs(dy) * 10.0, abs(dx) * 10.0), False
        notes.append("Sequence of Ultrasound Regions has no usable region in cm")
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        ps = tag_floats(ds, kw, path, 2, positive=True)
        if ps is not None:
            bad = range_problem("PixelSpacing", ps, kw)
            if bad:
                notes.append(f"{bad}: ignored")
                continue
            return (float(ps[0]), float(ps[1])), False
    notes.append("no pixel size in the file: scale is in pixels (1.0), not mm")
    return (1.0, 1.0), True


def intravascular_verdict(
    header: tuple[bool | None, str],
    pixel_spacing_mm: tuple[float, float],
    pixel_assumed: bool,
    frame_shape: tuple[int, int],
) -> tuple[bool | None, str]:
    """Is this an intravascular pullback? The header's evidence
    (:func:`~napari_plaque.io.dicom_common.intravascular_evidence`), then the geometry: a
    field of view wider than :data:`IVUS_MAX_FIELD_MM` is not intravascular."""
    ok, why = header
    if ok is False:
        return ok, why
    if not pixel_assumed:
        fov = float(min(pixel_spacing_mm[0] * frame_shape[0], pixel_spacing_mm[1] * frame_shape[1]))
        if fov > IVUS_MAX_FIELD_MM:
            return False, (
                f"{why + '; ' if ok is None else ''}a {fov:.0f} mm field of view (more than the "
                f"{IVUS_MAX_FIELD_MM:g} mm of an intravascular image)"
            )
    return ok, why


def read_pullback(
    path: str | Path, default_rate_mm_s: float = DEFAULT_PULLBACK_RATE_MM_S
) -> Pullback:
    """Open a multi-frame (IVUS) DICOM lazily.

    Parameters
    ----------
    path : str or Path
        A single multi-frame DICOM file.
    default_rate_mm_s : float
        Pullback speed used when (0018,3101) IVUS Pullback Rate is absent; the pullback's
        ``assumed`` set then contains ``"pullback_rate_mm_s"``.

    Returns
    -------
    Pullback
        Frames as a lazy (frames, rows, cols) grey array.
    """
    path = Path(path)
    try:
        return _read_pullback(path, default_rate_mm_s)
    except ReaderError:
        raise
    except Exception as exc:  # noqa: BLE001
        # a malformed header we did not anticipate (pydicom parses values lazily and may raise
        # anything): still the project's error naming the file, never a traceback
        raise ReaderError(path, f"malformed DICOM header ({type(exc).__name__}: {exc})") from exc


def _read_pullback(path: Path, default_rate_mm_s: float) -> Pullback:
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not path.is_file():
        raise ReaderError(path, "no such file" if not path.exists() else "not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, defer_size=1024)
    except InvalidDicomError as exc:
        raise ReaderError(path, "not a DICOM file") from exc
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(path, f"unreadable DICOM ({type(exc).__name__}: {exc})") from exc
    if "PixelData" not in ds:
        raise ReaderError(path, "no pixel data")

    notes: list[str] = []
    n_frames = tag_int(ds, "NumberOfFrames", path, 1, lo=1)
    rows = tag_int(ds, "Rows", path, lo=1, hi=65535)
    cols = tag_int(ds, "Columns", path, lo=1, hi=65535)
    check_frame_shape(path, (rows, cols))
    spp = tag_int(ds, "SamplesPerPixel", path, 1, lo=1, hi=4)
    if spp not in (1, 3):
        raise ReaderError(path, f"SamplesPerPixel (0028,0002) is {spp}, expected 1 or 3")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID", None) if meta is not None else None
    if ts is None:
        raise ReaderError(path, "no Transfer Syntax UID (0002,0010) in the file meta")
    try:
        compressed = bool(ts.is_compressed)
    except Exception as exc:  # noqa: BLE001  unknown / private syntax
        raise ReaderError(path, f"unknown Transfer Syntax UID {str(ts)!r}") from exc
    tell = _pixel_data_offset(ds)
    fsize = path.stat().st_size

    if not compressed:
        bits = tag_int(ds, "BitsAllocated", path, lo=1, hi=64)
        if bits not in (8, 16):
            raise ReaderError(path, f"unsupported BitsAllocated {bits} for a pullback")
        pixrep = tag_int(ds, "PixelRepresentation", path, 0, lo=0, hi=1)
        dt = np.dtype(
            ("<" if ts.is_little_endian else ">")
            + ("u1" if bits == 8 else ("i2" if pixrep else "u2"))
        )
        n_bytes = n_frames * rows * cols * spp * dt.itemsize
        if tell + n_bytes > fsize:
            raise ReaderError(
                path, f"truncated: pixel data needs {n_bytes} bytes, file holds {fsize - tell}"
            )
        check_pixel_length(path, _pixel_data_length(ds), rows, cols, n_frames, spp, bits)
        planar = int(ds.get("PlanarConfiguration", 0))
        if spp == 1:
            mm = np.memmap(path, dtype=dt, mode="r", offset=tell, shape=(n_frames, rows, cols))
        elif planar == 0:
            mm = np.memmap(path, dtype=dt, mode="r", offset=tell, shape=(n_frames, rows, cols, spp))
        else:
            mm = np.memmap(path, dtype=dt, mode="r", offset=tell, shape=(n_frames, spp, rows, cols))
            mm = np.moveaxis(mm, 1, -1)

        def get_raw(i: int) -> np.ndarray:
            return np.asarray(mm[i]).astype(dt.newbyteorder("="), copy=False)

    else:
        get_raw = _encapsulated_getter(path, ds, tell, n_frames, ts)

    # grey handling
    to_grey, grey_note = _grey_converter(path, ds, get_raw, n_frames, spp, photometric)
    if grey_note:
        notes.append(grey_note)
    if spp == 1 and photometric == "MONOCHROME2" and not compressed and dt.byteorder != ">":
        frames: Any = mm  # memory-mapped: any frame is a slice of the file
    else:
        probe = to_grey(get_raw(0))
        frames = LazyFrames(n_frames, (rows, cols), probe.dtype, lambda i: to_grey(get_raw(i)))

    frame_time, assumed, times = _frame_time(ds, notes, path, n_frames)
    rate = tag_float(ds, "IVUSPullbackRate", path)
    if rate is None or rate <= 0 or not in_range("IVUSPullbackRate", rate):
        if rate is not None:
            why = (
                range_problem("IVUSPullbackRate", rate, "IVUS Pullback Rate (0018,3101)")
                if rate > 0
                else f"IVUS Pullback Rate (0018,3101) is {rate:g} mm/s"
            )
            notes.append(f"{why}: ignored")
        assumed.add("pullback_rate_mm_s")
        notes.append(f"no {'' if rate is None else 'usable '}IVUS Pullback Rate (0018,3101): "
                     f"assumed {float(default_rate_mm_s)} mm/s")
        rate = float(default_rate_mm_s)
    px, px_assumed = _pixel_size(ds, notes, path)
    if px_assumed:
        assumed.add("pixel_spacing_mm")
    header_verdict = _intravascular_header(ds)
    verdict, why = intravascular_verdict(header_verdict, px, px_assumed, (rows, cols))
    warnings_: list[str] = []
    if verdict is not True:
        warnings_.append(
            f"not recognised as an intravascular pullback: {describe_object(ds, n_frames)}, {why}"
        )
        notes.append(f"warning: {warnings_[-1]}")

    meta = safe_meta(ds)
    meta.update(
        {
            "n_frames": n_frames,
            "photometric": photometric,
            "transfer_syntax": ts.name,
            "sop_class": str(ds.get("SOPClassUID", "")),
            "ivus_acquisition": str(ds.get("IVUSAcquisition", "") or ""),
            "pullback_start_frame": _opt_int(ds.get("IVUSPullbackStartFrameNumber")),
            "pullback_stop_frame": _opt_int(ds.get("IVUSPullbackStopFrameNumber")),
            "intravascular": verdict,
            "intravascular_evidence": why,
            "intravascular_header": list(header_verdict),
            "warnings": warnings_,
            "notes": notes,
        }
    )
    uid = str(ds.get("SOPInstanceUID", "") or ds.get("SeriesInstanceUID", "") or path.resolve())
    return Pullback(
        frames=frames,
        frame_time_s=frame_time,
        pullback_rate_mm_s=rate,
        pixel_spacing_mm=px,
        assumed=assumed,
        meta=meta,
        source=str(path),
        uid_hash=hash_id(uid),
        name=str(ds.get("SeriesDescription", "") or path.stem),
        frame_times_s=times,
    )


def _intravascular_header(ds) -> tuple[bool | None, str]:
    """:func:`intravascular_evidence` plus the transducer type (IV_* terms are intravascular,
    the other defined terms are not)."""
    ok, why = intravascular_evidence(ds)
    ttype = str(ds.get("TransducerType", "") or "").upper()
    if ok is None and ttype:
        if ttype.startswith("IV_"):
            return True, f"Transducer Type {ttype}"
        return False, f"Transducer Type {ttype} (not intravascular)"
    return ok, why


def _pixel_data_offset(ds) -> int:
    """File offset of the (deferred) Pixel Data value, without reading it."""
    from pydicom.tag import Tag

    raw = ds._dict.get(Tag(0x7FE00010))  # RawDataElement while not accessed: no read
    tell = getattr(raw, "value_tell", None)
    if tell is None:
        tell = ds.get_item(0x7FE00010).file_tell  # already converted: position is kept
    return int(tell)


def _pixel_data_length(ds) -> int:
    """Value length of the Pixel Data element, without reading it."""
    from pydicom.tag import Tag

    raw = ds._dict.get(Tag(0x7FE00010))
    length = getattr(raw, "length", None)
    if length is None:
        length = len(ds.PixelData)
    return int(length)


def _opt_int(v):
    try:
        return int(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _encapsulated_getter(path: Path, ds, tell: int, n_frames: int, ts):
    """Index the fragments of encapsulated pixel data once; decode single frames on demand."""
    from pydicom.encaps import encapsulate, parse_basic_offsets, parse_fragments
    from pydicom.pixels import get_decoder

    with open(path, "rb") as fh:
        fh.seek(tell)
        try:
            bot = parse_basic_offsets(fh, endianness="<")
            start = fh.tell()
            n_frag, frag_offsets = parse_fragments(fh, endianness="<")
        except Exception as exc:  # noqa: BLE001
            raise ReaderError(path, f"corrupt encapsulated pixel data: {exc}") from exc
    # frag_offsets are absolute file positions of each fragment's item tag (8-byte header);
    # Basic Offset Table values are relative to the first fragment's item tag (`start`)
    spans: list[list[tuple[int, int]]]
    with open(path, "rb") as fh:
        items = []
        for off in frag_offsets:
            fh.seek(off + 4)
            length = int.from_bytes(fh.read(4), "little")
            items.append((off + 8, length))
    if n_frag == n_frames:
        spans = [[it] for it in items]
    elif bot and len(bot) == n_frames:
        bounds = list(bot) + [None]
        spans = []
        for f in range(n_frames):
            lo, hi = bounds[f], bounds[f + 1]
            spans.append(
                [
                    it
                    for off, it in zip(frag_offsets, items, strict=True)
                    if off - start >= lo and (hi is None or off - start < hi)
                ]
            )
    elif n_frames == 1:
        spans = [items]
        _check_single_frame(path, items, n_frag, ts)
    else:
        raise ReaderError(
            path, f"{n_frag} fragments for {n_frames} frames and no usable offset table"
        )
    fsize = path.stat().st_size
    if items and items[-1][0] + items[-1][1] > fsize:
        raise ReaderError(path, "truncated: the last frame runs past the end of the file")
    empty = [f for f, sp in enumerate(spans) if not sp or not any(ln for _, ln in sp)]
    if empty:
        raise ReaderError(
            path, f"frame {empty[0]} has no pixel data fragment ({len(empty)} frame(s) missing)"
        )
    from pydicom.uid import RLELossless

    if ts == RLELossless:
        bits = tag_int(ds, "BitsAllocated", path, lo=1, hi=64)
        spp = tag_int(ds, "SamplesPerPixel", path, 1, lo=1, hi=4)
        _check_rle_headers(path, spans, spp * ((bits + 7) // 8))
    try:
        decoder = get_decoder(ts)
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(path, decode_problem(exc, ts)) from exc
    if not decoder.is_available:
        raise ReaderError(path, decode_problem(RuntimeError("no decoder plugin available"), ts))
    bits = tag_int(ds, "BitsAllocated", path, lo=1, hi=64)
    opts = {
        "rows": tag_int(ds, "Rows", path, lo=1, hi=65535),
        "columns": tag_int(ds, "Columns", path, lo=1, hi=65535),
        "samples_per_pixel": tag_int(ds, "SamplesPerPixel", path, 1, lo=1, hi=4),
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
        "bits_allocated": bits,
        "bits_stored": tag_int(ds, "BitsStored", path, bits, lo=1, hi=bits),
        "pixel_representation": tag_int(ds, "PixelRepresentation", path, 0, lo=0, hi=1),
        "number_of_frames": 1,
        "planar_configuration": tag_int(ds, "PlanarConfiguration", path, 0, lo=0, hi=1),
        "pixel_keyword": "PixelData",
    }
    lock = threading.Lock()

    def get_raw(i: int) -> np.ndarray:
        with lock, open(path, "rb") as fh:
            chunks = []
            for off, length in spans[i]:
                fh.seek(off)
                chunks.append(fh.read(length))
        data = encapsulate([b"".join(chunks)], has_bot=False)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                arr, _ = decoder.as_array(data, **opts)
        except Exception as exc:  # noqa: BLE001
            raise ReaderError(path, f"frame {i}: " + decode_problem(exc, ts)) from exc
        for w in caught:  # pydicom only warns when a frame decodes to more than the header says
            msg = str(w.message)
            if "padding" in msg or "expected" in msg:
                raise ReaderError(
                    path,
                    f"frame {i}: the decoded frame does not fit Rows x Columns "
                    f"{opts['rows']} x {opts['columns']} ({msg}): the header does not describe "
                    "the image",
                )
        return arr

    return get_raw


#: first bytes of a compressed frame (JPEG SOI, JPEG 2000 codestream, JP2 box, RLE header)
_FRAME_STARTS = (b"\xff\xd8\xff", b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP")


def _check_single_frame(path: Path, items, n_frag: int, ts) -> None:
    """NumberOfFrames says 1 but several fragments were found: RLE stores exactly one fragment
    per frame (PS3.5 A.4.2), and JPEG-family fragments that each start a new image are frames.
    Either way the header understates the frames: refused (never 1 frame of 20)."""
    from pydicom.uid import RLELossless

    if n_frag <= 1:
        return
    if ts == RLELossless:
        raise ReaderError(
            path,
            f"NumberOfFrames (0028,0008) is 1 but the RLE pixel data holds {n_frag} fragments "
            "(RLE stores one fragment per frame): the header does not describe the pullback",
        )
    starts = 0
    with open(path, "rb") as fh:
        for off, _length in items:
            fh.seek(off)
            if fh.read(8).startswith(_FRAME_STARTS):
                starts += 1
    if starts > 1:
        raise ReaderError(
            path,
            f"NumberOfFrames (0028,0008) is 1 but {starts} of the {n_frag} pixel data fragments "
            "each start a compressed image: the header does not describe the pullback",
        )


def _check_rle_headers(path: Path, spans, n_segments: int) -> None:
    """Every RLE frame starts with a 64-byte header: the segment count (one per sample byte)
    and increasing segment offsets inside the fragment. Checked for all frames at open, so a
    missing or damaged fragment is refused now, not when its frame is shown."""
    with open(path, "rb") as fh:
        for f, sp in enumerate(spans):
            off, length = sp[0]
            total = sum(ln for _, ln in sp)
            fh.seek(off)
            head = fh.read(64)
            if len(head) < 64 or length < 64:
                raise ReaderError(path, f"RLE frame {f}: fragment too short ({total} bytes)")
            vals = np.frombuffer(head, "<u4")
            n = int(vals[0])
            segs = vals[1 : 1 + n] if 0 < n <= 15 else np.array([], "<u4")
            if (
                n != n_segments
                or segs.size != n
                or int(segs[0]) != 64
                or np.any(np.diff(segs.astype(np.int64)) <= 0)
                or int(segs[-1]) >= total
            ):
                raise ReaderError(
                    path,
                    f"RLE frame {f}: damaged segment header ({n} segments, expected "
                    f"{n_segments}); the pullback is corrupt",
                )


def _grey_converter(path: Path, ds, get_raw, n_frames: int, spp: int, photometric: str):
    """A function raw frame -> grey frame, and a note about colour content (or None)."""
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        def pal(frame):
            return _to_grey_rgb(apply_color_lut(frame, ds))

        return pal, "palette colour frames converted to grey (luminance)"
    if photometric == "MONOCHROME1":
        maxval = (1 << int(ds.get("BitsStored", ds.get("BitsAllocated", 8)))) - 1
        return (lambda f: (maxval - f).astype(f.dtype)), "MONOCHROME1 inverted to MONOCHROME2"
    if spp == 1:
        return (lambda f: f), None
    # colour: check a few frames for grey content
    sample = sorted({0, n_frames // 2, n_frames - 1})
    colour_fraction = 0.0
    is_ybr = photometric.startswith("YBR") and "RCT" not in photometric and "ICT" not in photometric
    for i in sample:
        f = get_raw(i)
        if is_ybr and not _looks_rgb_decoded(ds):
            chroma = np.abs(f[..., 1:].astype(np.int16) - 128).max(axis=-1)
        else:
            f16 = f.astype(np.int16)
            chroma = np.maximum(
                np.abs(f16[..., 0] - f16[..., 1]), np.abs(f16[..., 0] - f16[..., 2])
            )
        colour_fraction = max(colour_fraction, float(np.mean(chroma > _GREY_TOL)))
    note = None
    if colour_fraction > 0.001:
        note = (
            f"true colour content in {100 * colour_fraction:.1f} % of pixels (overlays, Doppler?); "
            "frames converted to grey luminance"
        )
    if is_ybr and not _looks_rgb_decoded(ds):
        return (lambda f: np.ascontiguousarray(f[..., 0])), note
    if note is None:
        return (lambda f: np.ascontiguousarray(f[..., 0])), None
    return _to_grey_rgb, note


def _looks_rgb_decoded(ds) -> bool:
    # pydicom decoders convert compressed YBR to RGB by default; native YBR stays YBR
    return bool(ds.file_meta.TransferSyntaxUID.is_compressed)


def _to_grey_rgb(f: np.ndarray) -> np.ndarray:
    g = f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114
    return np.clip(np.round(g), 0, np.iinfo(f.dtype).max if f.dtype.kind == "u" else None).astype(
        f.dtype
    )


def write_pullback_dicom(
    frames: np.ndarray,
    path: str | Path,
    frame_time_s: float = 1 / 30,
    pullback_rate_mm_s: float | None = 0.5,
    pixel_spacing_mm: tuple[float, float] = (0.02, 0.02),
    photometric: str = "MONOCHROME2",
    compress: str | None = None,
    series_description: str = "Synthetic IVUS pullback",
    patient_name: str = "Synthetic^IVUS",
    patient_id: str = "SYNTH-0001",
) -> Path:
    """Write (frames, rows, cols) uint8 frames as an IVUS US Multi-frame DICOM (atomically).

    Parameters
    ----------
    frames : ndarray, uint8, shape (F, R, C)
    path : output file
    frame_time_s, pullback_rate_mm_s, pixel_spacing_mm :
        Written to Frame Time, IVUS Pullback Rate (omitted when None) and the Sequence of
        Ultrasound Regions (cm, as scanners do).
    photometric : "MONOCHROME2" or "RGB" (grey content replicated in 3 channels, as some
        scanners store it)
    compress : None or "rle" (RLE Lossless, frame-level encapsulated)
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames must be a uint8 (F, R, C) array, got {frames.dtype} {frames.shape}"
        )
    n, rows, cols = frames.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"  # US Multi-frame Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "IVUS"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.Manufacturer = "napari-plaque"
    ds.ManufacturerModelName = "synthetic"
    ds.SeriesDescription = series_description
    now = _dt.datetime.now()
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.NumberOfFrames = n
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = f"{frame_time_s * 1000:.6g}"
    ds.CineRate = round(1.0 / frame_time_s)
    ds.IVUSAcquisition = "MOTOR_PULLBACK"
    if pullback_rate_mm_s is not None:
        ds.IVUSPullbackRate = f"{pullback_rate_mm_s:.6g}"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = cols - 1
    region.RegionLocationMaxY1 = rows - 1
    region.PhysicalUnitsXDirection = 3
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = pixel_spacing_mm[1] / 10.0
    region.PhysicalDeltaY = pixel_spacing_mm[0] / 10.0
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    if photometric == "RGB":
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.PixelData = np.repeat(frames[..., None], 3, axis=-1).tobytes()
    elif photometric == "MONOCHROME2":
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = frames.tobytes()
    else:
        raise ValueError(f"photometric must be MONOCHROME2 or RGB, not {photometric!r}")
    if compress == "rle":
        ds.compress(RLELossless, encoding_plugin="pydicom")
    elif compress is not None:
        raise ValueError(f"compress must be None or 'rle', not {compress!r}")
    return atomic_write_dicom(path, ds)
