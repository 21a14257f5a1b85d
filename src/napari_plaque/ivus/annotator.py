"""The IVUS arc annotator's state, without Qt: arcs, history, predictions, autosave, events.

:class:`ArcAnnotator` holds everything an annotation session knows (the
:class:`~napari_plaque.ivus.arcs.ArcSet`, undo/redo history, predicted arcs waiting to be
accepted or rejected, where and whether the arcs were saved) and says what changed through
psygnal signals. The napari dock (:mod:`napari_plaque.widgets.ivus`) only binds gestures to its
methods and redraws on its events, in the manner of napari-animation (a model class, a thin
Qt view). Everything here is tested without a viewer.

Undo covers the arcs, the predictions waiting and the *reviewed* frames (frames the user has
finished, which count as labels even without an arc) together, so accepting or rejecting
predictions (per arc, per frame, over a frame range), a paint stroke on the arc map
(:meth:`ArcAnnotator.begin_stroke` / :meth:`~ArcAnnotator.paint` /
:meth:`~ArcAnnotator.end_stroke`, or :meth:`~ArcAnnotator.paint_block`) and any edit are each
one undo step. :meth:`ArcAnnotator.next_ed_frame` steps through the end-diastolic frames of
:mod:`napari_plaque.ivus.gating`. The train / predict / propose loop over an annotator is
:class:`napari_plaque.ivus.loop.AnnotationLoop`.

Autosave: every edit is written at once (atomically) to ``<pullback>.arcs.json`` beside the
pullback file, or to the file chosen with :meth:`ArcAnnotator.save_to`. A failed write
(read-only folder, full disk, a file changed by someone else) never loses the session: the
arcs stay in memory, :attr:`ArcAnnotator.save_error` says why, ``save_state`` is emitted with
``ok=False`` and the user can save elsewhere or, on a conflict, reload and merge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from ..history import History, Undoable
from ..io.errors import FormatError
from ..lazy_stack import LazyFrameStack
from .arcs import (
    DEFAULT_CLASSES,
    Arc,
    ArcsConflictError,
    ArcSet,
    arc_extent,
    load_arcs,
    merge_arcs,
    reload_and_merge,
    save_arcs,
)
from .measure import arc_measurements, pullback_summary
from .polar import N_ALINES
from .render import frame_sector_labels

__all__ = [
    "UNDO_DEPTH",
    "ArcAnnotator",
    "ArcDrag",
    "ArcSectorStack",
    "angle_about",
    "subtract_arc",
    "autosave_path",
]

#: how many undo steps are kept
UNDO_DEPTH = 200


def autosave_path(source: str | Path) -> Path:
    """Where the annotations of a pullback file are kept: ``<pullback>.arcs.json`` beside it."""
    p = Path(source)
    return p.with_name(p.name + ".arcs.json")


def angle_about(center: tuple[float, float], row: float, col: float) -> float:
    """Angle in degrees [0, 360) of pixel (row, col) about ``center`` (cy, cx).

    0 deg points along +column (right), angles grow towards +row (down on screen), i.e.
    clockwise as displayed, the convention of :mod:`napari_plaque.ivus.arcs`.
    """
    cy, cx = center
    return float(np.degrees(np.arctan2(row - cy, col - cx)) % 360.0)


def _sweep(prev_deg: float, new_deg: float) -> float:
    """Signed smallest angular step from ``prev`` to ``new`` in (-180, 180]."""
    d = (new_deg - prev_deg + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def _pieces(start_deg: float, end_deg: float) -> list[tuple[float, float]]:
    """An arc as non-wrapping intervals of [0, 360]."""
    ext = arc_extent(start_deg, end_deg)
    if ext <= 0:
        return []
    if ext >= 360.0:
        return [(0.0, 360.0)]
    s = float(np.mod(start_deg, 360.0))
    e = s + ext
    return [(s, e)] if e <= 360.0 else [(s, 360.0), (0.0, e - 360.0)]


def subtract_arc(
    start_deg: float, end_deg: float, cut_start: float, cut_end: float
) -> list[tuple[float, float]]:
    """What is left of arc ``[start, end)`` once ``[cut_start, cut_end)`` is removed (exact,
    wrap-around handled); canonical arcs, a piece through 0 deg as one wrapping arc."""
    left = _pieces(start_deg, end_deg)
    for c0, c1 in _pieces(cut_start, cut_end):
        nxt = []
        for a0, a1 in left:
            if c1 <= a0 or c0 >= a1:
                nxt.append((a0, a1))
                continue
            if a0 < c0:
                nxt.append((a0, c0))
            if c1 < a1:
                nxt.append((c1, a1))
        left = nxt
    return merge_arcs([(a, b) for a, b in left if b - a > 1e-9])


@dataclass
class _State:
    """One undo snapshot: the user's arcs, the predictions waiting and the reviewed frames."""

    arcset: ArcSet
    predicted: ArcSet | None
    reviewed: frozenset[int] = field(default_factory=frozenset)
    pred_gen: int = 0  # which set_predictions the predictions came from


