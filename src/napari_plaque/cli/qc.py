"""`napari-plaque qc` and `napari-plaque agreement`: segmentation QC and cohort agreement."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ._common import print_json, stderr_progress


def register(sub) -> None:
    """Add the ``qc`` and ``agreement`` subcommands to the napari-plaque parser."""
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
    p.add_argument("--worst", type=int, default=10, help="number of worst slices listed (10)")
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
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
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
        choices=("absolute", "log", "percent"),
        default="absolute",
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
        choices=("cacdrs", "cac3"),
        help="also compare risk categories: cacdrs (A0-A3) or cac3 (0/1-99/100-399/>=400)",
    )
    a.add_argument("--out", help="also write the JSON result to this file")
    a.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    a.set_defaults(func=run_agreement)


def _finite_or_none(obj: Any) -> Any:
    """Replace inf/NaN floats by None (JSON null), recursively; numpy arrays to lists."""
    if isinstance(obj, dict):
        return {str(k): _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite_or_none(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _emit(result: dict[str, Any], args) -> None:
    clean = _finite_or_none(result)
    if args.out:
        from ..io.atomic import atomic_write_json

        atomic_write_json(args.out, clean)
    if args.json:
        print_json(clean)


def _spacing_for(args, shape: tuple[int, ...]) -> tuple[tuple[float, ...], str]:
    from ..io import read_image, read_nifti
    from ..io.detect import Format, detect

    if args.spacing:
        if len(shape) != 3:
            raise ValueError(f"--spacing gives 3 values but the label maps are {len(shape)}D")
        return tuple(args.spacing), "--spacing"
    if args.image:
        vol = read_image(args.image)
        if tuple(vol.shape) != tuple(shape):
            raise ValueError(
                f"{args.image}: image shape {tuple(vol.shape)} does not match the label maps "
                f"{tuple(shape)}"
            )
        return tuple(vol.spacing_mm), "image"
    for path in (args.ref, args.pred):
        if detect(path) is Format.NIFTI:
            return tuple(read_nifti(path).spacing_mm), f"NIfTI header of {Path(path).name}"
    print(
        "napari-plaque: warning: no spacing known (no --spacing, --image or NIfTI input); "
        "using 1 mm, so volumes and distances are in voxel units",
        file=sys.stderr,
    )
    return (1.0,) * len(shape), "assumed 1 mm"


def _qc_compute(args, progress: bool = True) -> dict[str, Any]:
    """QC of one PRED/REF pair (``args.pred``, ``args.ref``): the result dict."""
    from .._progress import run_steps
    from ..io import read_labels
    from ..qc import aline_agreement, iter_qc_metrics, qc_steps

    pred = read_labels(args.pred)
    ref = read_labels(args.ref)
    if pred.shape != ref.shape:
        raise ValueError(
            f"{args.pred}: shape {tuple(pred.shape)} does not match {args.ref} {tuple(ref.shape)}"
        )
    if args.alines:
        if pred.ndim != 2:
            raise ValueError(
                f"{args.pred}: --alines needs (frames, A-lines) arrays, got {pred.shape}"
            )
        res = aline_agreement(ref != 0, pred != 0, n_worst=args.worst)
        res.pop("per_frame_disagree_deg")
        return res
    if pred.ndim != 3:
        raise ValueError(f"{args.pred}: QC needs 3D label maps, got shape {tuple(pred.shape)}")
    spacing, source = _spacing_for(args, pred.shape)
    total = qc_steps(pred, ref, args.labels)
    res = run_steps(
        iter_qc_metrics(pred, ref, spacing, labels=args.labels, n_worst=args.worst),
        stderr_progress("qc", total) if progress else None,
    )
    per_slice = res.pop("per_slice")
    res["spacing_source"] = source
    res["slices_with_disagreement"] = int(np.count_nonzero(per_slice["disagree"]))
    res["pred"] = str(args.pred)
    res["ref"] = str(args.ref)
    return res


def run_qc(args) -> int:
    pairs = _qc_studies(args)
    cohort_opts = args.table or args.resume or args.workers > 1 or args.scheduler
    if args.manifest or len(pairs) != 1 or cohort_opts:
        return _run_qc_cohort(args, pairs)
    args.pred, args.ref = str(pairs[0].path), pairs[0].inputs["ref"]
    res = _qc_compute(args)
    _emit(res, args)
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
    from ..cohort.cli import study_args
    from . import CLIError

    a = study_args(params, study)
    if not getattr(a, "ref", None):
        raise CLIError(f"{study.path}: no reference label map (a 'ref' manifest column)")
    a.pred = str(study.path)
    res = _finite_or_none(_qc_compute(a, progress=False))
    if a.alines:
        row = {k: v for k, v in res.items() if not isinstance(v, (list, dict))}
        return res, [row]
    common = {
        "spacing_mm": res.get("spacing_mm"),
        "spacing_source": res.get("spacing_source"),
        "slices_with_disagreement": res.get("slices_with_disagreement"),
    }
    rows = [
        {
            "label": int(lab),
            **{k: v for k, v in m.items() if not isinstance(v, (list, dict))},
            **common,
        }
        for lab, m in res["labels"].items()
    ]
    res.pop("pred", None)
    res.pop("ref", None)
    return res, rows


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

        write_json(args.out, [_finite_or_none(r) for r in result.reports])
    return emit(args, result, json_reports=True)


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-" if v is None or math.isnan(v) else "inf"
    return f"{v:.{nd}f}" if isinstance(v, float) else str(v)


def _print_table(res: dict[str, Any]) -> None:
    print(f"spacing (mm): {res['spacing_mm']} ({res['spacing_source']})")
    head = (
        "label",
        "dice",
        "jaccard",
        "vol_pred",
        "vol_ref",
        "vol_diff%",
        "hd95",
        "assd",
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


def _read_readers(path: str, cols: list[str], id_col: str | None) -> dict[str, Any]:
    """k numeric columns of a CSV; rows with an empty value in any of them skipped, counted."""
    from ..fusion.stats import Table
    from . import CLIError

    t = Table.read_csv(path)
    for c in cols + ([id_col] if id_col else []):
        if c not in t.columns:
            raise CLIError(f"{path}: no column {c!r}; columns are {', '.join(t.names)}")
    y = np.column_stack([t.numeric(c) for c in cols])  # names the column and row of text
    ok = np.all(np.isfinite(y), axis=1)
    ids = t.columns[id_col or t.names[0]]
    return {"y": y[ok], "ids": [ids[i] for i in np.flatnonzero(ok)], "skipped": int((~ok).sum())}


def _run_readers(args) -> int:
    from ..qc.agreement import reader_agreement
    from . import CLIError

    cols = [c.strip() for c in args.readers.split(",") if c.strip()]
    if len(cols) < 2:
        raise CLIError(f"--readers needs two or more columns, got {args.readers!r}")
    if args.col_a or args.col_b or args.b_table:
        raise CLIError("give either --readers or --a/--b (with --b-table), not both")
    data = _read_readers(args.table, cols, args.col_id)
    if data["y"].shape[0] < 2:
        raise CLIError(f"{args.table}: fewer than 2 rows with all of {', '.join(cols)}")
    res = reader_agreement(
        data["y"], cols, categories=args.categories, reference=args.reference,
        ba_scale=args.ba_scale,
    )  # fmt: skip
    res.update(table=str(args.table), skipped_rows=data["skipped"], cases=data["ids"])
    if data["skipped"]:
        print(
            f"napari-plaque: warning: {data['skipped']} row(s) of {args.table} skipped "
            "(empty value in a reader column)",
            file=sys.stderr,
        )
    _emit(res, args)
    if args.json:
        return 0
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
    return 0


def _ba_line(ba: dict[str, Any], a: str, b: str) -> str:
    if ba["scale"] == "log":
        return (f"Bland-Altman {a} / {b} (log): ratio {ba['ratio_bias']:.3f}, "
                f"LoA [{ba['ratio_loa_low']:.3f}, {ba['ratio_loa_high']:.3f}]")  # fmt: skip
    unit = " %" if ba["scale"] == "percent" else ""
    what = f"100 ({a} - {b}) / mean" if ba["scale"] == "percent" else f"{a} - {b}"
    return (f"Bland-Altman ({what}): bias {ba['bias']:.3f}{unit}, "
            f"LoA [{ba['loa_low']:.3f}, {ba['loa_high']:.3f}]{unit}")  # fmt: skip


def run_agreement(args) -> int:
    from ..qc import agreement
    from ..qc.cohort import read_joined_pairs, read_pairs
    from . import CLIError

    if args.readers:
        return _run_readers(args)
    if not (args.col_a and args.col_b):
        raise CLIError("give --a COL and --b COL (two columns) or --readers COL,COL,...")
    if args.reference:
        raise CLIError("--reference applies to --readers")
    if args.b_table:
        pairs = read_joined_pairs(
            args.table, args.col_a, args.b_table, args.col_b, id_col=args.col_id or "study"
        )
        if pairs["unmatched"]:
            print(
                f"napari-plaque: warning: {pairs['unmatched']} case(s) found in only one table",
                file=sys.stderr,
            )
    else:
        pairs = read_pairs(args.table, args.col_a, args.col_b, id_col=args.col_id)
    res = agreement(pairs["a"], pairs["b"], categories=args.categories, ba_scale=args.ba_scale)
    res.update(
        table=str(args.table),
        a=args.col_a,
        b=args.col_b,
        skipped_rows=pairs["skipped"],
        cases=list(pairs["ids"]),
    )
    if args.b_table:
        res.update(table_b=str(args.b_table), unmatched_cases=pairs["unmatched"])
    if pairs["skipped"]:
        print(
            f"napari-plaque: warning: {pairs['skipped']} row(s) of {args.table} skipped "
            "(empty value)",
            file=sys.stderr,
        )
    _emit(res, args)
    if not args.json:
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
