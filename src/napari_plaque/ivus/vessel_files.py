"""Files of lumen / EEM borders: the versioned borders JSON and the contour CSV.

* ``<pullback>.borders.json`` (beside the pullback and its ``<pullback>.arcs.json``): format
  ``napari-plaque-ivus-borders`` with the radii per A-line about the catheter (pixels), the
  geometry they belong to, the frames edited by hand and per-frame flags. Written atomically;
  the loader validates every field before it trusts the file. Version 2 (written since issue
  21) keeps the radii and the shadowed A-lines as binary blocks (little-endian float32 and
  bit-packed booleans, base64 in the JSON: ``{"dtype", "shape", "base64"}``), so a 3,000-frame
  pullback is written in tens of milliseconds with a few lines of Python instead of a second of
  per-frame encoding; version 1 files (radii as nested lists, 3 decimals) still load.
* ``<pullback>.borders.json.journal``: the edits made since the borders file was last written,
  appended one record per edit (binary: the edited frames' radii, shadowed A-lines and edited
  flags, a sequence number and a CRC-32), so an edit is on disk the moment it is made without
  rewriting the pullback. A borders file names its journal (``"journal": {"id", "seq"}``);
  :func:`load_borders` replays the records of that journal newer than ``seq``, drops a torn
  last record (a write cut by a crash) and refuses a corrupt one. :mod:`.border_store` writes
  both.
* Contour CSV, the form research tools exchange: one row per point, columns
  ``frame, contour, x_mm, y_mm`` with ``contour`` ``lumen`` or ``eem``; ``x_mm = col * dx``
  and ``y_mm = row * dy`` (image coordinates of the pixel centre, origin at the top-left
  pixel, the napari world coordinates of the pullback layer). Import converts each contour to
  radii along the A-lines about the catheter (contours must be star-shaped about it, as lumen
  and EEM contours are).
"""

from __future__ import annotations

import base64
import csv
import io
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_bytes, atomic_write_text
from ..io.errors import FormatError
from ..io.versioned import read_versioned_json
from .borders import VesselBorders
from .polar import aline_angles_deg

__all__ = [
    "BORDERS_FORMAT",
    "BORDERS_VERSION",
    "CSV_FIELDS",
    "JournalRecord",
    "borders_head",
    "borders_path",
    "encode_record",
    "export_contours_csv",
    "import_contours_csv",
    "journal_header",
    "journal_path",
    "load_borders",
    "read_journal",
    "save_borders",
]

BORDERS_FORMAT = "napari-plaque-ivus-borders"
BORDERS_VERSION = 2
#: the journal's magic bytes and version (its header: magic, version, frames, A-lines, id)
JOURNAL_MAGIC = b"NPBJ"
JOURNAL_VERSION = 1
_JOURNAL_HEAD = struct.Struct("<4sHHII16s")
_RECORD_HEAD = struct.Struct("<4sII")  # b"REC1", payload length, CRC-32 of the payload
_RECORD_MAGIC = b"REC1"
_PAYLOAD_HEAD = struct.Struct("<QI")  # sequence number, number of frames
CSV_FIELDS = ["frame", "contour", "x_mm", "y_mm"]
CONTOURS = ("lumen", "eem")


def borders_path(source: str | Path) -> Path:
    """``<pullback>.borders.json`` beside the pullback (and its arcs file)."""
    p = Path(source)
    return p.with_name(p.name + ".borders.json")


