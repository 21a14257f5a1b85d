"""``api.vessel``: CCTA vessel analysis along a centreline (``napari-plaque vessel``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..ccta.centreline import CENTRELINE_DEFAULTS
from ..ccta.vessel import VESSEL_DEFAULTS
from ._inputs import check_out, ct_volume, label_mask
from ._result import Result

_MASK_SUFFIXES = (".npy", ".nii", ".nii.gz")


@dataclass
class VesselResult(Result):
    """``to_dict()``: length_mm, step_mm, profile, lesions, parameters (the ``--json``);
    ``to_rows()``: one row per lesion. ``analysis``: the core
    :class:`~napari_plaque.ccta.vessel.VesselAnalysis` (contours, centreline...)."""

    command = "vessel"
    analysis: Any = None


def _write_mask(path: str | Path, arr, vol) -> None:
    import numpy as np

    from ..io.atomic import atomic_path
    from ..io.nifti import write_nifti

    out = Path(path)
    if out.suffix == ".npy":
        with atomic_path(out) as tmp:
            np.save(tmp, arr)
    elif out.name.lower().endswith((".nii", ".nii.gz")):
        write_nifti(out, arr, vol.spacing_mm, vol.origin_mm)
    else:
        raise ValueError(f"{out}: masks are written as .npy, .nii or .nii.gz")


def _mask_grid_note(path: str, vol) -> str | None:
    """A NIfTI label map must be on the scan's grid (voxel size and origin, not only the
    shape: refused otherwise); a .npy has no geometry: the returned note says so."""
    from ..io.detect import is_nifti

    if is_nifti(path):
        from ..io.nifti import check_label_grid, read_nifti

        lab = read_nifti(path)
        check_label_grid(lab.spacing_mm, lab.origin_mm, vol, path)
        return None
    return (f"note: {path}: a .npy label map carries no voxel size or origin; taken to be on "
            "the scan's grid (only its shape is checked)")


def vessel(
    path: Any,
    centreline: Any,
    *,
    label: int | None = None,
    ostium: Sequence[float] | None = None,
    name: str | None = None,
    step_mm: float = CENTRELINE_DEFAULTS["step_mm"],
    ranges: Mapping[str, tuple[float, float]] | None = None,
    proximal_ref: Sequence[float] | None = None,
    distal_ref: Sequence[float] | None = None,
    narrowing_min_pct: float = VESSEL_DEFAULTS["narrowing_min_pct"],
    burden_min_pct: float = VESSEL_DEFAULTS["burden_min_pct"],
    merge_gap_mm: float = VESSEL_DEFAULTS["merge_gap_mm"],
    min_length_mm: float = VESSEL_DEFAULTS["min_length_mm"],
    wall_hu: float = VESSEL_DEFAULTS["wall_hu"],
    fat_hu: float = VESSEL_DEFAULTS["fat_hu"],
    roi_out: str | Path | None = None,
    vessel_out: str | Path | None = None,
    contours_out: str | Path | None = None,
    centreline_out: str | Path | None = None,
    sr: str | Path | None = None,
    log: Any = None,
) -> VesselResult:
    """Vessel analysis of one CCTA scan.

    ``path``: a DICOM series folder / file or NIfTI, or a
    :class:`~napari_plaque.types.CTVolume`; ``centreline``: a centreline JSON, a napari Points
    CSV (refined to the lumen centre), a lumen / vessel label map (.npy / NIfTI: skeletonised;
    ``label``, ``ostium`` apply) or a :class:`~napari_plaque.ccta.centreline.Centreline`.
    ``ranges``: composition HU ranges ``{name: (lo, hi)}`` (None: the composition defaults).
    The ``*_out`` / ``sr`` files are written after everything is computed. ``log``: where a
    note goes at once (e.g. ``sys.stderr``; it is also in ``warnings``).
    """
    from ..ccta.centreline import (
        Centreline,
        check_source,
        load_centreline_any,
        refine_centreline,
    )
    from ..ccta.contours import save_contours
    from ..ccta.vessel import analyze_vessel
    from ..ccta.vessel_roi import rasterize

    # validate every argument before reading anything big or writing anything
    check_out(roi_out, _MASK_SUFFIXES)
    check_out(vessel_out, _MASK_SUFFIXES)
    check_out(contours_out, (".json",))
    check_out(centreline_out, (".json",))
    check_out(sr, (".dcm",))
    if not step_mm > 0:
        raise ValueError(f"--step-mm must be > 0, got {step_mm}")
    if ranges is not None:
        from ..ccta import check_ranges

        ranges = check_ranges(dict(ranges))
    if sr and not isinstance(path, (str, Path)):
        raise ValueError("sr needs the DICOM series path, not an in-memory volume")
    warnings: list[str] = []
    given = centreline if isinstance(centreline, Centreline) else None
    where = "centreline" if given is not None else str(centreline)
    is_mask = given is None and where.lower().endswith(_MASK_SUFFIXES)
    if given is not None:
        cl, pts = given, None
    else:
        cl, pts = (None, None) if is_mask else load_centreline_any(where)
    vol = ct_volume(path)
    name = name or (cl.name if cl is not None else "vessel")
    if is_mask:
        from ..ccta.centreline import centreline_from_labels

        labels = label_mask(where, vol.shape)
        note = _mask_grid_note(where, vol)
        if note:
            warnings.append(note)
            if log is not None:
                log.write(note + "\n")
        try:
            cl = centreline_from_labels(vol, labels, label=label, start_mm=ostium,
                                        name=name, step_mm=step_mm)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    elif cl is None:
        try:
            cl = refine_centreline(vol, pts, name=name, step_mm=step_mm)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    else:
        check_source(cl, vol, f"{where}: centreline")
        if given is not None:  # the caller's object is not changed
            cl = Centreline(cl.points_mm, step_mm=cl.step_mm, name=name, source=cl.source)
        cl.name = name
        if abs(cl.step_mm - step_mm) > 1e-9:
            cl = Centreline(cl.resampled(step_mm).points_mm, step_mm=step_mm,
                            name=name, source=cl.source)
    refs = {}
    if proximal_ref:
        refs["proximal"] = tuple(proximal_ref)
    if distal_ref:
        refs["distal"] = tuple(distal_ref)
    res = analyze_vessel(
        vol, cl, ranges=ranges, reference_mm=refs or None,
        narrowing_min_pct=narrowing_min_pct, burden_min_pct=burden_min_pct,
        merge_gap_mm=merge_gap_mm, min_length_mm=min_length_mm,
        wall_hu=wall_hu, fat_hu=fat_hu,
    )
    masks = rasterize(res, vol) if (roi_out or vessel_out) else None
    save_sr = None
    if sr:  # built now, written with the other files
        from ..io.sr import prepare_study_sr

        save_sr = prepare_study_sr("vessel", str(sr), name, str(path), res, vol)
    # all computed: now write
    if save_sr is not None:
        save_sr()
    if roi_out:
        _write_mask(roi_out, masks[0], vol)
    if vessel_out:
        _write_mask(vessel_out, masks[1], vol)
    if contours_out:
        save_contours(contours_out, res.contours, res.centreline)
    if centreline_out:
        res.centreline.save(centreline_out)
    return VesselResult(data=res.to_dict(), rows=res.to_rows(), warnings=warnings, analysis=res)


__all__ = ["VesselResult", "vessel"]
