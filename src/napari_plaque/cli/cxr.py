"""Subcommands: chest radiograph CAC-category model (``napari-plaque cxr predict|train|evaluate``).

torch is imported only when a subcommand runs, so ``napari-plaque --help`` works without it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import add_json_option, print_json, stderr_progress

DEVICE_HELP = "auto (cuda > mps > cpu), cpu, cuda, mps"


def _thresholds(text: str) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected T0,T100,T400 like 0.5,0.5,0.5, got {text!r}"
        ) from None
    if len(vals) != 3 or not all(0 < v < 1 for v in vals):
        raise argparse.ArgumentTypeError("three thresholds in (0, 1): T0,T100,T400")
    return vals  # type: ignore[return-value]


def register(sub) -> None:
    """Add ``cxr`` and its subcommands to the napari-plaque parser."""
    from ..cxr.spec import DEFAULTS
    from ..cxr.train import CV_DEFAULTS, TRAIN_DEFAULTS
    from ..models import PREDICT_DEFAULTS
    from .models import add_train_settings

    p = sub.add_parser(
        "cxr",
        help="chest radiograph CAC category (0 / 100 / 400): predict, train, evaluate",
        description=(
            "A CNN that predicts the CT calcium-score category from a chest radiograph: "
            "p(CAC > 0) >= p(CAC >= 100) >= p(CAC >= 400). The shipped demo_cxr model is "
            "trained on SYNTHETIC images: a demo, not a clinical tool."
        ),
    )
    cs = p.add_subparsers(dest="cxr_command", metavar="SUBCOMMAND")
    cs.required = True

    q = cs.add_parser(
        "predict",
        help="probabilities and category for radiographs",
        description="Run a CXR model on CR/DX DICOM, PNG or JPEG radiographs.",
    )
    q.add_argument("model", metavar="MODEL", help="checkpoint (.pt) or demo_cxr (synthetic demo)")
    q.add_argument("images", nargs="*", metavar="IMAGE", help="CR/DX DICOM, PNG or JPEG")
    q.add_argument("--age", type=float, default=None, help="years (models trained with it)")
    q.add_argument("--sex", default=None, help="M or F (models trained with it)")
    q.add_argument("--bmi", type=float, default=None, help="kg/m^2 (models trained with it)")
    q.add_argument(
        "--saliency",
        default=None,
        metavar="OUT.npy",
        help="write the Grad-CAM saliency map (float32, the image's rows x columns, 0..1); "
        "with several images a folder (<image>.saliency.npy)",
    )
    q.add_argument(
        "--saliency-target",
        default=DEFAULTS["saliency_target"],
        help="output explained: auto (highest cut-point passed), cac_gt0, cac_ge100, cac_ge400",
    )
    q.add_argument("--device", default=PREDICT_DEFAULTS["device"], help=DEVICE_HELP)
    add_json_option(q, "print JSON (one object; 'results' for several)")
    from ..cohort.cli import add_cohort_arguments

    add_cohort_arguments(q, table_flags=("--out", "--table"))
    q.set_defaults(func=_predict)

    t = cs.add_parser(
        "train",
        help="cross-validate and train a model from a CSV manifest",
        description=(
            "MANIFEST: CSV with path, cac_score (or category: 0, 1-99, 100-399, >=400), optional "
            "age, sex, bmi, patient_id. Runs patient-grouped k-fold cross-validation (report: "
            "per cut-point AUC with DeLong 95 % CI, calibration, confusion; MODEL.report.json, "
            "MODEL.roc.png, MODEL.calibration.png), then trains the final model on all rows."
        ),
    )
    t.add_argument("manifest", metavar="MANIFEST")
    t.add_argument("--out", required=True, metavar="MODEL", help="checkpoint to write (.pt)")
    t.add_argument(
        "--folds",
        type=int,
        default=CV_DEFAULTS["folds"],
        help="CV folds; 0: no CV",
    )
    t.add_argument(
        "--image-size",
        type=int,
        default=DEFAULTS["image_size"],
        help="input pixels per side",
    )
    t.add_argument(
        "--width",
        type=int,
        default=DEFAULTS["width"],
        help="ResNet-18 base width; 64 = torchvision's",
    )
    t.add_argument(
        "--thresholds",
        type=_thresholds,
        default=DEFAULTS["thresholds"],
        help="T0,T100,T400 for the category and confusion (default: 0.5,0.5,0.5)",
    )
    g = t.add_mutually_exclusive_group()
    g.add_argument(
        "--clinical",
        dest="clinical",
        action="store_true",
        default=None,
        help="fuse age, sex, BMI (default: when every row has them)",
    )
    g.add_argument("--no-clinical", dest="clinical", action="store_false", help="image only")
    add_train_settings(
        t,
        TRAIN_DEFAULTS,
        helps={"batch_size": "radiographs per batch", "patience": "early stopping epochs",
               "val_fraction": "inner early-stopping split, by patient"},
    )
    t.add_argument(
        "--resume", action="store_true", help="keep finished folds; resume at the last epoch"
    )
    t.add_argument("--synthetic", action="store_true", help="mark the data as synthetic")
    add_json_option(t, "print the summary as JSON")
    t.set_defaults(func=_train)

    e = cs.add_parser(
        "evaluate",
        help="evaluate a model on an external manifest",
        description="Per cut-point AUC with DeLong 95 % CI, calibration and confusion on MANIFEST.",
    )
    e.add_argument("model", metavar="MODEL")
    e.add_argument("manifest", metavar="MANIFEST")
    e.add_argument("--out", default=None, metavar="STEM", help="write STEM.report.json and plots")
    e.add_argument(
        "--thresholds", type=_thresholds, default=None, help="T0,T100,T400 (default: the model's)"
    )
    e.add_argument("--device", default=PREDICT_DEFAULTS["device"], help=DEVICE_HELP)
    add_json_option(e, "print the report as JSON")
    e.set_defaults(func=_evaluate)


def _cohort_mode(args) -> bool:
    """A cohort run (manifest, table, workers, scheduler, resume) goes through the runner."""
    return bool(
        getattr(args, "manifest", None)
        or getattr(args, "table", None)
        or getattr(args, "scheduler", None)
        or getattr(args, "resume", False)
        or int(getattr(args, "workers", 1) or 1) > 1
    )


def _predict_task(study, params: dict) -> list[dict[str, Any]]:
    """One radiograph of a ``cxr predict`` cohort (runs on a cohort worker):
    :func:`api.cxr_predict` with the study's options (the model loaded once); one row."""
    from ..api import study_options
    from ..api.radiograph import cohort_row, cxr_predict
    from ..cxr.model import load_cxr_model
    from ._common import load_once

    lm = load_once(params["model"], load_cxr_model)
    opts = study_options(cxr_predict, params, study, saliency=None)
    res = cxr_predict(lm, [str(study.path)], **opts)
    return [cohort_row(res.to_rows()[0])]


