"""Subcommands: CT-IVUS fusion (``fuse``) and paired-study statistics (``study-stats``)."""

from __future__ import annotations

import sys

from . import CLIError
from ._common import add_json_option


def register(sub) -> None:
    from ..fusion.defaults import DEFAULTS, DIRECTIONS, JOIN_DEFAULTS, STATS_DEFAULTS, TRANSFORMS

    f = sub.add_parser(
        "fuse",
        help="join CT lesions (vessel analysis) to the IVUS frames and arcs that image them",
        description=(
            "Map every IVUS frame to the CT centreline arc length s (landmarks S_MM:FRAME seen in "
            "both; the pullback runs distal -> proximal, frame index growing towards the ostium), "
            "run the vessel analysis on the CT and add to each lesion its frame range and the IVUS "
            "calcium / attenuation metrics over it."
        ),
    )
    f.add_argument("--ct", help="CT: DICOM series folder or NIfTI (with --centreline)")
    f.add_argument("--centreline", help="centreline file of that CT (vessel analysis)")
    f.add_argument(
        "--vessel-json",
        help="instead of --ct/--centreline: lesions of a vessel analysis already run "
        "(vessel --json, or the vessel dock's export; keeps contour edits)",
    )
    f.add_argument("--vessel", help="with --vessel-json holding several vessels: which one")
    f.add_argument("--pullback", help="IVUS pullback (multi-frame DICOM)")
    f.add_argument("--arcs", help="arcs file (napari-plaque/arcs JSON) of the pullback")
    f.add_argument(
        "--landmark",
        action="append",
        metavar="S_MM:FRAME",
        help="a point seen in both (side branch, ostium); give one or two",
    )
    f.add_argument(
        "--rotation-deg",
        type=float,
        default=DEFAULTS["rotation_deg"],
        help="CT cross-section angle = rotation + IVUS angle",
    )
    f.add_argument(
        "--mirror", action="store_true", help="IVUS image is mirrored against the CT section"
    )
    f.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default=DEFAULTS["direction"],
        help="where the frame index grows: 'ostium' (motorised pullback) or 'distal'",
    )
    f.add_argument(
        "--speed-tolerance",
        type=float,
        default=DEFAULTS["speed_tolerance"],
        help="warn when two landmarks imply a speed this far (fraction) from nominal",
    )
    f.add_argument(
        "--attenuation-min-arc-deg",
        type=float,
        default=JOIN_DEFAULTS["attenuation_min_arc_deg"],
        help="attenuated: max attenuation arc at least this (deg)",
    )
    f.add_argument(
        "--attenuation-min-length-mm",
        type=float,
        default=JOIN_DEFAULTS["attenuation_min_length_mm"],
        help="attenuated: attenuation run at least this long (mm)",
    )
    f.add_argument(
        "--keep-calcium-alines",
        action="store_true",
        help="count attenuation on A-lines also labelled calcium (default: excluded)",
    )
    f.add_argument(
        "--n-alines", type=int, default=JOIN_DEFAULTS["n_alines"], help="A-lines per frame"
    )
    f.add_argument(
        "--allow-partial",
        action="store_true",
        help="flag lesions the pullback only partly images instead of refusing",
    )
    f.add_argument("--patient", help="patient id written into every lesion (for a cohort table)")
    f.add_argument("--out", help="also write the JSON result to this file")
    f.add_argument("--csv", help="also write one row per lesion to this CSV")
    add_json_option(f, "print JSON instead of a table")
    from ..cohort.cli import add_cohort_arguments

    g = add_cohort_arguments(
        f,
        table_flags=("--table",),
        study_columns=("centreline", "pullback", "arcs"),
        value_columns=FUSE_VALUE_COLUMNS,
    )
    g.description = (
        "Many patients: --manifest with one row per CT-IVUS pair: study_id (the patient), "
        "path (the CT, or a vessel JSON), centreline, pullback, arcs, landmarks "
        "('S_MM:FRAME;S_MM:FRAME'), optionally rotation_deg and vessel. One row per lesion "
        "(--table), ready for study-stats --cluster study. " + (g.description or "")
    )
    f.set_defaults(func=run_fuse)

    from ..api.fusion import STUDY_COHORT_SEED
    from ..outcomes.survival import SURVIVAL_DEFAULTS

    s = sub.add_parser(
        "study-stats",
        help="study statistics: binary outcome (OR, AUC), survival (KM, Cox, C-index), Table 1",
        description=(
            "Three analyses of one table (one row per lesion or patient). "
            "Binary outcome (--outcome): per predictor n, median (IQR) per group, Mann-Whitney U "
            "p, ROC AUC with DeLong 95 % CI, Youden cut-off, direction, univariable and adjusted "
            "logistic odds ratios; Spearman correlations. "
            "Survival (--time and --event): Kaplan-Meier per group with CIs and numbers at risk, "
            "log-rank, Cox hazard ratios per predictor (univariable and --adjust'ed, --per, "
            "--cut), Schoenfeld tests, Harrell's C with a bootstrap CI, competing risks. "
            "Table 1 (--table1): the baseline table per --group. See docs/fusion.md."
        ),
    )
    s.add_argument(
        "table", nargs="+", help="CSV table(s), one row per lesion (several are concatenated)"
    )
    s.add_argument("--outcome", help="binary outcome column (0/1, yes/no): the OR / AUC table")
    s.add_argument(
        "--linear",
        metavar="COL",
        help="continuous outcome column: linear regression per predictor (coef, CI, p)",
    )
    s.add_argument(
        "--transform",
        choices=TRANSFORMS,
        default=TRANSFORMS[0],
        help="transform of the --linear outcome before the fit",
    )
    s.add_argument(
        "--aggregate",
        metavar="COL:max|mean|any",
        help="one row per COL (patient) before the binary / linear analysis: predictors by "
        "max or mean (any = max), a binary outcome = any lesion positive",
    )
    s.add_argument("--predictors", help="comma-separated columns (default: every numeric one; "
                   "for survival: the columns named in --per / --cut)")  # fmt: skip
    s.add_argument("--adjust", help="comma-separated covariates for the adjusted OR / HR")
    s.add_argument(
        "--cluster",
        help="patient column: patient-clustered bootstrap AUC CI and cluster-robust OR CIs",
    )
    sv = s.add_argument_group("survival")
    sv.add_argument("--time", metavar="COL", help="follow-up time column (e.g. days), >= 0")
    sv.add_argument("--event", metavar="COL", help="event column: 1 event, 0 censored")
    sv.add_argument(
        "--horizon-days",
        type=float,
        metavar="N",
        help="administrative censoring at N time units (2191 = 6 years of days)",
    )
    sv.add_argument(
        "--competing-event",
        metavar="COL|CODE",
        help="a 0/1 column of the competing event, or a code of the event column "
        "(0 censored, 1 event, CODE competing): cumulative incidence and cause-specific HR",
    )
    sv.add_argument(
        "--per",
        action="append",
        metavar="COL=K",
        help="hazard ratio per K units of COL (e.g. ics=100); repeatable",
    )
    sv.add_argument(
        "--cut",
        action="append",
        metavar="COL=VALUE|median",
        help="dichotomise COL as COL >= VALUE (or >= its median); repeatable; the first one "
        "also gives the Kaplan-Meier groups unless --group is given",
    )
    sv.add_argument("--group", metavar="COL", help="Kaplan-Meier / log-rank / Table 1 groups")
    sv.add_argument(
        "--at-days",
        metavar="T1,T2",
        help="survival / cumulative incidence at these times (default: the horizon)",
    )
    sv.add_argument(
        "--schoenfeld-transform",
        choices=("rank", "km", "identity", "log"),
        default=SURVIVAL_DEFAULTS["time_transform"],
        help="time transform of the Schoenfeld residual tests",
    )
    sv.add_argument("--km-csv", metavar="CSV", help="write the Kaplan-Meier table to this CSV")
    t1 = s.add_argument_group("Table 1")
    t1.add_argument(
        "--table1",
        metavar="CSV",
        help="write the baseline table per --group (default group: --outcome, or the first "
        "--cut) to this CSV and print it; alone (without --outcome / --time) only Table 1",
    )
    t1.add_argument("--variables", help="comma-separated Table 1 rows (default: every column)")
    t1.add_argument("--categorical", help="comma-separated columns shown as n (%%) whatever they "
                    "hold")  # fmt: skip
    s.add_argument("--alpha", type=float, default=STATS_DEFAULTS["alpha"], help="1 - CI level")
    s.add_argument(
        "--n-boot",
        type=int,
        help=f"bootstrap resamples (AUC: {STATS_DEFAULTS['n_boot']}, C-index: "
        f"{SURVIVAL_DEFAULTS['n_boot']} unless given)",
    )
    s.add_argument("--seed", type=int, default=STATS_DEFAULTS["seed"], help="bootstrap seed")
    s.add_argument("--plot", help="write the ROC curves (binary) or Kaplan-Meier curves to this PNG")
    s.add_argument("--csv", help="write the Table-2-style table (OR or Cox rows) to this CSV")
    s.add_argument("--out", help="also write the JSON result to this file")
    add_json_option(s, "print JSON instead of a table")
    s.set_defaults(func=run_study_stats)

    c = sub.add_parser(
        "study-cohort",
        help="write a synthetic cohort drawn from a source study's published figures (CSV)",
        description=(
            "Synthetic tables for the reproduction recipes of docs/reproduce/: each is drawn "
            "from the published summary figures of one study (what is published and what the "
            "generator assumes is printed with --list). Not patient data."
        ),
    )
    c.add_argument("study", nargs="?", help="which study (see --list)")
    c.add_argument("out", nargs="?", help="CSV to write")
    c.add_argument("--n", type=int, help="rows (default: the study's size, see --list)")
    c.add_argument("--seed", type=int, default=STUDY_COHORT_SEED, help="random seed")
    c.add_argument("--list", action="store_true", help="list the studies and their figures")
    c.set_defaults(func=run_study_cohort)


