"""`napari-plaque` subcommands for IVUS: ics, export-alines, train-svm, predict-arcs,
propose-frames (active learning) and arcs interpolate (keyframes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CLIError
from ._common import (
    add_json_option,
    frame_range_arg,
    model_params,
    print_json,
    run_reports,
    stderr_progress,
)


def _ics_task(study, params: dict) -> tuple[dict, list[dict]]:
    """One pullback of ``ics`` (runs on a cohort worker): :func:`api.ics`."""
    from ..api import study_options
    from ..api.ivus import ics

    arcs = study.input_path("arcs")
    if arcs is None:
        raise CLIError(f"{study.path}: no arcs file (--arcs, or an 'arcs' manifest column)")
    from ._common import check_frame_range

    opts = study_options(ics, params, study)
    pb = _read_pullback(study.path)
    check_frame_range(opts.get("frames"), pb.n_frames, study.path)
    res = ics(pb, str(arcs), **opts)
    res.data["pullback"] = str(study.path)  # (read here once, so the range could be checked)
    return res.to_dict(), res.to_rows()


def _read_pullback(path):
    """The IVUS pullback of ``path``; a CT slice or series, SEG, SR or radiograph is refused by
    name (read as a pullback it would be scored as a one-frame 'pullback')."""
    from ..io import read_pullback
    from ..io.detect import Format, detect

    p = Path(path)
    fmt = detect(p)
    if fmt in (Format.CT_SERIES, Format.DICOM_SEG, Format.DICOM_SR, Format.RADIOGRAPH_DICOM,
               Format.RADIOGRAPH_IMAGE):
        raise CLIError(
            f"{p}: not an IVUS pullback ({fmt.value}); give the pullback's multi-frame "
            "IVUS DICOM file"
        )
    if p.is_dir():
        raise CLIError(f"{p}: a folder; give the pullback's multi-frame IVUS DICOM file")
    return read_pullback(str(p))


def _pullback_studies(args, paths: list[str], per_study: dict[str, list[str] | None]):
    """Studies of PULLBACK arguments and/or --manifest; ``per_study`` maps an input name (arcs)
    to the files given on the command line: one per pullback, or one folder holding
    ``<study>.arcs.json`` / ``<study>.json``."""
    from ..cohort import studies_from_paths, study_name
    from ..cohort.cli import studies_from_args

    studies = studies_from_args(args, None) if args.manifest else []
    if paths:
        found = studies_from_paths(paths, expand_folders=False)
        for name, given in per_study.items():
            if not given:
                continue
            if len(given) == 1 and Path(given[0]).is_dir():
                folder = Path(given[0])
                for st in found:
                    sid = study_name(st.path)
                    cands = [folder / f"{sid}.{name}.json", folder / f"{sid}.json"]
                    hit = next((c for c in cands if c.exists()), cands[0])
                    st.inputs[name] = str(hit)
                continue
            if len(given) != len(found):
                raise CLIError(
                    f"{len(found)} pullback(s) but {len(given)} --{name} file(s): give one "
                    f"--{name} file per pullback, in the same order, or one folder"
                )
            for st, g in zip(found, given, strict=True):
                st.inputs[name] = g
        studies = found + studies
    if not studies:
        raise CLIError("no pullback: give PULLBACK paths or --manifest CSV")
    return studies


def _ics(args: argparse.Namespace) -> int:
    from ..cohort.cli import params_from_args

    studies = _pullback_studies(args, args.pullbacks, {"arcs": args.arcs})
    params = params_from_args(args, exclude=("pullbacks", "arcs"))
    return run_reports(args, _ics_task, studies, params, _print_ics)


def _print_ics(args, out: dict) -> int:
    if args.json:
        print_json(out)
    else:
        note = f" (assumed: {', '.join(out['assumed'])})" if out["assumed"] else ""
        print(f"ICS {out['ics']:.1f}  ({out['positive_alines']}/{out['total_alines']} A-lines)")
        print(f"max calcium arc {out['max_arc_deg']:.1f} deg at frame {out['max_arc_frame']}")
        print(f"calcium length {out['calcium_length_mm']:.2f} mm{note}")
        print(
            "arc > 180 deg over > 5 mm: "
            f"{'yes' if out['calcium_arc_gt180_over_5mm'] else 'no'} "
            f"({out['calcium_arc_gt180_length_mm']:.2f} mm)"
        )
        print(
            f"attenuated plaque: max arc {out['attenuation_max_arc_deg']:.1f} deg, "
            f"length {out['attenuation_length_mm']:.2f} mm"
        )
    return 0


def _export(args: argparse.Namespace) -> int:
    """The pullbacks: PULLBACK + --arcs (one each, or a folder) and/or --manifest (path,
    arcs): :func:`napari_plaque.api.export_alines`."""
    from ..api import options_from
    from ..api.ivus import export_alines

    studies = _pullback_studies(args, args.pullbacks, {"arcs": args.arcs})
    res = export_alines(studies, **options_from(export_alines, args)).to_dict()
    print(f"exported {res['n_pullbacks']} pullback(s), {res['n_frames']} frames, to {res['out']}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from ..api import options_from
    from ..api.ivus import train_svm

    report = train_svm(args.dataset, **options_from(train_svm, args)).to_dict()
    if args.json:
        print_json(report)
        return 0
    print(
        f"class {report['class']}: {report['n_alines']} A-lines ({report['n_positive']} positive) "
        f"from {report['n_pullbacks']} pullback(s)"
    )
    if report["overall"] is None:
        print(report["note"])
    else:
        hdr = f"{'fold':>6} {'acc':>7} {'prec':>7} {'recall':>7} {'F1':>7}   (smoothed)"
        print(hdr)
        for f in report["folds"]:
            if "skipped" in f:
                print(f"{f['fold']:>6} skipped: {f['skipped']}")
                continue
            s = f["smoothed"]
            print(
                f"{f['fold']:>6} {s['accuracy']:7.3f} {s['precision']:7.3f} "
                f"{s['recall']:7.3f} {s['f1']:7.3f}"
            )
        s = report["overall"]["smoothed"]
        print(
            f"{'all':>6} {s['accuracy']:7.3f} {s['precision']:7.3f} "
            f"{s['recall']:7.3f} {s['f1']:7.3f}"
        )
    print(f"model saved to {args.out}")
    return 0


def _aline_detector(path: str):
    """The A-line model of ``path`` (SVM or deep), loaded once per process (cohort workers
    reuse it)."""
    from ..ivus.detector import load_aline_detector
    from ._common import load_once

    return load_once(path, load_aline_detector)


def _per_study_out(params: dict, study, suffix: str) -> Path:
    """Where one study's output goes: ``--out`` itself for one study named on the command
    line, else ``<--out folder>/<study><suffix>`` (a manifest 'out' column wins)."""
    if study.inputs.get("out"):
        from ..cohort.cli import new_output

        return new_output(params, study.input_path("out"))  # never replaces unless --overwrite
    if params.get("_single"):
        return Path(params["out"])
    from ..cohort.cli import study_output

    return study_output(params, params["out"], study, suffix)  # refuses a file unless --overwrite


def _predict_task(study, params: dict) -> tuple[dict, list[dict]]:
    """One pullback of ``predict-arcs`` (runs on a cohort worker): :func:`api.predict_arcs`
    with the study's options (the model loaded once per process)."""
    from ..api import study_options
    from ..api.ivus import predict_arcs

    single = bool(params.get("_single"))
    opts = study_options(predict_arcs, params, study, model=_aline_detector(params["model"]),
                         out=_per_study_out(params, study, ".arcs.json"),
                         progress=stderr_progress if single else None)
    res = predict_arcs(str(study.path), **opts)
    return res.to_dict(), res.to_rows()


