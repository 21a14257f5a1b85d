"""Subcommands: IVUS lumen / EEM borders and vessel measurements (``ivus-vessel``)."""

from __future__ import annotations

import argparse

from . import CLIError
from ._common import add_json_option, print_json, stderr_progress


def register(sub) -> None:
    from ..ivus.borders import BORDER_DEFAULTS
    from ..ivus.vessel_measure import MEASURE_DEFAULTS

    p = sub.add_parser(
        "ivus-vessel",
        help="lumen / EEM borders, plaque burden, MLA and atheroma volume of an IVUS pullback",
        description=(
            "Detect lumen and external elastic membrane borders on every frame of an IVUS "
            "pullback (multi-frame DICOM, folder of frames, multi-page TIFF or NIfTI) and "
            "measure lumen / EEM area, plaque burden, lumen diameters; MLA, maximal burden, "
            "total atheroma volume and segments of high burden over the pullback."
        ),
    )
    p.add_argument("pullback", nargs="*", metavar="PULLBACK",
                   help="pullback(s); several, or --manifest, make a cohort (docs/cohort.md)")
    p.add_argument("--pixel-mm", type=float, default=None,
                   help="pixel size in mm (overrides the file; assumed and flagged if absent)")
    p.add_argument("--frame-rate", type=float, default=None, help="frames per second")
    p.add_argument("--pullback-mm-s", type=float, default=None, help="pullback speed (mm/s)")
    p.add_argument("--gated", action="store_true",
                   help="measure end-diastolic frames only (image-based gating)")
    p.add_argument("--burden-threshold", type=float,
                   default=MEASURE_DEFAULTS["burden_threshold_pct"],
                   help="plaque burden (%%) from which frames form reported segments")
    p.add_argument("--no-mask", action="store_true",
                   help="frame sequences: keep content outside the imaging field (default: "
                   "burnt-in text and colour rings are masked)")
    p.add_argument("--contours-in", metavar="CSV", default=None,
                   help="use these contours (frame,contour,x_mm,y_mm) instead of detecting "
                   "(frames missing from the CSV are detected)")
    p.add_argument("--contours-out", metavar="CSV", default=None,
                   help="write the contours as CSV (frame,contour,x_mm,y_mm)")
    p.add_argument("--csv", metavar="CSV", default=None, help="write the per-frame table")
    p.add_argument("--save-borders", action="store_true",
                   help="write <PULLBACK>.borders.json beside the pullback (the dock opens it)")
    for key in ("n_alines", "depth_samples", "catheter_mm", "min_wall_mm", "frame_window"):
        p.add_argument(f"--{key.replace('_', '-')}", type=type(BORDER_DEFAULTS[key]),
                       default=BORDER_DEFAULTS[key], help=f"border detection: {key}")
    add_json_option(p, "print the JSON report")
    from ..cohort.cli import add_cohort_arguments

    add_cohort_arguments(p, table_flags=("--out", "--table"), study_columns=("contours_in",))
    p.set_defaults(func=_run)