# ---------------------------------------------------------------------------------------------
# fuse
# ---------------------------------------------------------------------------------------------


#: per-pair values of a ``fuse`` manifest that are not paths
FUSE_VALUE_COLUMNS = ("landmarks", "rotation_deg", "vessel")
#: one-pair options that a manifest row replaces (refused beside --manifest: ambiguous)
_PER_PAIR_OPTIONS = (
    "ct", "centreline", "vessel_json", "pullback", "arcs", "landmark", "out", "csv", "patient"
)  # fmt: skip


def _fuse_task(study, params: dict) -> tuple[dict, list[dict]]:
    """One CT-IVUS pair of a ``fuse`` cohort (runs on a worker): :func:`api.fuse` with the
    pair's files and values."""
    import re

    from ..api import study_options
    from ..api.fusion import fuse

    opts = study_options(fuse, params, study)
    path = str(study.path)
    opts["vessel_json"], opts["ct"] = (path, None) if path.lower().endswith(".json") else (
        None, path)
    text = study.values.get("landmarks", "")
    opts["landmark"] = [t for t in re.split(r"[;\s]+", text) if t]
    if not opts["landmark"]:
        raise CLIError(f"{study.study_id}: no landmarks (manifest column 'landmarks')")
    if "rotation_deg" in study.values:
        try:
            opts["rotation_deg"] = float(study.values["rotation_deg"])
        except ValueError:
            raise CLIError(
                f"{study.study_id}: rotation_deg {study.values['rotation_deg']!r} is not a number"
            ) from None
    opts["patient"] = study.study_id
    res = fuse(**opts)
    return res.to_dict(), res.to_rows()


