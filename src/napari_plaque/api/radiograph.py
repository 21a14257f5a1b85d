"""Chest radiographs: ``api.cxr_predict``, ``api.cxr_train``, ``api.cxr_evaluate``
(``napari-plaque cxr predict | train | evaluate``).

Defaults come from :data:`napari_plaque.cxr.spec.DEFAULTS`, ``cxr.train.TRAIN_DEFAULTS`` /
``CV_DEFAULTS`` and :data:`napari_plaque.models.PREDICT_DEFAULTS` (all torch-free); torch is
imported when a function runs. The shipped ``demo_cxr`` model is trained on SYNTHETIC images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cxr.spec import DEFAULTS
from ..cxr.train import CV_DEFAULTS, TRAIN_DEFAULTS
from ..io.errors import OptionError
from ..models import PREDICT_DEFAULTS
from ._result import Result


@dataclass
class CxrPredictResult(Result):
    """``to_dict()``: the ``cxr predict --json`` object (one image: its result; several:
    ``{"results": [...]}``); ``to_rows()``: one result per image. ``warnings``: the per-image
    warnings as ``"<image>: <warning>"`` (the CLI prints them on stderr); ``notes``: remarks
    (clinical values ignored by an image-only model). ``predictions``: the core
    :class:`~napari_plaque.cxr.model.CXRPrediction` objects (saliency maps...)."""

    command = "cxr predict"
    notes: list[str] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list, repr=False)


@dataclass
class CxrTrainResult(Result):
    """``to_dict()``: model, the files written, report, epochs_run (the ``--json``);
    ``to_rows()``: one row per cut-point of the cross-validation report."""

    command = "cxr train"
    result: Any = None


@dataclass
class CxrEvaluateResult(Result):
    """``to_dict()``: the evaluation report (the ``--json``); ``to_rows()``: one row per
    cut-point; ``warnings``: the report's warnings."""

    command = "cxr evaluate"


