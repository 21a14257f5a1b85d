"""``napari-plaque vessel``: CCTA vessel analysis along a centreline.

PATH is a DICOM series folder (or file) or a NIfTI file. ``--centreline`` is a centreline JSON
file (``napari-plaque-centreline``, made by the widget or ``--centreline-out``) or the CSV a
napari Points layer saves (ordered points, ostium first; they are refined to the lumen centre).
Without ``--json`` one CSV row per lesion is printed (``--csv FILE`` writes it).
Everything is computed before any file is written; each file is written atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import CLIError
from ._common import add_json_option


def _fmt(v: Any) -> str:
    return ", ".join(str(x) for x in v) if isinstance(v, (tuple, list)) else str(v)


def register(sub) -> None:
    from ..ccta.centreline import CENTRELINE_DEFAULTS
    from ..ccta.vessel import VESSEL_DEFAULTS

    d = VESSEL_DEFAULTS
    p = sub.add_parser(
        "vessel",
        help="CCTA vessel analysis: contours, stenosis, remodeling, per-lesion composition",
        description=(
            "Lumen and outer-wall contours on cross-sections along a centreline, the profile "
            "along arc length s (s = 0 at the first centreline point), automatic reference "
            "segments, lesions (MLA, MLD, % diameter / area stenosis, remodeling index, plaque "
            "volume, lipid / fibrous / calcium volumes by HU ranges, calcium density, 1K flag, "
            "plaque burden). --json prints one object (length_mm, step_mm, profile, lesions, "
            "parameters); otherwise one CSV row per lesion."
        ),
    )
    p.add_argument("path", nargs="*", metavar="PATH",
                   help="CCTA: DICOM series folder/file or NIfTI (several, or --manifest: a "
                   "cohort, see docs/cohort.md)")
    p.add_argument(
        "--centreline",
        metavar="FILE",
        help="centreline JSON, a napari Points CSV (axis-0, axis-1, axis-2 = z, y, x mm), or a "
        "lumen / vessel label map (.npy or NIfTI, e.g. a model's output) to skeletonise",
    )
    p.add_argument("--label", type=int, default=None,
                   help="with a label map: the label of the vessel (default: any nonzero)")
    p.add_argument("--ostium", nargs=3, type=float, metavar=("Z", "Y", "X"),
                   help="with a label map: a world point (mm) near the ostium, so s = 0 there "
                   "(default: the end with the lower slice index)")
    p.add_argument("--name", default=None, help="vessel name (LM, LAD, LCX, RCA, ...); "
                   "default: the centreline file's name, else 'vessel'")
    p.add_argument("--step-mm", type=float, default=CENTRELINE_DEFAULTS["step_mm"],
                   help="cross-section step along the centreline (mm)")
    p.add_argument("--ranges", nargs="+", metavar="NAME=LO:HI",
                   help="composition HU ranges, e.g. lipid=-100:49 fibrous=50:149 "
                   "calcium=150:1300 (default: the composition defaults)")
    p.add_argument("--proximal-ref", nargs=2, type=float, metavar=("START", "END"),
                   help="proximal reference segment (mm along s) instead of the automatic one")
    p.add_argument("--distal-ref", nargs=2, type=float, metavar=("START", "END"),
                   help="distal reference segment (mm along s)")
    p.add_argument("--narrowing-min-pct", type=float, default=d["narrowing_min_pct"],
                   help="lesion: min lumen diameter this %% under the reference line")
    p.add_argument("--burden-min-pct", type=float, default=d["burden_min_pct"],
                   help="lesion: or plaque burden at least this %%")
    p.add_argument("--merge-gap-mm", type=float, default=d["merge_gap_mm"],
                   help="merge lesions closer than this")
    p.add_argument("--min-length-mm", type=float, default=d["min_length_mm"],
                   help="drop lesions shorter than this")
    p.add_argument("--wall-hu", type=float, default=d["wall_hu"], help="vessel wall HU level")
    p.add_argument("--fat-hu", type=float, default=d["fat_hu"], help="epicardial fat HU level")
    p.add_argument("--roi-out", metavar="MASK",
                   help="write the lesion plaque ROI (labels 1..K) on the CT grid (.npy or "
                   ".nii.gz); composition/CAC/QC read it")
    p.add_argument("--vessel-out", metavar="MASK",
                   help="write the vessel mask (1 lumen, 2 plaque/wall) on the CT grid")
    p.add_argument("--contours-out", metavar="FILE", help="write the contours (JSON)")
    p.add_argument("--centreline-out", metavar="FILE",
                   help="write the (refined) centreline (JSON)")
    p.add_argument("--csv", metavar="FILE", help="write the lesion CSV to FILE")
    p.add_argument("--sr", metavar="OUT.dcm",
                   help="also write a DICOM SR (TID 1500) on the DICOM series")
    add_json_option(p, "print the full JSON report")
    from ..cohort.cli import add_cohort_arguments

    add_cohort_arguments(p, table_flags=("--out", "--table"), study_columns=("centreline",))
    p.set_defaults(func=_cmd_vessel)


def _vessel_single(args: argparse.Namespace):
    """One study: :func:`napari_plaque.api.vessel`, then print / write its rows."""
    import sys

    from ..api import options_from
    from ..api.ccta import vessel
    from ..report import print_json, rows_to_csv_text, write_csv
    from .ccta import parse_ranges

    ranges = parse_ranges(args.ranges)
    res = vessel(args.path, args.centreline,
                 **options_from(vessel, args, ranges=ranges, log=sys.stderr))
    if getattr(args, "_return_result", False):
        return res
    rows = res.to_rows()
    if args.json:
        print_json(res.to_dict())
        if args.csv:
            write_csv(args.csv, rows)
    elif args.csv:
        write_csv(args.csv, rows)
    else:
        text = rows_to_csv_text(rows) if rows else "vessel,index\n"
        sys.stdout.write(text)
    return 0


# ------------------------------------------------------------------- cohorts (napari_plaque.cohort)
#: per-study output options: in a cohort each is a folder holding <study><suffix>
_COHORT_OUTPUTS = {
    "roi_out": ".roi.nii.gz",
    "vessel_out": ".vessel.nii.gz",
    "contours_out": ".contours.json",
    "centreline_out": ".centreline.json",
    "sr": ".sr.dcm",
}


def _cmd_vessel(args: argparse.Namespace) -> int:
    """One study as before; several PATHs / --manifest run through the cohort runner (one
    CSV row per lesion and study; a study's own outputs go to <folder>/<study><suffix>)."""
    from ..cohort.cli import is_cohort, params_from_args, run_command, studies_from_args

    studies = studies_from_args(args, args.path, expand_folders=False)
    if not is_cohort(args, len(studies)) and not args.table:
        if not args.centreline:
            raise CLIError("vessel needs --centreline (or a --manifest centreline column)")
        args.path = str(studies[0].path)
        return _vessel_single(args)
    for st in studies:  # --centreline for a cohort: a folder with <study>.json / .csv
        if "centreline" not in st.inputs and args.centreline:
            folder = Path(args.centreline)
            cands = [folder / f"{st.study_id}{x}" for x in (".centreline.json", ".json", ".csv")]
            st.inputs["centreline"] = str(next((c for c in cands if c.exists()), cands[0]))
    params = params_from_args(args, exclude=("path", "centreline", "csv"))
    return run_command(args, _vessel_task, studies, params, json_reports=True)


def _vessel_task(study, params: dict):
    """One study of a ``vessel`` cohort (runs on a cohort worker): :func:`api.vessel` with the
    study's options (its outputs as ``<folder>/<study><suffix>``)."""
    from ..api import study_options
    from ..api.ccta import vessel
    from ..cohort.cli import study_output
    from .ccta import parse_ranges

    opts = study_options(vessel, params, study)
    given = study.input_path("centreline")
    centreline = str(given) if given is not None else None
    if not centreline:
        raise CLIError(f"{study.path}: no centreline (--centreline folder or manifest column)")
    opts["ranges"] = parse_ranges(params.get("ranges"))
    for key, suffix in _COHORT_OUTPUTS.items():  # never replaces a file unless --overwrite
        if opts.get(key):
            opts[key] = str(study_output(params, opts[key], study, suffix))
    res = vessel(str(study.path), centreline, **opts)
    return res.to_dict(), res.to_rows()
