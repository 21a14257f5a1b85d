"""``napari-plaque cac`` and ``napari-plaque composition``: CCTA scores in batch.

Both take one or more PATHs (a DICOM series folder or file, a NIfTI file, or a folder of such
studies) and print one CSV row per study (``--csv FILE`` writes it atomically instead), or with
``--json`` the full report (one object for one study, a list for several). Masks are ``.npy``
(reader axis order) or NIfTI; a mask given as a *folder* holds one file per study, named by
the study id (``<study_id>.npy``, ``.nii.gz`` or ``.nii``; without a manifest: the file or
folder name).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..ccta.calcium import CALCIUM_DEFAULTS
from ..ccta.protocol import ACCEPTABLE, KV_MODES, KV_THRESHOLDS_HU
from . import CLIError
from ._common import add_json_option


def study_name(path: Path) -> str:
    """Study name: the file or folder name without a NIfTI extension (see cohort.study_name)."""
    from ..cohort import study_name as _name

    return _name(path)


def expand_studies(paths: list[str]) -> list[Path]:
    """Expand PATH arguments into studies (see :func:`napari_plaque.cohort.expand_paths`)."""
    from ..cohort import expand_paths

    try:
        return expand_paths(paths)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _run_batch(
    args, task: Callable[[Any, dict], tuple[dict[str, Any], list[dict[str, Any]]]]
) -> int:
    """Run ``task(study, params) -> (json_report, csv_rows)`` over the cohort of PATHs and/or
    --manifest with the one cohort runner (napari_plaque.cohort): in-process, on a local
    cluster (--workers) or a scheduler; table on stdout or --out/--csv FILE."""
    from ..cohort.cli import params_from_args, studies_from_args

    try:
        studies = studies_from_args(args, args.paths)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    from ..io.sr import check_sr_option

    check_sr_option(getattr(args, "sr", None), len(studies))
    from ..cohort.cli import emit, run_from_args

    cac = hasattr(args, "kv_threshold")
    keep = bool(getattr(args, "json", False)) or not cac  # composition: warnings in the report
    result = run_from_args(args, task, studies, params_from_args(args), keep_reports=keep)
    _print_warnings(result, from_report=not cac)
    return emit(args, result, json_reports=True)


def _print_warnings(result, from_report: bool = False) -> None:
    """One stderr line per warning of every study run: ``cac``'s protocol flags (also in the
    table and JSON), ``composition``'s (also in the JSON ``warnings``)."""
    import sys

    for o in result.outcomes:
        if not o.ok or o.resumed:
            continue
        if from_report:
            found = list((o.report or {}).get("warnings") or []) if isinstance(
                o.report, dict) else []
        else:
            found = [w for row in o.rows or [] for w in str(row.get("warnings") or "").split(" | ")]
        for w in found:
            if w:
                print(f"napari-plaque: {o.study_id}: warning: {w}", file=sys.stderr)


# --------------------------------------------------------------------------------------- cac
#: the lowest calcium threshold accepted (blood and soft tissue lie below; Agatston: 130 HU)
MIN_THRESHOLD_HU = 50.0


def _threshold_hu(text: str) -> float:
    import math

    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not math.isfinite(v) or v < MIN_THRESHOLD_HU:
        raise argparse.ArgumentTypeError(
            f"--threshold-hu {text}: must be a finite HU value of at least {MIN_THRESHOLD_HU:g} "
            "(blood and soft tissue lie below; Agatston is defined at 130 HU)"
        )
    return v