@dataclass
class ArcDrag:
    """One press-drag-release gesture around the centre, accumulated as a signed sweep.

    The sweep follows the pointer either way round (up to a full ring), so an arc through
    0 deg or drawn counter-clockwise comes out right.
    """

    frame: int
    start_deg: float
    sweep_deg: float = 0.0
    _prev: float | None = None

    def move(self, angle_deg: float) -> tuple[float, float] | None:
        prev = self.start_deg if self._prev is None else self._prev
        self.sweep_deg = float(np.clip(self.sweep_deg + _sweep(prev, angle_deg), -360.0, 360.0))
        self._prev = angle_deg
        return self.arc()

    @property
    def extent_deg(self) -> float:
        return min(abs(self.sweep_deg), 360.0)

    def arc(self) -> tuple[float, float] | None:
        """(start, end) of the arc drawn so far, or None when it is under a degree."""
        if abs(self.sweep_deg) < 1.0:
            return None
        if abs(self.sweep_deg) >= 359.5:
            return (0.0, 360.0)
        s = self.start_deg if self.sweep_deg > 0 else self.start_deg + self.sweep_deg
        e = s + abs(self.sweep_deg)
        return (s % 360.0, e % 360.0)


class ArcSectorStack(LazyFrameStack):
    """A lazy (frames, rows, cols) uint8 array of arc sectors for a napari labels layer.

    napari slices it like any array-like; only the frame on screen is rendered (class index
    ``k + 1`` per class), so scrolling never replaces layer data. ``get_arcs`` returns the
    ArcSet to draw (or None: empty); call the layer's ``refresh()`` after an edit.
    """

    def __init__(self, get_arcs, n_frames: int, frame_shape, band=None) -> None:
        super().__init__(n_frames, frame_shape)
        self._get_arcs = get_arcs
        self.band = band

    @property
    def arcset(self):
        """The ArcSet drawn now (the annotator's live arcs; None: nothing)."""
        return self._get_arcs()

    def frame(self, f: int) -> np.ndarray:
        arcs = self._get_arcs()
        if arcs is None or not arcs.arcs_for(f):
            return np.zeros(self.shape[1:], np.uint8)
        kw = {} if self.band is None else {"band": self.band}
        return frame_sector_labels(arcs, int(f), **kw)


