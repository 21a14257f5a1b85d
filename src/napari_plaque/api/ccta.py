"""CCTA: ``api.vessel`` (``napari-plaque vessel``), ``api.cac`` (``napari-plaque cac``) and
``api.composition`` (``napari-plaque composition``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..ccta.calcium import CALCIUM_DEFAULTS
from ..ccta.centreline import CENTRELINE_DEFAULTS
from ..ccta.protocol import KV_MODES
from ..ccta.vessel import VESSEL_DEFAULTS
from ..io.errors import OptionError
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
        raise OptionError(f"{out}: masks are written as .npy, .nii or .nii.gz")


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
    from ..ccta.vessel import analyse_vessel
    from ..ccta.vessel_roi import rasterize

    # validate every argument before reading anything big or writing anything
    check_out(roi_out, _MASK_SUFFIXES)
    check_out(vessel_out, _MASK_SUFFIXES)
    check_out(contours_out, (".json",))
    check_out(centreline_out, (".json",))
    check_out(sr, (".dcm",))
    if not step_mm > 0:
        raise OptionError(f"--step-mm must be > 0, got {step_mm}")
    if ranges is not None:
        from ..ccta import check_ranges

        ranges = check_ranges(dict(ranges))
    if sr and not isinstance(path, (str, Path)):
        raise OptionError("sr needs the DICOM series path, not an in-memory volume")
    warnings: list[str] = []
    given = centreline if isinstance(centreline, Centreline) else None
    where = "centreline" if given is not None else str(centreline)
    is_mask = given is None and where.lower().endswith(_MASK_SUFFIXES)
    if given is not None:
        cl, pts = given, None
    else:
        cl, pts = (None, None) if is_mask else load_centreline_any(where)
    vol, source = read_study(path, headers=bool(sr))
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
            raise OptionError(f"{where}: {exc}") from None
    elif cl is None:
        try:
            cl = refine_centreline(vol, pts, name=name, step_mm=step_mm)
        except ValueError as exc:
            raise OptionError(f"{where}: {exc}") from None
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
    res = analyse_vessel(
        vol, cl, ranges=ranges, reference_mm=refs or None,
        narrowing_min_pct=narrowing_min_pct, burden_min_pct=burden_min_pct,
        merge_gap_mm=merge_gap_mm, min_length_mm=min_length_mm,
        wall_hu=wall_hu, fat_hu=fat_hu,
    )
    masks = rasterize(res, vol) if (roi_out or vessel_out) else None
    save_sr = None
    if sr:  # built now, written with the other files
        from ..io.sr import prepare_study_sr

        save_sr = prepare_study_sr("vessel", str(sr), name, str(path), res, vol, source=source)
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


# ------------------------------------------------------------------------ cac / composition
#: mask files a per-study mask folder may hold, in the order looked for
_MASK_EXTS = (".npy", ".nii.gz", ".nii")


def study_mask(mask: Any, study: str | Path | None, shape: tuple[int, ...], what: str,
               study_id: str | None = None):
    """A study's mask: an array (shape checked), a ``.npy`` / NIfTI file, or a *folder* of one
    file per study named by the study id (``study_id``; else like the study folder / file:
    ``<name>.npy``, ``.nii.gz``, ``.nii``); None for None. (By id, so manifest studies ``A/CT``
    and ``B/CT`` never share ``CT.npy``.)"""
    import numpy as np

    if mask is None:
        return None
    if isinstance(mask, np.ndarray):
        if tuple(mask.shape) != tuple(shape):
            raise OptionError(f"{what}: mask shape {tuple(mask.shape)} does not match the "
                             f"image shape {tuple(shape)}")
        return mask
    m = Path(mask)
    if m.is_dir():
        from ..cohort import study_name

        if study_id is not None:
            name = str(study_id)
        else:
            name = study_name(Path(study)) if study is not None else "?"
        for ext in _MASK_EXTS:
            if (m / f"{name}{ext}").exists():
                m = m / f"{name}{ext}"
                break
        else:
            raise OptionError(f"{mask}: no {what} for study {name!r} (.npy, .nii.gz or .nii)")
    return label_mask(m, shape)


def _study_name(path: Any, study_id: str | None, vol) -> str:
    if study_id is not None:
        return str(study_id)
    if isinstance(path, (str, Path)):
        from ..cohort import study_name

        return study_name(Path(path))
    return str(getattr(vol, "name", "") or "study")


def _accepted(items: Any) -> list[str]:
    """``accept``: a list of codes, each item possibly comma-separated (``--accept a,b``)."""
    if isinstance(items, str):
        items = [items]
    return [c.strip() for item in items or [] for c in str(item).split(",") if c.strip()]


def read_study(path: Any, headers: bool = False):
    """``(volume, source)``: a study read once. A DICOM folder / file: only its largest series'
    pixels are decoded, and with ``headers`` ``source`` is that series'
    :class:`~napari_plaque.io.seg.SourceSeries` (for the SR, from the same read); NIfTI or a
    :class:`~napari_plaque.types.CTVolume`: ``source`` is None."""
    from ..io.detect import is_nifti
    from ..types import CTVolume

    if not headers or isinstance(path, CTVolume) or is_nifti(str(path)):
        return ct_volume(path), None
    from ..io.dicom_series import read_ct_largest
    from ..io.seg import source_from_datasets

    vol, dsets = read_ct_largest(path, keep_headers=True)
    return vol, source_from_datasets(path, dsets)


def _sr_writer(kind: str, sr: Any, name: str, path: Any, result, vol, source=None):
    """The ``sr`` report, built now, written by the returned function (None without ``sr``).
    ``sr`` a ``.dcm`` file or a folder (``<name>.dcm``: ``name`` is the study id)."""
    if not sr:
        return None
    if not isinstance(path, (str, Path)):
        raise OptionError("sr needs the DICOM series path, not an in-memory volume")
    from ..io.sr import prepare_study_sr

    return prepare_study_sr(kind, str(sr), name, str(path), result, vol, source=source)


def check_cac_options(
    *,
    threshold_hu: float = CALCIUM_DEFAULTS["threshold_hu"],
    kv_threshold: str = KV_MODES[0],
    kv_table: str | Mapping[float, float] | None = None,
    accept: Sequence[str] | str | None = None,
    rod_roi: Any = None,
    water_roi: Any = None,
) -> tuple[dict[float, float] | None, list[str]]:
    """The :func:`cac` options checked before any study is read (the CLI calls it once for
    a cohort): ``(kv table, accepted codes)``; ValueError names the option."""
    from ..ccta.protocol import ACCEPTABLE, PROTOCOL_DEFAULTS, parse_kv_table

    if water_roi is not None and rod_roi is None:
        raise OptionError("--water-roi needs --rod-roi (the calibration rod)")
    table = dict(kv_table) if isinstance(kv_table, Mapping) else parse_kv_table(kv_table)
    codes = _accepted(accept)
    bad = set(codes) - set(ACCEPTABLE)
    if bad:
        raise OptionError(
            f"--accept {', '.join(sorted(bad))}: only {', '.join(ACCEPTABLE)} can be accepted"
        )
    if (kv_threshold == "adjusted"
            and abs(threshold_hu - PROTOCOL_DEFAULTS["threshold_hu"])
            > PROTOCOL_DEFAULTS["threshold_tolerance_hu"]):
        raise OptionError("--threshold-hu and --kv-threshold adjusted: give one of them")
    return table, codes


@dataclass
class CacResult(Result):
    """``to_dict()``: the ``cac --json`` report of one study (scores, per vessel, lesions,
    parameters, protocol, warnings); ``to_rows()``: its one CSV row. ``score``: the core
    :class:`~napari_plaque.ccta.calcium.CalciumResult`; ``protocol``: the
    :class:`~napari_plaque.ccta.protocol.ProtocolReport`."""

    command = "cac"
    score: Any = None
    protocol: Any = None


def cac(
    path: Any,
    *,
    roi: Any = None,
    vessels: Any = None,
    threshold_hu: float = CALCIUM_DEFAULTS["threshold_hu"],
    kv_threshold: str = KV_MODES[0],
    kv_table: str | Mapping[float, float] | None = None,
    accept: Sequence[str] | str | None = None,
    min_area_mm2: float = CALCIUM_DEFAULTS["min_area_mm2"],
    rod_roi: Any = None,
    rod_density: float = CALCIUM_DEFAULTS["rod_density_mg_cm3"],
    water_roi: Any = None,
    sr: str | Path | None = None,
    study_id: str | None = None,
) -> CacResult:
    """Calcium score (Agatston, volume, mass, CAC-DRS) of one CT study, checked against the
    calcium-scoring protocol (:mod:`napari_plaque.ccta.protocol`: a refusal raises ValueError
    naming the study; a departure is a warning).

    ``path``: a DICOM series folder / file or NIfTI, or a
    :class:`~napari_plaque.types.CTVolume`. ``roi``, ``vessels`` (1=LM 2=LAD 3=LCX 4=RCA),
    ``rod_roi``, ``water_roi``: arrays, ``.npy`` / NIfTI files or folders of per-study files.
    ``kv_table``: ``"100=147,120=130"`` or a dict; ``accept``: protocol refusal codes to score
    with a warning. ``sr``: a DICOM SR (TID 1500) file or folder (``<study>.dcm``), written
    after everything is computed. ``study_id``: the name in the report (default: the file or
    folder name; the cohort passes the study id, which also names the SR in a folder).
    """
    from ..ccta import calcium_score, calibrate_mass
    from ..ccta.protocol import check_protocol

    table, codes = check_cac_options(
        threshold_hu=threshold_hu, kv_threshold=kv_threshold, kv_table=kv_table, accept=accept,
        rod_roi=rod_roi, water_roi=water_roi)
    vol, source = read_study(path, headers=bool(sr))
    where = path if isinstance(path, (str, Path)) else None
    shape = vol.hu.shape
    roi_m = study_mask(roi, where, shape, "ROI", study_id)
    vessels_m = study_mask(vessels, where, shape, "vessel labels", study_id)
    protocol = check_protocol(
        vol.meta, vol.hu, vol.spacing_mm, threshold_hu=threshold_hu,
        roi_given=roi_m is not None, kv_mode=kv_threshold, kv_table=table, accept=codes,
    )
    protocol.raise_refusals(str(where if where is not None else vol.name))
    cal = None
    if rod_roi is not None:
        rod = study_mask(rod_roi, where, shape, "rod ROI", study_id)
        water = study_mask(water_roi, where, shape, "water ROI", study_id)
        cal = calibrate_mass(vol.hu, rod, rod_density, water)
    res = calcium_score(vol.hu, vol.spacing_mm, roi=roi_m, vessel_labels=vessels_m,
                        threshold_hu=protocol.threshold_hu, min_area_mm2=min_area_mm2,
                        calibration=cal)
    name = _study_name(path, study_id, vol)
    rep = {"study": name, **res.to_dict()}
    rep["warnings"] = protocol.warnings
    rep["protocol"] = protocol.to_dict()
    rep["parameters"].update({
        "rod_density_mg_cm3": rod_density if rod_roi is not None else None,
        "water_roi": water_roi is not None,
        "kvp": vol.meta.get("kvp", vol.meta.get("KVP")),
    })
    row = res.to_rows(study=name)[0]  # the one calcium CSV layout
    row["warnings"] = " | ".join(protocol.warnings)
    save_sr = _sr_writer("cac", sr, name, path, res, vol, source)
    if save_sr is not None:
        save_sr()
    return CacResult(data=rep, rows=[row], warnings=list(protocol.warnings), score=res,
                     protocol=protocol)


def composition_totals(plaques: Sequence[Any], study: str) -> dict[str, Any]:
    """The study-level composition row (``composition`` CSV without ``--per-plaque``): the
    plaques' total volume, per-component volumes and percentages, the volume-weighted mean
    calcium HU, the 1K-plaque count and the voxels outside every range."""
    comps = ("lipid", "fibrous", "calcium")
    vox = sum(p.volume_mm3 for p in plaques)
    comp = {c: sum(getattr(p, f"{c}_mm3") for p in plaques) for c in comps}
    cal_mm3 = comp["calcium"]
    cal_mean = (
        sum(p.calcium_mm3 * p.calcium_mean_hu for p in plaques if p.calcium_mean_hu is not None)
        / cal_mm3
        if cal_mm3
        else None
    )
    return {
        "study": study,
        "n_plaques": len(plaques),
        "volume_mm3": round(vox, 4),
        **{f"{c}_mm3": round(v, 4) for c, v in comp.items()},
        **{f"{c}_pct": (round(100 * v / vox, 3) if vox else None) for c, v in comp.items()},
        "calcium_mean_hu": None if cal_mean is None else round(cal_mean, 2),
        "n_one_k_plaques": sum(p.one_k_plaque for p in plaques),
        "n_outside": sum(p.n_outside for p in plaques),
    }


@dataclass
class CompositionResult(Result):
    """``to_dict()``: the ``composition --json`` report of one study (plaques, parameters,
    warnings); ``to_rows()``: the study's totals row (:func:`composition_totals`), or one row
    per plaque with ``per_plaque``. ``plaques``: the core
    :class:`~napari_plaque.ccta.composition.PlaqueComposition` list."""

    command = "composition"
    plaques: list = field(default_factory=list)


def composition(
    path: Any,
    *,
    roi: Any,
    vessels: Any = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    per_plaque: bool = False,
    sr: str | Path | None = None,
    study_id: str | None = None,
) -> CompositionResult:
    """Plaque composition (lipid / fibrous / calcium by half-open HU ranges) per ROI label.

    ``path``: as :func:`cac`; ``roi``: plaque labels (array, file or folder of per-study
    files), required; ``vessels``: outer-wall labels for plaque burden; ``ranges``:
    ``{name: (lo, hi)}`` (None: the defaults). A calcium cap that removed voxels is a warning.
    """
    from ..ccta import check_ranges
    from ..ccta import composition as _composition
    from ..ccta.composition import composition_warnings

    where = path if isinstance(path, (str, Path)) else None
    if roi is None:
        raise OptionError(f"{where or 'composition'}: no plaque labels (--roi, or a 'roi' "
                         "manifest column)")
    used = check_ranges(dict(ranges) if ranges else None)
    vol, source = read_study(path, headers=bool(sr))
    roi_m = study_mask(roi, where, vol.hu.shape, "ROI", study_id)
    vessels_m = study_mask(vessels, where, vol.hu.shape, "vessel labels", study_id)
    plaques = _composition(vol.hu, vol.spacing_mm, roi_m, vessel_labels=vessels_m,
                           ranges=ranges or None)
    warnings = composition_warnings(plaques, ranges or None)
    name = _study_name(path, study_id, vol)
    rep = {
        "study": name,
        "plaques": [p.to_dict() for p in plaques],
        "parameters": {
            "ranges_hu": {k: list(v) for k, v in used.items()},
            "spacing_mm": list(vol.spacing_mm),
            "vessel_labels": vessels_m is not None,
        },
        "warnings": warnings,
    }
    if per_plaque:
        rows = [{"study": name, **p.to_dict()} for p in plaques]
    else:
        rows = [composition_totals(plaques, name)]
    save_sr = _sr_writer("composition", sr, name, path, plaques, vol, source)
    if save_sr is not None:
        save_sr()
    return CompositionResult(data=rep, rows=rows, warnings=warnings, plaques=plaques)


__all__ = ["CacResult", "CompositionResult", "VesselResult", "cac", "check_cac_options",
           "composition", "composition_totals", "read_study", "study_mask", "vessel"]
