"""Subcommands: IVUS lumen / EEM borders and vessel measurements (``ivus-vessel``)."""

from __future__ import annotations

import argparse

from ._common import add_json_option, print_json, stderr_progress


def register(sub) -> None:
    from ..ivus.defaults import BORDER_DEFAULTS, MEASURE_DEFAULTS

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
    from ..api import options_from
    from ..api.ivus import ivus_vessel

    res = ivus_vessel(args.pullback, **options_from(ivus_vessel, args, progress=stderr_progress))
    report = res.to_dict()
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
    """One pullback of an ``ivus-vessel`` cohort (runs on a cohort worker): :func:`api.ivus_vessel`
    with the study's options (its outputs as ``<folder>/<study><suffix>``)."""
    from ..api import study_options
    from ..api.ivus import ivus_vessel
    from ..cohort.cli import study_output

    opts = study_options(ivus_vessel, params, study)
    for key, suffix in _COHORT_OUTPUTS.items():  # inside the folder, never over another file
        if opts.get(key):
            opts[key] = str(study_output(params, opts[key], study, suffix))
    res = ivus_vessel(str(study.path), **opts)
    return res.to_dict(), res.to_rows()