def _predict(args: argparse.Namespace) -> int:
    from ..cohort.cli import is_cohort

    studies = _pullback_studies(args, args.pullbacks, {})
    single = not is_cohort(args, len(studies))
    if not single and Path(args.out).suffix.lower() == ".json":
        raise CLIError(f"{args.out}: with several pullbacks --out is a folder (one arcs file each)")
    params = model_params(args, single, exclude=("pullbacks",))
    return run_reports(args, _predict_task, studies, params, _print_predict)


def _print_predict(args, out: dict) -> int:
    if args.json:
        print_json(out)
    else:
        print(
            f"predicted {out['n_arcs']} arcs; ICS {out['ics']:.1f}; max arc "
            f"{out['max_arc_deg']:.1f} deg; written to {args.out}"
        )
    return 0


def _cohort_arguments(p, columns: tuple[str, ...], flags: tuple[str, ...]) -> None:
    from ..cohort.cli import add_cohort_arguments

    add_cohort_arguments(p, table_flags=flags, study_columns=columns)


def _cluster_arguments(p) -> None:
    from ..cohort.cli import add_cluster_arguments

    add_cluster_arguments(
        p.add_argument_group(
            "cohort",
            "Each pullback's shard is made on the cohort runner (a local dask cluster, or a "
            "scheduler whose workers see the output's folder), then joined here into one set.",
        )
    )


