"""The IVUS arc annotator's state, without Qt: arcs, history, predictions, autosave, events.

:class:`ArcAnnotator` holds everything an annotation session knows (the
:class:`~napari_plaque.ivus.arcs.ArcSet`, undo/redo history, predicted arcs waiting to be
accepted or rejected, where and whether the arcs were saved) and says what changed through
psygnal signals. The napari dock (:mod:`napari_plaque.widgets.ivus`) only binds gestures to its
methods and redraws on its events, in the manner of napari-animation (a model class, a thin
Qt view). Everything here is tested without a viewer.

Autosave: every edit is written at once (atomically) to ``<pullback>.arcs.json`` beside the
pullback file, or to the file chosen with :meth:`ArcAnnotator.save_to`. A failed write
(read-only folder, full disk, a file changed by someone else) never loses the session: the
arcs stay in memory, :attr:`ArcAnnotator.save_error` says why, ``save_state`` is emitted with
``ok=False`` and the user can save elsewhere or, on a conflict, reload and merge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from ..history import History, Undoable
from ..io.errors import FormatError
from ..lazy_stack import LazyFrameStack
from .arcs import DEFAULT_CLASSES, Arc, ArcSet, load_arcs, save_arcs
from .measure import arc_measurements, pullback_summary
from .render import frame_sector_labels

try:  # conflict detection on save (ivus.arcs refuses to drop arcs it has not seen)
    from .arcs import ArcsConflictError
    from .arcs import reload_and_merge as _merge_from_file
except ImportError:  # pragma: no cover - an ivus.arcs without conflict detection

    class ArcsConflictError(FormatError):  # type: ignore[no-redef]
        """The arcs file on disk holds arcs this session has not seen."""

    def _merge_from_file(arcset: ArcSet, path: Path) -> int:
        disk = load_arcs(path, arcset.n_frames, arcset.frame_shape)
        before = len(arcset.arcs)
        arcset.add_many([Arc(**vars(a)) for a in disk.arcs])
        return max(len(disk.arcs), len(arcset.arcs) - before)


__all__ = [
    "UNDO_DEPTH",
    "ArcAnnotator",
    "ArcDrag",
    "ArcSectorStack",
    "angle_about",
    "autosave_path",
]

#: how many undo steps are kept
UNDO_DEPTH = 200
#: A-lines per frame used for the live measurements (one degree each)
DEFAULT_N_ALINES = 360


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
    """

    arcs_changed = Signal()
    predictions_changed = Signal()
    save_state = Signal(str, bool)

    def __init__(
        self,
        n_frames: int,
        frame_shape: tuple[int, int],
        mm_per_frame: float = 1.0,
        save_path: str | Path | None = None,
        restore: bool = True,
        classes: tuple[str, ...] | list[str] = DEFAULT_CLASSES,
        n_alines: int = DEFAULT_N_ALINES,
    ) -> None:
        self.n_frames = int(n_frames)
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
        self.history: History[ArcSet] = History(UNDO_DEPTH)
        self._stats: dict[str, dict[str, Any]] | None = None
        if restore and self.save_path is not None and self.save_path.exists():
            try:
                self.arcset = load_arcs(self.save_path, self.n_frames, self.frame_shape)
                self.message = f"restored {len(self.arcset.arcs)} arcs"
            except FormatError as exc:
                # never overwrite a file we could not read: keep working, save elsewhere
                self.save_path = None
                self.save_error = f"could not restore: {exc}"
                self.message = self.save_error

    @classmethod
    def for_pullback(cls, pullback: Any, **kwargs: Any) -> ArcAnnotator:
        """An annotator for a :class:`~napari_plaque.types.Pullback`; autosaves beside its file."""
        source = getattr(pullback, "source", "") or ""
        kwargs.setdefault("save_path", autosave_path(source) if source else None)
        return cls(pullback.n_frames, pullback.frame_shape, pullback.mm_per_frame, **kwargs)

    # -- history ------------------------------------------------------------------------------
    def _push(self) -> None:
        self.history.push(self.arcset.copy())

    def _changed(self) -> None:
        self._stats = None
        self.autosave()
        self.arcs_changed.emit()

    def undo(self) -> bool:
        state = self.history.undo(self.arcset)
        if state is None:
            return False
        self.arcset = state
        self._changed()
        return True

    def redo(self) -> bool:
        state = self.history.redo(self.arcset)
        if state is None:
            return False
        self.arcset = state
        self._changed()
        return True

    # -- edits ----------------------------------------------------------------------------------
    def add_arc(self, frame: int, cls: str, start_deg: float, end_deg: float) -> None:
        self._push()
        self.arcset.add(frame, cls, start_deg, end_deg)
        self._changed()

    def delete_at(self, frame: int, angle_deg: float, prefer_cls: str | None = None) -> bool:
        """Delete the arc at ``angle_deg`` on ``frame`` (of ``prefer_cls`` when one is there)."""
        snapshot = self.arcset.copy()
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
        self.predictions_changed.emit()

    def prediction_summary(self) -> dict[str, Any] | None:
        """ICS and arc figures of the calcium predictions (None without predictions)."""
        if self.predicted is None:
            return None
        if "calcium" not in self.predicted.classes:
            return None
        lab = self.predicted.class_labels("calcium", self.n_alines)
        return arc_measurements(lab, self.mm_per_frame)

    def accept_frame(self, frame: int) -> int:
        """Move the predicted arcs of ``frame`` into the annotation (undoable)."""
        if self.predicted is None:
            return 0
        arcs = self.predicted.arcs_for(frame)
        if not arcs:
            return 0
        self._push()
        for a in arcs:
            self.arcset.add(frame, a.cls, a.start_deg, a.end_deg, annotator=a.annotator)
        self.predicted.clear_frame(frame)
        self._changed()
        self.predictions_changed.emit()
        return len(arcs)

    def reject_frame(self, frame: int) -> int:
        if self.predicted is None:
            return 0
        n = len(self.predicted.arcs_for(frame))
        self.predicted.clear_frame(frame)
        self.predictions_changed.emit()
        return n

    def accept_all(self) -> int:
        if self.predicted is None or not self.predicted.arcs:
            return 0
        self._push()
        arcs: list[Arc] = list(self.predicted.arcs)
        self.arcset.add_many(arcs)
        self.predicted.arcs = []
        self._changed()
        self.predictions_changed.emit()
        return len(arcs)

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
        arcs = load_arcs(path, n_frames=self.n_frames, frame_shape=self.frame_shape)
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
            n = _merge_from_file(self.arcset, self.save_path)
        except FormatError:
            self.arcset = self.history.drop_last()
            raise
        self.conflict = False
        self._changed()
        return n
