"""IVUS calcium score (ICS) and arc measurements from per-A-line labels.

ICS (Neleman et al.) = 1000 x calcium-positive A-lines / all A-lines over the analysed frames.
Per frame the arc is the number of positive A-lines x 360 / N degrees. The calcium length is
the number of frames holding calcium x the distance between frames (frame time x pullback
rate). "Moderate/severe" calcium: an arc > 180 deg over a length > 5 mm (consecutive frames).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["arc_measurements", "ics", "longest_run", "parse_frame_range", "pullback_summary"]


def parse_frame_range(text: str | None, n_frames: int) -> tuple[int, int]:
    """``"START:STOP"`` (Python slice style, either side optional) -> (start, stop) clipped."""
    if text is None or text == "":
        return (0, n_frames)
    if ":" not in text:
        raise ValueError(f"frame range must be START:STOP, got {text!r}")
    a, b = text.split(":", 1)
    start = int(a) if a.strip() else 0
    stop = int(b) if b.strip() else n_frames
    if start < 0:
        start += n_frames
    if stop < 0:
        stop += n_frames
    start, stop = max(0, start), min(n_frames, stop)
    if stop <= start:
        raise ValueError(f"frame range {text!r} selects no frames of {n_frames}")
    return (start, stop)


def ics(labels: np.ndarray, frames: tuple[int, int] | None = None) -> float:
    """IVUS calcium score: 1000 x positive A-lines / all A-lines (labels (F, N) bool).

    The one definition in napari-plaque (measurements, models, cohort agreement call it). The
    ICS of an empty pullback (no A-lines in the analysed frames) is undefined: ValueError,
    never 0.
    """
    lab = np.asarray(labels, bool)
    if frames is not None:
        lab = lab[frames[0] : frames[1]]
    if lab.size == 0:
        raise ValueError("ICS is undefined: no A-lines in the analysed frames (empty pullback)")
    return float(1000.0 * np.count_nonzero(lab) / lab.size)


def longest_run(mask: np.ndarray) -> tuple[int, int]:
    """Longest run of True in a 1D mask: (start, length); (0, 0) when none."""
    m = np.asarray(mask, bool).astype(np.int8)
    if not m.any():
        return (0, 0)
    d = np.diff(np.concatenate([[0], m, [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    i = int(np.argmax(ends - starts))
    return (int(starts[i]), int(ends[i] - starts[i]))


def arc_measurements(
    labels: np.ndarray,
    mm_per_frame: float,
    frames: tuple[int, int] | None = None,
    arc_threshold_deg: float = 180.0,
    length_threshold_mm: float = 5.0,
) -> dict[str, Any]:
    """Arc statistics of one class from per-A-line labels (F, N) bool.

    Returns
    -------
    dict with ``ics`` (the score for this class), ``positive_alines``, ``total_alines``,
    ``n_frames``, ``frame_range``, ``arc_deg`` (per analysed frame), ``max_arc_deg``,
    ``max_arc_frame``, ``positive_frames``, ``length_mm`` (positive frames x mm per frame),
    ``longest_segment_mm``, ``length_over_threshold_mm`` (longest consecutive run of frames with
    arc > ``arc_threshold_deg``) and ``arc_gt180_over_5mm`` (the moderate/severe flag).
    """
    lab = np.asarray(labels, bool)
    n_all, n_alines = lab.shape
    start, stop = frames if frames is not None else (0, n_all)
    lab = lab[start:stop]
    if lab.size == 0:
        raise ValueError("ICS is undefined: no A-lines in the analysed frames (empty pullback)")
    per_frame = lab.sum(axis=1)
    arc_deg = per_frame * (360.0 / n_alines)
    positive = per_frame > 0
    _, seg = longest_run(positive)
    run_start, big = longest_run(arc_deg > arc_threshold_deg)
    length_big = big * mm_per_frame
    i_max = int(np.argmax(arc_deg))
    return {
        "ics": ics(lab),
        "positive_alines": int(per_frame.sum()),
        "total_alines": int(lab.size),
        "n_frames": int(stop - start),
        "frame_range": [int(start), int(stop)],
        "n_alines": int(n_alines),
        "mm_per_frame": float(mm_per_frame),
        "arc_deg": arc_deg.round(3).tolist(),
        "max_arc_deg": float(arc_deg[i_max]),
        "max_arc_frame": int(start + i_max),
        "mean_arc_deg": float(arc_deg[positive].mean()) if positive.any() else 0.0,
        "positive_frames": int(positive.sum()),
        "length_mm": float(positive.sum() * mm_per_frame),
        "longest_segment_mm": float(seg * mm_per_frame),
        "length_over_threshold_mm": float(length_big),
        "over_threshold_start_frame": int(start + run_start) if big else None,
        "arc_threshold_deg": float(arc_threshold_deg),
        "length_threshold_mm": float(length_threshold_mm),
        "arc_gt180_over_5mm": bool(length_big > length_threshold_mm),
    }


def pullback_summary(
    calcium: dict[str, Any],
    attenuation: dict[str, Any] | None = None,
    assumed: list[str] | None = None,
) -> dict[str, Any]:
    """The one flat summary of a pullback (``napari-plaque ics`` rows, the annotator, reports)
    from the :func:`arc_measurements` of calcium (and attenuated plaque)."""
    ca = calcium
    out: dict[str, Any] = {
        "ics": ca["ics"],
        "positive_alines": ca["positive_alines"],
        "total_alines": ca["total_alines"],
        "n_alines": ca["n_alines"],
        "frame_range": ca["frame_range"],
        "mm_per_frame": ca["mm_per_frame"],
    }
    if assumed is not None:
        out["assumed"] = list(assumed)
    out.update(
        {
            "max_arc_deg": ca["max_arc_deg"],
            "max_arc_frame": ca["max_arc_frame"],
            "calcium_length_mm": ca["length_mm"],
            "calcium_longest_segment_mm": ca["longest_segment_mm"],
            "calcium_arc_gt180_length_mm": ca["length_over_threshold_mm"],
            "calcium_arc_gt180_over_5mm": ca["arc_gt180_over_5mm"],
        }
    )
    if attenuation is not None:
        out.update(
            {
                "attenuation_max_arc_deg": attenuation["max_arc_deg"],
                "attenuation_length_mm": attenuation["length_mm"],
                "attenuation_arc_gt180_over_5mm": attenuation["arc_gt180_over_5mm"],
            }
        )
    return out
