"""Per-frame and per-pullback vessel measurements from lumen and EEM borders.

Per frame (conventions of the IVUS consensus, Mintz et al. 2001 / 2011):

* lumen area and EEM area (mm^2) enclosed by the contours (shoelace formula in mm, so
  anisotropic pixels are handled);
* plaque-plus-media area = EEM area - lumen area;
* plaque burden (%) = 100 x (EEM - lumen) / EEM;
* minimal and maximal lumen diameter: the shortest and longest chord through the lumen
  centroid (1 deg steps);
* position along the pullback in mm (frame x mm per frame).

Per pullback: minimal lumen area (MLA) with its frame and position, maximal plaque burden,
total atheroma volume (TAV = sum of plaque+media areas x frame spacing, mm^3), percent
atheroma volume (PAV = 100 x sum(EEM - lumen) / sum(EEM)) and the segments where the burden
is >= ``burden_threshold_pct`` (default 40 %) with their lengths.

Frames without borders (NaN radii) or refused by a flag are null in the output, never scored.
Measurements outside physiological ranges (an EEM area over
:data:`~napari_plaque.io.dicom_common.CORONARY_MAX_EEM_MM2`, a wrong pixel size or not a
coronary artery) are flagged in ``warnings``; a pullback the reader recognised as not
intravascular (an obstetric sweep, an MR cine) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .borders import VesselBorders
from .defaults import MEASURE_DEFAULTS
from .polar import aline_angles_deg

__all__ = [
    "MEASURE_DEFAULTS",
    "VesselMeasurements",
    "chord_diameters_mm",
    "measure_vessel",
    "polygon_area_mm2",
    "runs",
]

FRAME_FIELDS = [
    "frame",
    "position_mm",
    "lumen_area_mm2",
    "eem_area_mm2",
    "plaque_media_area_mm2",
    "plaque_burden_pct",
    "lumen_min_diameter_mm",
    "lumen_max_diameter_mm",
    "shadowed_deg",
]


def polygon_area_mm2(contours_px: np.ndarray, pixel_spacing_mm: tuple[float, float]) -> np.ndarray:
    """Areas (mm^2) of closed contours (..., N, 2) of (row, col) pixels."""
    y = contours_px[..., 0] * pixel_spacing_mm[0]
    x = contours_px[..., 1] * pixel_spacing_mm[1]
    return 0.5 * np.abs(np.sum(x * np.roll(y, -1, -1) - np.roll(x, -1, -1) * y, axis=-1))


def chord_diameters_mm(
    contours_px: np.ndarray, pixel_spacing_mm: tuple[float, float], step_deg: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Minimal and maximal chord through the centroid of each contour (F, N, 2) -> (F,), (F,)."""
    y = contours_px[..., 0] * pixel_spacing_mm[0]
    x = contours_px[..., 1] * pixel_spacing_mm[1]
    f = y.shape[0]
    # polygon centroid
    cr = x * np.roll(y, -1, -1) - np.roll(x, -1, -1) * y
    a = 0.5 * cr.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = ((x + np.roll(x, -1, -1)) * cr).sum(-1) / (6 * a)
        cy = ((y + np.roll(y, -1, -1)) * cr).sum(-1) / (6 * a)
    ang = np.arange(0.0, 360.0, step_deg)
    dmin = np.full(f, np.nan)
    dmax = np.full(f, np.nan)
    ok = np.isfinite(cx) & np.isfinite(x).all(-1) & np.isfinite(y).all(-1)
    if not ok.any():
        return dmin, dmax
    # every contour at once (no per-frame Python: a 3,000-frame pullback is one pass):
    # radius about the centroid at each angle, interpolated periodically as np.interp does
    dx, dy = x[ok] - cx[ok, None], y[ok] - cy[ok, None]
    th = np.mod(np.degrees(np.arctan2(dy, dx)), 360.0)
    r = np.hypot(dy, dx)
    order = np.argsort(th, axis=1, kind="stable")
    th = np.take_along_axis(th, order, 1)
    r = np.take_along_axis(r, order, 1)
    th = np.concatenate([th[:, -1:] - 360.0, th, th[:, :1] + 360.0], 1)
    r = np.concatenate([r[:, -1:], r, r[:, :1]], 1)
    m, n = th.shape
    off = np.arange(m)[:, None] * 2000.0  # rows apart: one sorted array, one search
    j = np.searchsorted((th + off).ravel(), (ang[None, :] + off).ravel(), side="right")
    j = np.clip(j.reshape(m, -1) - np.arange(m)[:, None] * n, 1, n - 1)
    x0, x1 = np.take_along_axis(th, j - 1, 1), np.take_along_axis(th, j, 1)
    r0, r1 = np.take_along_axis(r, j - 1, 1), np.take_along_axis(r, j, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(x1 > x0, (ang[None, :] - x0) / (x1 - x0), 0.0)
    r_at = r0 + t * (r1 - r0)
    half = len(ang) // 2
    diam = r_at[:, :half] + r_at[:, half : 2 * half]
    dmin[ok] = diam.min(1)
    dmax[ok] = diam.max(1)
    return dmin, dmax


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open (start, stop) frame ranges where ``mask`` is True."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    starts, stops = np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()
    return list(zip(starts, stops, strict=True))


def _num(v: Any) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


@dataclass
class VesselMeasurements:
    """Per-frame arrays and the pullback summary; ``to_dict`` / ``to_rows`` for reports."""

    frames: dict[str, np.ndarray]
    summary: dict[str, Any]
    frame_indices: np.ndarray
    notes: list[str] = field(default_factory=list)

    def row(self, k: int) -> dict[str, Any]:
        """The report row of the k-th measured frame (None for values that are not finite)."""
        row: dict[str, Any] = {"frame": int(self.frame_indices[k])}
        for name in FRAME_FIELDS[1:]:
            row[name] = _num(self.frames[name][k])
        return row

    def to_rows(self) -> list[dict[str, Any]]:
        return [self.row(k) for k in range(len(self.frame_indices))]

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.to_rows(), "summary": self.summary, "notes": list(self.notes)}