def _cac_task(study, params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One study of ``cac`` (runs on a cohort worker): :func:`napari_plaque.api.cac`."""
    from ..api import study_options
    from ..api.ccta import cac

    opts = study_options(cac, params, study, study_id=study.study_id)
    _sr_file(opts, params, study)
    res = cac(str(study.path), **opts)
    return res.to_dict(), res.to_rows()


def _sr_file(opts: dict[str, Any], params: dict[str, Any], study) -> None:
    """``--sr FOLDER``: this study's ``<FOLDER>/<study_id>.dcm``, never replacing a file this
    run did not write unless ``--overwrite`` (``--sr FILE.dcm`` for one study: as given)."""
    from pathlib import Path

    from ..cohort.cli import study_output

    sr = opts.get("sr")
    if sr and Path(sr).suffix.lower() != ".dcm":
        opts["sr"] = str(study_output(params, sr, study, ".dcm"))


def _cmd_cac(args: argparse.Namespace) -> int:
    from ..api import options_from
    from ..api.ccta import check_cac_options

    # the options' rules (one home: the api): exit 2 before any study runs
    check_cac_options(**options_from(check_cac_options, args))
    return _run_batch(args, _cac_task)


# ------------------------------------------------------------------------------- composition
def parse_ranges(items: list[str] | None) -> dict[str, tuple[float, float]] | None:
    """Parse ``lipid=-100:50 fibrous=50:150 calcium=150:1300`` (half-open) into a ranges
    dict."""
    if not items:
        return None
    from ..ccta import check_ranges

    out: dict[str, tuple[float, float]] = {}
    for item in items:
        try:
            name, span = item.split("=", 1)
            lo, hi = span.split(":", 1)
            out[name.strip()] = (float(lo), float(hi))
        except ValueError:
            raise CLIError(
                f"--ranges: cannot read {item!r}; write e.g. lipid=-100:50 calcium=150:1300"
            ) from None
    return check_ranges(out)


def _composition_task(study, params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One study of ``composition`` (runs on a cohort worker): :func:`napari_plaque.api.composition`."""
    from ..api import study_options
    from ..api.ccta import composition

    opts = study_options(composition, params, study, study_id=study.study_id)
    _sr_file(opts, params, study)
    opts["ranges"] = parse_ranges(params.get("ranges"))
    if not opts.get("roi"):
        raise CLIError(f"{study.path}: no plaque labels (--roi, or a 'roi' manifest column)")
    res = composition(str(study.path), **opts)
    return res.to_dict(), res.to_rows()


def _cmd_composition(args: argparse.Namespace) -> int:
    parse_ranges(args.ranges)  # bad ranges: exit 2 before any study runs
    if not args.roi and not args.manifest:
        raise CLIError("composition needs --roi (plaque labels) or a --manifest with a roi column")
    return _run_batch(args, _composition_task)


# ---------------------------------------------------------------------------------- register
def _cohort_arguments(p, columns: tuple[str, ...]) -> None:
    from ..cohort.cli import add_cohort_arguments

    add_cohort_arguments(p, table_flags=("--out", "--csv"), study_columns=columns)


def _calcium_option(p, flag: str, key: str, kind, text: str) -> None:
    """An option defaulted from :data:`CALCIUM_DEFAULTS` ``[key]``; its help says the default."""
    value = CALCIUM_DEFAULTS[key]
    p.add_argument(flag, type=kind, default=value, help=f"{text} (default {value:g})")


def _report_options(p) -> None:
    """``--json`` and ``--sr`` of ``cac`` and ``composition``."""
    add_json_option(p, "print the full JSON report instead of CSV")
    p.add_argument(
        "--sr", metavar="OUT.dcm", help="also write a DICOM SR (TID 1500) per study on its "
        "series (a folder for several studies: <study>.dcm each)"
    )


def register(sub) -> None:
    """Add ``cac`` and ``composition`` to the napari-plaque parser."""
    p = sub.add_parser(
        "cac",
        help="coronary calcium scores (Agatston, volume, mass, CAC-DRS) of CT studies",
        description=(
            "Agatston / volume / mass scores per lesion, per vessel and in total (2D "
            "8-connected lesions >= threshold and >= minimum area, peak-HU weights, "
            "slice-increment normalisation), CAC-DRS and the 0/100/400 category. One CSV row "
            "per study, or --json. Each study is checked against the calcium-scoring "
            "protocol (CT, one contiguous series, chest, kVp, threshold, 2.5-3 mm slices, "
            "ROI): a single slice, gaps between slices or a non-cardiac study are refused; "
            "other departures are scored and flagged (JSON 'warnings', a 'warnings' column, "
            "a line on stderr)."
        ),
    )
    p.add_argument(
        "paths", nargs="*", metavar="PATH", help="DICOM folder/file, NIfTI, or a folder of studies"
    )
    p.add_argument(
        "--roi", metavar="MASK", help="ROI / heart mask (.npy or NIfTI, or a folder of them)"
    )
    p.add_argument("--vessels", metavar="LABELS", help="vessel labels 1=LM 2=LAD 3=LCX 4=RCA")
    _calcium_option(p, "--threshold-hu", "threshold_hu", _threshold_hu, "lesion threshold")
    p.add_argument(
        "--kv-threshold",
        choices=KV_MODES,
        default=KV_MODES[0],
        help="lesion threshold for the tube voltage: fixed (--threshold-hu at any kVp; "
        "kVp other than 120 is flagged) or adjusted (the kV-specific threshold of "
        "--kv-table; see docs/conventions.md)",
    )
    p.add_argument(
        "--kv-table",
        metavar="KVP=HU,...",
        help="kVp -> threshold table for --kv-threshold adjusted (default: "
        + ",".join(f"{k:g}={v:g}" for k, v in sorted(KV_THRESHOLDS_HU.items()))
        + ")",
    )
    p.add_argument(
        "--accept",
        action="append",
        metavar="CHECK",
        help="score a study a protocol check refuses, with a warning: "
        + ", ".join(ACCEPTABLE)
        + " (repeat or comma-separate)",
    )
    _calcium_option(p, "--min-area-mm2", "min_area_mm2", float, "minimum lesion area")
    p.add_argument("--rod-roi", metavar="MASK", help="ROI on the calibration rod (enables mass)")
    _calcium_option(p, "--rod-density", "rod_density_mg_cm3", float, "rod density, mg HA/cm^3")
    p.add_argument(
        "--water-roi",
        metavar="MASK",
        help="ROI on water-equivalent material (default HU_water = 0)",
    )
    _report_options(p)
    _cohort_arguments(p, ("roi", "vessels", "rod_roi", "water_roi"))
    p.set_defaults(func=_cmd_cac)

    q = sub.add_parser(
        "composition",
        help="plaque composition (lipid / fibrous / calcium by HU ranges) per ROI label",
        description=(
            "Per plaque (ROI label): total and per-component volume (mm^3), percentages, mean "
            "HU, calcium density, 1K-plaque flag, voxels outside all ranges, plaque burden "
            "with --vessels. One CSV row per study (totals over its plaques; --per-plaque for "
            "one row per plaque), or --json with a 'plaques' list."
        ),
    )
    q.add_argument(
        "paths", nargs="*", metavar="PATH", help="DICOM folder/file, NIfTI, or a folder of studies"
    )
    q.add_argument(
        "--roi",
        metavar="MASK",
        help="plaque labels (.npy or NIfTI, or a folder); required "
        "unless the --manifest has a roi column",
    )
    q.add_argument(
        "--vessels", metavar="LABELS", help="vessel (outer wall) labels for plaque burden"
    )
    q.add_argument(
        "--ranges",
        nargs="+",
        metavar="NAME=LO:HI",
        help="half-open HU ranges [LO, HI), each ending where the next begins, e.g. "
        "lipid=-100:50 fibrous=50:150 calcium=150:1300",
    )
    q.add_argument("--per-plaque", action="store_true", help="CSV: one row per plaque")
    _report_options(q)
    _cohort_arguments(q, ("roi", "vessels"))
    q.set_defaults(func=_cmd_composition)
