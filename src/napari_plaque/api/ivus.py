"""IVUS commands: ``api.ics``, ``api.train_svm``, ``api.predict_arcs``, ``api.propose_frames``,
``api.interpolate_arcs`` (``napari-plaque ics``, ``train-svm``, ``predict-arcs``,
``propose-frames``, ``arcs interpolate``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.errors import OptionError
from ..ivus.arcs import CENTER_MODES, CenterMode
from ..ivus.defaults import (
    ACTIVE_DEFAULTS,
    BORDER_DEFAULTS,
    EXPORT_DEFAULTS,
    MEASURE_DEFAULTS,
    TRAIN_DEFAULTS,
)
from ..ivus.keyframes import DEFAULT_MAX_GAP
from ..ivus.polar import N_ALINES
from ._inputs import pullback as _pullback
from ._result import Result

#: defaults of the IVUS command options, read from the core's definitions (one home each;
#: the light :mod:`napari_plaque.ivus.defaults`, so the CLI's parser imports no scipy)
IVUS_DEFAULTS: dict[str, Any] = {
    "n_alines": N_ALINES,
    "depth_samples": EXPORT_DEFAULTS["depth_samples"],
    "cls": TRAIN_DEFAULTS["cls"],
    "C": TRAIN_DEFAULTS["C"],
    "folds": TRAIN_DEFAULTS["n_folds"],
    "max_samples": TRAIN_DEFAULTS["max_samples"],
    "center": CENTER_MODES[0],  # the catheter (image centre)
    "max_gap": DEFAULT_MAX_GAP,
    "n": ACTIVE_DEFAULTS["n"],
    "spread": ACTIVE_DEFAULTS["spread"],
}
#: A-line centres of ``predict-arcs`` (``--center``)
PREDICT_CENTERS = CENTER_MODES[:2]

#: keys of a one-pullback result that are paths (left out of cohort rows: input_id names them)
PATH_KEYS = ("pullback", "arcs", "out")


@dataclass
class IcsResult(Result):
    """``to_dict()``: the ``ics --json`` object; ``to_rows()``: its one row without paths."""

    command = "ics"


@dataclass
class TrainSvmResult(Result):
    """``to_dict()``: the ``train-svm --json`` CV report; ``to_rows()``: one row per fold
    (smoothed metrics) and an ``all`` row. ``model``: the trained SVM."""

    command = "train-svm"
    model: Any = None


@dataclass
class PredictArcsResult(Result):
    """``to_dict()``: the ``predict-arcs --json`` object; ``to_rows()``: its row without
    paths. ``arcs``: the predicted ArcSet; ``labels``: the per-A-line labels."""

    command = "predict-arcs"
    arcs: Any = None
    labels: Any = None


@dataclass
class ProposeFramesResult(Result):
    """``to_dict()``: the ``propose-frames --json`` object; ``to_rows()``: one row per
    proposed frame (``frame``, ``uncertainty``)."""

    command = "propose-frames"


@dataclass
class InterpolateArcsResult(Result):
    """``to_dict()``: the ``arcs interpolate --json`` object; ``to_rows()``: one row of counts.
    ``arcs``: the ArcSet written (input arcs plus the interpolated ones)."""

    command = "arcs interpolate"
    arcs: Any = None


def _no_paths(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in PATH_KEYS}


def _arcs_for(arcs: Any, pb):
    from ..ivus.arcs import ArcSet, load_arcs

    if isinstance(arcs, ArcSet):
        return arcs
    return load_arcs(arcs, n_frames=pb.n_frames, frame_shape=pb.frame_shape)


def _measure(pb, arcset, cls: str, n_alines: int, frames: tuple[int, int]) -> dict:
    from ..ivus import arc_measurements

    if cls not in arcset.classes:
        labels = arcset.labels(n_alines, [cls])[:, :, 0]
    else:
        labels = arcset.class_labels(cls, n_alines)
    return arc_measurements(labels, pb.mm_per_frame, frames)


def _name(x: Any) -> str | None:
    return str(x) if isinstance(x, (str, Path)) else None


def ics(
    pullback: Any,
    arcs: Any,
    *,
    n_alines: int = IVUS_DEFAULTS["n_alines"],
    frames: str | None = None,
) -> IcsResult:
    """ICS and arc measurements of one pullback (path or ``Pullback``) with its arcs (path or
    ``ArcSet``); ``frames``: the analysed range ``"START:STOP"`` (None: all)."""
    from ..ivus import parse_frame_range
    from ..ivus.measure import pullback_summary

    if arcs is None:
        raise OptionError(f"{pullback}: no arcs file (--arcs, or an 'arcs' manifest column)")
    pb = _pullback(pullback)
    arcset = _arcs_for(arcs, pb)
    span = parse_frame_range(frames, pb.n_frames)
    ca = _measure(pb, arcset, "calcium", n_alines, span)
    att = _measure(pb, arcset, "attenuation", n_alines, span)
    out = {"pullback": _name(pullback), "arcs": _name(arcs),
           **pullback_summary(ca, att, assumed=sorted(pb.assumed))}
    return IcsResult(data=out, rows=[_no_paths(out)])


def train_svm(
    dataset: str | Path,
    *,
    out: str | Path | None = None,
    cls: str = IVUS_DEFAULTS["cls"],
    C: float = IVUS_DEFAULTS["C"],  # noqa: N803 (the CLI's --C)
    folds: int = IVUS_DEFAULTS["folds"],
    max_samples: int = IVUS_DEFAULTS["max_samples"],
) -> TrainSvmResult:
    """Train the A-line SVM on an ``export-alines`` folder with CV grouped by pullback; the
    model is written to ``out`` (.npz) when given."""
    from ..ivus import load_training_set, save_model
    from ..ivus.svm import train_svm as _core_train_svm

    data = load_training_set(dataset)
    model, report = _core_train_svm(data, cls=cls, C=C, n_folds=folds, max_samples=max_samples)
    if out is not None:
        save_model(model, out)
    report["model"] = str(out) if out is not None else None
    rows = [{"fold": f["fold"], **(f.get("smoothed") or {"skipped": f.get("skipped")})}
            for f in report.get("folds") or []]
    if report.get("overall") is not None:
        rows.append({"fold": "all", **report["overall"]["smoothed"]})
    return TrainSvmResult(data=report, rows=rows, model=model)


def predict_arcs(
    pullback: Any,
    *,
    model: Any,
    out: str | Path | None = None,
    center: str = IVUS_DEFAULTS["center"],
    progress: Any = None,
) -> PredictArcsResult:
    """Detect calcium arcs with an A-line model (``model``: a train-svm .npz, a deep A-line
    .pt checkpoint, a shipped demo name such as ``demo_alines``, or a loaded model or
    :class:`~napari_plaque.ivus.detector.ALineDetector`); the arcs are written to ``out``
    (replaced: the caller named it) when given. A deep model's report adds ``model`` (its
    file name), ``model_kind``, ``synthetic_training`` and ``n_frames``.
    ``progress(desc, total)``: returns a step callback or None."""
    from .._progress import run_steps
    from ..ivus import arc_measurements, save_arcs
    from ..ivus.detector import as_aline_detector

    if center not in PREDICT_CENTERS:
        raise OptionError(f"--center must be one of {', '.join(PREDICT_CENTERS)}, got {center!r}")
    det = as_aline_detector(model)
    pb = _pullback(pullback)
    centres = None
    if center == CenterMode.LUMEN:
        if det.kind == "deep":
            raise OptionError(
                f"{det.path}: the deep A-line model predicts about one centre per pullback; "
                "--center lumen (a centre per frame) needs an SVM model: use --center catheter"
            )
        from ..ivus import estimate_lumen_centers

        centres = estimate_lumen_centers(pb.frames)
    found = run_steps(
        det.iter_detect(pb, center=centres),
        progress("predict", pb.n_frames) if progress is not None else None,
    )
    arcs = found.arcs
    if out is not None:
        save_arcs(arcs, out, on_conflict="overwrite")  # the user named the file to replace
    m = arc_measurements(found.labels, pb.mm_per_frame)
    res = {
        "pullback": _name(pullback),
        "arcs": str(out) if out is not None else None,
        "arcs_file": Path(out).name if out is not None else None,
        "class": found.cls,
        "ics": m["ics"],
        "positive_alines": m["positive_alines"],
        "total_alines": m["total_alines"],
        "max_arc_deg": m["max_arc_deg"],
        "calcium_length_mm": m["length_mm"],
        "n_arcs": len(arcs.arcs),
    }
    if det.kind == "deep":  # the SVM's report is kept as it was
        res.update(model=det.path.name, model_kind=det.kind,
                   synthetic_training=det.synthetic, n_frames=int(pb.n_frames))
    return PredictArcsResult(data=res, rows=[_no_paths(res)], arcs=arcs, labels=found.labels)


def propose_frames(
    pullback: Any,
    *,
    arcs: Any,
    model: Any,
    n: int = IVUS_DEFAULTS["n"],
    spread: int | None = IVUS_DEFAULTS["spread"],
    progress: Any = None,
) -> ProposeFramesResult:
    """Active learning: the ``n`` frames to annotate next, as the annotator dock proposes
    them (:func:`napari_plaque.ivus.active.propose_next`), not yet annotated in ``arcs``, more
    than ``spread`` frames apart (None: from the pullback); ``uncertainty`` in the result is
    each frame's mean A-line uncertainty. ``model``: an A-line model path (SVM .npz or deep
    .pt) or a loaded detector."""
    from .._progress import run_steps
    from ..ivus.active import iter_propose
    from ..ivus.detector import load_aline_detector

    if n < 1:
        raise OptionError(f"--n must be at least 1 (got {n})")
    if spread is not None and spread < 1:
        raise OptionError(f"--spread must be at least 1 frame (got {spread})")
    pb = _pullback(pullback)
    arcset = _arcs_for(arcs, pb)
    det = load_aline_detector(model) if isinstance(model, (str, Path)) else model
    annotated = sorted({a.frame for a in arcset.arcs})
    frames, u, kind = run_steps(
        iter_propose(det, pb, annotated, n, spread, arcset.centers_array(), "calcium"),
        progress("propose-frames", pb.n_frames) if progress is not None else None,
    )
    warnings = []
    if not annotated:
        warnings.append(f"{arcs}: holds no arc; every frame counts as not annotated")
    if len(frames) < n:
        warnings.append(f"only {len(frames)} frames could be proposed (annotated frames and "
                        "spacing leave no more)")
    res = {
        "pullback": _name(pullback),
        "arcs": _name(arcs),
        "model": _name(model),
        "frames": frames,
        "uncertainty": [round(float(u[f]), 4) for f in frames],
        "uncertainty_kind": kind,
        "n_annotated_frames": len(annotated),
        "n_frames": int(pb.n_frames),
        "warnings": warnings,
    }
    rows = [{"frame": f, "uncertainty": v}
            for f, v in zip(res["frames"], res["uncertainty"], strict=True)]
    return ProposeFramesResult(data=res, rows=rows, warnings=list(warnings))


def _same_file(a: str | Path, b: str | Path) -> bool:
    pa, pb_ = Path(a), Path(b)
    if pa.exists() and pb_.exists():
        return pa.samefile(pb_)
    return pa.resolve() == pb_.resolve()


def interpolate_arcs(
    arcs: str | Path,
    *,
    out: str | Path,
    max_gap: int = IVUS_DEFAULTS["max_gap"],
    overwrite: bool = False,
) -> InterpolateArcsResult:
    """Fill the frames between keyframes (frames holding arcs, at most ``max_gap`` apart) with
    interpolated arcs; writes the input arcs plus the new ones to ``out`` (atomically)."""
    from ..ivus.arcs import load_arcs, save_arcs
    from ..ivus.keyframes import interpolate_arcs as _interpolate
    from ..ivus.keyframes import keyframe_gaps

    if _same_file(arcs, out) and not overwrite:
        raise OptionError(
            f"{out}: is the input arcs file; give another --out, or --overwrite to replace it"
        )
    given = load_arcs(arcs)
    keys = sorted({a.frame for a in given.arcs})
    new = _interpolate(given, keys, max_gap=max_gap)
    result = given.copy()
    result.add_many(list(new.arcs))
    save_arcs(result, out, on_conflict="overwrite")  # the user named the file; atomic
    gaps = keyframe_gaps(keys, max_gap)
    filled = sorted({a.frame for a in new.arcs})
    skipped = [(a, b) for a, b in zip(keys[:-1], keys[1:], strict=False) if b - a > max_gap]
    res = {
        "arcs": str(arcs),
        "out": str(out),
        "keyframes": keys,
        "gaps_interpolated": [list(g) for g in gaps],
        "frames_filled": filled,
        "n_arcs_added": len(new.arcs),
        "max_gap": max_gap,
        "warnings": [
            f"keyframes {a} and {b} are {b - a} frames apart (> --max-gap {max_gap}): "
            "not interpolated"
            for a, b in skipped
        ],
    }
    row = {"n_keyframes": len(keys), "n_gaps_interpolated": len(gaps),
           "n_frames_filled": len(filled), "n_arcs_added": len(new.arcs), "max_gap": max_gap}
    return InterpolateArcsResult(data=res, rows=[row], warnings=list(res["warnings"]),
                                 arcs=result)


@dataclass
class ExportAlinesResult(Result):
    """``to_dict()``: ``{"out", "n_pullbacks", "n_frames", "depth_mm", "pullbacks"}`` (the
    shard entries of the training set's manifest); ``to_rows()``: one row per pullback."""

    command = "export-alines"


def _pullback_geometry_task(study, params: dict) -> dict:
    """Frame shape and pixel spacing of one pullback (headers only; runs on a worker)."""
    pb = _pullback(str(study.path))
    return {"frame_shape": list(pb.frame_shape), "pixel_spacing_mm": list(pb.pixel_spacing_mm)}


def _export_shard_task(study, params: dict):
    """One pullback's shard of an A-line training set (runs on a worker that sees the
    staging folder); returns its manifest entry."""
    from .._progress import run_steps
    from ..cohort import input_id
    from ..ivus import load_arcs
    from ..ivus.dataset import iter_write_shard

    arcs = study.input_path("arcs")
    pb = _pullback(str(study.path))
    arcset = load_arcs(arcs, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
    gen = iter_write_shard(
        pb,
        arcset,
        params["staging"],
        f"{study.study_id}-{input_id(study)}",  # the same inputs: the same shard
        params["n_alines"],
        params["depth_samples"],
        params["depth_mm"],
    )
    entry = run_steps(gen, None)
    return entry, [{"frames": entry["n_frames"]}]


def export_alines(
    pullbacks: Any,
    *,
    out: str | Path,
    n_alines: int = IVUS_DEFAULTS["n_alines"],
    depth_samples: int = IVUS_DEFAULTS["depth_samples"],
    depth_mm: float | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool | None = None,
) -> ExportAlinesResult:
    """An A-line training set (features + polar frames) in the folder ``out`` from annotated
    pullbacks: ``pullbacks`` is a list of ``(pullback path, arcs path)`` pairs or of cohort
    :class:`~napari_plaque.cohort.Study` with an ``arcs`` input. One shard per pullback on the
    cohort runner (``workers`` local processes or a dask ``scheduler``), then one set; every
    pullback must succeed (else ValueError, nothing written). ``depth_mm`` None: the deepest
    radius inside every pullback's frames. ``progress``: the cohort runner's progress bar
    (None: on a terminal)."""
    from types import SimpleNamespace

    from ..cohort import Study, cohort_client, study_name
    from ..cohort.cli import run_all
    from ..ivus.dataset import assemble_training_set, default_depth_mm, staging_folder

    studies = []
    for item in pullbacks:
        if isinstance(item, Study):
            studies.append(item)
        else:
            pb_path, arcs_path = item
            studies.append(Study(study_name(pb_path), Path(pb_path), {"arcs": str(arcs_path)}))
    if not studies:
        raise OptionError("no pullback: give PULLBACK paths or --manifest CSV")
    for st in studies:
        if st.input_path("arcs") is None:
            raise OptionError(f"{st.path}: no arcs file (--arcs, or an 'arcs' manifest column)")
    studies = [s.absolute() for s in studies]
    params: dict[str, Any] = {"n_alines": n_alines, "depth_samples": depth_samples}
    run = SimpleNamespace(workers=workers, scheduler=scheduler, progress=progress)
    with (
        cohort_client(workers, scheduler, len(studies)) as client,
        staging_folder(out) as staging,
    ):
        if depth_mm is None:
            geo = run_all(run, _pullback_geometry_task, studies, {}, client=client,
                          what="pullbacks")
            depth_mm = default_depth_mm([SimpleNamespace(**g) for g in geo])
        params.update(depth_mm=depth_mm, staging=str(staging))
        entries = run_all(run, _export_shard_task, studies, params, client=client,
                          what="pullbacks")
        folder = assemble_training_set(staging, entries, out, n_alines, depth_samples,
                                       depth_mm)
    total = sum(e["n_frames"] for e in entries)
    data = {"out": str(folder), "n_pullbacks": len(entries), "n_frames": total,
            "depth_mm": depth_mm, "pullbacks": entries}
    rows = [{k: v for k, v in e.items() if not isinstance(v, (list, dict))} for e in entries]
    return ExportAlinesResult(data=data, rows=rows)


__all__ = [
    "ExportAlinesResult", "IVUS_DEFAULTS", "export_alines", "IcsResult", "InterpolateArcsResult", "PredictArcsResult",
    "ProposeFramesResult", "TrainSvmResult", "ics", "interpolate_arcs", "predict_arcs",
    "propose_frames", "train_svm",
]  # fmt: skip


# ----------------------------------------------------------------------------------- readers
@dataclass
class ReadersResult(Result):
    """``to_dict()``: the ``readers --json`` object (one pullback: ``pullback``, ``readers``,
    ``pairwise``, ``fleiss``, ``mean_ics``...; a manifest: ``readers``, ``pullbacks``,
    ``ics_table``, ``icc_ics``); ``to_rows()``: one row per pullback and reader (ICS, max
    arc)."""

    command = "readers"

    @property
    def pullbacks(self) -> list[dict[str, Any]]:
        """The per-pullback reports (one for a single pullback)."""
        return self.data["pullbacks"] if "pullbacks" in self.data else [self.data]


def _readers_one(pullback_path: Any, arcs: list, names: list[str] | None, cls: str,
                 n_alines: int | None, frames: str | None) -> dict:
    from ..ivus.measure import parse_frame_range
    from ..ivus.readers import inter_reader, load_reader

    pb = _pullback(pullback_path)
    if names is not None and len(names) != len(arcs):
        raise OptionError(f"{len(arcs)} --arcs file(s) but {len(names)} --names")
    sets = [
        load_reader(a, pullback=pb, name=None if names is None else names[i])
        for i, a in enumerate(arcs)
    ]
    seen: dict[str, str] = {}
    for r in sets:
        if r.name in seen:
            raise OptionError(f"{r.path}: reader {r.name!r} again (also {seen[r.name]}); give --names")
        seen[r.name] = str(r.path)
    out = inter_reader(sets, pb.mm_per_frame, n_alines=n_alines, cls=cls,
                       frames=parse_frame_range(frames, pb.n_frames))
    if pb.assumed:
        out["warnings"].append(
            f"{pullback_path}: {', '.join(sorted(pb.assumed))} assumed (lengths may be off)"
        )
    return {"pullback": str(pullback_path), **out}


def readers_manifest(path: str | Path) -> dict[str, dict[str, str]]:
    """pullback -> {reader: arcs} from a readers manifest CSV (columns ``pullback``,
    ``reader``, ``arcs``; relative paths relative to the manifest); ValueError naming the
    file and row."""
    import csv

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"{p}: cannot read the manifest ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    need = {"pullback", "reader", "arcs"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise OptionError(f"{p}: a readers manifest needs the columns pullback, reader, arcs")
    out: dict[str, dict[str, str]] = {}
    for i, row in enumerate(reader, start=2):
        pb_, rd, arcs = (str(row.get(k) or "").strip() for k in ("pullback", "reader", "arcs"))
        if not (pb_ and rd and arcs):
            raise OptionError(f"{p}: row {i} has an empty pullback, reader or arcs cell")
        pbp = str((p.parent / pb_) if not Path(pb_).is_absolute() else Path(pb_))
        ap = str((p.parent / arcs) if not Path(arcs).is_absolute() else Path(arcs))
        per = out.setdefault(pbp, {})
        if rd in per:
            raise OptionError(f"{p}: row {i}: reader {rd!r} twice for pullback {pb_}")
        per[rd] = ap
    if not out:
        raise OptionError(f"{p}: the manifest lists no pullback")
    return out


def _readers_rows(reports: list[dict]) -> list[dict[str, Any]]:
    return [
        {"pullback": rep["pullback"], "reader": r["name"], "ics": r["ics"],
         "max_arc_deg": r["max_arc_deg"], "max_arc_frame": r["max_arc_frame"],
         "arcs": r["arcs"]}
        for rep in reports for r in rep["readers"]
    ]


def readers(
    pullback: Any = None,
    *,
    arcs: list | None = None,
    names: list[str] | None = None,
    manifest: str | Path | None = None,
    cls: str = "calcium",
    n_alines: int | None = None,
    frames: str | None = None,
) -> ReadersResult:
    """Inter-reader figures of IVUS arcs (:mod:`napari_plaque.ivus.readers`): ICS and max arc
    per reader, pairwise Cohen's kappa, Fleiss' kappa for 3+ readers on one ``pullback`` (a
    path or a :class:`~napari_plaque.types.Pullback`) with one ``arcs`` file per reader; or, with ``manifest``, every pullback it lists and the ICC of ICS over them.
    ``n_alines`` None: the count the files record (else 360)."""
    if manifest:
        if pullback is not None or arcs:
            raise OptionError("give PULLBACK --arcs ... or --manifest, not both")
        return _readers_several(manifest, cls, n_alines, frames)
    if pullback is None or not arcs:
        raise OptionError("give PULLBACK and --arcs A.json B.json ... (or --manifest CSV)")
    if len(arcs) < 2:
        raise OptionError(f"{arcs[0]}: one reader; inter-reader figures need 2 or more")
    out = _readers_one(pullback, list(arcs), names, cls, n_alines, frames)
    return ReadersResult(data=out, rows=_readers_rows([out]), warnings=list(out["warnings"]))


def _readers_several(manifest, cls, n_alines, frames) -> ReadersResult:
    from ..ivus.readers import icc_of_ics

    rows = readers_manifest(manifest)
    names = sorted({r for per in rows.values() for r in per})
    for pb_, per in rows.items():
        missing = [r for r in names if r not in per]
        if missing:
            raise OptionError(
                f"{manifest}: pullback {pb_} has no arcs of reader(s) {', '.join(missing)}"
                " (the ICC needs every reader on every pullback)"
            )
    results = [_readers_one(pb_, [per[r] for r in names], names, cls, n_alines, frames)
               for pb_, per in rows.items()]
    table = [[row["ics"] for row in res["readers"]] for res in results]
    out = {
        "readers": names,
        "pullbacks": results,
        "ics_table": table,
        "icc_ics": icc_of_ics(table) if len(results) >= 2 else None,
        "warnings": [w for res in results for w in res["warnings"]],
    }
    if len(results) < 2:
        out["warnings"].append("one pullback: the ICC of ICS needs two or more")
    return ReadersResult(data=out, rows=_readers_rows(results), warnings=list(out["warnings"]))


__all__ += ["ReadersResult", "readers", "readers_manifest"]


# ------------------------------------------------------------------------------- ivus-vessel
#: the border-detection options of ``ivus-vessel`` (``--n-alines`` ...), as the CLI names them
BORDER_OPTIONS = ("n_alines", "depth_samples", "catheter_mm", "min_wall_mm", "frame_window")


@dataclass
class IvusVesselResult(Result):
    """``to_dict()``: the ``ivus-vessel --json`` report (``frames``, ``summary``, ``gating``,
    ``n_frames``, ``mm_per_frame``, ``assumed``, ``notes``); ``to_rows()``: its cohort row (the
    summary's numbers; ``--csv`` writes :attr:`frames`). ``borders``: the lumen / EEM borders."""

    command = "ivus-vessel"
    borders: Any = None

    @property
    def frames(self) -> list[dict[str, Any]]:
        """The per-frame table (``--csv``)."""
        return self.data["frames"]


def _ivus_vessel_row(report: dict[str, Any]) -> dict[str, Any]:
    row = {
        "n_frames": report["n_frames"],
        "mm_per_frame": report["mm_per_frame"],
        "gated": bool(report.get("gating")),
        "assumed": report["assumed"],
    }
    row.update((k, v) for k, v in report["summary"].items() if not isinstance(v, (list, dict)))
    row["n_burden_segments"] = len(report["summary"].get("burden_segments") or [])
    return row


def ivus_vessel(
    pullback: Any,
    *,
    pixel_mm: float | None = None,
    frame_rate: float | None = None,
    pullback_mm_s: float | None = None,
    gated: bool = False,
    burden_threshold: float = MEASURE_DEFAULTS["burden_threshold_pct"],
    no_mask: bool = False,
    contours_in: str | Path | None = None,
    contours_out: str | Path | None = None,
    csv: str | Path | None = None,
    save_borders: bool = False,
    n_alines: int = BORDER_DEFAULTS["n_alines"],
    depth_samples: int = BORDER_DEFAULTS["depth_samples"],
    catheter_mm: float = BORDER_DEFAULTS["catheter_mm"],
    min_wall_mm: float = BORDER_DEFAULTS["min_wall_mm"],
    frame_window: int = BORDER_DEFAULTS["frame_window"],
    progress: Any = None,
) -> IvusVesselResult:
    """Lumen / EEM borders of every frame of a pullback (a path, read with the ``pixel_mm`` /
    ``frame_rate`` / ``pullback_mm_s`` overrides, or a :class:`~napari_plaque.types.Pullback`
    used as it is), then lumen / EEM area, plaque burden, MLA, atheroma volume and segments of
    burden >= ``burden_threshold`` %; ``gated``: end-diastolic frames only. ``contours_in``: a
    contour CSV used instead of detecting (frames it lacks are detected). Outputs, written
    after everything is computed: ``contours_out`` (CSV), ``csv`` (the per-frame table),
    ``save_borders`` (``<pullback>.borders.json`` beside the pullback).
    ``progress(desc, total)``: returns a step callback or None."""
    from .._progress import run_steps
    from ..ivus.vessel_files import (
        borders_path,
        export_contours_csv,
        import_contours_csv,
    )
    from ..ivus.vessel_files import save_borders as _save_borders
    from ..ivus.vessel_measure import iter_analyse_pullback
    from ..report import write_csv
    from ..types import Pullback

    if save_borders and isinstance(pullback, Pullback) and not pullback.source:
        raise OptionError("save_borders: the pullback has no source file to write beside")
    if isinstance(pullback, Pullback):
        given = {"pixel_mm": pixel_mm, "frame_rate": frame_rate, "pullback_mm_s": pullback_mm_s}
        if any(v is not None for v in given.values()) or no_mask:
            raise OptionError(
                "pixel_mm / frame_rate / pullback_mm_s / no_mask apply when reading a file; "
                "set them on the Pullback instead"
            )
        pb = pullback
    else:
        from ..io.frames import read_ivus

        pb = read_ivus(pullback, pixel_mm, frame_rate, pullback_mm_s,
                       mask=None if no_mask else "auto")
    params = {"n_alines": n_alines, "depth_samples": depth_samples, "catheter_mm": catheter_mm,
              "min_wall_mm": min_wall_mm, "frame_window": frame_window}
    borders = None
    where = pb.source or "the pullback"
    try:  # a geometry the detector cannot work on is refused naming the pullback
        if contours_in:
            from ..ivus.borders import detect_borders

            det = detect_borders(pb.frames, pb.pixel_spacing_mm, **params)
            borders, got = import_contours_csv(contours_in, det)
            if not got:
                raise OptionError(f"{contours_in}: no contours in the file")
        cb = progress("borders", pb.n_frames) if progress is not None else None
        report, borders = run_steps(
            iter_analyse_pullback(pb, gated, borders, burden_threshold, **params), cb
        )
    except OptionError as exc:
        if str(exc).startswith(str(where)) or (contours_in and str(contours_in) in str(exc)):
            raise
        raise OptionError(f"{where}: {exc}") from None
    if contours_out:
        export_contours_csv(contours_out, borders)
    if csv:
        write_csv(csv, report["frames"])
    if save_borders:
        _save_borders(borders_path(pb.source), borders, pb.frame_shape, source=pb.source)
    return IvusVesselResult(data=report, rows=[_ivus_vessel_row(report)],
                            warnings=list(report.get("notes") or []), borders=borders)


__all__ += ["BORDER_OPTIONS", "IvusVesselResult", "ivus_vessel"]
