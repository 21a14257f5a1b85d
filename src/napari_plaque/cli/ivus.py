"""`napari-plaque` subcommands for IVUS: ics, export-alines, train-svm, predict-arcs,
propose-frames (active learning) and arcs interpolate (keyframes)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import CLIError
from ._common import print_json, stderr_progress


def _read_pullback(path: str):
    from ..io import read_pullback

    return read_pullback(path)


def _measure(pb, arcset, cls: str, n_alines: int, frames: tuple[int, int]) -> dict:
    from ..ivus import arc_measurements

    if cls not in arcset.classes:
        labels = arcset.labels(n_alines, [cls])[:, :, 0]
    else:
        labels = arcset.class_labels(cls, n_alines)
    m = arc_measurements(labels, pb.mm_per_frame, frames)
    return m


def _ics_one(args, pullback, arcs_path) -> dict:
    """ICS and arc measurements of one pullback with its arcs file."""
    from ..ivus import load_arcs, parse_frame_range

    pb = _read_pullback(pullback)
    arcset = load_arcs(arcs_path, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
    frames = parse_frame_range(args.frames, pb.n_frames)
    ca = _measure(pb, arcset, "calcium", args.n_alines, frames)
    att = _measure(pb, arcset, "attenuation", args.n_alines, frames)
    from ..ivus.measure import pullback_summary

    return {
        "pullback": str(pullback),
        "arcs": str(arcs_path),
        **pullback_summary(ca, att, assumed=sorted(pb.assumed)),
    }


#: keys of a one-pullback result that are paths (left out of cohort rows: input_id names them)
_PATH_KEYS = ("pullback", "arcs", "out")


def _ics_task(study, params: dict) -> tuple[dict, list[dict]]:
    """One pullback of ``ics`` (runs on a cohort worker)."""
    from ..cohort.cli import study_args

    a = study_args(params, study)
    if not getattr(a, "arcs", None):
        raise CLIError(f"{study.path}: no arcs file (--arcs, or an 'arcs' manifest column)")
    out = _ics_one(a, study.path, a.arcs)
    return out, [{k: v for k, v in out.items() if k not in _PATH_KEYS}]


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
    from ..cohort.cli import params_from_args, run_command

    studies = _pullback_studies(args, args.pullbacks, {"arcs": args.arcs})
    params = params_from_args(args, exclude=("pullbacks", "arcs"))
    return run_command(
        args,
        _ics_task,
        studies,
        params,
        json_reports=True,
        single=lambda out: _print_ics(args, out),
    )


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


def _pullback_geometry_task(study, params: dict) -> dict:
    """Frame shape and pixel spacing of one pullback (headers only; runs on a worker)."""
    pb = _read_pullback(str(study.path))
    return {"frame_shape": list(pb.frame_shape), "pixel_spacing_mm": list(pb.pixel_spacing_mm)}


def _export_shard_task(study, params: dict):
    """One pullback's shard of an A-line training set (runs on a worker that sees the
    staging folder); returns its manifest entry."""
    from .._progress import run_steps
    from ..cohort import input_id
    from ..ivus import load_arcs
    from ..ivus.dataset import iter_write_shard

    arcs = study.input_path("arcs")
    pb = _read_pullback(str(study.path))
    arcset = load_arcs(arcs, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
    gen = iter_write_shard(
        pb,
        arcset,
        params["_staging"],
        f"{study.study_id}-{input_id(study)}",  # the same inputs: the same shard
        params["n_alines"],
        params["depth_samples"],
        params["depth_mm"],
    )
    entry = run_steps(gen, None)
    return entry, [{"frames": entry["n_frames"]}]


def _export(args: argparse.Namespace) -> int:
    from types import SimpleNamespace

    from ..cohort import cohort_client
    from ..cohort.cli import run_all
    from ..ivus.dataset import assemble_training_set, default_depth_mm, staging_folder

    # the pullbacks: PULLBACK + --arcs (one each, or a folder) and/or --manifest (path, arcs);
    # one shard per pullback on the cohort runner (in this process or on dask workers), then
    # one training set from all of them: every pullback must succeed (else exit 2, nothing
    # written)
    studies = _pullback_studies(args, args.pullbacks, {"arcs": args.arcs})
    for st in studies:
        if st.input_path("arcs") is None:
            raise CLIError(f"{st.path}: no arcs file (--arcs, or an 'arcs' manifest column)")
    studies = [s.absolute() for s in studies]
    params = {"n_alines": args.n_alines, "depth_samples": args.depth_samples}
    with (
        cohort_client(args.workers, args.scheduler, len(studies)) as client,
        staging_folder(args.out) as staging,
    ):
        depth_mm = args.depth_mm
        if depth_mm is None:  # the deepest radius inside every pullback's frames
            geo = run_all(
                args, _pullback_geometry_task, studies, {}, client=client, what="pullbacks"
            )
            depth_mm = default_depth_mm([SimpleNamespace(**g) for g in geo])
        params.update(depth_mm=depth_mm, _staging=str(staging))
        entries = run_all(
            args, _export_shard_task, studies, params, client=client, what="pullbacks"
        )
        out = assemble_training_set(
            staging, entries, args.out, args.n_alines, args.depth_samples, depth_mm
        )
    total = sum(e["n_frames"] for e in entries)
    print(f"exported {len(entries)} pullback(s), {total} frames, to {out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from ..ivus import load_training_set, save_model, train_svm

    data = load_training_set(args.dataset)
    model, report = train_svm(
        data, cls=args.cls, C=args.C, n_folds=args.folds, max_samples=args.max_samples
    )
    save_model(model, args.out)
    report["model"] = str(args.out)
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


def _svm_model(path: str):
    """The SVM of ``path``, loaded once per process (cohort workers reuse it)."""
    from ..ivus import load_model
    from ._common import load_once

    return load_once(path, load_model)


def _predict_one(args, pullback, out_path, progress: bool) -> dict:
    """Predict the arcs of one pullback, write them to ``out_path``, measure them."""
    from ..ivus import arc_measurements, predict_pullback, save_arcs

    model = _svm_model(args.model)
    pb = _read_pullback(pullback)
    center = None
    if args.center == "lumen":
        from ..ivus import estimate_lumen_centers

        center = estimate_lumen_centers(pb.frames)
    labels, arcs = predict_pullback(
        model,
        pb,
        center=center,
        progress=stderr_progress("predict", pb.n_frames) if progress else None,
    )
    save_arcs(arcs, out_path, on_conflict="overwrite")  # the user named the file to replace
    m = arc_measurements(labels, pb.mm_per_frame)
    return {
        "pullback": str(pullback),
        "arcs": str(out_path),
        "arcs_file": Path(out_path).name,
        "class": model.meta.get("class", "calcium"),
        "ics": m["ics"],
        "positive_alines": m["positive_alines"],
        "total_alines": m["total_alines"],
        "max_arc_deg": m["max_arc_deg"],
        "calcium_length_mm": m["length_mm"],
        "n_arcs": len(arcs.arcs),
    }


def _per_study_out(args, study, suffix: str) -> Path:
    """Where one study's output goes: ``--out`` itself for one study named on the command
    line, else ``<--out folder>/<study><suffix>`` (a manifest 'out' column wins)."""
    if study.inputs.get("out"):
        return study.input_path("out")
    if params_single(args):
        return Path(args.out)
    return Path(args.out) / f"{study.study_id}{suffix}"


def params_single(params) -> bool:
    return bool(getattr(params, "_single", False))


def _predict_task(study, params: dict) -> tuple[dict, list[dict]]:
    """One pullback of ``predict-arcs`` (runs on a cohort worker)."""
    from ..cohort.cli import study_args

    a = study_args({k: v for k, v in params.items() if k != "out"}, study)
    a.out = params["out"]
    out = _predict_one(a, study.path, _per_study_out(a, study, ".arcs.json"), params_single(a))
    return out, [{k: v for k, v in out.items() if k not in _PATH_KEYS}]


def _predict(args: argparse.Namespace) -> int:
    from ..cohort.cli import file_sha256, is_cohort, params_from_args, run_command

    studies = _pullback_studies(args, args.pullbacks, {})
    single = not is_cohort(args, len(studies))
    if not single and Path(args.out).suffix.lower() == ".json":
        raise CLIError(f"{args.out}: with several pullbacks --out is a folder (one arcs file each)")
    params = params_from_args(args, exclude=("pullbacks",))
    params["model_sha256"] = file_sha256(args.model)
    params["_single"] = single
    return run_command(
        args,
        _predict_task,
        studies,
        params,
        json_reports=True,
        single=lambda out: _print_predict(args, out),
    )


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


def _same_file(a: str | Path, b: str | Path) -> bool:
    pa, pb_ = Path(a), Path(b)
    if pa.exists() and pb_.exists():
        return pa.samefile(pb_)
    return pa.resolve() == pb_.resolve()


def _arcs_interpolate(args: argparse.Namespace) -> int:
    from ..ivus.arcs import load_arcs, save_arcs
    from ..ivus.keyframes import interpolate_arcs, keyframe_gaps

    if _same_file(args.arcs, args.out) and not args.overwrite:
        raise CLIError(
            f"{args.out}: is the input arcs file; give another --out, or --overwrite to replace it"
        )
    arcs = load_arcs(args.arcs)
    keys = sorted({a.frame for a in arcs.arcs})
    new = interpolate_arcs(arcs, keys, max_gap=args.max_gap)
    out = arcs.copy()
    out.add_many(list(new.arcs))
    # the user named the file; atomic write (a crash leaves the old file or the new one)
    save_arcs(out, args.out, on_conflict="overwrite")
    gaps = keyframe_gaps(keys, args.max_gap)
    filled = sorted({a.frame for a in new.arcs})
    skipped = [
        (a, b) for a, b in zip(keys[:-1], keys[1:], strict=False) if b - a > args.max_gap
    ]
    res = {
        "arcs": str(args.arcs),
        "out": str(args.out),
        "keyframes": keys,
        "gaps_interpolated": [list(g) for g in gaps],
        "frames_filled": filled,
        "n_arcs_added": len(new.arcs),
        "max_gap": args.max_gap,
        "warnings": [
            f"keyframes {a} and {b} are {b - a} frames apart (> --max-gap {args.max_gap}): "
            "not interpolated"
            for a, b in skipped
        ],
    }
    if args.json:
        print_json(res)
        return 0
    print(
        f"{len(new.arcs)} arcs interpolated on {len(filled)} frames between "
        f"{len(gaps)} keyframe pair(s); written to {args.out}"
    )
    for w in res["warnings"]:
        print(f"warning: {w}")
    return 0


def _propose_frames(args: argparse.Namespace) -> int:
    from .._progress import run_steps
    from ..ivus.active import iter_frame_uncertainty, propose_frames
    from ..ivus.arcs import load_arcs
    from ..ivus.detector import load_aline_detector

    if args.n < 1:
        raise CLIError(f"--n must be at least 1 (got {args.n})")
    if args.spread is not None and args.spread < 1:
        raise CLIError(f"--spread must be at least 1 frame (got {args.spread})")
    pb = _read_pullback(args.pullback)
    arcs = load_arcs(args.arcs, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
    det = load_aline_detector(args.model)
    annotated = sorted({a.frame for a in arcs.arcs})
    u, kind = run_steps(
        iter_frame_uncertainty(det, pb, arcs.centers_array(), "calcium"),
        stderr_progress("propose-frames", pb.n_frames),
    )
    frames = propose_frames(u, args.n, annotated, args.spread)
    warnings = []
    if not annotated:
        warnings.append(f"{args.arcs}: holds no arc; every frame counts as not annotated")
    if len(frames) < args.n:
        warnings.append(
            f"only {len(frames)} frames could be proposed (annotated frames and spacing leave "
            "no more)"
        )
    res = {
        "pullback": str(args.pullback),
        "arcs": str(args.arcs),
        "model": str(args.model),
        "frames": frames,
        "uncertainty": [round(float(u[f]), 4) for f in frames],
        "uncertainty_kind": kind,
        "n_annotated_frames": len(annotated),
        "n_frames": int(pb.n_frames),
        "warnings": warnings,
    }
    if args.json:
        print_json(res)
        return 0
    print(" ".join(str(f) for f in frames))
    import sys

    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def register(sub) -> None:
    """Add the IVUS subcommands to the napari-plaque parser."""
    from ..ivus.active import ACTIVE_DEFAULTS
    from ..ivus.keyframes import DEFAULT_MAX_GAP

    p = sub.add_parser(
        "propose-frames",
        help="active learning: the frames to annotate next (most uncertain, spread out)",
        description="Scores every frame with the model (SVM: A-lines near the decision "
        "boundary; deep model: entropy of the A-line probabilities) and prints the most "
        "uncertain frames, never a frame that holds arcs in ARCS and never two frames within "
        "--spread of each other.",
    )
    p.add_argument("pullback", metavar="PULLBACK", help="IVUS multi-frame DICOM")
    p.add_argument("--arcs", required=True, help="arcs JSON of the frames annotated so far")
    p.add_argument("--model", required=True, help="A-line model: SVM .npz or deep .pt")
    p.add_argument("--n", type=int, default=ACTIVE_DEFAULTS["n"], help="frames to propose")
    p.add_argument(
        "--spread",
        type=int,
        default=None,
        metavar="FRAMES",
        help="proposed frames are more than this apart (default: from the pullback, at least 1)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
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
        default=DEFAULT_MAX_GAP,
        metavar="FRAMES",
        help="keyframes further apart are left alone",
    )
    q.add_argument(
        "--overwrite", action="store_true", help="allow --out to be the input file (replaced)"
    )
    q.add_argument("--json", action="store_true", help="print JSON")
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
    p.add_argument("--n-alines", type=int, default=360, help="A-lines per frame (default 360)")
    p.add_argument("--frames", default=None, help="analysed frame range START:STOP (default all)")
    p.add_argument("--json", action="store_true", help="print JSON")
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
    p.add_argument("--n-alines", type=int, default=360, help="A-lines per frame (default 360)")
    p.add_argument("--depth-samples", type=int, default=256, help="samples per A-line")
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
    p.add_argument("--class", dest="cls", default="calcium", help="class to detect")
    p.add_argument("--C", type=float, default=0.1, help="SVM regularisation (default 0.1)")
    p.add_argument("--folds", type=int, default=5, help="CV folds (grouped by pullback)")
    p.add_argument("--max-samples", type=int, default=300_000, help="A-lines per fit")
    p.add_argument("--json", action="store_true", help="print the CV report as JSON")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "predict-arcs",
        help="detect calcium arcs on a pullback with a trained SVM",
        description="Writes the predicted arcs (napari-plaque/arcs JSON) and prints the ICS.",
    )
    p.add_argument("pullbacks", nargs="*", metavar="PULLBACK", help="IVUS multi-frame DICOM(s)")
    p.add_argument("--model", required=True, help="model file from train-svm")
    p.add_argument(
        "--center",
        choices=("catheter", "lumen"),
        default="catheter",
        help="centre of the A-lines and arcs: the catheter (image centre, default) or the "
        "estimated lumen centre of each frame",
    )
    p.add_argument(
        "--out",
        required=True,
        help="arcs JSON to write; with several pullbacks a folder (<study>.arcs.json each)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    _cohort_arguments(p, ("out",), ("--table",))
    p.set_defaults(func=_predict)