def _run_fuse_cohort(args) -> int:
    from ..cohort.cli import params_from_args, run_command, studies_from_args

    given = [f"--{k.replace('_', '-')}" for k in _PER_PAIR_OPTIONS if getattr(args, k, None)]
    if given:
        raise CLIError(
            f"with --manifest each row gives the pair's files and landmarks; drop {', '.join(given)}"
        )
    studies = studies_from_args(args, None)
    params = params_from_args(args)  # the per-pair options are None here: rows fill them
    return run_command(args, _fuse_task, studies, params, json_reports=True)


def run_fuse(args) -> int:
    from ..report import print_json, write_csv, write_json

    if args.manifest:
        return _run_fuse_cohort(args)
    if args.table or args.resume or args.workers > 1 or args.scheduler:
        raise CLIError("--table, --resume, --workers and --scheduler need --manifest")
    from ..api import options_from
    from ..api.fusion import fuse

    res = fuse(**options_from(fuse, args))
    out, rows = res.to_dict(), res.to_rows()
    if args.out:
        write_json(args.out, out)
    if args.csv:
        write_csv(args.csv, rows)
    for w in out["warnings"]:
        print(f"napari-plaque: warning: {w}", file=sys.stderr)
    if args.json:
        print_json(out)
        return 0
    reg = out["registration"]
    print(
        f"mapped {len(out['mapping'])} frames onto s = {reg['covered_s_mm'][0]:.2f} .. "
        f"{reg['covered_s_mm'][1]:.2f} mm ({out['mm_per_frame_used']:.4f} mm/frame, "
        f"{reg['direction']}, rotation {reg['rotation_deg']:g} deg)"
    )
    print(f"{'#':>2} {'s (mm)':>15} {'frames':>13} {'Ca° max':>7} {'ICS':>6} "
          f"{'Att° max':>8} {'Att mm':>6} attenuated")  # fmt: skip
    for i, les in enumerate(out["lesions"]):
        fr = les["ivus_frames"]
        frames = f"{fr[0]}-{fr[1]}" if fr else "-"

        def num(v, fmt=".0f"):
            return "-" if v is None else format(v, fmt)

        print(
            f"{i + 1:>2} {les['start_mm']:>7.2f}-{les['end_mm']:<7.2f} {frames:>13} "
            f"{num(les['ivus_calcium_max_arc_deg']):>7} {num(les['ivus_ics'], '.1f'):>6} "
            f"{num(les['ivus_attenuation_max_arc_deg']):>8} "
            f"{num(les['ivus_attenuation_length_mm'], '.1f'):>6} {les['attenuated']}"
        )
    return 0


