"""The IVUS vessel-border editor's state, without Qt: borders, edits with undo, autosave, events.

:class:`BorderEditor` holds the :class:`~napari_plaque.ivus.borders.VesselBorders` of one
pullback, the frames edited by hand, an undo/redo history and the measurements (cached until
the next edit). The widget (:mod:`napari_plaque.widgets.ivus_vessel`) binds mouse gestures to
its methods and redraws on its events, like the arc annotator (:mod:`.annotator`).

Edits: :meth:`drag` pulls a border towards a point (the change fades out with a cosine taper
over ``width_deg`` either side, so the border stays smooth); :meth:`redraw` replaces a frame's
contour by a drawn polygon. Every edit is autosaved at once (atomically) to
``<pullback>.borders.json`` beside the pullback and its arcs file
(:mod:`.vessel_files`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from .borders import VesselBorders
from .polar import aline_angles_deg
from .vessel_files import borders_path, load_borders, radii_from_points, save_borders
from .vessel_measure import VesselMeasurements, measure_vessel

__all__ = ["BorderEditor"]


class BorderEditor:
    """Lumen / EEM borders of one pullback with edits, undo/redo and autosave.

    Signals
    -------
    borders_changed(int) : a frame's borders changed (-1: all frames)
    save_state(str, bool) : autosave message and whether it succeeded
    """

    borders_changed = Signal(int)
    save_state = Signal(str, bool)

    def __init__(
        self,
        borders: VesselBorders,
        frame_shape: tuple[int, int],
        mm_per_frame: float,
        save_path: str | Path | None = None,
        source: str = "",
        max_history: int = 200,
    ) -> None:
        self.borders = borders
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.mm_per_frame = float(mm_per_frame)
        self.save_path = Path(save_path) if save_path else None
        self.source = source
        self.edited: set[int] = set()
        self._undo: list[tuple[VesselBorders, set[int]]] = []
        self._redo: list[tuple[VesselBorders, set[int]]] = []
        self._max = max_history
        self._measure: VesselMeasurements | None = None
        self.burden_threshold_pct: float | None = None

    @classmethod
    def for_pullback(cls, pullback: Any, borders: VesselBorders | None = None) -> BorderEditor:
        """An editor for a :class:`~napari_plaque.types.Pullback`: loads the borders file
        beside it when there is one (and ``borders`` is None), autosaves there."""
        path = borders_path(pullback.source) if pullback.source else None
        edited: set[int] = set()
        if borders is None:
            if path is None or not path.is_file():
                raise ValueError("no borders given and no borders file beside the pullback")
            borders, edited = load_borders(path, pullback.n_frames, pullback.frame_shape)
        ed = cls(borders, pullback.frame_shape, pullback.mm_per_frame, path, pullback.source)
        ed.edited = edited
        return ed

    # -- history --------------------------------------------------------------------------
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def _push(self) -> None:
        self._undo.append((self.borders.copy(), set(self.edited)))
        del self._undo[: -self._max]
        self._redo.clear()

    def _changed(self, frame: int) -> None:
        self._measure = None
        self.autosave()
        self.borders_changed.emit(int(frame))

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append((self.borders.copy(), set(self.edited)))
        self.borders, self.edited = self._undo.pop()
        self._changed(-1)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append((self.borders.copy(), set(self.edited)))
        self.borders, self.edited = self._redo.pop()
        self._changed(-1)
        return True

    # -- edits ----------------------------------------------------------------------------
    def set_borders(self, borders: VesselBorders) -> None:
        """Replace all borders (a new detection); undoable."""
        if borders.n_frames != self.borders.n_frames:
            raise ValueError(f"borders for {borders.n_frames} frames, pullback has "
                             f"{self.borders.n_frames}")
        self._push()
        self.borders = borders
        self.edited = set()
        self._changed(-1)

    def _check(self, frame: int, which: str) -> None:
        if not 0 <= int(frame) < self.borders.n_frames:
            raise IndexError(f"frame {frame} outside 0..{self.borders.n_frames - 1}")
        self.borders.radii(which)  # validates the name

    def drag(self, frame: int, which: str, row: float, col: float, width_deg: float = 30.0) -> None:
        """Pull the ``which`` border of ``frame`` to pass through pixel (row, col)."""
        self._check(frame, which)
        cy, cx = self.borders.center
        ang = float(np.mod(np.degrees(np.arctan2(row - cy, col - cx)), 360.0))
        target = float(np.hypot(row - cy, col - cx))
        r = self.borders.radii(which)[frame]
        th = aline_angles_deg(self.borders.n_alines)
        d = np.abs(np.mod(th - ang + 180.0, 360.0) - 180.0)
        w = np.where(d < width_deg, 0.5 * (1 + np.cos(np.pi * d / width_deg)), 0.0)
        k = int(np.argmin(d))
        base = r[k] if np.isfinite(r[k]) else target
        self._push()
        new = np.where(np.isfinite(r), r, base) + w * (target - base)
        self._apply(frame, which, new)

    def redraw(self, frame: int, which: str, rows, cols) -> None:
        """Replace the ``which`` contour of ``frame`` by a drawn closed polygon (pixels)."""
        self._check(frame, which)
        rows = np.asarray(rows, float)
        cols = np.asarray(cols, float)
        if rows.size < 3 or rows.shape != cols.shape:
            raise ValueError("a contour needs at least 3 points")
        r = radii_from_points(rows, cols, self.borders.center, self.borders.n_alines)
        self._push()
        self._apply(frame, which, r)

    def _apply(self, frame: int, which: str, r: np.ndarray) -> None:
        self.borders.radii(which)[frame] = np.maximum(r, 0.0)
        # the EEM stays outside the lumen
        lum, eem = self.borders.lumen_r_px[frame], self.borders.eem_r_px[frame]
        if which == "lumen":
            self.borders.eem_r_px[frame] = np.fmax(eem, lum)
        else:
            self.borders.lumen_r_px[frame] = np.fmin(lum, eem)
        self.borders.shadowed[frame] = False
        self.edited.add(int(frame))
        self._changed(frame)

    def copy_frame(self, src: int, dst: int) -> None:
        """Copy both borders of frame ``src`` onto ``dst``."""
        self._check(src, "lumen")
        self._check(dst, "lumen")
        self._push()
        for w in ("lumen", "eem"):
            self.borders.radii(w)[dst] = self.borders.radii(w)[src]
        self.edited.add(int(dst))
        self._changed(dst)

    # -- results and files ----------------------------------------------------------------
    def measurements(self) -> VesselMeasurements:
        if self._measure is None:
            self._measure = measure_vessel(
                self.borders, self.mm_per_frame, burden_threshold_pct=self.burden_threshold_pct
            )
        return self._measure

    def autosave(self) -> bool:
        if self.save_path is None:
            return False
        try:
            save_borders(self.save_path, self.borders, self.frame_shape, self.edited, self.source)
        except OSError as exc:
            self.save_state.emit(f"autosave failed: {exc}", False)
            return False
        self.save_state.emit(f"saved {self.save_path.name}", True)
        return True

    def save_to(self, path: str | Path) -> bool:
        self.save_path = Path(path)
        return self.autosave()
