"""Deep models: ``api.train``, ``api.predict``, ``api.export_model`` (``napari-plaque train``,
``predict``, ``export-model``).

Defaults come from :class:`~napari_plaque.models.TrainSettings`,
:data:`~napari_plaque.models.TRAIN_OPTION_DEFAULTS` and
:data:`~napari_plaque.models.PREDICT_DEFAULTS` (torch-free); torch is imported when a
function runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.errors import OptionError
from ..models import (
    PREDICT_DEFAULTS,
    TRAIN_OPTION_DEFAULTS,
    TRAIN_TASKS,
    TrainSettings,
    resolve_model,
)
from ..models.data import CT_DATASET_DEFAULTS
from ._result import Result

_TS = TrainSettings()
_OPT = TRAIN_OPTION_DEFAULTS
#: keys of a prediction summary that are paths (cohort rows name the input by input_id)
_PATH_KEYS = ("model", "input", "out")


@dataclass
class TrainResult(Result):
    """``to_dict()``: model, task, best_epoch, epochs_run, stopped_early, metrics (the
    ``--json``); ``to_rows()``: the epoch history. ``result``: the core
    :class:`~napari_plaque.models.train.TrainResult`."""

    command = "train"
    result: Any = None


@dataclass
class PredictResult(Result):
    """``to_dict()``: the ``predict --json`` summary; ``to_rows()``: its one-level row (the
    cohort table's). ``prediction``: the core ALinePrediction / VolumePrediction."""

    command = "predict"
    prediction: Any = None


@dataclass
class ExportModelResult(Result):
    """``to_dict()``: ``{"out": path, "format": "torchscript" | "onnx"}``."""

    command = "export-model"


def _loaded(model: Any):
    from ..models.checkpoint import LoadedModel, load_checkpoint

    if isinstance(model, LoadedModel):
        return model
    return load_checkpoint(resolve_model(model))


def train(
    data: Any,
    *,
    task: str,
    out: str | Path,
    epochs: int = _TS.epochs,
    seed: int = _TS.seed,
    resume: bool = False,
    batch_size: int | None = None,
    lr: float = _TS.lr,
    patience: int = _TS.patience,
    val_fraction: float = _TS.val_fraction,
    device: str = _TS.device,
    width: int = _OPT["width"],
    context: int = _OPT["context"],
    precision: str = _OPT["precision"],
    threads: int = _OPT["threads"],
    dims: int = _OPT["dims"],
    patch_size: Sequence[int] | None = None,
    window_hu: Sequence[float] = _OPT["window_hu"],
    base_channels: int = _OPT["base_channels"],
    levels: int = _OPT["levels"],
    synthetic: bool = False,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[Any], None] | None = None,
    live: dict[str, Any] | None = None,
) -> TrainResult:
    """Train a built-in model (``task``: ``alines`` or ``ct-seg``) from a training set folder
    (or the loaded dataset); the best checkpoint goes to ``out``, the resumable state beside it.
    ``batch_size`` None: the task's default. ``on_epoch(record)`` is called after each epoch,
    ``on_step(step)`` after each batch (``live``: a dict kept up to date within an epoch)."""
    from .._progress import run_steps
    from ..ivus.deep import iter_train_alines
    from ..models.train import iter_train_ctseg

    if task not in TRAIN_TASKS:
        raise OptionError(f"--task must be one of {', '.join(TRAIN_TASKS)}, got {task!r}")

    class _History(list):
        def append(self, rec):  # type: ignore[override]
            super().append(rec)
            if on_epoch is not None:
                on_epoch(rec)

    hist = _History()
    live = {} if live is None else live
    common = {
        "epochs": epochs,
        "batch_size": batch_size or TRAIN_TASKS[task].settings.batch_size,
        "lr": lr,
        "seed": seed,
        "val_fraction": val_fraction,
        "patience": patience,
        "device": device,
        "resume": resume,
        "history": hist,
        "live": live,
    }
    if task == "alines":
        gen = iter_train_alines(
            data, out, context=context, width=width, precision=precision, threads=threads,
            synthetic=True if synthetic else None, **common,
        )
    else:
        gen = iter_train_ctseg(
            data, out, dims=dims, patch_size=tuple(patch_size) if patch_size else None,
            window_hu=tuple(window_hu), base_channels=base_channels, levels=levels,
            synthetic=synthetic, **common,
        )
    res = run_steps(gen, on_step)
    summary = {
        "model": res.path,
        "task": task,
        "best_epoch": res.best_epoch,
        "epochs_run": len(res.history),
        "stopped_early": res.stopped_early,
        "metrics": res.metrics,
    }
    return TrainResult(data=summary, rows=[dict(r) for r in res.history], result=res)