def _predict_cohort(args) -> int:
    from ..cohort.cli import file_sha256, params_from_args, run_command, studies_from_args
    from ..models import resolve_model
    from . import CLIError

    if args.saliency:
        raise CLIError("--saliency is for images named on the command line, not a cohort run")
    args.model = resolve_model(args.model)
    studies = studies_from_args(args, args.images, expand_folders=False)
    params = params_from_args(args, exclude=("images", "cxr_command", "saliency"))
    params["model_sha256"] = file_sha256(args.model)
    return run_command(args, _predict_task, studies, params)


def _predict(args) -> int:
    if _cohort_mode(args):
        return _predict_cohort(args)
    if not args.images:
        from . import CLIError

        raise CLIError("no radiograph given (IMAGE... or --manifest)")
    from ..api import options_from
    from ..api.radiograph import cxr_predict

    res = cxr_predict(args.model, args.images,
                      **options_from(cxr_predict, args, progress=stderr_progress))
    for n in res.notes:
        print(f"napari-plaque: note: {n}", file=sys.stderr)
    for w in res.warnings:  # never silent: each warning (not a chest radiograph, OOD...)
        print(f"napari-plaque: warning: {w}", file=sys.stderr)
    if args.json:
        print_json(res.to_dict())
    else:
        for d in res.to_rows():
            synth = (
                "  [model trained on SYNTHETIC data: demo only]" if d["synthetic_training"] else ""
            )
            print(
                f"{d['image']}: p(CAC>0) {d['p_cac_gt0']:.3f}  p(CAC>=100) {d['p_cac_ge100']:.3f}"
                f"  p(CAC>=400) {d['p_cac_ge400']:.3f}  category {d['category']}{synth}"
            )
    return 0


def _train(args) -> int:
    from ..api import options_from
    from ..api.radiograph import cxr_train

    res = cxr_train(args.manifest, **options_from(cxr_train, args, progress=stderr_progress))
    summary = res.to_dict()
    if args.json:
        print_json(summary)
    else:
        print(f"saved {summary['model']}")
        _print_cuts(summary["report"])
        for k, v in res.result.files.items():
            print(f"{k}: {v}")
    return 0


def _print_cuts(report: dict[str, Any]) -> None:
    for name, e in report.get("cut_points", {}).items():
        if e.get("auc") is None:
            print(f"{name}: AUC n/a ({e.get('auc_note', '')})")
        else:
            print(
                f"{name}: AUC {e['auc']:.3f} (95 % CI {e['auc_ci_low']:.3f}-{e['auc_ci_high']:.3f}, "
                f"DeLong; {e['n_pos']} pos / {e['n_neg']} neg), Brier {e['calibration']['brier']:.3f}"
            )


def _evaluate(args) -> int:
    from ..api import options_from
    from ..api.radiograph import cxr_evaluate

    res = cxr_evaluate(args.model, args.manifest,
                       **options_from(cxr_evaluate, args, progress=stderr_progress))
    for w in res.warnings:
        print(f"napari-plaque: warning: {args.manifest}: {w}", file=sys.stderr)
    rep = res.to_dict()
    if args.json:
        print_json(rep)
    else:
        _print_cuts(rep)
        for k, v in rep.get("files", {}).items():
            print(f"{k}: {v}")
    return 0
