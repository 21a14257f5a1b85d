"""Files: ``api.info`` (``napari-plaque info PATH``): what napari-plaque reads from any file it
reads or writes, without patient identifiers (the one home of ``info``'s description)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.errors import FormatError, ReaderError
from ..ivus.session import SESSION_FORMAT as ARC_SESSION_FORMAT  # the arc annotator's session
from ._result import Result


@dataclass
class InfoResult(Result):
    """``to_dict()``: the ``info --json`` object (``path``, ``kind`` and what that kind holds:
    ``series`` of a CT or NIfTI, the pullback's frames and scale, a SEG's segments, an SR's
    measurement groups, a project file's format, version and summary); ``to_rows()``: one row
    per CT series (else one row of the description's plain values)."""

    command = "info"

    @property
    def kind(self) -> str:
        return str(self.data["kind"])


def _info_rows(d: dict[str, Any]) -> list[dict[str, Any]]:
    def plain(x: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in x.items() if not isinstance(v, dict)}

    if d.get("series"):
        return [{"path": d["path"], "kind": d["kind"], **plain(s)} for s in d["series"]]
    return [plain({k: v for k, v in d.items() if not isinstance(v, list) or len(v) <= 4})]


def info(path: str | Path) -> InfoResult:
    """Describe ``path`` as ``napari-plaque info`` does: a CT series (every series of a
    folder), an IVUS pullback, NIfTI, DICOM SEG / SR, a radiograph, a ``.npy`` label map, or
    one of napari-plaque's own files (arcs, borders, centreline, contours, review / annotator
    session JSON, vessel analysis JSON, model ``.pt``, SVM ``.npz``, training-set folders).
    ValueError naming the file when napari-plaque does not read it."""
    d = describe(path)
    return InfoResult(data=d, rows=_info_rows(d))


def describe(path: str | Path) -> dict:
    """A JSON-friendly description of what the readers make of ``path`` (one entry per
    format :func:`napari_plaque.io.detect.detect` knows; no patient identifiers)."""
    from ..io import read_ct, read_nifti
    from ..io.detect import Format, detect

    p = Path(path)
    own = describe_project_file(p)
    if own is not None:
        return own
    fmt = detect(p)
    if fmt is None and p.is_file():
        from ..io.detect import image_size_problem

        why = image_size_problem(p)  # an image that must not be decoded says so
        if why:
            raise ReaderError(p, why)
    if fmt is None and p.exists():
        raise ReaderError(
            p,
            "not a file napari-plaque reads (not DICOM, NIfTI, an image, a frame folder "
            "or one of napari-plaque's own files)",
        )
    if fmt is Format.NIFTI:
        v = read_nifti(p)
        return {"path": str(p), "kind": "nifti", "series": [_vol_info(v)]}
    if fmt in (Format.IVUS_DICOM, Format.FRAME_SEQUENCE, Format.TIFF_STACK):
        return _pullback_info(p, fmt)
    if p.is_dir() and fmt in (Format.DICOM_SEG, Format.DICOM_SR):  # the folder holding one
        from ..io.detect import peek_dicom

        p = next(f for f in sorted(p.rglob("*")) if f.is_file() and peek_dicom(f) is fmt)
    if fmt is Format.DICOM_SEG:
        from ..io.seg import read_seg

        res = read_seg(p)
        return {
            "path": str(p),
            "kind": "dicom-seg",
            "segments": {str(k): v for k, v in sorted(res.segment_names.items())},
            "shape": list(res.labels[0][1].shape) if res.labels else None,
            "spacing_mm": list(res.spacing_mm),
            "aligned_with_series": res.source is not None,
            "notes": list(res.notes),
        }
    if fmt is Format.DICOM_SR:
        from ..io.sr import read_sr

        sr = read_sr(p)
        return {
            "path": str(p),
            "kind": "dicom-sr",
            "title": sr.get("title"),
            "procedure": sr.get("procedure"),
            "n_measurement_groups": len(sr["groups"]),
            "groups": sr["groups"],
        }
    if fmt in (Format.RADIOGRAPH_DICOM, Format.RADIOGRAPH_IMAGE):
        from ..cxr.io import read_radiograph

        rg = read_radiograph(p)
        return {
            "path": str(p),
            "kind": "radiograph",
            "shape": list(rg.stored.shape),
            "photometric": rg.photometric,
            "spacing_mm": list(rg.spacing_mm) if rg.spacing_mm else None,
            "spacing_source": rg.spacing_source,
            "spacing_note": rg.spacing_note,
        }
    if fmt is Format.NUMPY_LABELS:
        import numpy as np

        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - garbage, pickled or truncated .npy
            raise ReaderError(p, f"not a readable .npy array ({exc})") from exc
        return {"path": str(p), "kind": "npy", "shape": list(arr.shape), "dtype": str(arr.dtype)}
    vols = read_ct(p)
    return {"path": str(p), "kind": "dicom-series", "series": [_vol_info(v) for v in vols]}


# ------------------------------------------------------------ napari-plaque's own files
#: the largest JSON file ``info`` parses (a project file is far smaller; a CT is not JSON)
MAX_INFO_JSON_BYTES = 256 * 1024 * 1024


def own_formats() -> dict[str, str]:
    """The ``format`` name of each versioned file of napari-plaque -> its ``info`` kind (each
    name read from the module that writes it)."""
    from ..ccta.centreline import FORMAT_NAME as CENTRELINE
    from ..ccta.contours import FORMAT_NAME as CONTOURS
    from ..cxr.ood import OOD_FORMAT
    from ..ivus.arcs import ARCS_FORMAT
    from ..ivus.dataset import DATASET_FORMAT
    from ..ivus.loop import LOOP_FORMAT
    from ..ivus.svm import MODEL_FORMAT as SVM_FORMAT
    from ..ivus.vessel_files import BORDERS_FORMAT
    from ..models.data import CT_PATCH_FORMAT
    from ..qc.review import REVIEW_FORMAT

    return {
        ARCS_FORMAT: "arcs",
        BORDERS_FORMAT: "ivus-borders",
        CENTRELINE: "centreline",
        CONTOURS: "contours",
        REVIEW_FORMAT: "review",
        ARC_SESSION_FORMAT: "arc-session",
        LOOP_FORMAT: "arc-loop",
        OOD_FORMAT: "cxr-ood-reference",
        DATASET_FORMAT: "aline-dataset",
        CT_PATCH_FORMAT: "ct-dataset",
        SVM_FORMAT: "aline-svm-model",
    }


def _summary(doc: dict) -> dict:
    """What a project file holds, without paths or names: numbers, short numeric lists (shapes,
    spacings), class names, and the length of each list / object."""
    out: dict = {}
    for k, v in doc.items():
        if k in ("format", "version"):
            continue
        if isinstance(v, bool) or isinstance(v, (int, float)):
            out[k] = v
        elif (
            isinstance(v, list)
            and 0 < len(v) <= 4
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        ):
            out[k] = v
        elif k == "classes" and isinstance(v, list) and all(isinstance(x, str) for x in v):
            out[k] = v
        elif isinstance(v, dict) and "base64" in v and isinstance(v.get("shape"), list):
            out[f"{k}_shape"] = v["shape"]  # a binary block (borders file v2): its shape
        elif isinstance(v, (list, dict)):
            out[f"n_{k}"] = len(v)
    return out


def _read_json(p: Path):
    import json

    if p.stat().st_size > MAX_INFO_JSON_BYTES:
        raise FormatError(p, "a JSON file too large for any napari-plaque file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FormatError(p, f"not a readable JSON file ({type(exc).__name__})") from None


def _own_json(p: Path, doc) -> dict:
    out = {"path": str(p)}
    if isinstance(doc, dict) and isinstance(doc.get("format"), str):
        kind = own_formats().get(doc["format"])
        if kind is None:
            raise FormatError(
                p, f"a JSON file of format {doc['format']!r}, which napari-plaque does not know"
            )
        return {**out, "kind": kind, "format": doc["format"], "version": doc.get("version"),
                **_summary(doc)}
    items = doc.get("vessels") if isinstance(doc, dict) and "vessels" in doc else [doc]
    if (
        isinstance(items, list)
        and items
        and all(isinstance(v, dict) and "length_mm" in v and "lesions" in v for v in items)
    ):  # the `vessel --json` object or the vessel dock's export (fusion.load_vessel_json)
        return {
            **out,
            "kind": "vessel-analysis",
            "vessels": [
                {
                    "vessel": str(v.get("vessel", "")),
                    "length_mm": v.get("length_mm"),
                    "n_lesions": len(v["lesions"]) if isinstance(v["lesions"], list) else None,
                }
                for v in items
            ],
        }
    raise FormatError(p, "a JSON file that is not one of napari-plaque's (no 'format' field)")


def _own_model(p: Path) -> dict:
    from ..models.checkpoint import read_metadata

    m = read_metadata(p)
    return {
        "path": str(p),
        "kind": "model",
        "format": m.get("format"),
        "version": m.get("version"),
        "task": m.get("task"),
        "architecture": m.get("architecture"),
        "classes": list(m.get("classes", [])),
        "input": m.get("input", {}),
        "metrics": m.get("metrics", {}),
        "synthetic_training": bool(m.get("training", {}).get("synthetic", False)),
        "created": m.get("created"),
        "software": m.get("software", {}),
    }


def _own_svm(p: Path) -> dict:
    from ..ivus.svm import load_model

    model = load_model(p)
    meta = dict(getattr(model, "meta", None) or {})
    return {
        "path": str(p),
        "kind": "aline-svm-model",
        **{k: v for k, v in _summary(meta).items() if not k.startswith("n_feature")},
        "n_features": len(meta.get("feature_names", []) or []),
    }


def describe_project_file(path: str | Path) -> dict | None:
    """The ``info`` description of one of napari-plaque's own files (arcs, borders,
    centreline, contours, review, annotator session JSON; a vessel analysis JSON; a model
    ``.pt`` or SVM ``.npz``; an A-line or CT training-set folder), or None for other paths.

    needs: a home in io/detect.py (a ``Format`` member per project file) once that module is
    free; kept here, in one place, until then."""
    p = Path(path)
    if p.is_dir():
        man = p / "manifest.json"
        if not man.is_file():
            return None
        try:
            d = _own_json(man, _read_json(man))
        except ValueError:  # another tool's manifest: the folder is described as usual
            return None
        return {**d, "path": str(p), "manifest": "manifest.json"}
    if not p.is_file():
        return None
    suffix = p.suffix.lower()
    if suffix == ".json":
        return _own_json(p, _read_json(p))
    if suffix == ".pt":
        return _own_model(p)
    if suffix == ".npz":
        import zipfile

        try:
            with zipfile.ZipFile(p) as z:
                if "meta_json.npy" not in z.namelist():
                    return None
        except (zipfile.BadZipFile, OSError):
            return None
        return _own_svm(p)
    return None


def _pullback_info(p: Path, fmt) -> dict:
    from ..io.frames import read_ivus

    pb = read_ivus(p)
    return {
        "path": str(p),
        "kind": "ivus",
        "format": fmt.value,
        "n_frames": pb.n_frames,
        "frame_shape": list(pb.frame_shape),
        "frame_time_s": pb.frame_time_s,
        "pullback_rate_mm_s": pb.pullback_rate_mm_s,
        "pixel_spacing_mm": list(pb.pixel_spacing_mm),
        "scale_mm": list(pb.scale),
        "length_mm": pb.mm_per_frame * pb.n_frames,
        "assumed": sorted(pb.assumed),
        "meta": pb.meta,
    }


def _vol_info(v) -> dict:
    hu = v.hu
    return {
        "name": v.name,
        "shape": list(hu.shape),
        "dtype": str(hu.dtype),
        "spacing_mm": list(v.spacing_mm),
        "origin_mm": list(v.origin_mm),
        "value_range": [float(hu.min()), float(hu.max())] if hu.size else None,
        "meta": v.meta,
    }


__all__ = ["ARC_SESSION_FORMAT", "InfoResult", "describe", "describe_project_file", "info",
           "own_formats"]