def flat_row(summary: dict[str, Any]) -> dict[str, Any]:
    """A one-level row of a prediction summary (nested mappings as ``outer_inner``)."""
    row: dict[str, Any] = {"out_file": Path(summary["out"]).name}
    for k, v in summary.items():
        if k in _PATH_KEYS:
            continue
        if isinstance(v, dict):
            for kk, vv in v.items():
                if not isinstance(vv, (dict, list)):
                    row[f"{k}_{kk}"] = vv
        else:
            row[k] = v
    return row


def _input_name(path: Any) -> str:
    return str(path) if isinstance(path, (str, Path)) else f"<{type(path).__name__}>"


def _save_array_or_nifti(out: Path, arr, like) -> None:
    import numpy as np

    from ..io.atomic import atomic_path

    if out.suffix == ".npy":
        with atomic_path(out) as tmp:
            np.save(tmp, arr)
    elif like is not None:
        from ..models.data import write_nifti

        write_nifti(out, arr, like)
    else:
        raise OptionError(f"{out}: probabilities are written as .npy")


def _predict_ct(lm, model_name, path, out: Path, opts, progress) -> PredictResult:
    from .._progress import run_steps
    from ..models.inference import count_tiles, iter_predict_volume
    from ._inputs import ct_volume

    if not (out.suffix == ".npy" or out.name.endswith((".nii", ".nii.gz"))):
        raise OptionError(f"{out}: labels are written as .npy, .nii or .nii.gz")
    vol = ct_volume(path)
    n = count_tiles(lm, vol.shape, opts["tile_size"], opts["overlap"])
    pred = run_steps(
        iter_predict_volume(
            lm, vol, tile_size=opts["tile_size"], overlap=opts["overlap"], blend=opts["blend"],
            batch_size=opts["batch_size"], device=opts["device"], amp=not opts["no_amp"],
            return_probs=opts["probs"] is not None,
        ),
        progress("tiles", n) if progress is not None else None,
    )
    _save_array_or_nifti(out, pred.labels, vol)
    if opts["probs"]:
        _save_array_or_nifti(Path(opts["probs"]), pred.probs, None)
    counts = {c: int((pred.labels == k).sum()) for k, c in enumerate(pred.classes)}
    summary = {
        "model": model_name,
        "task": lm.task,
        "input": _input_name(path),
        "out": str(out),
        "shape": list(pred.labels.shape),
        "spacing_mm": list(vol.spacing_mm),
        "voxels": counts,
        "volume_mm3": {c: n * vol.voxel_volume_mm3 for c, n in counts.items()},
        "warnings": pred.warnings,
        "synthetic_training": lm.synthetic,
        **pred.meta,
    }
    return PredictResult(data=summary, rows=[flat_row(summary)], warnings=list(pred.warnings),
                         prediction=pred)