class ArcAnnotator(Undoable):
    """Arc annotation of one pullback: edits with undo/redo, predictions, autosave.

    Parameters
    ----------
    n_frames, frame_shape : the pullback's geometry (arcs files are checked against it)
    mm_per_frame : distance between frames (for lengths)
    save_path : where edits are autosaved (None: nowhere until :meth:`save_to`)
    restore : load ``save_path`` first when it exists

    Signals
    -------
    arcs_changed : the annotation changed (an edit, undo/redo, load, merge)
    predictions_changed : predicted arcs arrived, were accepted or rejected
    save_state(str, bool) : a message about saving and whether the arcs are safely on disk
    reviewed_changed : the set of reviewed frames changed

    Undo covers the arcs, the predictions and the reviewed frames together: accepting,
    rejecting (per arc, frame or range), a paint stroke, an edit are each one step.
    """

    arcs_changed = Signal()
    predictions_changed = Signal()
    save_state = Signal(str, bool)
    reviewed_changed = Signal()

    def __init__(
        self,
        n_frames: int,
        frame_shape: tuple[int, int],
        mm_per_frame: float = 1.0,
        save_path: str | Path | None = None,
        restore: bool = True,
        classes: tuple[str, ...] | list[str] = DEFAULT_CLASSES,
        n_alines: int = N_ALINES,
        pullback_id: str | None = None,
    ) -> None:
        self.n_frames = int(n_frames)
        #: the pullback's id (:func:`.arcs.pullback_uid`): arcs files of another pullback are
        #: refused on restore and load (None: only the frame count and size are checked)
        self.pullback_id = pullback_id
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.mm_per_frame = float(mm_per_frame)
        self.n_alines = int(n_alines)
        self.arcset = ArcSet(self.n_frames, self.frame_shape, list(classes))
        self.predicted: ArcSet | None = None
        self.prediction_info: dict[str, Any] = {}
        self.save_path = Path(save_path) if save_path is not None else None
        self.save_error: str | None = None
        self.conflict = False
        self.message = ""
        self.history: History[_State] = History(UNDO_DEPTH)
        self._stats: dict[str, dict[str, Any]] | None = None
        #: frames the user has reviewed in full (a frame without arcs is then "no plaque")
        self.reviewed: set[int] = set()
        #: end-diastolic gating of the pullback (None until :meth:`compute_gating`)
        self.gating: Any = None
        self._stroke: _State | None = None
        self._pred_gen = 0
        if restore and self.save_path is not None and self.save_path.exists():
            try:
                self.arcset = load_arcs(self.save_path, self.n_frames, self.frame_shape,
                                        pullback=self.pullback_id)
                self.message = f"restored {len(self.arcset.arcs)} arcs"
            except FormatError as exc:
                # never overwrite a file we could not read: keep working, save elsewhere
                self.save_path = None
                self.save_error = f"could not restore: {exc}"
                self.message = self.save_error

    @classmethod
    def for_pullback(cls, pullback: Any, **kwargs: Any) -> ArcAnnotator:
        """An annotator for a :class:`~napari_plaque.types.Pullback`; autosaves beside its file."""
        from .arcs import pullback_uid

        source = getattr(pullback, "source", "") or ""
        kwargs.setdefault("save_path", autosave_path(source) if source else None)
        kwargs.setdefault("pullback_id", pullback_uid(pullback))
        return cls(pullback.n_frames, pullback.frame_shape, pullback.mm_per_frame, **kwargs)

    # -- history ------------------------------------------------------------------------------
    def _state(self) -> _State:
        pred = None if self.predicted is None else self.predicted.copy()
        return _State(self.arcset.copy(), pred, frozenset(self.reviewed), self._pred_gen)

    def _push(self) -> None:
        self.history.push(self._state())

    def _changed(self) -> None:
        self._stats = None
        self.autosave()
        self.arcs_changed.emit()

    def _restore(self, state: _State, current: _State) -> None:
        self.arcset = state.arcset
        if state.pred_gen == self._pred_gen:  # newer predictions are never replaced by older
            self.predicted = state.predicted
        self.reviewed = set(state.reviewed)
        self._changed()
        if _pred_key(self.predicted) != _pred_key(current.predicted):
            self.predictions_changed.emit()
        if state.reviewed != current.reviewed:
            self.reviewed_changed.emit()

    def undo(self) -> bool:
        current = self._state()
        state = self.history.undo(current)
        if state is None:
            return False
        self._restore(state, current)
        return True

    def redo(self) -> bool:
        current = self._state()
        state = self.history.redo(current)
        if state is None:
            return False
        self._restore(state, current)
        return True

    # -- reviewed frames ------------------------------------------------------------------
    def set_reviewed(self, frames: Any, reviewed: bool = True) -> bool:
        """Mark frames as reviewed in full (or not); one undo step. False when nothing changed."""
        fs = {int(f) for f in np.atleast_1d(np.asarray(frames, int)) if 0 <= f < self.n_frames}
        new = (self.reviewed | fs) if reviewed else (self.reviewed - fs)
        if new == self.reviewed:
            return False
        self._push()
        self.reviewed = new
        self.reviewed_changed.emit()
        return True

    def annotated_frames(self) -> np.ndarray:
        """Frames that are labels: frames holding arcs plus reviewed frames (sorted)."""
        fs = {a.frame for a in self.arcset.arcs} | self.reviewed
        return np.array(sorted(fs), dtype=np.int64)

    # -- edits ----------------------------------------------------------------------------------
    def add_arc(self, frame: int, cls: str, start_deg: float, end_deg: float) -> None:
        self._push()
        self.arcset.add(frame, cls, start_deg, end_deg)
        self._changed()

    def delete_at(self, frame: int, angle_deg: float, prefer_cls: str | None = None) -> bool:
        """Delete the arc at ``angle_deg`` on ``frame`` (of ``prefer_cls`` when one is there)."""
        snapshot = self._state()
        removed = None
        if prefer_cls is not None:
            removed = self.arcset.remove_at(frame, angle_deg, prefer_cls)
        if removed is None:
            removed = self.arcset.remove_at(frame, angle_deg)
        if removed is None:
            return False
        self.history.push(snapshot)
        self._changed()
        return True

    def copy_frame(self, src: int, dst: int) -> int:
        """Copy the arcs of frame ``src`` onto ``dst``; returns how many were copied."""
        if not 0 <= src < self.n_frames or not self.arcset.arcs_for(src):
            return 0
        self._push()
        n = self.arcset.copy_frame(src, dst)
        self._changed()
        return n

    def clear_frame(self, frame: int) -> bool:
        if not self.arcset.arcs_for(frame):
            return False
        self._push()
        self.arcset.clear_frame(frame)
        self._changed()
        return True

    def set_n_alines(self, n: int) -> None:
        """The A-line count the figures (ICS, arc measurements) are computed on; the cached
        figures are dropped (not an edit: no undo, no save)."""
        self.n_alines = int(n)
        self.arcset.n_alines = int(n)
        self._stats = None

    def set_center_mode(self, mode: str, centers: Any) -> bool:
        """Change the centre arcs are drawn about; refused (False) while arcs exist."""
        if mode == self.arcset.center_mode:
            return True
        if self.arcset.arcs:
            self.message = (
                "the centre can only change while there are no arcs (arcs are angles about it)"
            )
            return False
        self.arcset.center_mode = mode
        self.arcset.centers = centers
        self.set_predictions(None)
        self._changed()
        return True

    # -- predictions ------------------------------------------------------------------------
    def set_predictions(self, arcs: ArcSet | None, **info: Any) -> None:
        """Predicted arcs to review (None clears them). Refused when made for another pullback."""
        if arcs is not None and (
            arcs.n_frames != self.n_frames or tuple(arcs.frame_shape) != self.frame_shape
        ):
            raise ValueError(
                f"predicted arcs are for {arcs.n_frames} frames of {list(arcs.frame_shape)}, the "
                f"pullback has {self.n_frames} frames of {list(self.frame_shape)}"
            )
        self.predicted = arcs
        self.prediction_info = dict(info)
        self._pred_gen += 1
        self.predictions_changed.emit()

    def prediction_summary(self) -> dict[str, Any] | None:
        """ICS and arc figures of the calcium predictions (None without predictions)."""
        if self.predicted is None:
            return None
        if "calcium" not in self.predicted.classes:
            return None
        lab = self.predicted.class_labels("calcium", self.n_alines)
        return arc_measurements(lab, self.mm_per_frame)

    def _review(self, frames: list[int], arc_index: int | None, accept: bool) -> int:
        """Accept or reject predicted arcs of ``frames`` (one undo step); frames left with no
        prediction become reviewed (their labels are now the user's)."""
        if self.predicted is None:
            return 0
        chosen: list[Arc] = []
        for f in frames:
            arcs = self.predicted.arcs_for(f)
            if arc_index is not None:
                arcs = arcs[arc_index : arc_index + 1] if 0 <= arc_index < len(arcs) else []
            chosen.extend(arcs)
        if not chosen:
            return 0
        self._push()
        ids = {id(a) for a in chosen}
        if accept:
            self.arcset.add_many([Arc(**vars(a)) for a in chosen])
        self.predicted.arcs = [a for a in self.predicted.arcs if id(a) not in ids]
        left = {a.frame for a in self.predicted.arcs}
        done = {a.frame for a in chosen} - left
        if not done <= self.reviewed:
            self.reviewed |= done
            self.reviewed_changed.emit()
        if accept:
            self._changed()
        self.predictions_changed.emit()
        return len(chosen)

    def accept(self, frame: int, arc_index: int | None = None) -> int:
        """Accept the predicted arcs of ``frame`` (only the ``arc_index``-th of them, in the
        order of ``predicted.arcs_for(frame)``, when given); one undo step; returns how many."""
        return self._review([int(frame)], arc_index, True)

    def reject(self, frame: int, arc_index: int | None = None) -> int:
        """Drop predicted arcs of ``frame`` (or its ``arc_index``-th); one undo step."""
        return self._review([int(frame)], arc_index, False)

    def accept_range(self, first: int, last: int) -> int:
        """Accept every predicted arc of frames ``first..last`` (inclusive, either order)."""
        a, b = sorted((int(first), int(last)))
        return self._review(list(range(a, b + 1)), None, True)

    def reject_range(self, first: int, last: int) -> int:
        a, b = sorted((int(first), int(last)))
        return self._review(list(range(a, b + 1)), None, False)

    def accept_frame(self, frame: int) -> int:
        """Move the predicted arcs of ``frame`` into the annotation (one undo step)."""
        return self.accept(frame)

    def reject_frame(self, frame: int) -> int:
        """Drop the predicted arcs of ``frame`` (one undo step)."""
        return self.reject(frame)

    def accept_all(self) -> int:
        if self.predicted is None or not self.predicted.arcs:
            return 0
        return self._review(sorted({a.frame for a in self.predicted.arcs}), None, True)

    # -- painting on the arc map (frames x angle) -------------------------------------------
    def begin_stroke(self) -> None:
        """Start a paint stroke: every :meth:`paint` until :meth:`end_stroke` is one undo step."""
        if self._stroke is None:
            self._stroke = self._state()

    def paint(
        self,
        frames: Any,
        start_deg: float,
        end_deg: float,
        cls: str = "calcium",
        erase: bool = False,
    ) -> bool:
        """Add (or with ``erase`` remove) the A-lines of ``[start, end)`` on ``frames`` (an int,
        a list, or ``range``). Inside a stroke the file is written at :meth:`end_stroke`;
        outside one the call is its own stroke. Returns whether anything changed."""
        own = self._stroke is None
        if own:
            self.begin_stroke()
        fs = [int(f) for f in np.atleast_1d(np.asarray(list(np.atleast_1d(frames)), int))]
        bad = [f for f in fs if not 0 <= f < self.n_frames]
        if bad:
            if own:
                self._stroke = None
            raise ValueError(f"frame {bad[0]} outside the pullback (0..{self.n_frames - 1})")
        before = [(a.frame, a.cls, a.start_deg, a.end_deg) for a in self.arcset.arcs]
        if arc_extent(start_deg, end_deg) > 0:
            for f in fs:
                if erase:
                    keep = []
                    for a in self.arcset.arcs:
                        if a.frame != f or a.cls != cls:
                            keep.append(a)
                            continue
                        for s_, e_ in subtract_arc(a.start_deg, a.end_deg, start_deg, end_deg):
                            same = abs(s_ - a.start_deg) < 1e-9 and abs(e_ - a.end_deg) < 1e-9
                            keep.append(a if same else Arc(f, cls, s_, e_, a.annotator, a.time))
                    self.arcset.arcs = keep
                    self.arcset._sort()
                else:
                    self.arcset.add(f, cls, start_deg, end_deg)
        changed = before != [(a.frame, a.cls, a.start_deg, a.end_deg) for a in self.arcset.arcs]
        if changed:
            self._stats = None
            self.arcs_changed.emit()
        if own:
            self.end_stroke()
        return changed

    def paint_block(
        self,
        first: int,
        last: int,
        start_deg: float,
        end_deg: float,
        cls: str = "calcium",
        erase: bool = False,
    ) -> bool:
        """Paint a frames x angle rectangle (frames ``first..last`` inclusive): one undo step."""
        a, b = sorted((int(first), int(last)))
        return self.paint(range(a, b + 1), start_deg, end_deg, cls, erase)

    def end_stroke(self) -> bool:
        """Finish the stroke: one undo step (when it changed anything) and one autosave."""
        state, self._stroke = self._stroke, None
        if state is None:
            return False
        if _arcs_key(state.arcset) == _arcs_key(self.arcset):
            return False
        self.history.push(state)
        self._changed()
        return True

    # -- end-diastolic frames -------------------------------------------------------------
    def compute_gating(self, frames: Any, frame_time_s: float, **kwargs: Any) -> Any:
        """Gate the pullback (:func:`napari_plaque.ivus.gating.end_diastolic_frames`) and keep
        the result for :meth:`next_ed_frame`. ValueError when the pullback is too short."""
        from .gating import end_diastolic_frames

        self.gating = end_diastolic_frames(frames, frame_time_s, **kwargs)
        return self.gating

    @property
    def gating_confidence(self) -> float | None:
        """The gating's confidence (0..1; under 0.2 it is not trustworthy); None: not gated."""
        return None if self.gating is None else float(self.gating.confidence)

    def next_ed_frame(self, frame: int, direction: int = 1) -> int | None:
        """The end-diastolic frame after (``direction`` +1) or before (-1) ``frame``; None at
        the end of the pullback or before :meth:`compute_gating`."""
        if self.gating is None or len(self.gating.frames) == 0:
            return None
        ed = np.asarray(self.gating.frames, int)
        if direction >= 0:
            after = ed[ed > frame]
            return int(after[0]) if after.size else None
        before = ed[ed < frame]
        return int(before[-1]) if before.size else None

    # -- measurements ---------------------------------------------------------------------
    def measurements(self) -> dict[str, dict[str, Any]]:
        """Arc measurements (ICS, max arc, lengths) per class; cached until the next edit."""
        if self._stats is None:
            lab = self.arcset.labels(self.n_alines, list(DEFAULT_CLASSES))
            self._stats = {
                c: arc_measurements(lab[:, :, i], self.mm_per_frame)
                for i, c in enumerate(DEFAULT_CLASSES)
            }
        return self._stats

    def summary(self) -> dict[str, Any]:
        """The pullback summary (the ``napari-plaque ics`` row layout) of the annotation."""
        m = self.measurements()
        return pullback_summary(m["calcium"], m["attenuation"])

    # -- files ------------------------------------------------------------------------------
    def autosave(self) -> bool:
        """Write the arcs to :attr:`save_path`; on failure keep them and say why (False)."""
        if self.save_path is None:
            self.save_error = "not saved: choose a file with 'Save as...'"
            self.save_state.emit(self.save_error, False)
            return False
        if self.pullback_id and not self.arcset.pullback_uid:
            self.arcset.stamp(self.pullback_id, self.n_alines)  # the file records its pullback
        try:
            save_arcs(self.arcset, self.save_path)
        except ArcsConflictError as exc:
            self.conflict = True
            self.save_error = f"not saved: {exc}. Reload and merge, or 'Save as...' another file"
        except FormatError as exc:  # the file there is not an arcs file of this pullback
            self.save_error = f"not saved: {exc}; use 'Save as...'"
        except OSError as exc:
            self.save_error = (
                f"autosave FAILED ({exc.strerror or exc}): your arcs are kept in memory; "
                "use 'Save as...'"
            )
        else:
            self.save_error = None
            self.conflict = False
            self.save_state.emit(f"saved to {self.save_path}", True)
            return True
        self.save_state.emit(self.save_error, False)
        return False

    def save_to(self, path: str | Path) -> bool:
        self.save_path = Path(path)
        self.conflict = False
        return self.autosave()

    def load_from(self, path: str | Path) -> None:
        """Replace the arcs by those of an arcs file (undoable); FormatError if it does not fit."""
        arcs = load_arcs(path, n_frames=self.n_frames, frame_shape=self.frame_shape,
                         pullback=self.pullback_id)
        self._push()
        self.arcset = arcs
        self._changed()

    def reload_and_merge(self) -> int:
        """After a save conflict: merge the file's arcs into ours (undoable) and save again.

        Returns the number of arcs that were new to this session.
        """
        if self.save_path is None or not self.save_path.exists():
            return 0
        self._push()
        try:
            n = reload_and_merge(self.arcset, self.save_path)
        except FormatError:
            self.arcset = self.history.drop_last().arcset
            raise
        self.conflict = False
        self._changed()
        return n


def _arcs_key(arcs: ArcSet | None) -> Any:
    if arcs is None:
        return None
    return [(a.frame, a.cls, a.start_deg, a.end_deg) for a in arcs.arcs]


def _pred_key(arcs: ArcSet | None) -> Any:
    return _arcs_key(arcs)
