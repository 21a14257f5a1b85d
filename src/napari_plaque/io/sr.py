"""DICOM Structured Reports (TID 1500 measurement reports) for calcium scores and composition.

The reports are highdicom :class:`~highdicom.sr.Comprehensive3DSR` objects whose evidence is
the source CT series: they carry its patient and study modules (they are filed back with the
study) and list every source instance in the image library. Each measurement group (TID 1501)
holds one finding:

- ``cac``: one group for the whole heart (finding site: coronary artery) and one per vessel
  (LM / LAD / LCX / RCA when vessel labels were given), each with the Agatston score (DCM 112058
  "Calcium score", method DCM 112055 "Agatston scoring method"), the calcium volume
  (DCM 122660, mm3) and, when calibrated, the calcium mass (DCM 122661, mg); the whole-heart
  group adds the CAC-DRS and 0/100/400 categories as qualitative evaluations.
- ``composition``: one group per plaque (finding type: atheroma; finding site: its vessel) with
  its volume, mean HU and plaque burden (DCM 122354), and one group per component (lipid,
  fibrous, calcium) with the component's volume and mean HU.
- ``vessel``: the vessel's analysed length, then per lesion a stenosis group (length, lumen
  diameter and area stenosis, minimal lumen area and diameter, remodeling index DCM 122345)
  and a plaque group (volume, burden) with its components.

Concepts that have no standard code (CAC-DRS, the category, lesion counts, percentages) use the
private coding scheme ``99NAPARIPLAQUE`` (declared in the Coding Scheme Identification Sequence).
Values that are not finite, negative where they cannot be (an Agatston score, a volume, a mass,
a count, a length, an area, a burden) or missing where required are refused with a message
naming the measurement, never written (see :func:`_num`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .atomic import atomic_write_dicom
from .errors import NapariPlaqueError, ReaderError, WriterError
from .seg import SourceSeries, load_source_series

PRIVATE_SCHEME = "99NAPARIPLAQUE"

SR_DEFAULTS: dict[str, Any] = {"series_number": 901}


class SRValueError(NapariPlaqueError):
    """A measured value that cannot go into an SR as it is (nothing is written); the writers
    re-raise it as a :class:`~napari_plaque.io.errors.WriterError` naming the SR file."""


def _built(out: str | Path, build, *args, **kwargs):
    """``build(*args, **kwargs)``; a refused value becomes a WriterError naming ``out``."""
    try:
        return build(*args, **kwargs)
    except SRValueError as exc:
        raise WriterError(out, str(exc)) from None


def _private(value: str, meaning: str):
    from highdicom.sr import CodedConcept

    return CodedConcept(value, PRIVATE_SCHEME, meaning)


def _ucum(value: str, meaning: str):
    from highdicom.sr import CodedConcept

    return CodedConcept(value, "UCUM", meaning)


def _vessel_code(name: str):
    from pydicom.sr.codedict import codes

    return {
        "LM": codes.SCT.LeftMainCoronaryArtery,
        "LAD": codes.SCT.AnteriorDescendingBranchOfLeftCoronaryArtery,
        "LCX": codes.SCT.CircumflexCoronaryArtery,
        "RCA": codes.SCT.RightCoronaryArtery,
    }.get(name.upper())


#: measurement names (the ``what`` of :func:`_num`, last word) that may be negative: mean HU
#: (lipid is below 0 HU) and stenosis (negative for an ectatic segment)
_SIGNED = ("HU", "stenosis")


def _num(name, value: float | None, unit, what: str, method=None, derivation=None,
         required: bool = False):
    """A NUM measurement, or None for a value that was not measured (``None``: no calibration,
    no vessel labels, an empty component). Refused (SRValueError naming it, nothing written):
    a value that is not a number, not finite (NaN, inf), negative where it cannot be (scores,
    volumes, masses, counts, lengths, areas, burdens, ratios), or missing when ``required``.
    DICOM has no empty measured value without a qualifier, and highdicom writes none, so a
    bad value is never turned into an absent one silently."""
    import highdicom as hd

    if value is None:
        if required:
            raise SRValueError(f"{what} has no value: not written to the SR")
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SRValueError(f"{what} is not a number ({value!r}): not written to the SR") from None
    if not math.isfinite(v):
        raise SRValueError(f"{what} is not a finite number ({value!r}): not written to the SR")
    if v < 0 and not what.endswith(_SIGNED):
        raise SRValueError(f"{what} is negative ({v:g}), which it cannot be: not written to the SR")
    return hd.sr.Measurement(name=name, value=v, unit=unit, method=method, derivation=derivation)


def _group(identifier: str, measurements, evaluations=(), finding_type=None, site=None):
    import highdicom as hd

    from .. import __version__

    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=identifier),
        finding_type=finding_type,
        finding_sites=[hd.sr.FindingSite(anatomic_location=site)] if site is not None else None,
        algorithm_id=hd.sr.AlgorithmIdentification(name="napari-plaque", version=__version__),
        measurements=[m for m in measurements if m is not None] or None,
        qualitative_evaluations=list(evaluations) or None,
    )


def _report(src: SourceSeries, procedure, groups, title: str, series_number: int):
    import highdicom as hd
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes

    from .. import __version__

    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="napari-plaque", manufacturer_name="napari-plaque",
            model_name=__version__,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=procedure,
        imaging_measurements=groups,
        referenced_images=src.datasets,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sr = hd.sr.Comprehensive3DSR(
                evidence=src.datasets,
                content=report[0],
                series_instance_uid=hd.UID(),
                series_number=int(series_number),
                sop_instance_uid=hd.UID(),
                instance_number=1,
                manufacturer="napari-plaque",
                is_complete=True,
                series_description=title[:64],
            )
    except (ValueError, TypeError, AttributeError) as exc:
        raise ReaderError(src.path, f"highdicom refused the report: {exc}") from exc
    ident = Dataset()
    ident.CodingSchemeDesignator = PRIVATE_SCHEME
    ident.CodingSchemeName = "napari-plaque private concepts"
    ident.CodingSchemeResponsibleOrganization = "napari-plaque"
    sr.CodingSchemeIdentificationSequence = [ident]
    sr.SoftwareVersions = __version__
    return sr


def _save(sr, out: str | Path) -> Path:
    return atomic_write_dicom(out, sr)


# ------------------------------------------------------------------------------------- cac
def build_cac_sr(result, src: SourceSeries, series_number: int = SR_DEFAULTS["series_number"]):
    """A TID 1500 report of a :class:`~napari_plaque.ccta.calcium.CalciumResult`."""
    from pydicom.sr.codedict import codes

    agatston_unit = _ucum("{Agatston}", "Agatston score")
    mm3, mg = _ucum("mm3", "cubic millimeter"), _ucum("mg", "milligram")

    def measurements(s: dict, what: str):
        return [
            _num(codes.DCM.CalciumScore, s.get("agatston"), agatston_unit, f"{what} Agatston",
                 method=codes.DCM.AgatstonScoringMethod, required=True),
            _num(codes.DCM.CalciumVolume, s.get("volume_mm3"), mm3, f"{what} volume",
                 required=True),
            _num(codes.DCM.CalciumMass, s.get("mass_mg"), mg, f"{what} mass"),
            _num(_private("NLESIONS", "Number of calcified lesions"), s["n_lesions"],
                 _ucum("{lesions}", "lesions"), f"{what} lesion count"),
        ]

    pv = result.per_vessel
    evaluations = [
        _qual("CACDRS", "CAC-DRS", str(result.cac_drs)),
        _qual("CACCAT", "Calcium score category", str(result.category)),
    ]
    groups = [
        _group("total", measurements(pv["total"], "total"), evaluations,
               finding_type=codes.SCT.Calcium, site=codes.SCT.CoronaryArtery)
    ]
    for name, s in pv.items():
        if name == "total":
            continue
        site = _vessel_code(name)
        ident = name if site is not None else f"{name} (no vessel code)"
        groups.append(_group(ident, measurements(s, name), finding_type=codes.SCT.Calcium,
                             site=site))
    return _report(src, codes.SCT.CardiacCTForCalciumScoring, groups,
                   "napari-plaque calcium score", series_number)


def _qual(value: str, meaning: str, answer: str):
    return _qual_item(_private(value, meaning), _private(f"{value}-{answer}", answer))


def _qual_item(name, value):
    import highdicom as hd

    return hd.sr.QualitativeEvaluation(name=name, value=value)


def write_cac_sr(out, result, series, series_uid_hash: str | None = None, **kwargs) -> Path:
    """Write the calcium-score SR of ``result`` on ``series`` (atomically)."""
    src = load_source_series(series, uid_hash=series_uid_hash)
    return _save(_built(out, build_cac_sr, result, src, **kwargs), out)


# ----------------------------------------------------------------------------- composition
def build_composition_sr(
    plaques: Sequence, src: SourceSeries, series_number: int = SR_DEFAULTS["series_number"]
):
    """A TID 1500 report of composition results (``PlaqueComposition`` objects or dicts)."""
    from pydicom.sr.codedict import codes

    mm3, hu, pct = _ucum("mm3", "cubic millimeter"), _ucum("[hnsf'U]", "Hounsfield unit"), (
        _ucum("%", "Percent")
    )
    groups = []
    for p in plaques:
        d = p.to_dict() if hasattr(p, "to_dict") else dict(p)
        lab = int(d["label"])
        site = _vessel_code(str(d.get("vessel_name", "")))
        ms = [
            _num(codes.SCT.Volume, d["volume_mm3"], mm3, f"plaque {lab} volume"),
            _num(codes.SCT.Mean, d.get("mean_hu"), hu, f"plaque {lab} mean HU"),
            _num(codes.DCM.PlaqueBurden, d.get("plaque_burden_pct"), pct,
                 f"plaque {lab} burden"),
        ]
        groups.append(_group(f"plaque {lab}", ms, finding_type=codes.SCT.Atheroma, site=site))
        groups += _component_groups(d, f"plaque {lab}", site)
    if not groups:
        raise SRValueError("no plaques to report (the ROI is empty)")
    return _report(src, codes.SCT.CTAngiographyOfCoronaryArteries, groups,
                   "napari-plaque plaque composition", series_number)


def _component_groups(d: dict, ident: str, site) -> list:
    """One group per plaque component (lipid, fibrous, calcium): volume, mean HU, percentage."""
    from pydicom.sr.codedict import codes

    mm3, hu, pct = _ucum("mm3", "cubic millimeter"), _ucum("[hnsf'U]", "Hounsfield unit"), (
        _ucum("%", "Percent")
    )
    types = {"lipid": codes.SCT.Lipid, "fibrous": codes.SCT.FibrousPlaque,
             "calcium": codes.SCT.Calcium}
    out = []
    for comp, ftype in types.items():
        ms = [
            _num(codes.SCT.Volume, d[f"{comp}_mm3"], mm3, f"{ident} {comp} volume"),
            _num(codes.SCT.Mean, d.get(f"{comp}_mean_hu"), hu, f"{ident} {comp} HU"),
            _num(_private("PCTPLAQUE", "Percentage of plaque volume"), d.get(f"{comp}_pct"),
                 pct, f"{ident} {comp} percentage"),
        ]
        out.append(_group(f"{ident} {comp}", ms, finding_type=ftype, site=site))
    return out


def write_composition_sr(out, plaques, series, series_uid_hash: str | None = None,
                         **kwargs) -> Path:
    """Write the composition SR of ``plaques`` on ``series`` (atomically)."""
    src = load_source_series(series, uid_hash=series_uid_hash)
    return _save(_built(out, build_composition_sr, plaques, src, **kwargs), out)


# ---------------------------------------------------------------------------------- vessel
def build_vessel_sr(result, src: SourceSeries, series_number: int = SR_DEFAULTS["series_number"]):
    """A TID 1500 report of a vessel analysis (``VesselResult`` or its ``to_dict()``).

    One group for the vessel (analysed length), then per lesion a stenosis group (length,
    diameter and area stenosis, minimal lumen area and diameter, remodeling index) and a plaque
    group (volume, plaque burden) with its components (lipid, fibrous, calcium).
    """
    from pydicom.sr.codedict import codes

    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    name = str(d.get("vessel", "vessel"))
    site = _vessel_code(name) or codes.SCT.CoronaryArtery
    mm, mm2, mm3, pct = (_ucum("mm", "millimeter"), _ucum("mm2", "square millimeter"),
                         _ucum("mm3", "cubic millimeter"), _ucum("%", "Percent"))
    ratio = _ucum("1", "no units")
    groups = [_group(name, [_num(codes.SCT.Length, d["length_mm"], mm, f"{name} length")],
                     site=site)]
    for les in d.get("lesions", []):
        ident = f"{name} lesion {les['index']}"
        ms = [
            _num(codes.SCT.Length, les["length_mm"], mm, f"{ident} length"),
            _num(codes.SCT.LumenDiameterStenosis, les.get("diameter_stenosis_pct"), pct,
                 f"{ident} diameter stenosis"),
            _num(codes.SCT.LumenAreaStenosis, les.get("area_stenosis_pct"), pct,
                 f"{ident} area stenosis"),
            _num(codes.DCM.VesselLumenCrossSectionalArea, les["mla_mm2"], mm2, f"{ident} MLA",
                 derivation=codes.SCT.Minimum),
            _num(codes.SCT.VesselLumenDiameter, les["mld_mm"], mm, f"{ident} MLD",
                 derivation=codes.SCT.Minimum),
            _num(codes.DCM.RemodelingIndex, les.get("remodeling_index"), ratio,
                 f"{ident} remodeling index"),
        ]
        groups.append(_group(ident, ms, finding_type=codes.SCT.Stenosis, site=site))
        ms = [
            _num(codes.SCT.Volume, les["plaque_volume_mm3"], mm3, f"{ident} plaque volume"),
            _num(codes.DCM.PlaqueBurden, les.get("plaque_burden_pct"), pct,
                 f"{ident} plaque burden"),
        ]
        groups.append(_group(f"{ident} plaque", ms, finding_type=codes.SCT.Atheroma, site=site))
        groups += _component_groups(les, f"{ident} plaque", site)
    return _report(src, codes.SCT.CTAngiographyOfCoronaryArteries, groups,
                   "napari-plaque vessel analysis", series_number)


# ------------------------------------------------------------------------------------ read
def read_sr(path: str | Path) -> dict[str, Any]:
    """The measurement groups of a TID 1500 SR, as plain values.

    Returns ``{"title", "procedure", "groups": [{"tracking_id", "finding_type",
    "finding_site", "measurements": {name: {"value", "unit"}}, "evaluations": {name: value}}]}``.
    """
    import highdicom as hd

    from .dicom_common import read_or_refuse

    path = Path(path)
    sr = read_or_refuse(path, hd.sr.srread, "DICOM SR")
    out: dict[str, Any] = {"title": _meaning(sr.ConceptNameCodeSequence[0]), "groups": []}
    for item in sr.ContentSequence:
        name = _meaning(item.ConceptNameCodeSequence[0])
        if name == "Procedure reported" and "ConceptCodeSequence" in item:
            out["procedure"] = _meaning(item.ConceptCodeSequence[0])
        if name == "Imaging Measurements":
            for grp in item.get("ContentSequence", []):
                out["groups"].append(_read_group(grp))
    return out


def _meaning(code_item) -> str:
    return str(code_item.CodeMeaning)


def _read_group(grp) -> dict[str, Any]:
    g: dict[str, Any] = {"measurements": {}, "evaluations": {}}
    for it in grp.get("ContentSequence", []):
        name = _meaning(it.ConceptNameCodeSequence[0])
        vt = it.ValueType
        if vt == "TEXT" and name == "Tracking Identifier":
            g["tracking_id"] = str(it.TextValue)
        elif vt == "CODE" and name == "Finding":
            g["finding_type"] = _meaning(it.ConceptCodeSequence[0])
        elif vt == "CODE" and name == "Finding Site":
            g["finding_site"] = _meaning(it.ConceptCodeSequence[0])
        elif vt == "NUM":
            mv = it.MeasuredValueSequence[0]
            g["measurements"][name] = {
                "value": float(mv.NumericValue),
                "unit": str(mv.MeasurementUnitsCodeSequence[0].CodeValue),
            }
        elif vt == "CODE" and name not in ("Finding", "Finding Site"):
            g["evaluations"][name] = _meaning(it.ConceptCodeSequence[0])
    return g


# ---------------------------------------------------------------------- the --sr CLI option
def sr_path(sr: str | Path, study: str) -> Path:
    """Where ``--sr`` writes a study's report: the file itself (``*.dcm``), else
    ``<folder>/<study>.dcm`` (``study``: the study id, one plain file name: a name that would
    leave the folder is refused, :func:`napari_plaque.io.atomic.safe_child`)."""
    from .atomic import safe_child

    sr = Path(sr)
    if sr.suffix.lower() == ".dcm":
        return sr
    return safe_child(sr, f"{study}.dcm", overwrite=True)  # a rerun replaces its report


def check_sr_option(sr: str | Path | None, n_studies: int) -> None:
    """Refuse ``--sr FILE.dcm`` for several studies (they would overwrite one file)."""
    if sr is not None and Path(sr).suffix.lower() == ".dcm" and n_studies != 1:
        raise WriterError(
            f"--sr {sr}", f"one file for {n_studies} studies; give a folder (one <study>.dcm each)"
        )


def prepare_study_sr(kind: str, sr: str | Path, study_name: str, study: str | Path, result,
                     vol=None, source: SourceSeries | None = None):
    """Build the ``--sr`` report of one study now (so a command can compute everything before
    writing anything); returns a function that writes it (atomically) and returns its path.
    ``study_name`` names the file in an ``sr`` folder (``<study_name>.dcm``: the study id).
    ``source``: the series' headers already read (else read again from ``study``)."""
    from .detect import is_nifti

    if is_nifti(study):
        raise WriterError(
            study, "NIfTI: an SR (--sr) needs the DICOM series (patient, study, frame of "
            "reference)"
        )
    builders = {"cac": build_cac_sr, "composition": build_composition_sr,
                "vessel": build_vessel_sr}
    if kind not in builders:
        raise ValueError(f"unknown report kind {kind!r}")
    if source is None:
        uid_hash = None if vol is None else vol.meta.get("series_uid_hash")
        source = load_source_series(study, uid_hash=uid_hash)
    out = sr_path(sr, study_name)
    ds = _built(out, builders[kind], result, source)
    return lambda: _save(ds, out)


def write_study_sr(kind: str, sr: str | Path, study_name: str, study: str | Path, result,
                   vol=None) -> Path:
    """``cac`` / ``composition`` / ``vessel`` ``--sr``: the report of one study, on its series."""
    return prepare_study_sr(kind, sr, study_name, study, result, vol)()