#: below this autocorrelation at the period, image-based gating is flagged as untrustworthy
GATING_MIN_CONFIDENCE = 0.2


def measure_vessel(
    borders: VesselBorders,
    mm_per_frame: float,
    frames: np.ndarray | None = None,
    burden_threshold_pct: float | None = None,
    min_segment_frames: int | None = None,
) -> VesselMeasurements:
    """Measurements of the given frames (default all) from the borders.

    With a subset of frames (e.g. end-diastolic frames after gating), the volume uses the
    distance between the chosen frames (their mean spacing) and segment lengths count the
    chosen frames times that spacing.
    """
    thr = MEASURE_DEFAULTS["burden_threshold_pct"] if burden_threshold_pct is None else float(
        burden_threshold_pct
    )
    min_seg = (
        MEASURE_DEFAULTS["min_segment_frames"] if min_segment_frames is None else min_segment_frames
    )
    idx = np.arange(borders.n_frames) if frames is None else np.asarray(frames, dtype=np.int64)
    if idx.size == 0:
        raise ValueError(
            "no frames to measure: the pullback has no frames"
            if borders.n_frames == 0
            else "no frames to measure: the list of frames to measure is empty"
        )
    if idx.min() < 0 or idx.max() >= borders.n_frames:
        raise ValueError(f"frames must lie in 0..{borders.n_frames - 1}")
    per = frame_measures(borders, idx)
    return summarise(per, idx, mm_per_frame, thr, min_seg)


def refused_frames(borders: VesselBorders, idx: np.ndarray) -> np.ndarray:
    """Which of the frames ``idx`` a flag refuses (shadow too wide to bridge), without a
    Python pass over the frames: only the flagged frames (a few) are looked at."""
    bad = [int(f) for f, ss in borders.flags.items() if any("not bridged" in s for s in ss)]
    return np.isin(idx, np.asarray(bad, np.int64)) if bad else np.zeros(idx.size, bool)


def frame_measures(borders: VesselBorders, idx: np.ndarray) -> dict[str, np.ndarray]:
    """The per-frame measurements of the frames ``idx`` (each frame on its own: the rows of
    an edited frame can be recomputed alone and put in place of the old ones, see
    :class:`~napari_plaque.ivus.border_editor.BorderEditor`), without positions; ``refused``
    marks frames refused by a flag."""
    idx = np.asarray(idx, dtype=np.int64)
    sp = borders.pixel_spacing_mm
    th = np.radians(aline_angles_deg(borders.n_alines))[None, :]
    sin, cos = np.sin(th), np.cos(th)
    cy, cx = borders.center

    def contours(which: str) -> np.ndarray:  # of these frames only (one edited frame: one)
        r = borders.radii(which)[idx]
        return np.stack([cy + r * sin, cx + r * cos], 2)

    lum_c, eem_c = contours("lumen"), contours("eem")
    la = polygon_area_mm2(lum_c, sp)
    ea = polygon_area_mm2(eem_c, sp)
    refused = refused_frames(borders, idx)
    la[refused] = np.nan
    ea[refused] = np.nan
    pm = ea - la
    with np.errstate(invalid="ignore", divide="ignore"):
        burden = 100.0 * pm / ea
    dmin, dmax = chord_diameters_mm(lum_c, sp)
    dmin[refused] = np.nan
    dmax[refused] = np.nan
    return {
        "lumen_area_mm2": la,
        "eem_area_mm2": ea,
        "plaque_media_area_mm2": pm,
        "plaque_burden_pct": burden,
        "lumen_min_diameter_mm": dmin,
        "lumen_max_diameter_mm": dmax,
        "shadowed_deg": borders.shadowed[idx].mean(axis=1) * 360.0,
        "refused": refused,
    }


