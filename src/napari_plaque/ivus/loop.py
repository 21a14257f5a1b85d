"""The arc-annotation loop without Qt: train, predict, accept/reject, retrain, propose frames.

:class:`AnnotationLoop` sits over an :class:`~napari_plaque.ivus.annotator.ArcAnnotator` (the
user's arcs, undo/redo, autosave) and one pullback. It knows

- which frames are **annotated**: frames holding arcs, plus frames the user marked as reviewed
  (a frame without calcium is a label too) and frames whose proposals were accepted or
  rejected;
- a **training pool**: other (pullback file, arcs file) pairs, every frame of which is a label,
  kept in the session file (:meth:`AnnotationLoop.to_json` / :meth:`AnnotationLoop.from_json`);
- a **detector** trained on both (:meth:`AnnotationLoop.train_steps`): the A-line SVM
  (:mod:`napari_plaque.ivus.svm`) by default, the deep A-line model (:mod:`napari_plaque.models`)
  when torch is importable and asked for. The training set is built by
  :mod:`napari_plaque.ivus.dataset` (the format ``napari-plaque export-alines`` writes);
- **proposals** (predicted arcs on the frames nobody annotated, :meth:`predict_steps`), kept in
  the annotator's ``predicted`` set, apart from the user's arcs, reviewed with
  :meth:`accept` / :meth:`reject` / :meth:`accept_range` / :meth:`reject_range` (each ONE undo
  step of the annotator, predictions included);
- a **learning curve**: held-out A-line F1 against the number of frames annotated, one point
  per train (:attr:`learning_curve`);
- **frames to annotate next** (:attr:`proposals`, active learning by
  :mod:`napari_plaque.ivus.active`) and :meth:`next_proposal` to jump to them;
- **keyframes**: :meth:`interpolate` fills the frames between two annotated frames with
  interpolated arcs (:mod:`napari_plaque.ivus.keyframes`), shown as proposals to accept.

Long work (train, predict) are step generators (:mod:`napari_plaque._progress`): they yield
ints (steps done so far, one yield per step; :meth:`AnnotationLoop.train_total` and
:meth:`AnnotationLoop.predict_total` give the number of yields for a progress bar, and
:attr:`AnnotationLoop.status` a one-line message of the current stage) and *return* their
result, so the dock runs them with ``widgets._worker.start_worker`` (Cancel = ``worker.quit()``)
and the CLI with :func:`~napari_plaque._progress.run_steps`.
The generators compute off the main thread but change the loop's state only at their very end
(one assignment + events), so a cancelled run leaves the loop as it was. Events are emitted from
the thread that finishes the generator: the dock should connect with ``thread="main"`` or apply
results in the worker's ``returned`` callback. Nothing here imports Qt or napari; torch is
imported only for ``kind="deep"``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal
from scipy.ndimage import uniform_filter, uniform_filter1d

from .active import (
    ACTIVE_DEFAULTS,
    deep_model_centre,
    doubt_weights,
    frame_uncertainty,
    propose_next,
)
from .annotator import ArcAnnotator
from .arcs import ArcSet

__all__ = [
    "LOOP_FORMAT",
    "LOOP_VERSION",
    "AnnotationLoop",
    "CurvePoint",
    "PoolEntry",
    "Prediction",
    "Step",
    "TrainResult",
    "svm_scores",
]

LOOP_FORMAT = "napari-plaque/arc-loop"
LOOP_VERSION = 1

#: a progress step yielded by the generators: steps done so far
Step = int


@dataclass
class PoolEntry:
    """One other pullback in the training pool: every frame of it is a label."""

    pullback: str  # path of the pullback file
    arcs: str  # path of its arcs file
    n_frames: int = 0  # checked when added (0: not yet opened)

    def to_json(self) -> dict[str, Any]:
        return {"pullback": self.pullback, "arcs": self.arcs, "n_frames": int(self.n_frames)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PoolEntry:
        return cls(str(d["pullback"]), str(d["arcs"]), int(d.get("n_frames", 0)))


@dataclass
class CurvePoint:
    """One point of the learning curve, recorded after each train."""

    n_frames: int  # frames of this pullback annotated when it was trained
    f1: float | None  # held-out A-line F1 (None: too few annotated frames to hold any out)
    precision: float | None
    recall: float | None
    kind: str  # "svm" or "deep"
    n_train_alines: int  # A-lines the detector was fitted on (this pullback + pool)
    n_heldout_frames: int  # frames whose A-lines the F1 was measured on

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class TrainResult:
    """What :meth:`AnnotationLoop.train_steps` returns (and ``trained`` carries)."""

    kind: str
    model: Any  # SVMModel for "svm"; the models.checkpoint.LoadedModel for "deep"
    report: dict[str, Any]
    point: CurvePoint
    model_path: Path | None = None  # where the model was saved (None: kept in memory)
    warnings: list[str] = field(default_factory=list)
    #: per-A-line values on every frame of the pullback, (F, N): SVM decision values (smoothed)
    #: or deep-model probabilities of the class; what predictions and proposals come from
    scores: np.ndarray | None = field(default=None, repr=False)
    #: "margin" (SVM) or "entropy" (deep): how the scores measure uncertainty
    uncertainty: str = "margin"
    dataset_path: Path | None = None  # the training set written (``out_dir``), if asked


@dataclass
class Prediction:
    """What :meth:`AnnotationLoop.predict_steps` returns: proposals and the values behind them."""

    arcs: ArcSet  # predicted arcs of the frames nobody annotated
    scores: np.ndarray  # (F, N) as in TrainResult.scores
    frames: list[int]  # the frames predicted on
    info: dict[str, Any] = field(default_factory=dict)


#: the polar geometry of the loop's training sets (the export-alines defaults)
N_DEPTH_SAMPLES = 256
#: contiguous blocks of annotated frames held out in turn for the learning curve's F1
HELDOUT_FOLDS = 5


class _FramesView:
    """A Pullback-like view of some frames of a pullback (what the dataset writer exports)."""

    def __init__(self, pullback: Any, frames: np.ndarray) -> None:
        self._pb = pullback
        self._idx = np.asarray(frames, int)
        self.frames = _LazyRows(pullback.frames, self._idx)
        for k in ("frame_time_s", "pullback_rate_mm_s", "pixel_spacing_mm", "source", "name"):
            setattr(self, k, getattr(pullback, k, ""))
        self.assumed = set(getattr(pullback, "assumed", set()))
        self.uid_hash = getattr(pullback, "uid_hash", "") or ""
        self.meta = dict(getattr(pullback, "meta", {}) or {})

    @property
    def n_frames(self) -> int:
        return int(self._idx.size)

    @property
    def frame_shape(self) -> tuple[int, int]:
        return tuple(self._pb.frame_shape)


class _LazyRows:
    def __init__(self, frames: Any, idx: np.ndarray) -> None:
        self._f, self._idx = frames, idx
        self.shape = (int(idx.size), *tuple(frames.shape[1:]))
        self.dtype = getattr(frames, "dtype", np.uint8)
        self.ndim = 3

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        sel = self._idx[key]
        if np.ndim(sel) == 0:
            return np.asarray(self._f[int(sel)])
        return np.stack([np.asarray(self._f[int(i)]) for i in sel]) if len(sel) else np.zeros(
            (0, *self.shape[1:]), self.dtype
        )

    def __array__(self, dtype=None, copy=None):
        a = self[:]
        return a if dtype is None else a.astype(dtype)


def _subset_arcs(arcs: ArcSet, frames: np.ndarray) -> ArcSet:
    """The arcs of ``frames``, renumbered 0..len(frames)-1 (for a :class:`_FramesView`)."""
    from .arcs import Arc

    pos = {int(f): i for i, f in enumerate(frames)}
    c = np.asarray(arcs.centers, float)
    out = arcs.copy()
    out.n_frames = int(len(frames))
    if c.ndim == 2:
        out.centers = c[np.asarray(frames, int)].tolist()
    out.arcs = [
        Arc(pos[a.frame], a.cls, a.start_deg, a.end_deg, a.annotator, a.time)
        for a in arcs.arcs
        if a.frame in pos
    ]
    return out


def _runs(frames: np.ndarray) -> list[np.ndarray]:
    """Contiguous runs of sorted frame indices."""
    if frames.size == 0:
        return []
    cut = np.flatnonzero(np.diff(frames) != 1) + 1
    return np.split(frames, cut)


def _f1(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """A-line F1, precision and recall; NaN where undefined (never a vacuous 1.0): F1 when the
    held-out A-lines hold no positive and none is predicted, precision when nothing is
    predicted, recall when nothing is positive."""
    tp = int(np.count_nonzero(y & p))
    fp = int(np.count_nonzero(~y & p))
    fn = int(np.count_nonzero(y & ~p))
    nan = float("nan")
    prec = tp / (tp + fp) if tp + fp else nan
    rec = tp / (tp + fn) if tp + fn else nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else nan
    return {"f1": f1, "precision": prec, "recall": rec}


def _defined(v: Any) -> float | None:
    """A figure for the learning curve: rounded, None where undefined (NaN, missing)."""
    if v is None:
        return None
    v = float(v)
    return None if not np.isfinite(v) else round(v, 4)


def svm_scores(model: Any, feats: np.ndarray, per_frame: bool = False) -> np.ndarray:
    """Smoothed decision values (F, N) of an SVM on features (F, N, n_features), as
    :meth:`SVMModel.predict_labels` thresholds them. ``per_frame``: smooth along the A-lines
    only (frames that are not neighbours, e.g. held-out frames)."""
    score = model.decision(feats)
    fa = int(model.meta.get("smooth_alines", 1))
    ff = 1 if per_frame else int(model.meta.get("smooth_frames", 1))
    if ff > 1:
        return uniform_filter(score, size=(ff, fa), mode=("nearest", "wrap"))
    if fa > 1:
        return uniform_filter1d(score, size=fa, axis=1, mode="wrap")
    return score


def _counted(gen: Generator[Any, None, Any]) -> Generator[int, None, Any]:
    """Re-yield a step generator's steps as 1, 2, 3, ... (one per yield); return its value."""
    i = 0
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        i += 1
        yield i


