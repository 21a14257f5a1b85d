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

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from .annotator import ArcAnnotator
from .arcs import ArcSet

__all__ = [
    "LOOP_FORMAT",
    "LOOP_VERSION",
    "AnnotationLoop",
    "CurvePoint",
    "PoolEntry",
    "Step",
    "TrainResult",
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


class AnnotationLoop:
    """Train / predict / review / retrain over one pullback's :class:`ArcAnnotator`.

    Parameters
    ----------
    annotator : the pullback's annotator (its arcs and undo history are used and changed)
    pullback : the :class:`~napari_plaque.types.Pullback` being annotated
    cls : the class the detector learns ("calcium")
    n_proposals : how many frames active learning proposes after each train
    min_gap : proposed frames are at least this many frames apart (2: never neighbours)
    seed : random seed (held-out split, SVM)

    Signals
    -------
    proposals_changed : :attr:`proposals` (frames to annotate next) changed
    predictions_changed : the predicted arcs (annotator.predicted) changed (forwarded from the
        annotator: predict, accept, reject, undo)
    curve_changed : a point was added to :attr:`learning_curve` (or it was cleared)
    trained(TrainResult) : a train finished and its model is now :attr:`model`
    pool_changed : the training pool changed
    reviewed_changed : the set of annotated frames changed (a frame marked reviewed)
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
        n_proposals: int = 10,
        min_gap: int = 2,
        seed: int = 0,
    ) -> None:
        self.annotator = annotator
        self.pullback = pullback
        self.cls = cls
        self.n_proposals = int(n_proposals)
        self.min_gap = int(min_gap)
        self.seed = int(seed)
        self.pool: list[PoolEntry] = []
        self.reviewed: set[int] = set()
        self.learning_curve: list[CurvePoint] = []
        self.proposals: list[int] = []
        self.model: Any = None
        self.kind: str | None = None
        #: per-A-line decision values of the last prediction (F, N) float32 (None: none yet)
        self.scores: np.ndarray | None = None
        #: one line saying what the running train/predict is doing
        self.status = ""
        annotator.predictions_changed.connect(self.predictions_changed.emit)

    # -- what is annotated -------------------------------------------------------------------
    def annotated_frames(self) -> np.ndarray:
        """Sorted frames that are labels: frames with arcs, plus reviewed frames."""
        raise NotImplementedError

    def mark_reviewed(self, frame: int, reviewed: bool = True) -> None:
        """Say that ``frame`` is fully annotated (also when it holds no arc: no calcium)."""
        raise NotImplementedError

    # -- the training pool -------------------------------------------------------------------
    def add_to_pool(self, pullback_path: str | Path, arcs_path: str | Path) -> PoolEntry:
        """Add another annotated pullback; FormatError naming the file when they do not fit."""
        raise NotImplementedError

    def remove_from_pool(self, index: int) -> PoolEntry:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """The loop's state for the session file: pool, reviewed frames, learning curve."""
        raise NotImplementedError

    def from_json(self, d: dict[str, Any]) -> list[str]:
        """Restore :meth:`to_json`'s state; returns warnings (pool files no longer there)."""
        raise NotImplementedError

    # -- train / predict ---------------------------------------------------------------------
    def train_steps(
        self, kind: str = "svm", out_dir: str | Path | None = None, **params: Any
    ) -> Generator[Step, None, TrainResult]:
        """Build the training set (this pullback's annotated frames + the pool) and fit.

        Yields steps done (:meth:`train_total` of them); returns a :class:`TrainResult`. At the end: sets
        :attr:`model`, appends to :attr:`learning_curve`, emits ``curve_changed`` and
        ``trained``. ``out_dir``: keep the training set (the ``export-alines`` format) there.
        ``params`` go to :func:`napari_plaque.ivus.svm.train_svm` (``C``...) or to the deep
        training (``epochs``...).
        """
        raise NotImplementedError

    def train_total(self, kind: str = "svm") -> int:
        """How many times :meth:`train_steps` yields (for a progress bar's total)."""
        raise NotImplementedError

    def predict_total(self) -> int:
        """How many times :meth:`predict_steps` yields."""
        raise NotImplementedError

    def retrain_steps(self, **kwargs: Any) -> Generator[Step, None, TrainResult]:
        """Train again with the same kind; accepted frames now count as labels."""
        return self.train_steps(kind=kwargs.pop("kind", self.kind or "svm"), **kwargs)

    def predict_steps(self) -> Generator[Step, None, ArcSet]:
        """Predict on the frames nobody annotated; the arcs become the annotator's predictions.

        Also refreshes :attr:`proposals` (active learning) from the decision values.
        """
        raise NotImplementedError

    # -- reviewing predictions: each call is ONE undo step -----------------------------------
    def accept(self, frame: int, arc_index: int | None = None) -> int:
        """Accept the predicted arcs of ``frame`` (or only its ``arc_index``-th one)."""
        raise NotImplementedError

    def reject(self, frame: int, arc_index: int | None = None) -> int:
        raise NotImplementedError

    def accept_range(self, first: int, last: int) -> int:
        """Accept every predicted arc of frames ``first..last`` (inclusive)."""
        raise NotImplementedError

    def reject_range(self, first: int, last: int) -> int:
        raise NotImplementedError

    # -- active learning ---------------------------------------------------------------------
    def propose(self, n: int | None = None) -> list[int]:
        """Recompute :attr:`proposals` from the last decision values; emits proposals_changed."""
        raise NotImplementedError

    def next_proposal(self, current_frame: int, direction: int = 1) -> int | None:
        """The proposed frame after (``direction=+1``) or before (-1) ``current_frame``,
        wrapping round; None when nothing is proposed."""
        raise NotImplementedError

    # -- keyframes ---------------------------------------------------------------------------
    def interpolate(self, max_gap: int | None = None) -> int:
        """Interpolated arcs between annotated keyframes as proposals; returns how many."""
        raise NotImplementedError