# ---------------------------------------------------------------------------------------------
# study-stats
# ---------------------------------------------------------------------------------------------


def run_study_stats(args) -> int:
    """``study-stats``: :func:`napari_plaque.api.study_stats`, then print / write."""
    from ..api import options_from
    from ..api.fusion import study_stats
    from ..report import print_json, write_csv, write_json

    res = study_stats(args.table, **options_from(study_stats, args, log=sys.stderr))
    out = res.to_dict()
    if args.csv and res.mode != "table1":
        write_csv(args.csv, res.to_rows())
    if args.out:
        write_json(args.out, out)
    for w in res.warnings:
        print(f"napari-plaque: warning: {w}", file=sys.stderr)
    if args.json:
        print_json(out)
        return 0
    if res.mode == "survival":
        print(format_survival(res.stats))
    elif res.mode == "binary":
        _print_binary(res.stats)
    elif res.mode == "linear":
        _print_linear(args, res.stats)
    if res.table_1 is not None:
        print(res.table_1.text())
    return 0


def format_survival(res) -> str:
    """The survival result as the text tables the command prints."""
    d = res.input
    level = round(100 * (1 - res.parameters["alpha"]))
    lines = [
        f"{d['n']} patients, {d['events']} events ({d['event']})"
        + (f", {d['competing_events']} competing" if d["competing"] else "")
        + (f", censored at {d['horizon']:g}" if d["horizon"] else "")
        + (
            f"; median follow-up {d['follow_up_median_reverse_km']:.0f} (reverse KM)"
            if d["follow_up_median_reverse_km"]
            else ""
        )
    ]
    lines.append(f"{'group':<16} {'n':>5} {'events':>6} {'median (CI)':>24} "
                 f"{'at':>7} {'at risk':>7} {'event rate (CI)':>22}")  # fmt: skip
    for g in res.kaplan_meier:
        med = "-" if g["median"] is None else f"{g['median']:.0f}"
        lo, hi = ("NR" if v is None else f"{v:.0f}" for v in g["median_ci"])
        med = "NR" if g["median"] is None else med  # not reached
        first = f"{g['label']:<16} {g['n']:>5} {g['events']:>6} {med + ' (' + lo + '-' + hi + ')':>24}"
        if not g["at"]:
            lines.append(first)
        for k, a in enumerate(g["at"]):
            ce = a["cumulative_event_ci"]
            rate = f"{100 * a['cumulative_event']:.1f} % ({100 * ce[0]:.1f}-{100 * ce[1]:.1f})"
            lines.append((first if k == 0 else " " * len(first))
                         + f" {a['time']:>7g} {a['at_risk']:>7} {rate:>22}")  # fmt: skip
    if res.logrank:
        lr = res.logrank
        lines.append(f"log-rank chi2 = {lr['chi2']:.2f} on {lr['df']} df, p = {lr['p']:.3g}")
    if res.competing:
        for g in res.competing["groups"]:
            for a in g["event"]["at"]:
                lines.append(
                    f"cumulative incidence ({g['event']['label']}) at {a['time']:g}: "
                    f"{100 * a['cumulative_incidence']:.1f} % "
                    f"({100 * a['ci'][0]:.1f}-{100 * a['ci'][1]:.1f}; Aalen-Johansen)"
                )
        lines.append("hazard ratios below are cause-specific (competing events censored)")
    if res.cox:
        w = max(22, *(len(r["describes"]) for r in res.cox.values()))
        lines.append(
            f"{'predictor':<{w}} {'HR (' + str(level) + '% CI)':>20} {'p':>8} "
            f"{'adj. HR (CI)':>20} {'adj. p':>8} {'C (CI)':>19} {'PH p':>6}"
        )
        for r in res.cox.values():
            u = r["univariable"]
            a = r.get("adjusted")
            c = r["c_index"]
            cci = f"{c['c_index']:.2f} ({c['ci'][0]:.2f}-{c['ci'][1]:.2f})" if c["ci"] else (
                f"{c['c_index']:.2f}")  # fmt: skip
            ah = _hr(a["hr"], a["hr_ci"]) if a else "-"
            ap = f"{a['p']:.3g}" if a else "-"
            ph = a["schoenfeld"]["global"]["p"] if a else u["schoenfeld_p"]
            lines.append(
                f"{r['describes']:<{w}} {_hr(u['hr'], u['hr_ci']):>20} {u['p']:>8.3g} "
                f"{ah:>20} {ap:>8} {cci:>19} {ph:>6.2f}"
            )
            if a and a.get("c_index"):
                ac = a["c_index"]
                lines.append(
                    f"{'  adjusted model C':<{w}} {ac['c_index']:.2f}"
                    + (f" ({ac['ci'][0]:.2f}-{ac['ci'][1]:.2f})" if ac["ci"] else "")
                    + f"; adjusted for {', '.join(res.parameters['adjust'])}"
                )
    return "\n".join(lines)