def borders_head(
    borders: VesselBorders,
    frame_shape: tuple[int, int],
    edited: set[int] | None = None,
    source: str = "",
    journal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything of a borders file but its blocks (a small dict)."""
    head: dict[str, Any] = {
        "format": BORDERS_FORMAT,
        "version": BORDERS_VERSION,
        "source": Path(source).name if source else "",
        "n_frames": borders.n_frames,
        "n_alines": borders.n_alines,
        "frame_shape": [int(frame_shape[0]), int(frame_shape[1])],
        "center": [float(c) for c in borders.center],
        "pixel_spacing_mm": [float(v) for v in borders.pixel_spacing_mm],
        "edited_frames": sorted(int(f) for f in (edited or ())),
        "flags": {str(k): [str(x) for x in v] for k, v in borders.flags.items()},
    }
    if journal is not None:
        head["journal"] = {"id": str(journal["id"]), "seq": int(journal["seq"])}
    return head


def save_borders(
    path: str | Path,
    borders: VesselBorders,
    frame_shape: tuple[int, int],
    edited: set[int] | None = None,
    source: str = "",
    journal: dict[str, Any] | None = None,
) -> Path:
    """Write the borders file (version 2) atomically (assembled whole first: an error writes
    nothing). ``journal`` (``{"id": str, "seq": int}``) names the journal whose records up to
    ``seq`` this file holds (:mod:`.border_store`); without it any journal beside is ignored."""
    from .._borders_file import borders_file_bytes

    shape = [borders.n_frames, borders.n_alines]
    blocks = {
        "lumen_r_px": (shape, np.ascontiguousarray(borders.lumen_r_px, "<f4").tobytes()),
        "eem_r_px": (shape, np.ascontiguousarray(borders.eem_r_px, "<f4").tobytes()),
        "shadowed": (shape, np.packbits(np.asarray(borders.shadowed, bool), axis=-1).tobytes()),
    }
    head = borders_head(borders, frame_shape, edited, source, journal)
    return atomic_write_bytes(path, borders_file_bytes(head, blocks))


def _read_block(path, obj, key, n_frames, n_alines, bits: bool = False) -> np.ndarray:
    b = obj.get(key)
    want = "bits" if bits else "<f4"
    if not isinstance(b, dict) or b.get("dtype") != want or b.get("shape") != [n_frames,
                                                                              n_alines]:
        raise FormatError(path, f"'{key}' must be a {want} block of shape "
                          f"[{n_frames}, {n_alines}]")
    try:
        raw = base64.b64decode(str(b.get("base64", "")), validate=True)
    except (ValueError, TypeError):
        raise FormatError(path, f"'{key}': the block is not valid base64") from None
    if bits:
        per = (n_alines + 7) // 8
        if len(raw) != n_frames * per:
            raise FormatError(path, f"'{key}': {len(raw)} bytes, expected {n_frames * per}")
        return np.unpackbits(np.frombuffer(raw, np.uint8).reshape(n_frames, per), axis=1,
                             count=n_alines).astype(bool)
    if len(raw) != 4 * n_frames * n_alines:
        raise FormatError(path, f"'{key}': {len(raw)} bytes, expected {4 * n_frames * n_alines}")
    r = np.frombuffer(raw, "<f4").reshape(n_frames, n_alines).astype(np.float64)
    _check_radii(path, key, r)
    return r


def _check_radii(path, key: str, r: np.ndarray) -> None:
    bad = np.isinf(r) | (r < 0)
    if bad.any():
        f, k = (int(x) for x in np.argwhere(bad)[0])
        raise FormatError(path, f"'{key}' frame {f} A-line {k}: bad radius {float(r[f, k])!r}")


#: the JSON value types of version-1 radii: 1 a number, 2 null (anything else is refused)
_V1_KINDS = {float: 1, int: 1, type(None): 2}


def _radii_array(path, obj, key, n_frames, n_alines) -> np.ndarray:
    """Version 1 radii (nested lists, null for none), validated without a Python pass over
    the values (a 3,000-frame file has 2 x 1 M of them: seconds, one by one)."""
    v = obj.get(key)
    if not isinstance(v, list) or len(v) != n_frames:
        raise FormatError(path, f"'{key}' must be a list of {n_frames} frames")
    for f, row in enumerate(v):
        if not isinstance(row, list) or len(row) != n_alines:
            raise FormatError(path, f"'{key}' frame {f} must hold {n_alines} radii")
    a = np.empty((n_frames, n_alines), dtype=object)
    a[:] = v
    kinds = np.frompyfunc(_V1_KINDS.get, 2, 1)(np.frompyfunc(type, 1, 1)(a), 0).astype(np.int8)
    if (kinds == 0).any():  # not a number nor null (a bool, a string, a list...)
        f, k = (int(x) for x in np.argwhere(kinds == 0)[0])
        raise FormatError(path, f"'{key}' frame {f} A-line {k}: bad radius {v[f][k]!r}")
    out = np.where(kinds == 2, np.nan, a).astype(np.float64)
    _check_radii(path, key, out)
    return out


def load_borders(
    path: str | Path,
    n_frames: int | None = None,
    frame_shape: tuple[int, int] | None = None,
    replay_journal: bool = True,
) -> tuple[VesselBorders, set[int]]:
    """Read and validate a borders file (version 1 or 2); returns (borders, edited frames).

    With ``n_frames`` / ``frame_shape``, a file made for another pullback is refused. The
    edits of the file's journal made after the file was written are replayed (unless
    ``replay_journal`` is False): what the editor had when it was stopped, even by a kill.
    """
    path = Path(path)
    obj = read_versioned_json(path, BORDERS_FORMAT, BORDERS_VERSION, "borders")
    nf, na = obj.get("n_frames"), obj.get("n_alines")
    if not isinstance(nf, int) or nf < 1 or not isinstance(na, int) or not 8 <= na <= 4096:
        raise FormatError(path, "n_frames / n_alines missing or out of range")
    if n_frames is not None and nf != n_frames:
        raise FormatError(path, f"made for {nf} frames, the pullback has {n_frames}")
    fs = obj.get("frame_shape")
    if not (isinstance(fs, list) and len(fs) == 2 and all(isinstance(x, int) for x in fs)):
        raise FormatError(path, "frame_shape must be [rows, cols]")
    if frame_shape is not None and tuple(fs) != tuple(frame_shape):
        raise FormatError(path, f"made for frames {fs}, the pullback has {list(frame_shape)}")
    try:
        center = tuple(float(x) for x in obj["center"])
        spacing = tuple(float(x) for x in obj["pixel_spacing_mm"])
    except (KeyError, TypeError, ValueError):
        raise FormatError(path, "center / pixel_spacing_mm missing or not numbers") from None
    if len(center) != 2 or len(spacing) != 2 or min(spacing) <= 0 or not np.isfinite(
        center + spacing
    ).all():
        raise FormatError(path, "center / pixel_spacing_mm must be 2 finite numbers (spacing > 0)")
    edited = obj.get("edited_frames", [])
    if not isinstance(edited, list) or not all(isinstance(f, int) and 0 <= f < nf for f in edited):
        raise FormatError(path, "edited_frames must be frame numbers of the pullback")
    if obj["version"] >= 2:
        lum = _read_block(path, obj, "lumen_r_px", nf, na)
        eem = _read_block(path, obj, "eem_r_px", nf, na)
        shadowed = _read_block(path, obj, "shadowed", nf, na, bits=True)
    else:  # version 1: nested lists
        lum = _radii_array(path, obj, "lumen_r_px", nf, na)
        eem = _radii_array(path, obj, "eem_r_px", nf, na)
        shadowed = np.zeros((nf, na), bool)
        sh = obj.get("shadowed", [])
        if isinstance(sh, list) and len(sh) == nf:
            for f, ks in enumerate(sh):
                if isinstance(ks, list) and all(isinstance(k, int) and 0 <= k < na for k in ks):
                    shadowed[f, ks] = True
    flags = obj.get("flags", {})
    flags = {int(k): [str(s) for s in v] for k, v in flags.items()} if isinstance(flags, dict) else {}
    vb = VesselBorders(lum, eem, center, spacing, shadowed, flags)  # type: ignore[arg-type]
    edited_set = set(edited)
    j = obj.get("journal")
    if replay_journal and isinstance(j, dict):
        if not (isinstance(j.get("id"), str) and isinstance(j.get("seq"), int)):
            raise FormatError(path, "journal must be {'id': text, 'seq': integer}")
        for rec in read_journal(journal_path(path), j["id"], nf, na):
            if rec.seq > j["seq"]:
                rec.apply(vb, edited_set)
    return vb, edited_set


# -- the journal ---------------------------------------------------------------------------------
def journal_path(borders_file: str | Path) -> Path:
    """The journal beside a borders file: ``<borders file>.journal``."""
    p = Path(borders_file)
    return p.with_name(p.name + ".journal")


def journal_header(journal_id: str, n_frames: int, n_alines: int) -> bytes:
    jid = journal_id.encode("ascii")
    if len(jid) != 16:
        raise ValueError("a journal id is 16 ASCII characters")
    return _JOURNAL_HEAD.pack(JOURNAL_MAGIC, JOURNAL_VERSION, 0, n_frames, n_alines, jid)


def encode_record(seq: int, frames: np.ndarray, borders: VesselBorders, edited: set[int]) -> bytes:
    """One journal record: the state of ``frames`` now (radii, shadowed A-lines, edited flag),
    so a replay sets those frames whatever came before (records are idempotent)."""
    idx = np.asarray(frames, np.int64)
    payload = b"".join((
        _PAYLOAD_HEAD.pack(int(seq), idx.size),
        idx.astype("<i4").tobytes(),
        np.isin(idx, np.fromiter(edited, np.int64, len(edited))).astype(np.uint8).tobytes(),
        np.ascontiguousarray(borders.lumen_r_px[idx], "<f8").tobytes(),
        np.ascontiguousarray(borders.eem_r_px[idx], "<f8").tobytes(),
        np.ascontiguousarray(borders.shadowed[idx], np.uint8).tobytes(),
    ))
    return _RECORD_HEAD.pack(_RECORD_MAGIC, len(payload), zlib.crc32(payload)) + payload


class JournalRecord:
    """One replayed edit: ``frames`` set to ``lumen`` / ``eem`` / ``shadowed`` rows."""

    def __init__(self, seq, frames, edited, lumen, eem, shadowed) -> None:
        self.seq, self.frames, self.edited = seq, frames, edited
        self.lumen, self.eem, self.shadowed = lumen, eem, shadowed

    def apply(self, borders: VesselBorders, edited: set[int]) -> None:
        borders.lumen_r_px[self.frames] = self.lumen
        borders.eem_r_px[self.frames] = self.eem
        borders.shadowed[self.frames] = self.shadowed
        for f, e in zip(self.frames.tolist(), self.edited.tolist(), strict=True):
            (edited.add if e else edited.discard)(f)


def _decode_payload(path: Path, payload: bytes, n_frames: int, n_alines: int) -> JournalRecord:
    seq, k = _PAYLOAD_HEAD.unpack_from(payload)
    want = _PAYLOAD_HEAD.size + k * (4 + 1 + 16 * n_alines + n_alines)
    if k < 1 or len(payload) != want:
        raise FormatError(path, f"journal record {seq}: {len(payload)} bytes, expected {want}")
    o = _PAYLOAD_HEAD.size
    frames = np.frombuffer(payload, "<i4", k, o).astype(np.int64)
    o += 4 * k
    edited = np.frombuffer(payload, np.uint8, k, o).astype(bool)
    o += k
    lum = np.frombuffer(payload, "<f8", k * n_alines, o).reshape(k, n_alines)
    o += 8 * k * n_alines
    eem = np.frombuffer(payload, "<f8", k * n_alines, o).reshape(k, n_alines)
    o += 8 * k * n_alines
    sh = np.frombuffer(payload, np.uint8, k * n_alines, o).reshape(k, n_alines).astype(bool)
    if frames.min() < 0 or frames.max() >= n_frames:
        raise FormatError(path, f"journal record {seq}: frames outside 0..{n_frames - 1}")
    _check_radii(path, f"journal record {seq} lumen", lum)
    _check_radii(path, f"journal record {seq} eem", eem)
    return JournalRecord(int(seq), frames, edited, lum.copy(), eem.copy(), sh)


def read_journal(path: str | Path, journal_id: str, n_frames: int, n_alines: int) -> list:
    """The records of the journal ``path`` if it is the journal ``journal_id`` of a borders
    file of this size (else none: a journal of another borders file, left by an older
    session, is not replayed onto this one). A torn last record (a write cut short) is
    dropped; a corrupt record before the last, or a journal of this id but another size, is
    refused (:class:`FormatError`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise FormatError(path, f"journal not readable ({exc})") from None
    if len(data) < _JOURNAL_HEAD.size:
        return []  # cut before its header was written: holds nothing
    magic, version, _, nf, na, jid = _JOURNAL_HEAD.unpack_from(data)
    if magic != JOURNAL_MAGIC:
        raise FormatError(path, "not a borders journal")
    if jid.decode("ascii", "replace") != journal_id:
        return []
    if version != JOURNAL_VERSION:
        raise FormatError(path, f"borders journal version {version} is not supported")
    if (nf, na) != (n_frames, n_alines):
        raise FormatError(path, f"journal made for {nf} frames x {na} A-lines, the borders "
                          f"file has {n_frames} x {n_alines}")
    out: list[JournalRecord] = []
    o = _JOURNAL_HEAD.size
    while o < len(data):
        torn = len(data) - o < _RECORD_HEAD.size
        if not torn:
            magic, n, crc = _RECORD_HEAD.unpack_from(data, o)
            end = o + _RECORD_HEAD.size + n
            torn = end > len(data) or (end == len(data) and zlib.crc32(
                data[o + _RECORD_HEAD.size : end]) != crc)
        if torn:
            break  # the last write was cut short: the edits before it are kept
        payload = data[o + _RECORD_HEAD.size : end]
        if magic != _RECORD_MAGIC or zlib.crc32(payload) != crc:
            raise FormatError(path, f"journal record at byte {o} is corrupt")
        rec = _decode_payload(path, payload, n_frames, n_alines)
        if out and rec.seq <= out[-1].seq:
            raise FormatError(path, f"journal record {rec.seq} out of order")
        out.append(rec)
        o = end
    return out


def append_record(path: Path, record: bytes) -> None:
    """Append one record with one ``write`` (O_APPEND): in the kernel's page cache, hence on
    disk after a kill of the process, at once."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        if os.write(fd, record) != len(record):
            raise OSError(f"{path}: short write to the journal")
    finally:
        os.close(fd)


def contour_rows(borders: VesselBorders, frames=None) -> list[dict[str, Any]]:
    """Rows ``frame, contour, x_mm, y_mm`` of the contours (frames without borders left out)."""
    dy, dx = borders.pixel_spacing_mm
    idx = range(borders.n_frames) if frames is None else frames
    rows: list[dict[str, Any]] = []
    for f in idx:
        for name in CONTOURS:
            pts = borders.contour_px(int(f), name)
            if not np.isfinite(pts).all():
                continue
            for r, c in pts:
                rows.append({"frame": int(f), "contour": name, "x_mm": round(float(c * dx), 4),
                             "y_mm": round(float(r * dy), 4)})
    return rows


def export_contours_csv(path: str | Path, borders: VesselBorders, frames=None) -> Path:
    """Write the contours as CSV (atomically)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(contour_rows(borders, frames))
    return atomic_write_text(path, buf.getvalue())


def radii_from_points(
    rows_px: np.ndarray, cols_px: np.ndarray, center: tuple[float, float], n_alines: int
) -> np.ndarray:
    """Radii (pixels) along the A-line angles of a star-shaped closed contour about ``center``."""
    th = np.mod(np.degrees(np.arctan2(rows_px - center[0], cols_px - center[1])), 360.0)
    r = np.hypot(rows_px - center[0], cols_px - center[1])
    order = np.argsort(th)
    return np.interp(aline_angles_deg(n_alines), th[order], r[order], period=360.0)


def import_contours_csv(path: str | Path, like: VesselBorders) -> tuple[VesselBorders, set[int]]:
    """Borders from a contour CSV, on the geometry of ``like`` (frames not in the CSV keep
    ``like``'s borders). Returns (borders, frames read from the CSV)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise FormatError(path, f"not readable ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != CSV_FIELDS:
        raise FormatError(path, f"header must be {','.join(CSV_FIELDS)}, got {reader.fieldnames}")
    pts: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for line, row in enumerate(reader, start=2):
        try:
            f = int(row["frame"])
            x = float(row["x_mm"])
            y = float(row["y_mm"])
        except (TypeError, ValueError):
            raise FormatError(path, f"line {line}: frame must be an integer, x_mm / y_mm "
                              "numbers") from None
        name = (row["contour"] or "").strip().lower()
        if name not in CONTOURS:
            raise FormatError(path, f"line {line}: contour must be lumen or eem, got {name!r}")
        if not 0 <= f < like.n_frames:
            raise FormatError(path, f"line {line}: frame {f} outside 0..{like.n_frames - 1}")
        if not (np.isfinite(x) and np.isfinite(y)):
            raise FormatError(path, f"line {line}: coordinates must be finite")
        pts.setdefault((f, name), []).append((x, y))
    out = like.copy()
    dy, dx = like.pixel_spacing_mm
    for (f, name), p in pts.items():
        if len(p) < 3:
            raise FormatError(path, f"frame {f} {name}: a contour needs at least 3 points")
        a = np.asarray(p)
        r = radii_from_points(a[:, 1] / dy, a[:, 0] / dx, like.center, like.n_alines)
        out.radii(name)[f] = r
    return out, {f for f, _ in pts}