def summarise(
    per_frame: dict[str, np.ndarray],
    idx: np.ndarray,
    mm_per_frame: float,
    burden_threshold_pct: float | None = None,
    min_segment_frames: int | None = None,
) -> VesselMeasurements:
    """The pullback summary of per-frame measurements (:func:`frame_measures` of ``idx``):
    numpy over the frames, no per-frame Python (a 3,000-frame pullback in about a millisecond)."""
    thr = MEASURE_DEFAULTS["burden_threshold_pct"] if burden_threshold_pct is None else float(
        burden_threshold_pct
    )
    min_seg = (
        MEASURE_DEFAULTS["min_segment_frames"] if min_segment_frames is None else min_segment_frames
    )
    idx = np.asarray(idx, dtype=np.int64)
    refused = per_frame["refused"]
    la, ea = per_frame["lumen_area_mm2"], per_frame["eem_area_mm2"]
    pm, burden = per_frame["plaque_media_area_mm2"], per_frame["plaque_burden_pct"]
    pos = idx * float(mm_per_frame)
    per = {"position_mm": pos, **{k: v for k, v in per_frame.items() if k != "refused"}}
    spacing = float(np.mean(np.diff(idx))) * mm_per_frame if idx.size > 1 else mm_per_frame
    ok = np.isfinite(la) & np.isfinite(ea)
    notes = []
    warnings_ = _range_warnings(ea, idx, ok)
    if refused.any():
        notes.append(
            f"{int(refused.sum())} frame(s) refused (shadow too wide to bridge): "
            f"{[int(f) for f in idx[refused]][:20]}"
        )
    summary: dict[str, Any] = {
        "n_frames": int(idx.size),
        "n_frames_measured": int(ok.sum()),
        "frame_spacing_mm": spacing,
        "burden_threshold_pct": thr,
    }
    if ok.any():
        k = int(np.nanargmin(np.where(ok, la, np.nan)))
        kb = int(np.nanargmax(np.where(ok, burden, np.nan)))
        seg_list = []
        for a, b in runs(ok & (burden >= thr)):
            if b - a < min_seg:
                continue
            seg_list.append(
                {
                    "frame_start": int(idx[a]),
                    "frame_stop": int(idx[b - 1]),
                    "start_mm": float(pos[a]),
                    "stop_mm": float(pos[b - 1]),
                    "length_mm": float((b - a) * spacing),
                    "max_burden_pct": float(np.max(burden[a:b])),
                }
            )
        summary.update(
            {
                "mla_mm2": float(la[k]),
                "mla_frame": int(idx[k]),
                "mla_position_mm": float(pos[k]),
                "max_plaque_burden_pct": float(burden[kb]),
                "max_plaque_burden_frame": int(idx[kb]),
                "mean_lumen_area_mm2": float(np.mean(la[ok])),
                "mean_eem_area_mm2": float(np.mean(ea[ok])),
                "total_atheroma_volume_mm3": float(np.sum(pm[ok]) * spacing),
                "percent_atheroma_volume_pct": float(100.0 * np.sum(pm[ok]) / np.sum(ea[ok])),
                "burden_segments": seg_list,
                "burden_segments_length_mm": float(sum(s["length_mm"] for s in seg_list)),
            }
        )
    else:
        n_ref = int(refused.sum())
        why = (
            f"all {idx.size} frame(s) refused (shadow too wide to bridge)"
            if n_ref == idx.size
            else f"{idx.size - n_ref} of {idx.size} frame(s) without a closed lumen and EEM "
            "border" + (f", {n_ref} refused (shadow too wide to bridge)" if n_ref else "")
        )
        notes.append(f"no frame could be measured: {why}")
        summary.update({"mla_mm2": None, "burden_segments": []})
    summary["warnings"] = warnings_
    return VesselMeasurements(per, summary, idx, notes)


