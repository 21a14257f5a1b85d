"""`napari-plaque` subcommands for IVUS: ics, export-alines, train-svm, predict-arcs."""

from __future__ import annotations

import argparse

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


def _ics(args: argparse.Namespace) -> int:
    from ..ivus import load_arcs, parse_frame_range

    pb = _read_pullback(args.pullback)
    arcset = load_arcs(args.arcs, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
    frames = parse_frame_range(args.frames, pb.n_frames)
    ca = _measure(pb, arcset, "calcium", args.n_alines, frames)
    att = _measure(pb, arcset, "attenuation", args.n_alines, frames)
    out = {
        "pullback": str(args.pullback),
        "arcs": str(args.arcs),
        "ics": ca["ics"],
        "positive_alines": ca["positive_alines"],
        "total_alines": ca["total_alines"],
        "n_alines": args.n_alines,
        "frame_range": ca["frame_range"],
        "mm_per_frame": pb.mm_per_frame,
        "assumed": sorted(pb.assumed),
        "max_arc_deg": ca["max_arc_deg"],
        "max_arc_frame": ca["max_arc_frame"],
        "calcium_length_mm": ca["length_mm"],
        "calcium_longest_segment_mm": ca["longest_segment_mm"],
        "calcium_arc_gt180_length_mm": ca["length_over_threshold_mm"],
        "calcium_arc_gt180_over_5mm": ca["arc_gt180_over_5mm"],
        "attenuation_max_arc_deg": att["max_arc_deg"],
        "attenuation_length_mm": att["length_mm"],
        "attenuation_arc_gt180_over_5mm": att["arc_gt180_over_5mm"],
    }
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
    from ..ivus import export_training_set, load_arcs

    if len(args.pullbacks) != len(args.arcs):
        raise CLIError(
            f"{len(args.pullbacks)} pullback(s) but {len(args.arcs)} arcs file(s): "
            "give one --arcs file per pullback, in the same order"
        )
    items = []
    total = 0
    for p, a in zip(args.pullbacks, args.arcs, strict=True):
        pb = _read_pullback(p)
        items.append((pb, load_arcs(a, n_frames=pb.n_frames, frame_shape=pb.frame_shape)))
        total += pb.n_frames
    out = export_training_set(
        items,
        args.out,
        n_alines=args.n_alines,
        depth_samples=args.depth_samples,
        depth_mm=args.depth_mm,
        progress=stderr_progress("export", total),
    )
    print(f"exported {len(items)} pullback(s), {total} frames, to {out}")
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


def _predict(args: argparse.Namespace) -> int:
    from ..ivus import arc_measurements, load_model, predict_pullback, save_arcs

    model = load_model(args.model)
    pb = _read_pullback(args.pullback)
    center = None
    if args.center == "lumen":
        from ..ivus import estimate_lumen_centers

        center = estimate_lumen_centers(pb.frames)
    labels, arcs = predict_pullback(
        model, pb, center=center, progress=stderr_progress("predict", pb.n_frames)
    )
    save_arcs(arcs, args.out)
    m = arc_measurements(labels, pb.mm_per_frame)
    out = {
        "pullback": str(args.pullback),
        "arcs": str(args.out),
        "class": model.meta.get("class", "calcium"),
        "ics": m["ics"],
        "positive_alines": m["positive_alines"],
        "total_alines": m["total_alines"],
        "max_arc_deg": m["max_arc_deg"],
        "calcium_length_mm": m["length_mm"],
        "n_arcs": len(arcs.arcs),
    }
    if args.json:
        print_json(out)
    else:
        print(
            f"predicted {out['n_arcs']} arcs; ICS {out['ics']:.1f}; max arc "
            f"{out['max_arc_deg']:.1f} deg; written to {args.out}"
        )
    return 0


def register(sub) -> None:
    """Add the IVUS subcommands to the napari-plaque parser."""
    p = sub.add_parser(
        "ics",
        help="IVUS calcium score and arc measurements from an arcs file",
        description="ICS = 1000 x calcium-positive A-lines / all A-lines over the frame range; "
        "also maximum arc, calcium length and the arc > 180 deg over > 5 mm flag.",
    )
    p.add_argument("pullback", help="IVUS multi-frame DICOM")
    p.add_argument("--arcs", required=True, help="arcs JSON (napari-plaque/arcs) of the pullback")
    p.add_argument("--n-alines", type=int, default=360, help="A-lines per frame (default 360)")
    p.add_argument("--frames", default=None, help="analysed frame range START:STOP (default all)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_ics)

    p = sub.add_parser(
        "export-alines",
        help="export an A-line training set (features + polar frames) from annotated pullbacks",
        description="One --arcs file per pullback, in the same order.",
    )
    p.add_argument("pullbacks", nargs="+", metavar="PULLBACK", help="IVUS multi-frame DICOM(s)")
    p.add_argument("--arcs", nargs="+", required=True, metavar="ARCS", help="arcs JSON files")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n-alines", type=int, default=360, help="A-lines per frame (default 360)")
    p.add_argument("--depth-samples", type=int, default=256, help="samples per A-line")
    p.add_argument("--depth-mm", type=float, default=None, help="A-line depth (mm)")
    p.set_defaults(func=_export)

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
    p.add_argument("pullback", help="IVUS multi-frame DICOM")
    p.add_argument("--model", required=True, help="model file from train-svm")
    p.add_argument(
        "--center",
        choices=("catheter", "lumen"),
        default="catheter",
        help="centre of the A-lines and arcs: the catheter (image centre, default) or the "
        "estimated lumen centre of each frame",
    )
    p.add_argument("--out", required=True, help="arcs JSON to write")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_predict)