def _arcs_interpolate(args: argparse.Namespace) -> int:
    from ..api import options_from
    from ..api.ivus import interpolate_arcs

    res = interpolate_arcs(args.arcs, **options_from(interpolate_arcs, args)).to_dict()
    if args.json:
        print_json(res)
        return 0
    print(
        f"{res['n_arcs_added']} arcs interpolated on {len(res['frames_filled'])} frames between "
        f"{len(res['gaps_interpolated'])} keyframe pair(s); written to {args.out}"
    )
    for w in res["warnings"]:
        print(f"warning: {w}")
    return 0


def _propose_frames(args: argparse.Namespace) -> int:
    import sys

    from ..api import options_from
    from ..api.ivus import propose_frames

    res = propose_frames(args.pullback,
                         **options_from(propose_frames, args, progress=stderr_progress))
    if args.json:
        print_json(res.to_dict())
        return 0
    print(" ".join(str(f) for f in res.to_dict()["frames"]))
    for w in res.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def register(sub) -> None:
    """Add the IVUS subcommands to the napari-plaque parser."""
    from ..api.ivus import IVUS_DEFAULTS as D
    from ..api.ivus import PREDICT_CENTERS

    p = sub.add_parser(
        "propose-frames",
        help="active learning: the frames to annotate next (in doubt, unlike those annotated)",
        description="Scores every A-line with the model and prints the frames to annotate "
        "next, as the annotator dock proposes them: the frames whose A-lines the model calls "
        "calcium or doubts (SVM: inside the margin or beyond; deep model: probability above "
        "0.27) are least like those of any annotated frame; never a frame that holds arcs in "
        "ARCS and never two frames within --spread of each other.",
    )
    p.add_argument("pullback", metavar="PULLBACK", help="IVUS multi-frame DICOM")
    p.add_argument("--arcs", required=True, help="arcs JSON of the frames annotated so far")
    p.add_argument("--model", required=True, help="A-line model: SVM .npz or deep .pt")
    p.add_argument("--n", type=int, default=D["n"], help="frames to propose")
    p.add_argument(
        "--spread",
        type=int,
        default=D["spread"],
        metavar="FRAMES",
        help="proposed frames are more than this apart (default: from the pullback, at least 1)",
    )
    add_json_option(p)
    p.set_defaults(func=_propose_frames)

    p = sub.add_parser(
        "arcs",
        help="operations on arcs files (interpolate between keyframes)",
        description="Operations on napari-plaque arcs files.",
    )
    arcs_sub = p.add_subparsers(dest="arcs_command", metavar="COMMAND", required=True)
    q = arcs_sub.add_parser(
        "interpolate",
        help="fill the frames between annotated keyframes with interpolated arcs",
        description="Every two consecutive frames holding arcs (keyframes) at most --max-gap "
        "frames apart: the frames between get arcs whose start angle moves the shorter way "
        "round the circle (350 -> 10 deg through 0) and whose extent changes linearly; arcs "
        "without a partner shrink to nothing. The output holds the input arcs plus the "
        "interpolated ones (annotator 'interpolated (keyframes A-B)').",
    )
    q.add_argument("arcs", metavar="ARCS", help="arcs JSON (napari-plaque/arcs)")
    q.add_argument("--out", required=True, metavar="ARCS2", help="arcs JSON to write")
    q.add_argument(
        "--max-gap",
        type=int,
        default=D["max_gap"],
        metavar="FRAMES",
        help="keyframes further apart are left alone",
    )
    q.add_argument(
        "--overwrite", action="store_true", help="allow --out to be the input file (replaced)"
    )
    add_json_option(q)
    q.set_defaults(func=_arcs_interpolate)
    p = sub.add_parser(
        "ics",
        help="IVUS calcium score and arc measurements from an arcs file",
        description="ICS = 1000 x calcium-positive A-lines / all A-lines over the frame range; "
        "also maximum arc, calcium length and the arc > 180 deg over > 5 mm flag.",
    )
    p.add_argument("pullbacks", nargs="*", metavar="PULLBACK", help="IVUS multi-frame DICOM(s)")
    p.add_argument(
        "--arcs",
        nargs="+",
        metavar="ARCS",
        help="arcs JSON (napari-plaque/arcs): one per pullback, in the same order, or a folder "
        "with <study>.arcs.json or <study>.json",
    )
    p.add_argument("--n-alines", type=int, default=D["n_alines"], help="A-lines per frame")
    p.add_argument("--frames", default=None, type=frame_range_arg, metavar="START:STOP",
                   help="analysed frame range, e.g. 0:80 (default all; a range outside the "
                   "pullback is refused)")
    add_json_option(p)
    _cohort_arguments(p, ("arcs",), ("--out", "--table"))
    p.set_defaults(func=_ics)

    p = sub.add_parser(
        "export-alines",
        help="export an A-line training set (features + polar frames) from annotated pullbacks",
        description="One --arcs file per pullback, in the same order (or a folder of "
        "<study>.arcs.json), and/or --manifest with columns path, arcs.",
    )
    p.add_argument("pullbacks", nargs="*", metavar="PULLBACK", help="IVUS multi-frame DICOM(s)")
    p.add_argument("--arcs", nargs="+", metavar="ARCS", help="arcs JSON files, or a folder")
    p.add_argument("--manifest", metavar="CSV", help="pullbacks: columns study_id, path, arcs")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n-alines", type=int, default=D["n_alines"], help="A-lines per frame")
    p.add_argument("--depth-samples", type=int, default=D["depth_samples"],
                   help="samples per A-line")
    p.add_argument(
        "--depth-mm",
        type=float,
        default=None,
        help="A-line depth (mm); default: the largest radius inside every pullback's frames",
    )
    _cluster_arguments(p)
    p.set_defaults(func=_export, study_columns=("arcs",))

    p = sub.add_parser(
        "train-svm",
        help="train the A-line SVM calcium detector with CV grouped by pullback",
        description="Prints accuracy, precision, recall and F1 per fold and overall.",
    )
    p.add_argument("dataset", help="folder made by export-alines")
    p.add_argument("--out", required=True, help="model file to write (.npz)")
    p.add_argument("--class", dest="cls", default=D["cls"], help="class to detect")
    p.add_argument("--C", type=float, default=D["C"], help="SVM regularisation")
    p.add_argument("--folds", type=int, default=D["folds"], help="CV folds (grouped by pullback)")
    p.add_argument("--max-samples", type=int, default=D["max_samples"], help="A-lines per fit")
    add_json_option(p, "print the CV report as JSON")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "predict-arcs",
        help="detect calcium arcs on a pullback with a trained SVM",
        description="Writes the predicted arcs (napari-plaque/arcs JSON) and prints the ICS.",
    )
    p.add_argument("pullbacks", nargs="*", metavar="PULLBACK", help="IVUS multi-frame DICOM(s)")
    p.add_argument(
        "--model",
        required=True,
        help="A-line model: an SVM .npz from train-svm, a deep A-line .pt checkpoint (train "
        "--task alines) or a shipped demo name (demo_alines)",
    )
    p.add_argument(
        "--center",
        choices=PREDICT_CENTERS,
        default=D["center"],
        help="centre of the A-lines and arcs: the catheter (image centre, default) or the "
        "estimated lumen centre of each frame",
    )
    p.add_argument(
        "--out",
        required=True,
        help="arcs JSON to write; with several pullbacks a folder (<study>.arcs.json each)",
    )
    add_json_option(p)
    _cohort_arguments(p, ("out",), ("--table",))
    p.set_defaults(func=_predict)