def _range_warnings(eem_mm2: np.ndarray, idx: np.ndarray, ok: np.ndarray) -> list[str]:
    """Flags for measurements no coronary artery gives (one home of the limit:
    :data:`~napari_plaque.io.dicom_common.CORONARY_MAX_EEM_MM2`)."""
    from ..io.dicom_common import CORONARY_MAX_EEM_MM2

    big = ok & (eem_mm2 > CORONARY_MAX_EEM_MM2)
    if not big.any():
        return []
    return [
        f"{int(big.sum())} of {int(ok.sum())} measured frame(s) have an EEM area above "
        f"{CORONARY_MAX_EEM_MM2:g} mm^2 (up to {float(np.max(eem_mm2[big])):.0f} mm^2, first at "
        f"frame {int(idx[np.flatnonzero(big)[0]])}): not a coronary cross-section at this scale "
        "(check the pixel size, and that this is an intravascular pullback)"
    ]


def iter_analyse_pullback(
    pullback,
    gated: bool = False,
    borders: VesselBorders | None = None,
    burden_threshold_pct: float | None = None,
    **border_params: Any,
):
    """Borders (unless given), optional gating and measurements of a pullback, as a report.

    A generator yielding progress (frames done) and returning ``(report, borders)``; the
    report has ``frames`` (one row per measured frame), ``summary``, ``gating`` (or None),
    the pullback's scale, ``assumed`` and ``notes``. The one home of the ``ivus-vessel``
    report used by the command line and the dock.
    """
    from ..io.errors import ReaderError
    from .borders import iter_detect_borders
    from .gating import end_diastolic_frames

    meta = pullback.meta or {}
    if meta.get("intravascular") is False:
        raise ReaderError(
            pullback.source or pullback.name,
            "not an intravascular pullback ("
            + str(meta.get("intravascular_evidence") or "not IVUS")
            + "): lumen / EEM measurements need an IVUS or IV-OCT pullback",
        )
    if borders is None:
        # frame sequences arrive masked by their reader (nothing outside the imaging field)
        borders = yield from iter_detect_borders(
            pullback.frames, pullback.pixel_spacing_mm, **border_params
        )
    elif borders.n_frames != pullback.n_frames:
        raise ValueError(
            f"{pullback.source or pullback.name}: borders for {borders.n_frames} frames, the "
            f"pullback has {pullback.n_frames}"
        )
    gating = None
    frames = None
    if gated:
        where = pullback.source or pullback.name
        try:
            g = end_diastolic_frames(pullback.frames, pullback.frame_time_s)
        except ValueError as exc:  # too short to gate: say so, with the file
            raise ValueError(f"{where}: cannot gate ({exc}); run without --gated") from None
        gating = g.to_dict()
        frames = g.frames
        if g.confidence < GATING_MIN_CONFIDENCE:
            gating["warning"] = (
                f"weak cardiac periodicity (confidence {g.confidence:.2f} < "
                f"{GATING_MIN_CONFIDENCE:g}): gated frames may be wrong"
            )
        if len(frames) == 0:
            raise ValueError(
                f"{where}: no frames to measure: gating found no end-diastolic frame in "
                f"{pullback.n_frames} frames (a cardiac cycle cut by the ends of the pullback "
                "is skipped); run without --gated"
            )
    m = measure_vessel(borders, pullback.mm_per_frame, frames, burden_threshold_pct)
    notes = list(pullback.meta.get("notes", [])) + m.notes
    notes += [f"frame {f}: {s}" for f, ss in sorted(borders.flags.items()) for s in ss]
    warnings_ = list(meta.get("warnings", [])) + list(m.summary.get("warnings", []))
    if gating and gating.get("warning"):  # in JSON, the cohort column and the text alike
        warnings_.append(f"gating: {gating['warning']}")
    # also as plain columns, so cohort tables (which keep only scalars) carry the flag
    m.summary["n_warnings"] = len(warnings_)
    m.summary["warning"] = "; ".join(warnings_)
    notes += [f"warning: {w}" for w in warnings_ if f"warning: {w}" not in notes]
    report = {
        "pullback": str(pullback.source),
        "n_frames": pullback.n_frames,
        "frame_shape": list(pullback.frame_shape),
        "mm_per_frame": pullback.mm_per_frame,
        "pixel_spacing_mm": list(pullback.pixel_spacing_mm),
        "assumed": sorted(pullback.assumed),
        "gating": gating,
        "frames": m.to_rows(),
        "summary": m.summary,
        "warnings": warnings_,
        "notes": notes,
    }
    return report, borders
