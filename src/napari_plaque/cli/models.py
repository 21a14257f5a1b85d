"""`napari-plaque` subcommands for deep models (see :mod:`napari_plaque.models`).

``train``, ``predict``, ``export-model`` and ``export-ct-dataset``. torch is imported only when
one of them runs, so ``napari-plaque --help`` works without it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..models import (
    BLENDS,
    DEVICES,
    PREDICT_DEFAULTS,
    TRAIN_OPTION_DEFAULTS,
    TRAIN_TASKS,
    TrainSettings,
)
from ..models.data import CT_DATASET_DEFAULTS, CT_MARKERS
from ._common import add_json_option, model_params, print_json, run_reports, stderr_progress

#: the training defaults shared with the core and the training dock (one home)
_TS = TrainSettings()
_OPT = TRAIN_OPTION_DEFAULTS
_CT = CT_DATASET_DEFAULTS


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 1,64,64, got {text!r}") from None


def _window(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH in HU, got {text!r}") from None
    return lo, hi


#: help of each TrainSettings field's option (``train``, ``cxr train``)
TRAIN_HELP = {
    "epochs": "training epochs",
    "batch_size": "samples per batch",
    "lr": "learning rate",
    "seed": "split and initialisation seed",
    "val_fraction": "share of the pullbacks / cases held out for validation",
    "patience": "early stopping (epochs)",
    "device": "auto (cuda > mps > cpu), cpu, cuda, mps",
}


def add_train_settings(
    p: argparse.ArgumentParser,
    settings: TrainSettings,
    *,
    helps: dict[str, str] | None = None,
    defaults: dict[str, Any] | None = None,
) -> None:
    """One option per :class:`~napari_plaque.models.TrainSettings` field (``--val-fraction``
    for ``val_fraction``), typed and defaulted from ``settings`` (``defaults`` override a
    default, ``helps`` a help text); ``--device`` takes :data:`DEVICES`."""
    import dataclasses

    helps = {**TRAIN_HELP, **(helps or {})}
    defaults = defaults or {}
    for f in dataclasses.fields(settings):
        value = defaults.get(f.name, getattr(settings, f.name))
        kind = type(getattr(settings, f.name))
        flag = "--" + f.name.replace("_", "-")
        if f.name == "device":
            p.add_argument(flag, default=value, choices=DEVICES, help=helps[f.name])
        else:
            p.add_argument(flag, type=kind, default=value, help=helps[f.name])


def register(sub) -> None:
    """Add the model subcommands to the napari-plaque parser."""
    p = sub.add_parser(
        "train",
        help="train a built-in model (A-line detector or CT U-Net) from a training set",
        description=(
            "Train a model. --task alines reads an A-line dataset folder (export-alines); "
            "--task ct-seg reads a CT patch folder (export-ct-dataset --format patches) or an "
            "nnU-Net v2 raw dataset folder. The best checkpoint (lowest validation loss) is "
            "written to --out, the resumable state beside it (OUT.state.pt)."
        ),
    )
    p.add_argument("data", metavar="DATA", help="training set folder")
    p.add_argument("--task", required=True, choices=["alines", "ct-seg"])
    p.add_argument("--out", required=True, metavar="MODEL", help="checkpoint to write (.pt)")
    add_train_settings(
        p,
        _TS,
        helps={
            "batch_size": "default per task: "
            + ", ".join(f"{k} {t.settings.batch_size}" for k, t in TRAIN_TASKS.items()),
        },
        defaults={"batch_size": None},
    )
    p.add_argument("--resume", action="store_true", help="continue from MODEL.state.pt")
    p.add_argument("--width", type=int, default=_OPT["width"],
                   help="alines: channels of the first block")
    p.add_argument("--context", type=int, default=_OPT["context"],
                   help="alines: neighbour frames each side")
    p.add_argument(
        "--precision",
        choices=["auto", "bf16", "fp32"],
        default=_OPT["precision"],
        help="alines: step arithmetic; auto: bfloat16 mixed precision where the CPU/GPU does "
        "it natively (about 2x faster), else fp32",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=_OPT["threads"],
        help="CPU threads for training (0: torch's, or 1 while the machine is oversubscribed)",
    )
    p.add_argument("--dims", type=int, choices=[2, 3], default=_OPT["dims"],
                   help="ct-seg: 2D or 3D U-Net")
    p.add_argument("--patch-size", type=_ints, default=None, help="ct-seg: Z,Y,X (Z=1 for 2D)")
    p.add_argument("--window-hu", type=_window, default=_OPT["window_hu"],
                   help="ct-seg: LOW,HIGH")
    p.add_argument("--base-channels", type=int, default=_OPT["base_channels"],
                   help="ct-seg: U-Net width")
    p.add_argument("--levels", type=int, default=_OPT["levels"],
                   help="ct-seg: U-Net resolution levels")
    p.add_argument("--synthetic", action="store_true", help="mark the data as synthetic")
    add_json_option(p, "print the summary as JSON")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "predict",
        help="run a model on a pullback (arcs JSON) or a CT volume (labels)",
        description=(
            "Run a napari-plaque model. A-line models read an IVUS pullback and write a "
            "napari-plaque/arcs JSON (and report the ICS); CT models read a DICOM folder or "
            "NIfTI and write labels as .npy or NIfTI (.nii/.nii.gz) in the reader's axis order."
        ),
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="checkpoint (.pt) or a shipped demo: demo_alines, "
        "demo_ccta_plaque (trained on synthetic data)",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="IVUS DICOM, CT DICOM folder/file or NIfTI; several (or a folder of studies) "
        "make a cohort",
    )
    p.add_argument(
        "--out",
        required=True,
        help="arcs .json (IVUS) or labels .npy/.nii.gz (CT); for a cohort a folder: "
        "<study>.arcs.json / <study>.labels.nii.gz",
    )
    p.add_argument(
        "--device",
        default=PREDICT_DEFAULTS["device"],
        choices=DEVICES,
        help="auto (cuda > mps > cpu), cpu, cuda, mps",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="default: 4 (IVUS) / 1 (CT) on a CPU, 64 / 16 on a GPU",
    )
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument("--tile-size", type=_ints, default=None, help="CT: tile Z,Y,X fed to the net")
    p.add_argument(
        "--overlap",
        type=float,
        default=PREDICT_DEFAULTS["overlap"],
        help="CT: tile overlap fraction",
    )
    p.add_argument(
        "--blend",
        choices=BLENDS,
        default=PREDICT_DEFAULTS["blend"],
        help="CT: weights of overlapping tiles",
    )
    p.add_argument(
        "--probs",
        default=None,
        help="CT: also save probabilities (.npy, C,Z,Y,X; a cohort: a folder)",
    )
    add_json_option(p, "print the summary as JSON")
    from ..cohort.cli import add_cohort_arguments

    add_cohort_arguments(p, study_columns=("out",))
    p.set_defaults(func=_predict)

    p = sub.add_parser(
        "export-model",
        help="export a model to TorchScript or ONNX for use outside napari-plaque",
        description="Export a checkpoint to TorchScript (metadata.json inside) or ONNX.",
    )
    p.add_argument("model", metavar="MODEL")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--torchscript", metavar="OUT", help="TorchScript archive to write")
    g.add_argument("--onnx", metavar="OUT", help="ONNX file to write (needs the onnx package)")
    p.set_defaults(func=_export_model)

    p = sub.add_parser(
        "export-ct-dataset",
        help="make a CT segmentation training set from image + label files",
        description=(
            "Pairs of IMAGE LABEL (image: DICOM folder or NIfTI; label: .npy or NIfTI in the "
            "reader's axis order) to a napari-plaque patch folder or an nnU-Net v2 raw dataset."
        ),
    )
    p.add_argument("pairs", nargs="*", metavar="IMAGE LABEL")
    p.add_argument("--manifest", metavar="CSV", help="cases: columns study_id, path, label")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--format",
        choices=list(CT_MARKERS),
        default=_CT["format"],
        help="napari-plaque patch folder or nnU-Net v2 raw dataset",
    )
    p.add_argument("--classes", default=None, help="comma-separated names, background first")
    p.add_argument("--patch-size", type=_ints, default=_CT["patch_size"], help="patches: Z,Y,X")
    p.add_argument("--n-patches", type=int, default=_CT["n_patches"], help="patches per case")
    p.add_argument("--dataset-id", type=int, default=_CT["dataset_id"],
                   help="nnunet: dataset number")
    p.add_argument("--name", default=_CT["name"], help="nnunet: dataset name")
    p.add_argument("--seed", type=int, default=_CT["seed"], help="patches: sampling seed")
    from ..cohort.cli import add_cluster_arguments

    add_cluster_arguments(
        p.add_argument_group(
            "cohort",
            "Each case is read and written on the cohort runner (a local dask cluster, or a "
            "scheduler whose workers see the output's folder); the set is put in place at the end.",
        )
    )
    p.set_defaults(func=_export_ct_dataset)


def _print_epoch(rec: dict[str, Any]) -> None:
    keys = [k for k in rec if k not in ("epoch", "seconds")]
    text = " ".join(
        f"{k}={rec[k]:.4f}" if isinstance(rec[k], float) else f"{k}={rec[k]}" for k in keys
    )
    print(f"epoch {rec['epoch']}: {text}", file=sys.stderr)


def _batch_printer(live: dict[str, Any], every_s: float = 5.0):
    """A run_steps callback: a progress line on stderr within an epoch, at most every
    ``every_s`` seconds (and at each epoch's last batch)."""
    import time

    last = [0.0]

    def show(_step: Any) -> None:
        now = time.monotonic()
        end = live.get("batch") == live.get("batches")
        if live.get("phase") != "train" or (now - last[0] < every_s and not end):
            return
        last[0] = now
        print(
            f"epoch {live['epoch']}/{live['epochs']}: batch {live['batch']}/{live['batches']}, "
            f"loss {live['loss']:.4f} ({live['seconds']:.1f} s)",
            file=sys.stderr,
            flush=True,
        )

    return show


def _train(args) -> int:
    from ..api import options_from
    from ..api.deep import train

    live: dict[str, Any] = {}
    res = train(args.data, **options_from(train, args, on_epoch=_print_epoch,
                                          on_step=_batch_printer(live), live=live))
    summary = res.to_dict()
    if args.json:
        print_json(summary)
    else:
        print(
            f"saved {summary['model']} (best epoch {summary['best_epoch']}, val_loss "
            f"{summary['metrics'].get('val_loss', float('nan')):.4f})"
        )
    return 0


def _resolve_model(name: str) -> str:
    """A model file, or the name of a shipped demo model (e.g. ``demo_alines``)."""
    from ..models import resolve_model

    return resolve_model(name)


def _loaded_model(path: str):
    """The model of ``path``, loaded once per process (cohort workers reuse it)."""
    from ..models.checkpoint import load_checkpoint
    from ._common import load_once

    return load_once(path, load_checkpoint)


def _predict(args) -> int:
    from ..cohort.cli import is_cohort, studies_from_args
    from . import CLIError

    args.model = _resolve_model(args.model)
    studies = studies_from_args(args, args.paths)
    single = not is_cohort(args, len(studies))
    if not single and Path(args.out).name.endswith((".npy", ".nii", ".nii.gz", ".json")):
        raise CLIError(f"{args.out}: with several inputs --out is a folder (one file per study)")
    if not single and args.probs and Path(args.probs).suffix == ".npy":
        raise CLIError(f"{args.probs}: with several inputs --probs is a folder")
    params = model_params(args, single, exclude=("paths",))
    return run_reports(args, _predict_task, studies, params, _print_predict)


def _predict_task(study, params: dict) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One study of ``predict`` (runs on a cohort worker): :func:`api.predict` with the
    study's options (the model loaded once per process); writes its output file."""
    from ..api import study_options
    from ..api.deep import predict
    from ..cohort.cli import new_output, study_output

    single = bool(params.get("_single"))
    lm = _loaded_model(params["model"])
    alines = lm.task == "alines"
    # a per-study output never replaces a file unless --overwrite (that study's error row)
    if "out" in study.inputs:
        out = new_output(params, study.input_path("out"))
    elif single:
        out = Path(params["out"])
    else:
        suffix = ".arcs.json" if alines else ".labels.nii.gz"
        out = study_output(params, params["out"], study, suffix)
    probs = params.get("probs")
    if probs and not single:
        probs = str(study_output(params, probs, study, ".probs.npy"))
    opts = study_options(
        predict, {k: v for k, v in params.items() if k != "out"}, study,
        out=out, probs=probs, progress=stderr_progress if single else None,
    )
    res = predict(lm, str(study.path), **opts)
    return res.to_dict(), res.to_rows()


def _print_predict(args, summary: dict[str, Any]) -> int:
    if args.json:
        print_json(summary)
    elif "voxels" in summary:
        voxels = summary["voxels"]
        print(f"wrote {summary['out']}: " + ", ".join(f"{c} {n} voxels" for c, n in voxels.items()))
    else:
        ics = f", ICS {summary['ics']:.1f}" if "ics" in summary else ""
        print(f"wrote {summary['out']}{ics}")
    return 0


def _export_model(args) -> int:
    from ..api import options_from
    from ..api.deep import export_model

    res = export_model(args.model, **options_from(export_model, args))
    print(f"wrote {res.to_dict()['out']}")
    return 0


def _export_ct_dataset(args) -> int:
    from ..api import options_from
    from ..api.deep import export_ct_dataset

    res = export_ct_dataset(args.pairs, **options_from(export_ct_dataset, args))
    print(f"wrote {res.to_dict()['out']}")
    return 0