def _predict_alines(lm, model_name, path, out: Path, opts, progress) -> PredictResult:
    from .._progress import run_steps
    from ..ivus.arcs import save_arcs
    from ..ivus.detector import ALineDetector
    from ..ivus.measure import arc_measurements
    from ._inputs import pullback

    if out.suffix != ".json":
        raise OptionError(f"{out}: an A-line model writes an arcs .json file")
    pb = pullback(path)
    found = run_steps(  # the one path of a deep A-line model on a pullback (as predict-arcs)
        ALineDetector.from_checkpoint(lm).iter_detect(
            pb, annotator="model", batch_size=opts["batch_size"], device=opts["device"],
            amp=not opts["no_amp"]),
        progress("frames", pb.n_frames) if progress is not None else None,
    )
    pred = found.prediction
    summary: dict[str, Any] = {
        "model": model_name,
        "task": lm.task,
        "input": _input_name(path),
        "out": str(out),
        "n_frames": pb.n_frames,
        "n_alines": int(pred.probs.shape[1]),
        "synthetic_training": lm.synthetic,
        **pred.meta,
    }
    save_arcs(found.arcs, out, on_conflict="overwrite")
    for c in pred.classes:
        m = arc_measurements(pred.class_labels(c), pb.mm_per_frame)
        m.pop("arc_deg", None)
        summary[c] = m
    if "calcium" in pred.classes:
        summary["ics"] = summary["calcium"]["ics"]
    return PredictResult(data=summary, rows=[flat_row(summary)], prediction=pred)


def predict(
    model: Any,
    path: Any,
    *,
    out: str | Path,
    device: str = PREDICT_DEFAULTS["device"],
    batch_size: int | None = None,
    no_amp: bool = False,
    tile_size: Sequence[int] | None = None,
    overlap: float = PREDICT_DEFAULTS["overlap"],
    blend: str = PREDICT_DEFAULTS["blend"],
    probs: str | Path | None = None,
    progress: Any = None,
) -> PredictResult:
    """Run a napari-plaque model on one study.

    ``model``: a checkpoint path, a shipped demo name (``demo_alines``, ``demo_ccta_plaque``)
    or a loaded :class:`~napari_plaque.models.checkpoint.LoadedModel`. ``path``: an IVUS
    pullback (A-line models: path or :class:`~napari_plaque.types.Pullback`; ``out`` an arcs
    .json) or a CT volume (CT models: DICOM folder / NIfTI or
    :class:`~napari_plaque.types.CTVolume`; ``out`` labels .npy / .nii / .nii.gz, ``probs``
    an optional .npy of the probabilities). ``progress(desc, total)``: a step callback or None.
    """
    from ..models import BLENDS, DEVICES

    if device not in DEVICES:
        raise OptionError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if blend not in BLENDS:
        raise OptionError(f"--blend must be one of {', '.join(BLENDS)}, got {blend!r}")
    lm = _loaded(model)
    model_name = lm.path if not isinstance(model, (str, Path)) else resolve_model(model)
    opts = {"device": device, "batch_size": batch_size, "no_amp": no_amp,
            "tile_size": tuple(tile_size) if tile_size else None, "overlap": overlap,
            "blend": blend, "probs": None if probs is None else str(probs)}
    run = _predict_alines if lm.task == "alines" else _predict_ct
    if lm.task not in ("alines", "ct-seg"):
        raise OptionError(
            f"{model_name}: a {lm.task!r} model; predict runs A-line and CT models "
            "(a chest-radiograph model: cxr predict)"
        )
    return run(lm, model_name, path, Path(out), opts, progress)


@dataclass
class ExportCtDatasetResult(Result):
    """``to_dict()``: ``{"out": folder, "format", "n_cases"}``; ``to_rows()``: one entry per
    case (what each case contributed)."""

    command = "export-ct-dataset"


def ct_case_task(study, params: dict) -> dict:
    """One case of ``export-ct-dataset`` into the staging folder (runs on a cohort worker)."""
    from ..cohort import input_id
    from ..models.data import write_ct_case
    from ._inputs import ct_volume, label_mask

    vol = ct_volume(str(study.path))
    lab = label_mask(str(study.input_path("label")), vol.shape)
    opts = {k: v for k, v in params.items() if not k.startswith("_")}
    return write_ct_case(
        vol, lab, params["_staging"], f"{study.study_id}:{input_id(study)}", **opts
    )