def _file_key(*paths: str | Path) -> str:
    h = hashlib.sha1()
    for p in paths:
        st = Path(p).stat()
        h.update(f"{Path(p).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]




class AnnotationLoop:
    """Train / predict / review / retrain over one pullback's :class:`ArcAnnotator`.

    Parameters
    ----------
    annotator : the pullback's annotator (its arcs, reviewed frames and undo history)
    pullback : the :class:`~napari_plaque.types.Pullback` being annotated
    cls : the class the detector learns ("calcium")
    n_proposals : how many frames active learning proposes after each train
    spread : proposed frames are more than this many frames apart (>= 1: never neighbours;
        None: chosen from the pullback, see :mod:`napari_plaque.ivus.active`)
    pullback_power : > 0: weigh each frame's proposal score by its distance along the
        pullback to the nearest annotated frame to this power (:func:`~.active.propose_frames`;
        0: not)
    strategy : how frames are proposed (:func:`~.active.propose_next`): ``"diverse"`` (the
        default: frames whose doubtful A-lines are least like any annotated frame's; before
        the first detector, the frames least like those annotated) or ``"margin"`` (most
        uncertain first)
    seed : random seed (SVM subsampling, deep training)
    heldout_folds : blocks of annotated frames held out in turn for the learning curve
    work_dir : folder for the pool's cached training sets (default: a temporary folder)

    Signals
    -------
    proposals_changed : :attr:`proposals` (frames to annotate next) changed
    predictions_changed : the predicted arcs (``annotator.predicted``) changed (forwarded from
        the annotator: predict, accept, reject, undo)
    curve_changed : a point was added to :attr:`learning_curve` (or it was cleared)
    trained(TrainResult) : a train finished and its model is now :attr:`model`
    pool_changed : the training pool changed
    reviewed_changed : the set of annotated frames changed (forwarded from the annotator)
    """

    proposals_changed = Signal()
    predictions_changed = Signal()
    curve_changed = Signal()
    trained = Signal(object)
    pool_changed = Signal()
    reviewed_changed = Signal()

    def __init__(
        self,
        annotator: ArcAnnotator,
        pullback: Any,
        cls: str = "calcium",
        n_proposals: int = ACTIVE_DEFAULTS["n"],
        spread: int | None = ACTIVE_DEFAULTS["spread"],
        seed: int = 0,
        heldout_folds: int = HELDOUT_FOLDS,
        work_dir: str | Path | None = None,
        pullback_power: float = ACTIVE_DEFAULTS["pullback_power"],
        strategy: str = ACTIVE_DEFAULTS["strategy"],
    ) -> None:
        if annotator.n_frames != pullback.n_frames or tuple(annotator.frame_shape) != tuple(
            pullback.frame_shape
        ):
            raise ValueError(
                f"the annotator is for {annotator.n_frames} frames of "
                f"{list(annotator.frame_shape)}, the pullback has {pullback.n_frames} frames of "
                f"{list(pullback.frame_shape)}"
            )
        self.annotator = annotator
        self.pullback = pullback
        self.cls = cls
        self.n_proposals = int(n_proposals)
        self.spread = spread
        self.pullback_power = float(pullback_power)
        self.strategy = str(strategy)
        self.seed = int(seed)
        self.heldout_folds = int(heldout_folds)
        self.pool: list[PoolEntry] = []
        self.learning_curve: list[CurvePoint] = []
        self.proposals: list[int] = []
        self.model: Any = None
        self.kind: str | None = None
        self.last_train: TrainResult | None = None
        #: per-A-line values of the last train/prediction (F, N) (None: none yet)
        self.scores: np.ndarray | None = None
        self.uncertainty_kind = "margin"
        #: frames never proposed (e.g. frames kept apart for testing)
        self.excluded: set[int] = set()
        #: one line saying what the running train/predict is doing
        self.status = ""
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._features: dict[tuple, np.ndarray] = {}
        self._pool_data: dict[str, dict[str, Any]] = {}
        annotator.predictions_changed.connect(self.predictions_changed.emit)
        annotator.reviewed_changed.connect(self._on_annotated)
        annotator.arcs_changed.connect(self._on_annotated)

    @classmethod
    def for_pullback(cls, pullback: Any, annotator_kwargs: dict | None = None, **kwargs: Any):
        """A loop over a new :meth:`ArcAnnotator.for_pullback` (autosaving beside the file)."""
        return cls(ArcAnnotator.for_pullback(pullback, **(annotator_kwargs or {})), pullback,
                   **kwargs)

    @staticmethod
    def available_kinds() -> list[str]:
        """Detector kinds this installation can train: "svm", and "deep" when torch imports."""
        from ..models import torch_available

        return ["svm", "deep"] if torch_available() else ["svm"]

    # -- what is annotated -------------------------------------------------------------------
    @property
    def reviewed(self) -> set[int]:
        """Frames marked reviewed (kept by the annotator: undoable)."""
        return self.annotator.reviewed

    def annotated_frames(self) -> np.ndarray:
        """Sorted frames that are labels: frames with arcs, plus reviewed frames."""
        return self.annotator.annotated_frames()

    def mark_reviewed(self, frame: int | list[int], reviewed: bool = True) -> bool:
        """Say that ``frame`` is fully annotated (also when it holds no arc: no calcium); one
        undo step of the annotator."""
        return self.annotator.set_reviewed(frame, reviewed)

    def _on_annotated(self) -> None:
        self.reviewed_changed.emit()
        done = set(self.annotated_frames().tolist())
        left = [f for f in self.proposals if f not in done]
        if left != self.proposals:
            self.proposals = left
            self.proposals_changed.emit()

    # -- the training pool -------------------------------------------------------------------
    def add_to_pool(self, pullback_path: str | Path, arcs_path: str | Path) -> PoolEntry:
        """Add another annotated pullback (all its frames are labels); FormatError/ReaderError
        naming the file when it cannot be read or the arcs are for another pullback."""
        pb, _ = self._open_pool(str(pullback_path), str(arcs_path))
        for e in self.pool:
            if Path(e.pullback).resolve() == Path(pullback_path).resolve() and Path(
                e.arcs
            ).resolve() == Path(arcs_path).resolve():
                return e
        entry = PoolEntry(str(pullback_path), str(arcs_path), int(pb.n_frames))
        self.pool.append(entry)
        self.pool_changed.emit()
        return entry

    def remove_from_pool(self, index: int) -> PoolEntry:
        entry = self.pool.pop(int(index))
        self.pool_changed.emit()
        return entry

    def _open_pool(self, pb_path: str, arcs_path: str) -> tuple[Any, ArcSet]:
        from ..io import read_pullback
        from .arcs import load_arcs

        if Path(pb_path).resolve() == Path(getattr(self.pullback, "source", "") or "/-").resolve():
            raise ValueError(
                f"{pb_path}: is the pullback being annotated; its frames are already used"
            )
        pb = read_pullback(pb_path)
        arcs = load_arcs(arcs_path, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
        return pb, arcs

    def to_json(self) -> dict[str, Any]:
        """The loop's state for the session file: pool, reviewed frames, learning curve,
        proposals (the model itself is not kept: retrain after reopening)."""
        return {
            "format": LOOP_FORMAT,
            "version": LOOP_VERSION,
            "cls": self.cls,
            "pool": [e.to_json() for e in self.pool],
            "reviewed": sorted(int(f) for f in self.reviewed),
            "learning_curve": [p.to_json() for p in self.learning_curve],
            "proposals": [int(f) for f in self.proposals],
        }

    def from_json(self, d: dict[str, Any]) -> list[str]:
        """Restore :meth:`to_json`'s state; returns warnings (pool files no longer there).

        ValueError when ``d`` is not a loop state of this version."""
        if not isinstance(d, dict) or d.get("format") != LOOP_FORMAT:
            raise ValueError(f"not a {LOOP_FORMAT} state")
        if d.get("version") != LOOP_VERSION:
            raise ValueError(f"{LOOP_FORMAT} version {d.get('version')!r} is not supported")
        warnings: list[str] = []
        pool = []
        for item in d.get("pool", []):
            e = PoolEntry.from_json(item)
            missing = [p for p in (e.pullback, e.arcs) if not Path(p).exists()]
            if missing:
                warnings.append(f"{missing[0]}: training-pool file not found; left out of the pool")
                continue
            pool.append(e)
        self.pool = pool
        n = self.annotator.n_frames
        self.annotator.reviewed = {int(f) for f in d.get("reviewed", []) if 0 <= int(f) < n}
        self.learning_curve = [CurvePoint(**p) for p in d.get("learning_curve", [])]
        done = set(self.annotated_frames().tolist())
        self.proposals = [
            int(f) for f in d.get("proposals", []) if 0 <= int(f) < n and int(f) not in done
        ]
        self.pool_changed.emit()
        self.reviewed_changed.emit()
        self.curve_changed.emit()
        self.proposals_changed.emit()
        return warnings

    # -- geometry and features -----------------------------------------------------------------
    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="napari-plaque-loop-")
            self._work_dir = Path(self._tmp.name)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        return self._work_dir

    def geometry(self) -> dict[str, Any]:
        """The polar geometry of the training sets: A-lines, depth samples, depth in mm (the
        export-alines default depth over this pullback and the pool)."""
        from .dataset import default_depth_mm

        return {
            "n_alines": int(self.annotator.n_alines),
            "depth_samples": N_DEPTH_SAMPLES,
            "depth_mm": float(default_depth_mm([self.pullback])),
        }

    def _feature_key(self, geo: dict[str, Any]) -> tuple:
        arcs = self.annotator.arcset
        c = np.asarray(arcs.centers_array(), float).round(3)
        return (arcs.center_mode, c.tobytes(), c.shape, geo["n_alines"], geo["depth_samples"],
                round(geo["depth_mm"], 6))

    def features_steps(self) -> Generator[Step, None, np.ndarray]:
        """Features (F, N, n_features) of every frame, about the annotation's centre, computed
        once (cached) with the same function and geometry the dataset writer uses."""
        from .features import iter_pullback_features

        geo = self.geometry()
        key = self._feature_key(geo)
        if key in self._features:
            return self._features[key]
        self.status = "computing A-line features"
        feats = yield from iter_pullback_features(
            self.pullback.frames,
            self.annotator.arcset.centers_array(),
            geo["n_alines"],
            geo["depth_samples"],
            geo["depth_mm"],
            tuple(self.pullback.pixel_spacing_mm),
        )
        feats = feats[0]
        self._features = {key: feats}  # one geometry at a time
        return feats

    def _pool_steps(self, geo: dict[str, Any]) -> Generator[Step, None, list[dict[str, Any]]]:
        """The pool's training sets, exported once each (export-alines format) and loaded."""
        from .dataset import iter_export_training_set, load_training_set

        out = []
        for e in self.pool:
            key = _file_key(e.pullback, e.arcs) + hashlib.sha1(
                json.dumps(geo, sort_keys=True).encode()
            ).hexdigest()[:8]
            if key not in self._pool_data:
                pb, arcs = self._open_pool(e.pullback, e.arcs)
                self.status = f"exporting {Path(e.pullback).name} (training pool)"
                folder = self.work_dir / f"pool-{key}"
                yield from iter_export_training_set(
                    [(pb, arcs)],
                    folder,
                    geo["n_alines"],
                    geo["depth_samples"],
                    geo["depth_mm"],
                    classes=(self.cls,),
                )
                self._pool_data[key] = load_training_set(folder)
            out.append(self._pool_data[key])
        return out

    # -- train -------------------------------------------------------------------------------
    def train_total(self, kind: str = "svm") -> int:
        """About how many times :meth:`train_steps` yields (for a progress bar's total)."""
        cached = self._feature_key(self.geometry()) in self._features
        n = 0 if cached else -(-self.pullback.n_frames // 32)
        n += sum(max(1, e.n_frames // 32) for e in self.pool)
        return n + 2 + max(0, self.heldout_folds)

    def predict_total(self) -> int:
        """How many times :meth:`predict_steps` yields (about)."""
        cached = self._feature_key(self.geometry()) in self._features
        return 1 if cached or self.kind == "deep" else -(-self.pullback.n_frames // 32) + 1

    def training_data(self, feats: np.ndarray, frames: np.ndarray, pool: list[dict[str, Any]],
                      geo: dict[str, Any], labels: np.ndarray | None = None) -> dict[str, Any]:
        """A training set dict (the :func:`~napari_plaque.ivus.dataset.load_training_set`
        layout) of ``frames`` of this pullback (group 0) and the pool (groups 1..);
        ``labels`` (F, N) bool of the class (default: the annotator's arcs now)."""
        from .features import FEATURE_NAMES, FEATURE_VERSION

        n = geo["n_alines"]
        frames = np.asarray(frames, int)
        if labels is None:
            labels = self.annotator.arcset.labels(n, [self.cls])[:, :, 0]
        lab = labels[frames]
        parts = {
            "X": [feats[frames].reshape(-1, feats.shape[-1])],
            "y": [lab.reshape(-1, 1)],
            "pullback": [np.zeros(frames.size * n, np.int32)],
            "frame": [np.repeat(frames.astype(np.int32), n)],
            "aline": [np.tile(np.arange(n, dtype=np.int32), frames.size)],
        }
        for g, d in enumerate(pool, start=1):
            classes = list(d["manifest"]["classes"])
            parts["X"].append(np.asarray(d["X"], np.float32))
            parts["y"].append(np.asarray(d["y"])[:, [classes.index(self.cls)]])
            parts["pullback"].append(np.full(len(d["X"]), g, np.int32))
            parts["frame"].append(np.asarray(d["frame"], np.int32))
            parts["aline"].append(np.asarray(d["aline"], np.int32))
        data = {k: np.concatenate(v) for k, v in parts.items()}
        data["manifest"] = {
            "classes": [self.cls],
            "feature_names": list(FEATURE_NAMES),
            "feature_version": FEATURE_VERSION,
            **geo,
        }
        return data

    def train_steps(
        self,
        kind: str = "svm",
        out_dir: str | Path | None = None,
        apply: bool = True,
        **params: Any,
    ) -> Generator[Step, None, TrainResult]:
        """Build the training set (this pullback's annotated frames + the pool) and fit.

        Yields steps done (about :meth:`train_total`); returns a :class:`TrainResult`. With
        ``apply`` (default) it ends by :meth:`apply_train` (sets :attr:`model`, appends to
        :attr:`learning_curve`, refreshes :attr:`proposals`, emits ``curve_changed``,
        ``trained``, ``proposals_changed``); a dock running it in a worker passes
        ``apply=False`` and calls :meth:`apply_train` on the main thread. ``out_dir``: also
        write the training set there (the ``export-alines`` format). ``params`` go to
        :func:`napari_plaque.ivus.svm.train_svm` (``C``, ``max_samples``, ``smooth_alines``...)
        or to :func:`napari_plaque.models.train.iter_train_alines` (``epochs``, ...).

        ValueError (named) when there is nothing to learn from: no annotated frame and no
        pool, or no positive / no negative A-line.
        """
        if kind not in ("svm", "deep"):
            raise ValueError(f"detector kind must be 'svm' or 'deep', got {kind!r}")
        frames = self.annotated_frames()
        if frames.size == 0 and not self.pool:
            raise ValueError(
                "nothing to train on: annotate some frames (or mark frames without calcium as "
                "reviewed), or add annotated pullbacks to the training pool"
            )
        if kind == "deep":
            result = yield from _counted(self._train_deep(frames, out_dir, **params))
        else:
            result = yield from _counted(self._train_svm(frames, out_dir, **params))
        if apply:
            self.apply_train(result)
        return result

    def retrain_steps(self, **kwargs: Any) -> Generator[Step, None, TrainResult]:
        """Train again with the same kind; accepted and reviewed frames now count as labels."""
        return self.train_steps(kind=kwargs.pop("kind", self.kind or "svm"), **kwargs)

    def _train_svm(self, frames: np.ndarray, out_dir, **params: Any):
        from .svm import train_svm

        geo = self.geometry()
        # the labels as they are now: edits made while training wait for the next train
        labels = self.annotator.arcset.copy().labels(geo["n_alines"], [self.cls])[:, :, 0]
        feats = yield from self.features_steps()
        pool = yield from self._pool_steps(geo)
        done = 0
        params.setdefault("seed", self.seed)
        params["n_folds"] = 1  # the held-out score is measured here, on this pullback's frames
        # held-out F1: contiguous blocks of the annotated frames left out in turn
        k = min(self.heldout_folds, frames.size)
        y_all, p_all = [], []
        held = 0
        if k >= 2:
            self.status = f"held-out F1 ({k} blocks of annotated frames)"
            for block in np.array_split(frames, k):
                rest = np.setdiff1d(frames, block)
                data = self.training_data(feats, rest, pool, geo, labels)
                y = data["y"][:, 0]
                done += 1
                yield done
                if y.all() or not y.any():
                    continue
                m, _ = train_svm(data, cls=self.cls, **params)
                p = svm_scores(m, feats[block], per_frame=True) > m.meta.get("threshold", 0.0)
                y_all.append(labels[block].ravel())
                p_all.append(p.ravel())
                held += block.size
        self.status = "fitting the SVM"
        data = self.training_data(feats, frames, pool, geo, labels)
        model, report = train_svm(data, cls=self.cls, **params)
        done += 1
        yield done
        scores = svm_scores(model, feats)
        m = _f1(np.concatenate(y_all), np.concatenate(p_all)) if y_all else None
        point = CurvePoint(
            n_frames=int(frames.size),
            f1=None if m is None else _defined(m["f1"]),
            precision=None if m is None else _defined(m["precision"]),
            recall=None if m is None else _defined(m["recall"]),
            kind="svm",
            n_train_alines=int(model.meta.get("n_train_alines", data["X"].shape[0])),
            n_heldout_frames=int(held),
        )
        report["heldout"] = m
        ds_path = None
        if out_dir is not None:
            ds_path = yield from self.export_steps(out_dir)
        self.status = "trained"
        return TrainResult("svm", model, report, point, None, [], scores, "margin", ds_path)

    def export_steps(self, out_dir: str | Path) -> Generator[Step, None, Path]:
        """Write the training set (this pullback's annotated frames, in contiguous runs, plus
        the pool) to ``out_dir`` in the ``export-alines`` format; returns the folder."""
        from .dataset import iter_export_training_set

        geo = self.geometry()
        frames = self.annotated_frames()
        items = [(_FramesView(self.pullback, r), _subset_arcs(self.annotator.arcset, r))
                 for r in _runs(frames)]
        for e in self.pool:
            items.append(self._open_pool(e.pullback, e.arcs))
        self.status = f"writing the training set to {out_dir}"
        path = yield from iter_export_training_set(
            items, out_dir, geo["n_alines"], geo["depth_samples"], geo["depth_mm"],
            classes=(self.cls,),
        )
        return Path(path)

    def _train_deep(self, frames: np.ndarray, out_dir, **params: Any):
        from ..models import require_torch

        require_torch()
        from ..models.checkpoint import load_checkpoint
        from .deep import iter_train_alines

        folder = Path(out_dir) if out_dir is not None else self.work_dir / "training-set"
        ds_path = yield from self.export_steps(folder)
        model_out = Path(params.pop("model_out", self.work_dir / "alines-model.pt"))
        params.setdefault("seed", self.seed)
        self.status = "training the deep A-line model"
        res = yield from iter_train_alines(ds_path, model_out, **params)
        lm = load_checkpoint(res.path)
        scores = yield from self._deep_scores(lm)
        yield from self.features_steps()  # the proposals' embedding (cached)
        met = res.metrics or {}
        n_val = int(lm.metadata.get("data", {}).get("n_val_frames", 0))
        positives = met.get(f"{self.cls}_val_positives")
        # the trainer's F1 is undefined (not 1.0) without validation frames or positives
        defined = n_val > 0 and positives != 0
        point = CurvePoint(
            n_frames=int(frames.size),
            f1=_defined(met.get(f"{self.cls}_f1")) if defined else None,
            precision=_defined(met.get(f"{self.cls}_precision")) if defined else None,
            recall=_defined(met.get(f"{self.cls}_recall")) if defined else None,
            kind="deep",
            n_train_alines=int(
                lm.metadata.get("data", {}).get("n_train_frames", 0) * self.annotator.n_alines
            ),
            n_heldout_frames=int(lm.metadata.get("data", {}).get("n_val_frames", 0)),
        )
        report = {"metrics": met, "history": res.history, "best_epoch": res.best_epoch,
                  "note": "F1 on the trainer's validation frames (unsmoothed)"}
        return TrainResult("deep", lm, report, point, Path(res.path), [], scores, "entropy",
                           Path(ds_path) if out_dir is not None else None)

    def _deep_scores(self, lm: Any):
        from .deep import iter_predict_pullback

        advice = "switch the annotator to the catheter centre to use it"
        c = deep_model_centre(self.annotator.arcset.centers_array(), advice)
        self.status = "deep model: predicting"
        pred = yield from iter_predict_pullback(lm, self.pullback, center=c)
        return pred.probs[:, :, pred.classes.index(self.cls)]

    def apply_train(self, result: TrainResult) -> None:
        """Make ``result`` the loop's model: curve point, proposals, events (main thread)."""
        self.model = result.model
        self.kind = result.kind
        self.last_train = result
        self.scores = result.scores
        self.uncertainty_kind = result.uncertainty
        self.learning_curve.append(result.point)
        self.curve_changed.emit()
        self.trained.emit(result)
        self.propose()

    # -- predict -----------------------------------------------------------------------------
    def predict_steps(self, apply: bool = True) -> Generator[Step, None, Prediction]:
        """Predict on the frames nobody annotated; with ``apply`` the arcs become the
        annotator's predictions (:meth:`apply_prediction`). RuntimeError before a train."""
        if self.model is None:
            raise RuntimeError("no detector yet: train first")
        return (yield from _counted(self._predict(apply)))

    def _predict(self, apply: bool) -> Generator[Any, None, Prediction]:
        if self.kind == "deep":
            scores = yield from self._deep_scores(self.model)
            thr = float(self.model.metadata.get("output", {}).get("threshold", 0.5))
            labels = scores >= thr
            note = f"model {Path(str(getattr(self.last_train, 'model_path', '') or '')).stem}"
        else:
            feats = yield from self.features_steps()
            scores = svm_scores(self.model, feats)
            labels = scores > float(self.model.meta.get("threshold", 0.0))
            note = "svm (annotation loop)"
        done = set(self.annotated_frames().tolist())
        todo = [f for f in range(self.annotator.n_frames) if f not in done]
        labels = labels.copy()
        labels[sorted(done)] = False
        arcs = self.annotator.arcset
        pred = ArcSet.from_labels(
            labels[:, :, None], [self.cls], arcs.frame_shape, arcs.center_mode,
            arcs.centers, annotator=note,
        )
        yield 1
        out = Prediction(pred, scores, todo, {"source": "loop", "kind": self.kind,
                                              "n_train": len(self.learning_curve)})
        if apply:
            self.apply_prediction(out)
        return out

    def apply_prediction(self, prediction: Prediction) -> None:
        """Show ``prediction`` as the annotator's predictions and refresh the proposals."""
        self.scores = prediction.scores
        self.annotator.set_predictions(prediction.arcs, **prediction.info)
        self.propose()

    # -- reviewing predictions: each call is ONE undo step -----------------------------------
    def accept(self, frame: int, arc_index: int | None = None) -> int:
        """Accept the predicted arcs of ``frame`` (or only its ``arc_index``-th one); the frame
        becomes annotated once no prediction is left on it."""
        return self.annotator.accept(frame, arc_index)

    def reject(self, frame: int, arc_index: int | None = None) -> int:
        """Reject predicted arcs of ``frame`` (or its ``arc_index``-th one)."""
        return self.annotator.reject(frame, arc_index)

    def accept_range(self, first: int, last: int) -> int:
        """Accept every predicted arc of frames ``first..last`` (inclusive)."""
        return self.annotator.accept_range(first, last)

    def reject_range(self, first: int, last: int) -> int:
        return self.annotator.reject_range(first, last)

    # -- active learning ---------------------------------------------------------------------
    def frame_uncertainty(self) -> np.ndarray | None:
        """Per-frame uncertainty (F,) of the last scores (None before a train)."""
        if self.scores is None:
            return None
        return frame_uncertainty(self.scores, self.uncertainty_kind, self._threshold())

    def frame_doubt(self) -> np.ndarray | None:
        """Per frame, how many A-lines the last scores call calcium or doubt
        (:func:`~.active.doubt_weights`: what the ``"diverse"`` proposals weigh); None before
        a train."""
        if self.scores is None:
            return None
        return doubt_weights(self.scores, self.uncertainty_kind, self._threshold()).sum(axis=1)

    def _threshold(self) -> float:
        """The SVM's decision threshold of the scores (0 for the deep model's)."""
        if self.kind == "svm" and self.model is not None:
            return float(self.model.meta.get("threshold", 0.0))
        return 0.0

    def propose(self, n: int | None = None) -> list[int]:
        """Recompute :attr:`proposals` (:func:`~.active.propose_next`, :attr:`strategy`) from
        the last scores and the cached A-line features (never a frame of :attr:`excluded`);
        before a train, the ``"diverse"`` cold start where the features are cached (else
        nothing). Emits ``proposals_changed``."""
        feats = self._features.get(self._feature_key(self.geometry()))
        strategy = self.strategy if feats is not None else "margin"  # no features: margin
        new = propose_next(
            self.scores, feats, self.n_proposals if n is None else int(n),
            self.annotated_frames().tolist(), self.spread, self.excluded,
            self.uncertainty_kind, self._threshold(), strategy, self.pullback_power,
        )  # fmt: skip
        self.proposals = new
        self.proposals_changed.emit()
        return new

    def next_proposal(self, current_frame: int, direction: int = 1) -> int | None:
        """The proposed frame after (``direction=+1``) or before (-1) ``current_frame`` along
        the pullback, wrapping round; None when nothing is proposed."""
        if not self.proposals:
            return None
        fs = sorted(self.proposals)
        if direction >= 0:
            after = [f for f in fs if f > current_frame]
            return after[0] if after else fs[0]
        before = [f for f in fs if f < current_frame]
        return before[-1] if before else fs[-1]

    # -- keyframes ---------------------------------------------------------------------------
    def interpolate(self, max_gap: int | None = None) -> int:
        """Interpolated arcs between annotated keyframes (frames with arcs or reviewed) become
        the annotator's predictions (replacing a model's); returns how many arcs."""
        from .keyframes import DEFAULT_MAX_GAP, interpolate_arcs

        gap = DEFAULT_MAX_GAP if max_gap is None else int(max_gap)
        keys = self.annotated_frames().tolist()
        pred = interpolate_arcs(self.annotator.arcset, keys, max_gap=gap)
        self.annotator.set_predictions(pred, source="keyframes", max_gap=gap)
        return len(pred.arcs)