def cut_point_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per cut-point of a CXR report (AUC, its DeLong CI, counts, Brier)."""
    rows = []
    for name, e in report.get("cut_points", {}).items():
        row: dict[str, Any] = {"cut_point": name}
        for k, v in e.items():
            if isinstance(v, dict):
                row.update({f"{k}_{kk}": vv for kk, vv in v.items()
                            if not isinstance(vv, (dict, list))})
            elif not isinstance(v, list):
                row[k] = v
        rows.append(row)
    return rows


def cxr_predict(
    model: Any,
    images: Any,
    *,
    age: float | None = None,
    sex: str | None = None,
    bmi: float | None = None,
    saliency: str | Path | None = None,
    saliency_target: str = DEFAULTS["saliency_target"],
    device: str = PREDICT_DEFAULTS["device"],
    progress: Any = None,
) -> CxrPredictResult:
    """CAC-category probabilities for one radiograph or several (paths: CR/DX DICOM, PNG,
    JPEG). ``model``: a checkpoint, ``demo_cxr`` or a loaded model. ``age`` / ``sex`` /
    ``bmi``: for models trained with them (ignored, with a note, by an image-only model).
    ``saliency``: a .npy for the Grad-CAM map (several images: a folder,
    ``<image>.saliency.npy``). ``progress(desc, total)``: a step callback or None."""
    import numpy as np

    from .._progress import run_steps
    from ..cxr.model import iter_predict_radiographs, load_cxr_model
    from ..io.atomic import atomic_path
    from ..models import resolve_model
    from ..models.checkpoint import LoadedModel

    paths = [images] if isinstance(images, (str, Path)) else list(images)
    if not paths:
        raise OptionError("no radiograph given (IMAGE... or --manifest)")
    name = model.path if isinstance(model, LoadedModel) else resolve_model(model)
    lm = load_cxr_model(model if isinstance(model, LoadedModel) else name)
    clinical: dict[str, Any] | None = {"age": age, "sex": sex, "bmi": bmi}
    notes: list[str] = []
    if not int(lm.metadata["hparams"].get("n_clinical", 0)):
        given = [k for k, v in clinical.items() if v is not None]
        if given:
            notes.append(f"this model is image-only; {', '.join(given)} ignored")
        clinical = None
    several = len(paths) > 1
    if several and saliency and Path(saliency).suffix == ".npy":
        raise OptionError(f"{saliency}: with several images --saliency is a folder")
    preds = run_steps(
        iter_predict_radiographs(
            lm, [Path(p) for p in paths], clinical=clinical, saliency=bool(saliency),
            saliency_target=saliency_target, device=device,
        ),
        progress("images", len(paths)) if progress is not None else None,
    )
    results = []
    for path, pred in zip(paths, preds, strict=True):
        d: dict[str, Any] = {"image": str(path), "model": str(name), **pred.to_dict()}
        d["synthetic_training"] = lm.synthetic
        if saliency:
            out = Path(saliency)
            if several:
                out = out / f"{Path(path).name}.saliency.npy"
            with atomic_path(out) as tmp:
                np.save(tmp, pred.saliency)
            d["saliency"] = str(out)
        results.append(d)
    warnings = [f"{d['image']}: {w}" for d in results for w in d.get("warnings", [])]
    data = results[0] if not several else {"results": results}
    return CxrPredictResult(data=data, rows=results, warnings=warnings, notes=notes,
                            predictions=list(preds))


def cxr_train(
    manifest: str | Path,
    *,
    out: str | Path,
    folds: int = CV_DEFAULTS["folds"],
    epochs: int = TRAIN_DEFAULTS.epochs,
    batch_size: int = TRAIN_DEFAULTS.batch_size,
    lr: float = TRAIN_DEFAULTS.lr,
    patience: int = TRAIN_DEFAULTS.patience,
    val_fraction: float = TRAIN_DEFAULTS.val_fraction,
    seed: int = TRAIN_DEFAULTS.seed,
    image_size: int = DEFAULTS["image_size"],
    width: int = DEFAULTS["width"],
    thresholds: Sequence[float] = DEFAULTS["thresholds"],
    clinical: bool | None = None,
    device: str = TRAIN_DEFAULTS.device,
    resume: bool = False,
    synthetic: bool = False,
    progress: Any = None,
    history: list[dict[str, Any]] | None = None,
) -> CxrTrainResult:
    """Cross-validate (``folds``; 0: none) and train the CXR model from a CSV manifest
    (path, cac_score or category, optional age, sex, bmi, patient_id); writes ``out`` and its
    report files. ``clinical`` None: fuse age, sex, BMI when every row has them."""
    from .._progress import run_steps
    from ..cxr.train import iter_train_cxr, read_manifest, steps_total

    n = len(read_manifest(manifest).cases)
    hist: list[dict[str, Any]] = [] if history is None else history
    res = run_steps(
        iter_train_cxr(
            manifest, out, folds=folds, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
            val_fraction=val_fraction, patience=patience, image_size=image_size, width=width,
            thresholds=thresholds, clinical=clinical, device=device, resume=resume,
            history=hist, synthetic=synthetic,
        ),
        progress("steps", steps_total(n, folds, epochs, batch_size))
        if progress is not None else None,
    )
    summary = {"model": res.path, **res.files, "report": res.report, "epochs_run": len(hist)}
    return CxrTrainResult(data=summary, rows=cut_point_rows(res.report), result=res)


def cxr_evaluate(
    model: Any,
    manifest: str | Path,
    *,
    out: str | Path | None = None,
    thresholds: Sequence[float] | None = None,
    device: str = PREDICT_DEFAULTS["device"],
    progress: Any = None,
) -> CxrEvaluateResult:
    """Evaluate a CXR model (checkpoint, ``demo_cxr`` or loaded) on an external manifest: per
    cut-point AUC with DeLong CI, calibration, confusion; ``out``: STEM for
    ``STEM.report.json`` and plots. ``thresholds`` None: the model's."""
    from .._progress import run_steps
    from ..cxr.train import iter_evaluate_cxr, read_manifest
    from ..models import resolve_model
    from ..models.checkpoint import LoadedModel

    n = len(read_manifest(manifest).cases)
    m = model if isinstance(model, LoadedModel) else resolve_model(model)
    rep = run_steps(
        iter_evaluate_cxr(m, manifest, out=out, thresholds=thresholds, device=device),
        progress("images", n) if progress is not None else None,
    )
    return CxrEvaluateResult(data=rep, rows=cut_point_rows(rep),
                             warnings=list(rep.get("warnings", [])))


#: the cohort row of one radiograph (``cxr predict --manifest``): keys of the result kept
COHORT_KEYS = ("p_cac_gt0", "p_cac_ge100", "p_cac_ge400", "category")


def cohort_row(result: dict[str, Any]) -> dict[str, Any]:
    """The cohort table's row of one radiograph's result."""
    row = {k: result[k] for k in COHORT_KEYS}
    row["synthetic_training"] = result["synthetic_training"]
    row["ood_score"] = (result.get("ood") or {}).get("score")
    row["warnings"] = "; ".join(result.get("warnings", []))
    return row


__all__ = [
    "CxrEvaluateResult",
    "CxrPredictResult",
    "CxrTrainResult",
    "cohort_row",
    "cut_point_rows",
    "cxr_evaluate",
    "cxr_predict",
    "cxr_train",
]
