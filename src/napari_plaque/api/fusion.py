"""``api.fuse`` (``napari-plaque fuse``): CT lesions joined to the IVUS frames and arcs that
image them."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fusion.defaults import DEFAULTS as MAPPING_DEFAULTS
from ..fusion.defaults import JOIN_DEFAULTS, STATS_DEFAULTS, TRANSFORMS
from ..io.errors import OptionError
from ..outcomes.survival import SURVIVAL_DEFAULTS
from ..outcomes.synthetic import make_study
from ._inputs import pullback as _pullback
from ._result import Result


@dataclass
class FuseResult(Result):
    """``to_dict()``: the ``fuse --json`` object (mapping, registration, lesions, warnings,
    inputs...); ``to_rows()``: one row per lesion (``fuse --csv``). ``join``: the core
    :class:`~napari_plaque.fusion.join.FusionResult`."""

    command = "fuse"
    join: Any = None


def _path_or_none(x: Any) -> str | None:
    return str(x) if isinstance(x, (str, Path)) else None


def _vessel_lesions(ct: Any, centreline: Any) -> tuple[float, list[dict[str, Any]]]:
    """The CT vessel analysis of ``fuse --ct --centreline``: :func:`napari_plaque.api.vessel`,
    so every centreline form it reads works here (JSON, napari Points CSV, label map); a
    centreline JSON keeps its own step."""
    from ..ccta.centreline import CENTRELINE_DEFAULTS, Centreline, load_centreline_any
    from .ccta import vessel as vessel_analysis

    step = CENTRELINE_DEFAULTS["step_mm"]
    if isinstance(centreline, Centreline):
        step = centreline.step_mm
    elif str(centreline).lower().endswith(".json"):
        step = load_centreline_any(centreline)[0].step_mm
    d = vessel_analysis(ct, centreline, step_mm=step).to_dict()
    return float(d.get("length_mm") or 0.0), d["lesions"]


def fuse(
    *,
    pullback: Any = None,
    landmark: Sequence[Any] | None = None,
    ct: Any = None,
    centreline: Any = None,
    vessel_json: str | Path | None = None,
    vessel: str | None = None,
    arcs: Any = None,
    rotation_deg: float = MAPPING_DEFAULTS["rotation_deg"],
    mirror: bool = False,
    direction: str = MAPPING_DEFAULTS["direction"],
    speed_tolerance: float = MAPPING_DEFAULTS["speed_tolerance"],
    attenuation_min_arc_deg: float = JOIN_DEFAULTS["attenuation_min_arc_deg"],
    attenuation_min_length_mm: float = JOIN_DEFAULTS["attenuation_min_length_mm"],
    keep_calcium_alines: bool = False,
    n_alines: int = JOIN_DEFAULTS["n_alines"],
    allow_partial: bool = False,
    patient: str | None = None,
) -> FuseResult:
    """Map every IVUS frame to the CT centreline arc length and join the CT lesions to the
    frames / arcs over them.

    ``pullback``: IVUS DICOM path or a :class:`~napari_plaque.types.Pullback`; ``landmark``:
    one or two ``"S_MM:FRAME"`` (or :class:`~napari_plaque.fusion.mapping.Landmark`); the CT
    side is ``ct`` (path or ``CTVolume``) with ``centreline`` (JSON, Points CSV, label map or a
    ``Centreline``), or ``vessel_json`` (a vessel analysis already run; ``vessel`` picks one of
    several); ``arcs``: an arcs file path or an ``ArcSet``.
    """
    from ..fusion.join import join_lesions, load_vessel_json
    from ..fusion.mapping import FrameMapping, Landmark, parse_landmark
    from ..ivus.arcs import load_arcs

    if pullback is None:
        raise OptionError("give --pullback (or --manifest with a 'pullback' column)")
    if not landmark:
        raise OptionError("give --landmark S_MM:FRAME (one or two)")
    landmarks = [m if isinstance(m, Landmark) else parse_landmark(m) for m in landmark]
    if vessel_json:
        if ct is not None or centreline is not None:
            raise OptionError("give either --vessel-json or --ct with --centreline, not both")
        length, lesions = load_vessel_json(vessel_json, vessel)
    elif ct is None or centreline is None:
        raise OptionError("give --ct and --centreline (or --vessel-json)")
    pb = _pullback(pullback)
    arc_set = None
    if arcs is not None:
        arc_set = (load_arcs(arcs, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
                   if isinstance(arcs, (str, Path)) else arcs)
    if not vessel_json:
        length, lesions = _vessel_lesions(ct, centreline)
    mapping = FrameMapping.from_pullback(
        pb,
        landmarks,
        length,
        direction=direction,
        rotation_deg=rotation_deg,
        mirror=mirror,
        speed_tolerance=speed_tolerance,
    )
    res = join_lesions(
        lesions,
        mapping,
        arc_set,
        attenuation_min_arc_deg=attenuation_min_arc_deg,
        attenuation_min_length_mm=attenuation_min_length_mm,
        exclude_calcium_alines=not keep_calcium_alines,
        n_alines=n_alines,
        allow_partial=allow_partial,
    )
    if patient:
        for les in res.lesions:
            les["patient"] = patient
    out = res.to_dict()
    out["inputs"] = {
        "ct": _path_or_none(ct),
        "centreline": _path_or_none(centreline),
        "vessel_json": _path_or_none(vessel_json),
        "pullback": _path_or_none(pullback),
        "arcs": _path_or_none(arcs),
        "pullback_assumed": sorted(pb.assumed),
    }
    return FuseResult(data=out, rows=res.to_rows(), warnings=list(out.get("warnings", [])),
                      join=res)


__all__ = ["FuseResult", "fuse"]


# ---------------------------------------------------------------------------------------------
# study-stats, study-cohort
# ---------------------------------------------------------------------------------------------
#: the analyses of ``study_stats`` (``StudyStatsResult.mode``)
STUDY_STATS_MODES = ("binary", "survival", "linear", "table1")
#: options that only the survival analysis reads (refused with --outcome / --linear)
SURVIVAL_ONLY = ("horizon_days", "competing_event", "per", "cut", "at_days", "km_csv")


@dataclass
class StudyStatsResult(Result):
    """``to_dict()``: the ``study-stats --json`` object of the analysis run (``mode``: one of
    :data:`STUDY_STATS_MODES`); ``to_rows()``: its ``--csv`` rows (binary: the Table-2 rows;
    survival: the Cox rows; linear: one row per predictor; Table 1 alone: the Table 1 rows).
    ``stats``: the core result (``StudyStatistics``, ``SurvivalStudy`` or the linear dict);
    ``table_1``: the :class:`~napari_plaque.outcomes.table1.Table1` when asked for."""

    command = "study-stats"
    mode: str = ""
    stats: Any = None
    table_1: Any = None


@dataclass
class StudyCohortResult(Result):
    """``to_rows()``: the synthetic cohort's rows (what ``study-cohort`` writes);
    ``to_dict()``: ``{"study", "n", "seed", "rows"}``."""

    command = "study-cohort"


def _names(text: str | Sequence[str] | None) -> list[str] | None:
    if text is None:
        return None
    if not isinstance(text, str):
        return [str(t) for t in text]
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise OptionError(f"empty column list {text!r}")
    return names


def _floats(text: str | Sequence[float] | None, what: str) -> list[float]:
    if not text:
        return []
    if not isinstance(text, str):
        return [float(t) for t in text]
    out = []
    for t in text.split(","):
        try:
            out.append(float(t))
        except ValueError:
            raise OptionError(f"{what}: {t!r} is not a number") from None
    return out


def _table1_group(table, group, outcome, cut):
    """The Table 1 grouping column, and the table (a derived column for a --cut group)."""
    from ..outcomes.table import as_table

    t = as_table(table)
    if group:
        return group, t
    if outcome:
        return outcome, t
    if cut:
        import numpy as np

        from ..outcomes.survival import parse_assignments

        col, spec = next(iter(parse_assignments(cut, "--cut").items()))
        if col not in t.columns:
            raise OptionError(f"--cut names {col!r}, which is not a column")
        x = t.numeric(col)
        c = float(np.nanmedian(x)) if spec.lower() == "median" else float(spec)
        name = f"{col}>={c:g}"
        t.columns[name] = ["" if not np.isfinite(v) else str(int(v >= c)) for v in x]
        return name, t
    return None, t


def study_stats(
    table: Any,
    *,
    outcome: str | None = None,
    linear: str | None = None,
    transform: str = TRANSFORMS[0],  # none
    aggregate: str | None = None,
    predictors: str | Sequence[str] | None = None,
    adjust: str | Sequence[str] | None = None,
    cluster: str | None = None,
    time: str | None = None,
    event: str | None = None,
    horizon_days: float | None = None,
    competing_event: str | None = None,
    per: Sequence[str] | None = None,
    cut: Sequence[str] | None = None,
    group: str | None = None,
    at_days: str | Sequence[float] | None = None,
    schoenfeld_transform: str = SURVIVAL_DEFAULTS["time_transform"],
    table1: str | Path | None = None,
    variables: str | Sequence[str] | None = None,
    categorical: str | Sequence[str] | None = None,
    alpha: float = STATS_DEFAULTS["alpha"],
    n_boot: int | None = None,
    seed: int = STATS_DEFAULTS["seed"],
    plot: str | Path | None = None,
    km_csv: str | Path | None = None,
    log: Any = None,
) -> StudyStatsResult:
    """Study statistics of a table (CSV path(s), rows or columns; one row per lesion or
    patient): a binary outcome (``outcome``: OR, AUC), a continuous one (``linear``), survival
    (``time`` + ``event``: KM, Cox, C-index, competing risks) or, alone, Table 1.

    ``table1`` (CSV), ``plot`` (PNG) and ``km_csv`` are written when given. Column lists take a
    comma-separated string (as the CLI) or a list. ``n_boot`` None: the analysis's default
    (AUC: ``STATS_DEFAULTS``, C-index: ``SURVIVAL_DEFAULTS``). ``log``: where the
    ``aggregate`` note goes (e.g. ``sys.stderr``).
    """
    if not 0 < alpha < 1:
        raise OptionError(f"--alpha must be between 0 and 1, got {alpha}")
    opts = {"horizon_days": horizon_days, "competing_event": competing_event, "per": per,
            "cut": cut, "at_days": at_days, "km_csv": km_csv}
    survival = time is not None or event is not None
    if linear and (survival or outcome):
        raise OptionError("give one analysis: --outcome, --linear or --time/--event")
    if transform != TRANSFORMS[0] and not linear:
        raise OptionError("--transform applies to the --linear outcome")
    if aggregate:
        if survival:
            raise OptionError("--aggregate applies to lesion tables (--outcome / --linear); a "
                             "survival table has one row per patient already")
        if cluster:
            raise OptionError("--aggregate leaves one row per patient: drop --cluster")
        from ..outcomes.regression import aggregate as _aggregate
        from ..outcomes.regression import parse_aggregate

        by, how = parse_aggregate(aggregate)
        table, info = _aggregate(table, by, how, outcomes=[outcome] if outcome else [])
        if log is not None:
            log.write(
                f"napari-plaque: aggregated {info['rows_in']} rows to {info['patients']} {by} "
                f"rows ({how})" + (f"; dropped text columns {', '.join(info['dropped'])}"
                                   if info["dropped"] else "") + "\n"
            )

    def survival_only_refused() -> None:
        given = [f"--{k.replace('_', '-')}" for k in SURVIVAL_ONLY if opts[k]]
        if given:
            raise OptionError(f"{', '.join(given)} need --time and --event")

    def check_table1_group() -> None:
        if not (group or outcome or cut):
            raise OptionError("--table1 needs --group COL (or --outcome, or a --cut)")

    def make_table1():
        from ..outcomes.table1 import table1 as _table1
        from ..report import write_csv

        g, t = _table1_group(table, group, outcome, cut)
        names = _names(variables)
        skip = {g, time, event, competing_event}
        if names is None:
            names = [c for c in t.names if c not in skip]
        res = _table1(t, g, names, categorical=_names(categorical) or [])
        write_csv(table1, res.rows())
        return res

    if linear:
        survival_only_refused()
        from ..fusion.stats import linear_statistics

        res = linear_statistics(table, linear, predictors=_names(predictors),
                                adjust=_names(adjust) or [], cluster=cluster,
                                transform=transform, alpha=alpha)
        t1 = make_table1() if table1 else None
        if t1:
            res["table1"] = t1.to_dict()
        rows = [{"predictor": k, **dict(v)} for k, v in res["predictors"].items()]
        return StudyStatsResult(data=res, rows=rows, mode="linear", stats=res, table_1=t1)
    if survival and (time is None or event is None):
        raise OptionError("survival needs both --time and --event")
    if survival and outcome:
        raise OptionError("give either --outcome (binary) or --time/--event (survival), not both")
    if not survival and not outcome:
        if table1:
            check_table1_group()
            t1 = make_table1()
            return StudyStatsResult(data={"table1": t1.to_dict()}, rows=t1.rows(),
                                    mode="table1", table_1=t1)
        raise OptionError(
            "give --outcome COL (binary outcome), --time COL --event COL (survival) or "
            "--table1 CSV --group COL"
        )
    if table1:
        check_table1_group()
    elif group and not survival:
        raise OptionError("--group sets the Kaplan-Meier or Table 1 groups: give --time/--event "
                         "or --table1")
    if not survival:
        survival_only_refused()
        from ..fusion.stats import plot_roc, study_statistics

        res = study_statistics(
            table, outcome, predictors=_names(predictors), adjust=_names(adjust) or [],
            cluster=cluster, alpha=alpha,
            n_boot=STATS_DEFAULTS["n_boot"] if n_boot is None else n_boot, seed=seed,
        )
        t1 = make_table1() if table1 else None
        if plot:
            plot_roc(res, plot)
        out = res.to_dict()
        if t1:
            out["table1"] = t1.to_dict()
        return StudyStatsResult(data=out, rows=res.to_rows(), mode="binary", stats=res,
                                table_1=t1)
    if cluster:
        raise OptionError("--cluster applies to the binary outcome (--outcome), not to survival")
    from ..outcomes.survival import parse_assignments, plot_km, survival_study
    from ..report import write_csv

    per_k = parse_assignments(per, "--per")
    cuts = parse_assignments(cut, "--cut")
    names = _names(predictors)
    if names is None:
        names = list(dict.fromkeys([*per_k, *cuts]))
    res = survival_study(
        table, time, event, predictors=names, group=group, adjust=_names(adjust) or [],
        per=per_k, cut=cuts, horizon=horizon_days, competing=competing_event,
        at=_floats(at_days, "--at-days"),
        c_index_boot=SURVIVAL_DEFAULTS["n_boot"] if n_boot is None else n_boot,
        alpha=alpha, seed=seed, time_transform=schoenfeld_transform,
    )
    t1 = make_table1() if table1 else None
    if plot:
        plot_km(res, plot)
    if km_csv:
        write_csv(km_csv, res.km_rows())
    out = res.to_dict()
    if t1:
        out["table1"] = t1.to_dict()
    return StudyStatsResult(data=out, rows=res.cox_rows(), warnings=list(res.warnings),
                            mode="survival", stats=res, table_1=t1)


#: the seed of ``study_cohort`` (the generator's default)
STUDY_COHORT_SEED: int = inspect.signature(make_study).parameters["seed"].default


def study_cohort(study: str, *, n: int | None = None,
                 seed: int = STUDY_COHORT_SEED) -> StudyCohortResult:
    """A synthetic cohort drawn from a source study's published figures
    (:data:`napari_plaque.outcomes.synthetic.STUDIES`); not patient data."""
    rows = make_study(study, n, seed)
    return StudyCohortResult(data={"study": study, "n": len(rows), "seed": seed, "rows": rows},
                             rows=rows)


__all__ += ["STUDY_STATS_MODES", "StudyCohortResult", "StudyStatsResult", "study_cohort",
            "study_stats"]