def export_ct_dataset(
    pairs: Sequence[Any] = (),
    *,
    out: str | Path,
    manifest: str | Path | None = None,
    format: str = CT_DATASET_DEFAULTS["format"],  # noqa: A002 - the CLI option's name
    classes: str | Sequence[str] | None = None,
    patch_size: Sequence[int] = CT_DATASET_DEFAULTS["patch_size"],
    n_patches: int = CT_DATASET_DEFAULTS["n_patches"],
    dataset_id: int = CT_DATASET_DEFAULTS["dataset_id"],
    name: str = CT_DATASET_DEFAULTS["name"],
    seed: int = CT_DATASET_DEFAULTS["seed"],
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool | None = None,
) -> ExportCtDatasetResult:
    """A CT segmentation training set from image + label pairs (``pairs``: a flat
    ``[IMAGE, LABEL, ...]`` list or ``(image, label)`` tuples; ``manifest``: a CSV with
    study_id, path, label) as a napari-plaque patch folder or an nnU-Net v2 raw dataset.
    Every case must succeed (else ValueError, nothing written); the set is put in place
    atomically at the end. ``workers`` / ``scheduler``: the cohort runner's."""
    import argparse

    from ..cohort import Study, cohort_client
    from ..cohort.cli import run_all
    from ..io.atomic import atomic_dir
    from ..models.data import (
        CT_MARKERS,
        assemble_ct_dataset,
        ct_dataset_folder,
        nnunet_classes,
        refuse_foreign_folder,
    )

    flat = [p for item in pairs for p in (item if isinstance(item, (tuple, list)) else [item])]
    if len(flat) % 2:
        raise OptionError("export-ct-dataset needs IMAGE LABEL pairs (an even number of paths)")
    studies = [
        Study(f"case{k}", Path(img), {"label": lab})
        for k, (img, lab) in enumerate(zip(flat[::2], flat[1::2], strict=True))
    ]
    if manifest:  # one dataset from all the cases: every case must succeed
        from ..cohort import read_manifest

        for st in read_manifest(manifest, columns=("label",)):
            if st.input_path("label") is None:
                raise OptionError(f"{manifest}: study {st.study_id!r} has no 'label'")
            studies.append(st)
    if not studies:
        raise OptionError("export-ct-dataset needs IMAGE LABEL pairs or --manifest (path, label)")
    studies = [s.absolute() for s in studies]
    if isinstance(classes, str):
        classes = classes.split(",")
    classes = list(classes) if classes else None
    if classes is not None and format == "nnunet":
        nnunet_classes(classes)  # unique names: refused before any case is read
    opts = {"patch_size": tuple(patch_size), "n_patches": n_patches, "seed": seed,
            "name": name, "dataset_id": dataset_id}
    final = ct_dataset_folder(out, format, dataset_id, name)
    refuse_foreign_folder(final, CT_MARKERS[format])
    with (
        cohort_client(workers, scheduler, len(studies)) as client,
        atomic_dir(final) as staging,
    ):
        entries = run_all(
            argparse.Namespace(progress=progress), ct_case_task, studies,
            {**opts, "fmt": format, "_staging": str(staging)}, client=client, what="cases",
        )
        assemble_ct_dataset(staging, entries, format, classes, **opts)
    data = {"out": str(final), "format": format, "n_cases": len(studies)}
    return ExportCtDatasetResult(data=data, rows=[dict(e) for e in entries])


def export_model(
    model: Any,
    *,
    torchscript: str | Path | None = None,
    onnx: str | Path | None = None,
) -> ExportModelResult:
    """Export a checkpoint (path, demo name or LoadedModel) to TorchScript or ONNX (one of
    the two)."""
    from ..models.checkpoint import export_onnx, export_torchscript

    if (torchscript is None) == (onnx is None):
        raise OptionError("give one of --torchscript OUT or --onnx OUT")
    lm = _loaded(model)
    if torchscript is not None:
        path, fmt = export_torchscript(lm, torchscript), "torchscript"
    else:
        path, fmt = export_onnx(lm, onnx), "onnx"
    return ExportModelResult(data={"out": str(path), "format": fmt})


__all__ = [
    "ExportCtDatasetResult",
    "ExportModelResult",
    "PredictResult",
    "TrainResult",
    "ct_case_task",
    "export_ct_dataset",
    "export_model",
    "flat_row",
    "predict",
    "train",
]
