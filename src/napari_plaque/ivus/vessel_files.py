"""Files of lumen / EEM borders: the versioned borders JSON and the contour CSV.

* ``<pullback>.borders.json`` (beside the pullback and its ``<pullback>.arcs.json``): format
  ``napari-plaque-ivus-borders`` version 1 with the radii per A-line about the catheter
  (pixels), the geometry they belong to, the frames edited by hand and per-frame flags.
  Written atomically; the loader validates every field before it trusts the file.
* Contour CSV, the form research tools exchange: one row per point, columns
  ``frame, contour, x_mm, y_mm`` with ``contour`` ``lumen`` or ``eem``; ``x_mm = col * dx``
  and ``y_mm = row * dy`` (image coordinates of the pixel centre, origin at the top-left
  pixel, the napari world coordinates of the pullback layer). Import converts each contour to
  radii along the A-lines about the catheter (contours must be star-shaped about it, as lumen
  and EEM contours are).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_text
from ..io.errors import FormatError
from ..io.versioned import read_versioned_json
from .borders import VesselBorders
from .polar import aline_angles_deg

__all__ = [
    "BORDERS_FORMAT",
    "BORDERS_VERSION",
    "CSV_FIELDS",
    "borders_path",
    "export_contours_csv",
    "import_contours_csv",
    "load_borders",
    "save_borders",
]

BORDERS_FORMAT = "napari-plaque-ivus-borders"
BORDERS_VERSION = 1
CSV_FIELDS = ["frame", "contour", "x_mm", "y_mm"]
CONTOURS = ("lumen", "eem")


def borders_path(source: str | Path) -> Path:
    """``<pullback>.borders.json`` beside the pullback (and its arcs file)."""
    p = Path(source)
    return p.with_name(p.name + ".borders.json")


def _radii_json(r: np.ndarray) -> str:
    """The radii (F, N) as a JSON array of frames, 3 decimals, NaN as null.

    Encoded one frame at a time with the C encoder: a 3,000-frame pullback (2 x 1.1 M radii)
    takes a fraction of a second instead of seconds of per-value Python, and a background
    autosave releases the interpreter between frames instead of holding napari's main thread.
    """
    q = np.round(np.asarray(r, np.float64), 3)
    finite = np.isfinite(q)
    rows = []
    for k in range(q.shape[0]):
        row = q[k].tolist()
        if not finite[k].all():
            row = [v if ok else None for v, ok in zip(row, finite[k].tolist(), strict=True)]
        rows.append(json.dumps(row, allow_nan=False))
    return "[\n  " + ",\n  ".join(rows) + "\n ]"


def save_borders(
    path: str | Path,
    borders: VesselBorders,
    frame_shape: tuple[int, int],
    edited: set[int] | None = None,
    source: str = "",
) -> Path:
    """Write the borders JSON atomically (serialised whole first: an error writes nothing)."""
    head = {
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
        "shadowed": [np.flatnonzero(s).tolist() for s in borders.shadowed],
    }
    text = json.dumps(head, indent=1, allow_nan=False)
    assert text.endswith("\n}")
    text = (
        text[:-2]
        + ',\n "lumen_r_px": '
        + _radii_json(borders.lumen_r_px)
        + ',\n "eem_r_px": '
        + _radii_json(borders.eem_r_px)
        + "\n}\n"
    )
    return atomic_write_text(path, text)


def _radii_array(path, obj, key, n_frames, n_alines) -> np.ndarray:
    v = obj.get(key)
    if not isinstance(v, list) or len(v) != n_frames:
        raise FormatError(path, f"'{key}' must be a list of {n_frames} frames")
    out = np.full((n_frames, n_alines), np.nan)
    for f, row in enumerate(v):
        if not isinstance(row, list) or len(row) != n_alines:
            raise FormatError(path, f"'{key}' frame {f} must hold {n_alines} radii")
        for k, x in enumerate(row):
            if x is None:
                continue
            if isinstance(x, bool) or not isinstance(x, int | float) or not np.isfinite(x) or x < 0:
                raise FormatError(path, f"'{key}' frame {f} A-line {k}: bad radius {x!r}")
            out[f, k] = x
    return out


def load_borders(
    path: str | Path,
    n_frames: int | None = None,
    frame_shape: tuple[int, int] | None = None,
) -> tuple[VesselBorders, set[int]]:
    """Read and validate a borders JSON; returns (borders, edited frames).

    With ``n_frames`` / ``frame_shape``, a file made for another pullback is refused.
    """
    path = Path(path)
    obj = read_versioned_json(path, BORDERS_FORMAT, BORDERS_VERSION, "borders",
                              min_version=BORDERS_VERSION)
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
    lum = _radii_array(path, obj, "lumen_r_px", nf, na)
    eem = _radii_array(path, obj, "eem_r_px", nf, na)
    edited = obj.get("edited_frames", [])
    if not isinstance(edited, list) or not all(isinstance(f, int) and 0 <= f < nf for f in edited):
        raise FormatError(path, "edited_frames must be frame numbers of the pullback")
    shadowed = np.zeros((nf, na), bool)
    sh = obj.get("shadowed", [])
    if isinstance(sh, list) and len(sh) == nf:
        for f, ks in enumerate(sh):
            if isinstance(ks, list) and all(isinstance(k, int) and 0 <= k < na for k in ks):
                shadowed[f, ks] = True
    flags = obj.get("flags", {})
    flags = {int(k): [str(s) for s in v] for k, v in flags.items()} if isinstance(flags, dict) else {}
    vb = VesselBorders(lum, eem, center, spacing, shadowed, flags)  # type: ignore[arg-type]
    return vb, set(edited)


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