def _run_single(args: argparse.Namespace) -> int:
    from .._progress import run_steps
    from ..io.frames import read_ivus
    from ..ivus.vessel_files import (
        borders_path,
        export_contours_csv,
        import_contours_csv,
        save_borders,
    )
    from ..ivus.vessel_measure import iter_analyse_pullback
    from ..report import write_csv

    pb = read_ivus(args.pullback, args.pixel_mm, args.frame_rate, args.pullback_mm_s,
                   mask=None if args.no_mask else "auto")
    params = {k: getattr(args, k) for k in
              ("n_alines", "depth_samples", "catheter_mm", "min_wall_mm", "frame_window")}
    borders = None
    if args.contours_in:
        from ..ivus.borders import detect_borders

        det = detect_borders(pb.frames, pb.pixel_spacing_mm, **params)
        borders, got = import_contours_csv(args.contours_in, det)
        if not got:
            raise CLIError(f"{args.contours_in}: no contours in the file")
    cb = None if getattr(args, "_return_result", False) else stderr_progress("borders", pb.n_frames)
    report, borders = run_steps(
        iter_analyse_pullback(pb, args.gated, borders, args.burden_threshold, **params), cb
    )
    if args.contours_out:
        export_contours_csv(args.contours_out, borders)
    if args.csv:
        write_csv(args.csv, report["frames"])
    if args.save_borders:
        save_borders(borders_path(pb.source), borders, pb.frame_shape, source=pb.source)
    if getattr(args, "_return_result", False):  # a pullback of a cohort (_cohort_task)
        return report
    if args.json:
        print_json(report)
        return 0
    s = report["summary"]
    flag = f"  (assumed: {', '.join(report['assumed'])})" if report["assumed"] else ""
    print(f"{report['n_frames']} frames, {report['mm_per_frame']:.3f} mm/frame{flag}")
    if report["gating"]:
        g = report["gating"]
        print(f"gated: {len(g['frames'])} end-diastolic frames, {g['heart_rate_bpm']:.0f} bpm, "
              f"confidence {g['confidence']:.2f}")
    if s.get("mla_mm2") is None:
        for n in report["notes"]:  # the reason is a note ("no frame could be measured: ...")
            print(f"note: {n}")
        return 0
    print(f"MLA {s['mla_mm2']:.2f} mm2 at frame {s['mla_frame']} ({s['mla_position_mm']:.1f} mm)")
    print(f"max plaque burden {s['max_plaque_burden_pct']:.1f} % at frame "
          f"{s['max_plaque_burden_frame']}")
    print(f"total atheroma volume {s['total_atheroma_volume_mm3']:.1f} mm3, "
          f"PAV {s['percent_atheroma_volume_pct']:.1f} %")
    print(f"burden >= {s['burden_threshold_pct']:g} %: {len(s['burden_segments'])} segment(s), "
          f"{s['burden_segments_length_mm']:.1f} mm")
    for n in report["notes"]:
        print(f"note: {n}")
    return 0


# ------------------------------------------------------------------- cohorts (napari_plaque.cohort)
#: per-study output options: in a cohort each is a folder holding <study><suffix>
_COHORT_OUTPUTS = {"contours_out": ".contours.csv", "csv": ".frames.csv"}


def _run(args: argparse.Namespace) -> int:
    """One pullback as before; several / --manifest run through the cohort runner (one row per
    pullback: the summary; --contours-out and --csv are then folders)."""
    from ..cohort.cli import is_cohort, params_from_args, run_command, studies_from_args

    studies = studies_from_args(args, args.pullback, expand_folders=False)
    if not is_cohort(args, len(studies)) and not args.table:
        args.pullback = str(studies[0].path)
        return _run_single(args)
    params = params_from_args(args, exclude=("pullback",))
    return run_command(args, _cohort_task, studies, params, json_reports=True)


def _cohort_task(study, params: dict):
    """One pullback of an ``ivus-vessel`` cohort (runs on a cohort worker)."""
    from ..cohort.cli import study_args, study_output

    a = study_args(params, study)
    a.pullback, a.json, a._return_result = str(study.path), False, True
    for key, suffix in _COHORT_OUTPUTS.items():  # inside the folder, never over another file
        if getattr(a, key, None):
            setattr(a, key, str(study_output(a, getattr(a, key), study, suffix)))
    report = _run_single(a)
    row = {
        "n_frames": report["n_frames"],
        "mm_per_frame": report["mm_per_frame"],
        "gated": bool(report.get("gating")),
        "assumed": report["assumed"],
    }
    row.update((k, v) for k, v in report["summary"].items() if not isinstance(v, (list, dict)))
    row["n_burden_segments"] = len(report["summary"].get("burden_segments") or [])
    return report, [row]
