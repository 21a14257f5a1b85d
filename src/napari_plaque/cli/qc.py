"""`napari-plaque qc` and `napari-plaque agreement`: segmentation QC and cohort agreement."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from ._common import add_json_option, print_json, stderr_progress


def register(sub) -> None:
    """Add the ``qc`` and ``agreement`` subcommands to the napari-plaque parser."""
    from ..api.quality import BA_SCALES, CATEGORY_SCHEMES, QC_DEFAULTS

    p = sub.add_parser(
        "qc",
        help="compare an automated label map with a reference (Dice, HD95, lesions, worst slices)",
        description=(
            "Per-label Dice, Jaccard, volumes, sensitivity, precision, HD95 and ASSD (mm), "
            "lesion detection (orCaScore-style TP/FP/FN) and the slices with most disagreement. "
            "Spacing comes from --spacing, else --image, else the NIfTI header of REF, else 1 mm "
            "(with a warning). With --alines, PRED and REF are IVUS per-A-line calcium labels "
            "(frames, A-lines) and the per-A-line agreement and ICS are reported."
        ),
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="PRED REF",
        help="automated and reference label maps (.npy or NIfTI); several pairs, or a PRED "
        "folder and a REF folder (files matched by name), make a cohort",
    )
    p.add_argument("--image", help="the image (DICOM folder/file or NIfTI) giving the spacing")
    p.add_argument(
        "--spacing",
        type=float,
        nargs=3,
        metavar=("DZ", "DY", "DX"),
        help="voxel spacing in mm (slice, row, column); overrides --image and the NIfTI header",
    )
    p.add_argument("--labels", type=int, nargs="+", help="label values to evaluate (default: all)")
    p.add_argument("--worst", type=int, default=QC_DEFAULTS["worst"],
                   help="number of worst slices listed")
    p.add_argument(
        "--alines",
        action="store_true",
        help="PRED/REF are (frames, A-lines) IVUS calcium labels: per-A-line agreement and ICS",
    )
    p.add_argument(
        "--out",
        help="also write the JSON result to this file (a cohort: .json for the results, "
        ".csv/.parquet for the table)",
    )
    add_json_option(p, "print JSON instead of a table")
    from ..cohort.cli import add_cohort_arguments

    add_cohort_arguments(p, study_columns=("ref", "image"))
    p.set_defaults(func=run_qc)

    a = sub.add_parser(
        "agreement",
        help="cohort agreement of two columns of a CSV (ICC, Bland-Altman, kappa, correlations)",
        description=(
            "ICC(2,1) absolute agreement with 95 % CI, Bland-Altman bias and limits (A - B), "
            "Pearson/Spearman and, with --categories, the linearly weighted kappa of the "
            "CAC-DRS (0/1-99/100-299/>=300) or 0/100/400 categories. Rows with an empty value "
            "in either column are skipped and counted."
        ),
    )
    a.add_argument("table", help="CSV file with a header row, one row per case")
    a.add_argument("--a", dest="col_a", help="column of method/reader A")
    a.add_argument("--b", dest="col_b", help="column of method/reader B")
    a.add_argument(
        "--readers",
        metavar="COL,COL,...",
        help="instead of --a/--b: two or more reader/method columns: ICC(2,1), ICC(3,1), "
        "ICC(2,k), Bland-Altman of each against --reference, Fleiss' kappa with --categories",
    )
    a.add_argument(
        "--reference",
        metavar="COL",
        help="with --readers: the column the others are compared to (default: the first)",
    )
    a.add_argument(
        "--ba-scale",
        choices=BA_SCALES,
        default=QC_DEFAULTS["ba_scale"],
        help="Bland-Altman differences: a - b, ln a - ln b (ratios), or 100 (a - b) / mean",
    )
    a.add_argument(
        "--b-table",
        metavar="CSV",
        help="take column B from this second CSV (e.g. another batch-scoring run), joined on --id",
    )
    a.add_argument(
        "--id",
        dest="col_id",
        help="column with the case id (default: first column; 'study' with --b-table)",
    )
    a.add_argument(
        "--categories",
        choices=CATEGORY_SCHEMES,
        help="also compare risk categories: cacdrs (A0-A3) or cac3 (0/1-99/100-399/>=400)",
    )
    a.add_argument("--out", help="also write the JSON result to this file")
    add_json_option(a, "print JSON instead of a summary")
    a.set_defaults(func=run_agreement)


def _emit(res, args) -> None:
    """Write / print an api result (its warnings on stderr first)."""
    for w in res.warnings:
        print(f"napari-plaque: warning: {w}", file=sys.stderr)
    clean = res.to_dict()
    if args.out:
        from ..io.atomic import atomic_write_json

        atomic_write_json(args.out, clean)
    if args.json:
        print_json(clean)


def _qc(pred, ref, args, progress: bool = True):
    from ..api import options_from
    from ..api.quality import qc

    return qc(pred, ref, **options_from(qc, args, progress=stderr_progress if progress else None))


def run_qc(args) -> int:
    pairs = _qc_studies(args)
    cohort_opts = args.table or args.resume or args.workers > 1 or args.scheduler
    if args.manifest or len(pairs) != 1 or cohort_opts:
        return _run_qc_cohort(args, pairs)
    result = _qc(str(pairs[0].path), pairs[0].inputs["ref"], args)
    _emit(result, args)
    res = result.to_dict()
    if args.alines:
        if not args.json:
            print(
                f"A-lines: accuracy {res['accuracy']:.3f}  precision {res['precision']:.3f}  "
                f"recall {res['recall']:.3f}  kappa {res['kappa']:.3f}\n"
                f"ICS pred {res['ics_other']:.1f}  ref {res['ics_reference']:.1f}"
            )
            for w in res["worst_frames"]:
                print(
                    f"frame {w['index']:5d}: {w['disagree_alines']} A-lines ({w['disagree_deg']:.1f} deg)"
                )
        return 0
    if not args.json:
        _print_table(res)
    return 0


def _qc_studies(args) -> list:
    """PRED REF pairs (files, or a PRED folder and a REF folder matched by study name) and/or
    the --manifest (path = PRED, ref = REF, optional image)."""
    from ..cohort import Study
    from ..cohort.cli import studies_from_args
    from . import CLIError

    items = list(args.inputs or [])
    studies: list = []
    if len(items) == 2 and all(Path(x).is_dir() for x in items):
        pdir, rdir = (Path(x) for x in items)
        preds = sorted(c for c in pdir.iterdir() if c.is_file() and not c.name.startswith("."))
        refs = {_label_stem(c): c for c in rdir.iterdir() if c.is_file()}
        for c in preds:
            sid = _label_stem(c)
            ref = refs.get(sid, rdir / c.name)  # a missing reference: that study's error row
            studies.append(Study(sid, c, {"ref": str(ref)}))
        if not studies:
            raise CLIError(f"{pdir}: no label files")
    elif items:
        if len(items) % 2:
            raise CLIError("qc needs PRED REF pairs (an even number of paths), or two folders")
        for pred, ref in zip(items[::2], items[1::2], strict=True):
            studies.append(Study(_label_stem(pred), Path(pred), {"ref": ref}))
    if args.manifest:
        studies += studies_from_args(args, None)
    if not studies:
        raise CLIError("qc needs PRED REF (label maps), two folders, or --manifest CSV")
    return studies


def _label_stem(path) -> str:
    """``P001`` for P001.npy, P001.nii.gz, P001.labels.nii.gz or P001_labels.npy."""
    from ..cohort import study_name

    name = study_name(path)
    for suffix in (".npy", ".labels", "_labels", ".label", "_label", ".seg", "_seg"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
    return name


def _qc_task(study, params: dict) -> tuple[dict, list[dict]]:
    """One PRED/REF pair of ``qc`` (runs on a cohort worker): one row per label."""
    from ..api import study_options
    from ..api.quality import qc
    from . import CLIError

    opts = study_options(qc, params, study, progress=None)
    ref = study.input_path("ref")
    if ref is None:
        raise CLIError(f"{study.path}: no reference label map (a 'ref' manifest column)")
    res = qc(str(study.path), str(ref), **opts)
    for w in res.warnings:
        print(f"napari-plaque: warning: {w}", file=sys.stderr)
    report = dict(res.to_dict())
    if not opts.get("alines"):
        report.pop("pred", None)
        report.pop("ref", None)
    return report, res.to_rows()


def _run_qc_cohort(args, studies) -> int:
    from ..cohort.cli import emit, params_from_args, run_from_args

    if args.out and not str(args.out).lower().endswith(".json") and not args.table:
        args.table = args.out  # --out cohort.csv / .parquet: the table
        args.out = None
    params = params_from_args(args, exclude=("inputs", "out", "pred", "ref"))
    keep = bool(args.out or args.json)  # the full results travel back only when printed
    result = run_from_args(args, _qc_task, studies, params, keep_reports=keep)
    if args.out:
        from ..report import write_json

        write_json(args.out, list(result.reports))
    return emit(args, result, json_reports=True)


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-" if v is None or math.isnan(v) else "inf"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _print_table(res: dict[str, Any]) -> None:
    print(f"spacing (mm): {res['spacing_mm']} ({res['spacing_source']})")
    head = (
        "label",
        "Dice",
        "Jaccard",
        "pred mm³",
        "ref mm³",
        "vol diff %",
        "HD95 mm",
        "ASSD mm",
        "TP/FP/FN lesions",
    )
    print("  ".join(f"{h:>10}" for h in head))
    for lab, m in res["labels"].items():
        row = (
            str(lab),
            _fmt(m["dice"]),
            _fmt(m["jaccard"]),
            _fmt(m["volume_pred_mm3"], 1),
            _fmt(m["volume_ref_mm3"], 1),
            _fmt(m["volume_diff_pct"], 1),
            _fmt(m["hd95_mm"], 2),
            _fmt(m["assd_mm"], 2),
            f"{m['lesion_tp']}/{m['lesion_fp']}/{m['lesion_fn']}",
        )
        print("  ".join(f"{c:>10}" for c in row))
    if res["worst_slices"]:
        print("worst slices (index: disagreeing voxels, FP/FN):")
        for w in res["worst_slices"]:
            print(f"  {w['index']:5d}: {w['disagree_voxels']} ({w['fp_voxels']}/{w['fn_voxels']})")


def _ba_line(ba: dict[str, Any], a: str, b: str) -> str:
    if ba["scale"] == "log":
        return (f"Bland-Altman {a} / {b} (log): ratio {ba['ratio_bias']:.3f}, "
                f"LoA [{ba['ratio_loa_low']:.3f}, {ba['ratio_loa_high']:.3f}]")  # fmt: skip
    unit = " %" if ba["scale"] == "percent" else ""
    what = f"100 ({a} - {b}) / mean" if ba["scale"] == "percent" else f"{a} - {b}"
    return (f"Bland-Altman ({what}): bias {ba['bias']:.3f}{unit}, "
            f"LoA [{ba['loa_low']:.3f}, {ba['loa_high']:.3f}]{unit}")  # fmt: skip


def run_agreement(args) -> int:
    from ..api import options_from
    from ..api.quality import agreement

    result = agreement(args.table, **options_from(agreement, args))
    _emit(result, args)
    if args.json:
        return 0
    res = result.to_dict()
    if args.readers:
        _print_readers(res)
        return 0
    icc, ba = res["icc"], res["bland_altman"]
    print(f"n = {res['n']}  ({args.col_a} vs {args.col_b})")
    print(f"ICC(2,1) = {icc['icc']:.3f}  95% CI [{icc['ci_low']:.3f}, {icc['ci_high']:.3f}]")
    print(_ba_line(ba, args.col_a, args.col_b))
    print(f"Pearson r = {_fmt(res['pearson_r'])}  Spearman rho = {_fmt(res['spearman_rho'])}")
    if "categories" in res:
        c = res["categories"]
        print(
            f"{c['scheme']}: weighted kappa (linear) = {_fmt(c['kappa_linear'])}, "
            f"same category {100 * c['agreement']:.1f} %"
        )
    return 0


def _print_readers(res: dict[str, Any]) -> None:
    cols = list(res["readers"]) if "readers" in res else []
    print(f"n = {res['n']}, {len(cols)} readers ({', '.join(cols)})")
    for form, r in res["icc"].items():
        print(f"ICC({form}) = {r['icc']:.3f}  95% CI [{r['ci_low']:.3f}, {r['ci_high']:.3f}]  "
              f"F = {r['f']:.2f} ({r['df1']}, {r['df2']}), p = {r['p']:.3g}")  # fmt: skip
    for name, ba in res["bland_altman"].items():
        print(_ba_line(ba, name, res["reference"]))
    if "categories" in res:
        fk = res["categories"]["fleiss_kappa"]
        print(f"{res['categories']['scheme']}: Fleiss kappa = {fk['kappa']:.3f} "
              f"[{_fmt(fk['ci_low'])}, {_fmt(fk['ci_high'])}] (bootstrap), z = {_fmt(fk['z'], 2)}")  # fmt: skip
