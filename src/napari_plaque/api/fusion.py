"""``api.fuse`` (``napari-plaque fuse``): CT lesions joined to the IVUS frames and arcs that
image them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fusion.join import JOIN_DEFAULTS
from ..fusion.mapping import DEFAULTS as MAPPING_DEFAULTS
from ._inputs import pullback as _pullback
from ._result import Result


@dataclass
class FuseResult(Result):
    """``to_dict()``: the ``fuse --json`` object (mapping, registration, lesions, warnings,
    inputs...); ``to_rows()``: one row per lesion (``fuse --csv``). ``join``: the core
    :class:`~napari_plaque.fusion.join.FusionResult`."""

    command = "fuse"
    join: Any = None


def _path_or_none(x: Any) -> str | None:
    return str(x) if isinstance(x, (str, Path)) else None


def _vessel_lesions(ct: Any, centreline: Any) -> tuple[float, list[dict[str, Any]]]:
    """The CT vessel analysis of ``fuse --ct --centreline``: :func:`napari_plaque.api.vessel`,
    so every centreline form it reads works here (JSON, napari Points CSV, label map); a
    centreline JSON keeps its own step."""
    from ..ccta.centreline import CENTRELINE_DEFAULTS, Centreline, load_centreline_any
    from .ccta import vessel as vessel_analysis

    step = CENTRELINE_DEFAULTS["step_mm"]
    if isinstance(centreline, Centreline):
        step = centreline.step_mm
    elif str(centreline).lower().endswith(".json"):
        step = load_centreline_any(centreline)[0].step_mm
    d = vessel_analysis(ct, centreline, step_mm=step).to_dict()
    return float(d.get("length_mm") or 0.0), d["lesions"]


def fuse(
    *,
    pullback: Any = None,
    landmark: Sequence[Any] | None = None,
    ct: Any = None,
    centreline: Any = None,
    vessel_json: str | Path | None = None,
    vessel: str | None = None,
    arcs: Any = None,
    rotation_deg: float = MAPPING_DEFAULTS["rotation_deg"],
    mirror: bool = False,
    direction: str = MAPPING_DEFAULTS["direction"],
    speed_tolerance: float = MAPPING_DEFAULTS["speed_tolerance"],
    attenuation_min_arc_deg: float = JOIN_DEFAULTS["attenuation_min_arc_deg"],
    attenuation_min_length_mm: float = JOIN_DEFAULTS["attenuation_min_length_mm"],
    keep_calcium_alines: bool = False,
    n_alines: int = JOIN_DEFAULTS["n_alines"],
    allow_partial: bool = False,
    patient: str | None = None,
) -> FuseResult:
    """Map every IVUS frame to the CT centreline arc length and join the CT lesions to the
    frames / arcs over them.

    ``pullback``: IVUS DICOM path or a :class:`~napari_plaque.types.Pullback`; ``landmark``:
    one or two ``"S_MM:FRAME"`` (or :class:`~napari_plaque.fusion.mapping.Landmark`); the CT
    side is ``ct`` (path or ``CTVolume``) with ``centreline`` (JSON, Points CSV, label map or a
    ``Centreline``), or ``vessel_json`` (a vessel analysis already run; ``vessel`` picks one of
    several); ``arcs``: an arcs file path or an ``ArcSet``.
    """
    from ..fusion.join import join_lesions, load_vessel_json
    from ..fusion.mapping import FrameMapping, Landmark, parse_landmark
    from ..ivus.arcs import load_arcs

    if pullback is None:
        raise ValueError("give --pullback (or --manifest with a 'pullback' column)")
    if not landmark:
        raise ValueError("give --landmark S_MM:FRAME (one or two)")
    landmarks = [m if isinstance(m, Landmark) else parse_landmark(m) for m in landmark]
    if vessel_json:
        if ct is not None or centreline is not None:
            raise ValueError("give either --vessel-json or --ct with --centreline, not both")
        length, lesions = load_vessel_json(vessel_json, vessel)
    elif ct is None or centreline is None:
        raise ValueError("give --ct and --centreline (or --vessel-json)")
    pb = _pullback(pullback)
    arc_set = None
    if arcs is not None:
        arc_set = (load_arcs(arcs, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
                   if isinstance(arcs, (str, Path)) else arcs)
    if not vessel_json:
        length, lesions = _vessel_lesions(ct, centreline)
    mapping = FrameMapping.from_pullback(
        pb,
        landmarks,
        length,
        direction=direction,
        rotation_deg=rotation_deg,
        mirror=mirror,
        speed_tolerance=speed_tolerance,
    )
    res = join_lesions(
        lesions,
        mapping,
        arc_set,
        attenuation_min_arc_deg=attenuation_min_arc_deg,
        attenuation_min_length_mm=attenuation_min_length_mm,
        exclude_calcium_alines=not keep_calcium_alines,
        n_alines=n_alines,
        allow_partial=allow_partial,
    )
    if patient:
        for les in res.lesions:
            les["patient"] = patient
    out = res.to_dict()
    out["inputs"] = {
        "ct": _path_or_none(ct),
        "centreline": _path_or_none(centreline),
        "vessel_json": _path_or_none(vessel_json),
        "pullback": _path_or_none(pullback),
        "arcs": _path_or_none(arcs),
        "pullback_assumed": sorted(pb.assumed),
    }
    return FuseResult(data=out, rows=res.to_rows(), warnings=list(out.get("warnings", [])),
                      join=res)


__all__ = ["FuseResult", "fuse"]