def _hr(v: float, ci) -> str:
    return f"{v:.2f} ({ci[0]:.2f}-{ci[1]:.2f})"


def _print_binary(res) -> None:
    print(
        f"outcome {res.outcome}: {res.n_pos} positive, {res.n_neg} negative"
        + (f"; clustered by {res.cluster}" if res.cluster else "")
    )
    hdr = f"{'predictor':<24} {'n':>4} {'median (IQR) +':>24} {'median (IQR) -':>24} "
    print(
        hdr + f"{'MW p':>8} {'AUC (95% CI)':>21} {'dir':>6} {'cut-off':>9} {'sens':>5} {'spec':>5}"
    )
    for name, r in res.predictors.items():
        if "auc" not in r:
            print(f"{name:<24} {r['n']:>4}  {r.get('note', '')}")
            continue
        med = f"{r['median_pos']:.4g} ({r['iqr_pos'][0]:.4g}-{r['iqr_pos'][1]:.4g})"
        med_n = f"{r['median_neg']:.4g} ({r['iqr_neg'][0]:.4g}-{r['iqr_neg'][1]:.4g})"
        auc = f"{r['auc']:.3f} ({r['auc_ci95'][0]:.3f}-{r['auc_ci95'][1]:.3f})"
        print(
            f"{name:<24} {r['n']:>4} {med:>24} {med_n:>24} {r['mannwhitney_p']:>8.3g} {auc:>21} "
            f"{r['direction']:>6} {r['cutoff']:>9.4g} {r['sensitivity']:>5.3f} "
            f"{r['specificity']:>5.3f}"
        )
    print(format_or_table(res))


