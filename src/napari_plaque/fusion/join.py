"""Join CT lesions (ranges of centreline s) to the IVUS frames and arcs that image them.

For each CT lesion ``[start_mm, end_mm]`` (a dict from the vessel analysis) the frames whose s
lies in the lesion (``FrameMapping.frames_for_s_range``) are found, and the IVUS arc metrics over
those frames are added:

- ``ivus_frames``: ``[first, last]`` (inclusive);
- ``ivus_calcium_max_arc_deg`` / ``ivus_calcium_mean_arc_deg``: maximum and mean (over the frames
  holding calcium) calcium arc; ``ivus_ics``: the IVUS calcium score over the lesion's frames
  (1000 x calcium A-lines / all A-lines, Neleman et al.), the definitions of
  :func:`napari_plaque.ivus.measure.arc_measurements`;
- ``ivus_attenuation_max_arc_deg``: the largest attenuation arc of one frame;
  ``ivus_attenuation_length_mm``: the longest run of consecutive frames holding attenuation x the
  calibrated mm per frame;
- ``ivus_attenuation_run_mm``: the longest run of consecutive frames whose attenuation arc is
  at least ``attenuation_min_arc_deg``;
- ``attenuated``: some frame has an attenuation arc ``>= attenuation_min_arc_deg`` and
  ``ivus_attenuation_run_mm >= attenuation_min_length_mm``.

The attenuation rule (``JOIN_DEFAULTS``; docs/fusion.md gives the reasoning)
---------------------------------------------------------------------------
An attenuated plaque on IVUS is a hypoechoic plaque with deep ultrasound attenuation *despite the
absence of bright calcium* (Lee et al., JACC Cardiovasc Interv 2009;2:65; Bayturan et al., JACC
Cardiovasc Interv 2010;3:1226 -- the definition Zhao 2026 and ``docs/domain.md`` use). It is a
presence definition; the thresholds keep it from resting on a speck:

- ``attenuation_min_arc_deg = 30``: a maximal attenuation arc >= 30 deg separated lesions with
  unstable morphology (more OCT/VH thin-cap fibroatheroma, larger remodeling) from those below in
  the multimodality IVUS/VH-IVUS/OCT study of 115 lesions (Catheter Cardiovasc Interv 2016, "a
  maximal arc of attenuation >= 29.0 deg ... a rough cut-off of 30 deg");
- ``attenuation_min_length_mm = 0``: the presence definition has no length criterion; "large"
  attenuated plaque definitions add one (set e.g. 180 deg and 5 mm, the arc x length convention
  used for moderate/severe calcium in ``docs/domain.md``);
- ``exclude_calcium_alines = True``: an A-line labelled calcium in the same frame does not count
  as attenuation (shadow behind calcium is not attenuated plaque).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ivus.measure import arc_measurements, longest_run
from .defaults import JOIN_DEFAULTS  # defaults of the lesion join (one home, light)
from .mapping import FrameMapping

#: the fields the join adds to each lesion, in order
IVUS_FIELDS = (
    "ivus_frames",
    "ivus_coverage",
    "ivus_calcium_max_arc_deg",
    "ivus_calcium_mean_arc_deg",
    "ivus_ics",
    "ivus_attenuation_max_arc_deg",
    "ivus_attenuation_length_mm",
    "ivus_attenuation_run_mm",
    "attenuated",
)


def load_vessel_json(path, vessel: str | None = None) -> tuple[float, list[dict[str, Any]]]:
    """``(length_mm, lesions)`` from a vessel analysis JSON: the ``vessel --json`` object, or
    the vessel dock's export (``{"vessels": [...]}``; ``vessel`` picks one by name when it holds
    several). Lesions edited in the dock are used as they are, not recomputed."""
    import json
    from pathlib import Path

    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: not a readable JSON file ({exc})") from None
    items = doc.get("vessels") if isinstance(doc, dict) and "vessels" in doc else [doc]
    if not isinstance(items, list) or not all(isinstance(v, dict) for v in items):
        raise ValueError(f"{p}: not a vessel analysis JSON")
    names = [str(v.get("vessel", "")) for v in items]
    if vessel is not None:
        if vessel not in names:
            raise ValueError(f"{p}: no vessel {vessel!r}; it holds {names}")
        item = items[names.index(vessel)]
    elif len(items) == 1:
        item = items[0]
    else:
        raise ValueError(f"{p}: holds {len(items)} vessels {names}; choose one by name")
    try:
        length = float(item["length_mm"])
        lesions = [dict(x) for x in item["lesions"]]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{p}: a vessel analysis JSON needs length_mm and lesions") from None
    if not length > 0:
        raise ValueError(f"{p}: length_mm must be > 0, got {length}")
    for i, les in enumerate(lesions):
        try:
            s0, s1 = float(les["start_mm"]), float(les["end_mm"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{p}: lesion {i + 1} has no numeric start_mm / end_mm") from None
        if not (np.isfinite(s0) and np.isfinite(s1)) or s0 > s1 or s0 < 0 or s1 > length:
            raise ValueError(
                f"{p}: lesion {i + 1} runs from {s0:g} to {s1:g} mm: it must lie within "
                f"0..{length:g} mm (length_mm) with start_mm not after end_mm"
            )
    return length, lesions


def attenuation_run_mm(
    arc_deg: np.ndarray,
    mm_per_frame: float,
    min_arc_deg: float = JOIN_DEFAULTS["attenuation_min_arc_deg"],
) -> float:
    """Length (mm) of the longest run of consecutive frames whose attenuation arc is at least
    ``min_arc_deg`` (and not 0); 0 when no frame qualifies."""
    a = np.asarray(arc_deg, float)
    _, run = longest_run((a > 0) & (a >= min_arc_deg))
    return float(run * mm_per_frame)


def attenuated_rule(
    arc_deg: np.ndarray,
    mm_per_frame: float,
    min_arc_deg: float = JOIN_DEFAULTS["attenuation_min_arc_deg"],
    min_length_mm: float = JOIN_DEFAULTS["attenuation_min_length_mm"],
) -> bool:
    """The attenuated-plaque rule on the per-frame attenuation arcs of a lesion: at least one
    frame with an arc >= ``min_arc_deg``, in a run of such frames at least ``min_length_mm``
    long."""
    a = np.asarray(arc_deg, float)
    if not np.any((a > 0) & (a >= min_arc_deg)):
        return False
    return bool(attenuation_run_mm(a, mm_per_frame, min_arc_deg) >= min_length_mm)


@dataclass
class JoinResult:
    """Joined lesions plus the mapping that produced them."""

    lesions: list[dict[str, Any]]
    mapping: FrameMapping
    parameters: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, frames: bool = True) -> dict[str, Any]:
        m = self.mapping.to_dict(frames=frames)
        out: dict[str, Any] = {}
        if frames:
            out["mapping"] = m.pop("mapping")
        out["mm_per_frame_used"] = m["mm_per_frame_used"]
        out["lesions"] = self.lesions
        out["registration"] = m
        out["parameters"] = self.parameters
        out["warnings"] = list(self.mapping.warnings) + list(self.warnings)
        return out

    def to_rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, les in enumerate(self.lesions):
            r = {"lesion": i + 1}
            r.update({k: v for k, v in les.items() if not isinstance(v, (dict, list))})
            fr = les.get("ivus_frames")
            r["ivus_first_frame"] = fr[0] if fr else None
            r["ivus_last_frame"] = fr[1] if fr else None
            rows.append(r)
        return rows


def _labels(arcs, cls: str, n_frames: int, n_alines: int) -> np.ndarray:
    if arcs is None:
        return np.zeros((n_frames, n_alines), bool)
    if arcs.n_frames != n_frames:
        raise ValueError(
            f"the arcs were drawn on a pullback of {arcs.n_frames} frames, this one has {n_frames}"
        )
    if cls not in arcs.classes:
        return np.zeros((n_frames, n_alines), bool)
    return arcs.class_labels(cls, n_alines)


def join_lesions(
    lesions: Iterable[Mapping[str, Any]],
    mapping: FrameMapping,
    arcs=None,
    **params: Any,
) -> JoinResult:
    """Add the IVUS frame range and arc metrics to each CT lesion (see the module docstring).

    ``arcs`` is an :class:`napari_plaque.ivus.arcs.ArcSet` of the same pullback (None: only the
    frame ranges; metrics and ``attenuated`` are null, with a warning -- never scored as 0). A lesion the pullback does not
    fully image is refused (ValueError naming it) unless ``allow_partial``; then it is flagged
    with its ``ivus_coverage`` and, when no frame images it, null metrics.
    """
    unknown = set(params) - set(JOIN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown join parameters {sorted(unknown)}; known: {list(JOIN_DEFAULTS)}")
    p = {**JOIN_DEFAULTS, **params}
    n_alines = int(p["n_alines"])
    calcium = _labels(arcs, p["calcium_class"], mapping.n_frames, n_alines)
    atten = _labels(arcs, p["attenuation_class"], mapping.n_frames, n_alines)
    if p["exclude_calcium_alines"]:
        atten = atten & ~calcium
    mmpf = mapping.mm_per_frame_used
    warnings: list[str] = []
    if arcs is None:
        warnings.append(
            "no IVUS arcs given: frame ranges only; arc metrics and 'attenuated' are null "
            "(not scored)"
        )
    out: list[dict[str, Any]] = []
    c0, c1 = mapping.covered_s_mm
    for i, lesion in enumerate(lesions):
        les = dict(lesion)
        try:
            s0, s1 = float(les["start_mm"]), float(les["end_mm"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"lesion {i + 1} has no numeric start_mm / end_mm") from None
        if not (np.isfinite(s0) and np.isfinite(s1)) or s0 > s1:
            raise ValueError(
                f"lesion {i + 1}: start_mm {s0:g} must be finite and not after end_mm {s1:g}"
            )
        cov = mapping.coverage(s0, s1)
        frames = mapping.frames_for_s_range(s0, s1)
        if frames is None and min(s0, s1) >= c0 and max(s0, s1) <= c1:
            # a lesion shorter than the frame spacing: the nearest frame images it
            f = mapping.nearest_frame(0.5 * (s0 + s1))
            frames = (f, f)
        if cov < 1.0 - 1e-9 and not p["allow_partial"]:
            raise ValueError(
                f"lesion {i + 1} (s = {s0:.2f} .. {s1:.2f} mm) is "
                f"{'only partly' if cov > 0 else 'not'} imaged by the pullback, which covers "
                f"s = {c0:.2f} .. {c1:.2f} mm: the pullback is shorter than the segment or the "
                "landmark is wrong (allow partial coverage to flag it instead)"
            )
        les["ivus_frames"] = list(frames) if frames else None
        les["ivus_coverage"] = round(cov, 6)
        if frames is None or arcs is None:
            for k in IVUS_FIELDS[2:]:
                les[k] = None
            if frames is None:
                warnings.append(f"lesion {i + 1} is not imaged by the pullback: no IVUS metrics")
            out.append(les)
            continue
        rng = (frames[0], frames[1] + 1)
        ca = arc_measurements(calcium, mmpf, frames=rng)
        at = arc_measurements(atten, mmpf, frames=rng)
        _, run = longest_run(atten[rng[0] : rng[1]].any(axis=1))
        at_len = run * mmpf
        les["ivus_calcium_max_arc_deg"] = ca["max_arc_deg"]
        les["ivus_calcium_mean_arc_deg"] = ca["mean_arc_deg"]
        les["ivus_ics"] = ca["ics"]
        les["ivus_attenuation_max_arc_deg"] = at["max_arc_deg"]
        les["ivus_attenuation_length_mm"] = float(at_len)
        arc_deg = np.asarray(at["arc_deg"], float)
        les["ivus_attenuation_run_mm"] = attenuation_run_mm(
            arc_deg, mmpf, p["attenuation_min_arc_deg"]
        )
        les["attenuated"] = attenuated_rule(
            arc_deg, mmpf, p["attenuation_min_arc_deg"], p["attenuation_min_length_mm"]
        )
        if cov < 1.0 - 1e-9:
            warnings.append(
                f"lesion {i + 1}: the pullback images {100 * cov:.0f} % of it; metrics cover "
                "those frames only"
            )
        out.append(les)
    return JoinResult(out, mapping, {k: p[k] for k in JOIN_DEFAULTS}, warnings)