def format_or_table(res) -> str:
    """Odds ratios per predictor (per unit and per SD, univariable; adjusted per unit), with the
    reason when one is null."""
    lines = [f"{'predictor':<24} {'OR per unit (95% CI)':>28} {'p':>8} {'OR per SD (95% CI)':>22} "
             f"{'adjusted OR (95% CI)':>28} {'p':>8}  note"]  # fmt: skip
    for name, r in res.predictors.items():
        if "auc" not in r:
            continue

        def fmt(v, ci):
            return "-" if v is None else f"{v:.3g} ({ci[0]:.3g}-{ci[1]:.3g})"

        p = "-" if r.get("or_p") is None else f"{r['or_p']:.3g}"
        pa = "-" if r.get("or_adjusted_p") is None else f"{r['or_adjusted_p']:.3g}"
        note = "; ".join(
            n for n in (r.get("or_note"), r.get("or_adjusted_note"), r.get("or_adjusted_warning")) if n
        )
        lines.append(
            f"{name:<24} {fmt(r.get('or'), r.get('or_ci95')):>28} {p:>8} "
            f"{fmt(r.get('or_per_sd'), r.get('or_per_sd_ci95')):>22} "
            f"{fmt(r.get('or_adjusted'), r.get('or_adjusted_ci95')):>28} {pa:>8}  {note}".rstrip()
        )
    return "\n".join(lines)


def _print_linear(args, res) -> None:
    y = args.linear if args.transform == "none" else f"{args.transform}({args.linear})"
    print(f"linear model of {y}; CIs {res['ci_method']}")
    print(f"{'predictor':<24} {'n':>5} {'coef (95% CI)':>30} {'p':>8} {'adj. coef (95% CI)':>30} "
          f"{'adj. p':>8}  note")  # fmt: skip

    def fmt(v, ci):
        return "-" if v is None else f"{v:.4g} ({ci[0]:.4g} to {ci[1]:.4g})"

    for name, r in res["predictors"].items():
        p = "-" if r.get("p") is None else f"{r['p']:.3g}"
        pa = "-" if r.get("adjusted_p") is None else f"{r['adjusted_p']:.3g}"
        note = "; ".join(r[k] for k in ("note", "adjusted_note", "warning", "adjusted_warning")
                         if r.get(k))  # fmt: skip
        print(f"{name:<24} {r['n']:>5} {fmt(r['coef'], r['coef_ci95']):>30} {p:>8} "
              f"{fmt(r.get('adjusted_coef'), r.get('adjusted_coef_ci95')):>30} {pa:>8}  {note}")  # fmt: skip


def run_study_cohort(args) -> int:
    from ..outcomes.synthetic import STUDIES
    from ..report import write_csv

    if args.list:
        for name, st in STUDIES.items():
            print(f"{name}: {st['title']} ({st['source']}); default n = {st['n']}")
            for k, v in st["published"].items():
                print(f"    published  {k}: {v}")
            for k, v in st["assumed"].items():
                print(f"    assumed    {k}: {v}")
        return 0
    if not args.study or not args.out:
        raise CLIError("give STUDY OUT.csv (or --list)")
    from ..api.fusion import study_cohort

    rows = study_cohort(args.study, n=args.n, seed=args.seed).to_rows()
    write_csv(args.out, rows)
    print(f"{args.out}: {len(rows)} rows of the synthetic {args.study} cohort (seed {args.seed})")
    return 0
