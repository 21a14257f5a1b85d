"""The IVUS vessel-border editor's state, without Qt: borders, edits with undo, autosave, events.

:class:`BorderEditor` holds the :class:`~napari_plaque.ivus.borders.VesselBorders` of one
pullback, the frames edited by hand, an undo/redo history and the measurements (cached until
the next edit). The widget (:mod:`napari_plaque.widgets.ivus_vessel`) binds mouse gestures to
its methods and redraws on its events, like the arc annotator (:mod:`.annotator`).

Edits: :meth:`drag` pulls a border towards a point (the change fades out with a cosine taper
over ``width_deg`` either side, so the border stays smooth); :meth:`redraw` replaces a frame's
contour by a drawn polygon. Every edit is autosaved at once (atomically) to
``<pullback>.borders.json`` beside the pullback and its arcs file
(:mod:`.vessel_files`); with ``background_save`` (the dock sets it) the write runs on a
background thread, coalesced (:class:`napari_plaque._background.LatestOnlyRunner`), so an edit
of a 3,000-frame pullback costs the main thread the edit, not the file. :meth:`flush` waits.

An edit keeps the lumen inside the EEM: a lumen pulled past the EEM (or an EEM pushed inside
the lumen) stops at the other border, and :attr:`notice` says where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from .._background import LatestOnlyRunner
from ..history import History, Undoable
from ..lazy_stack import LazyFrameStack
from .borders import VesselBorders
from .polar import aline_angles_deg
from .vessel_files import borders_path, load_borders, radii_from_points, save_borders
from .vessel_measure import VesselMeasurements, measure_vessel

__all__ = ["BorderEditor", "BorderLineStack", "longitudinal_cut", "radius_at"]


class BorderEditor(Undoable):
    """Lumen / EEM borders of one pullback with edits, undo/redo and autosave.

    Signals
    -------
    borders_changed(int) : a frame's borders changed (-1: all frames)
    save_state(str, bool) : autosave message and whether it succeeded (emitted on the saving
        thread when ``background_save`` is on)
    notice(str) : an edit was constrained (the lumen kept inside the EEM)
    """

    borders_changed = Signal(int)
    save_state = Signal(str, bool)
    notice = Signal(str)

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
        self.history: History[tuple] = History(max_history)  # (frames|None, before, after)
        self._measure: VesselMeasurements | None = None
        self.burden_threshold_pct: float | None = None
        self.gated_frames: np.ndarray | None = None  # measure only these (end-diastolic) frames
        self.background_save = False
        self._saver: LatestOnlyRunner | None = None
        self.generation = 0  # counts changes: measurements made from a snapshot carry it

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
    # Commands, not snapshots: an edit of one frame keeps that frame's rows before and after
    # (a few KB), so an edit and its undo cost a frame, not the pullback (200 snapshots of a
    # 3,000-frame pullback would hold 3.4 GB). A new detection keeps whole copies.
    def _part(self, frames: np.ndarray | None) -> tuple:
        b = self.borders
        if frames is None:
            return b.copy(), set(self.edited)
        return (b.lumen_r_px[frames].copy(), b.eem_r_px[frames].copy(),
                b.shadowed[frames].copy(), set(self.edited))

    def _set_part(self, frames: np.ndarray | None, part: tuple) -> None:
        if frames is None:
            self.borders, edited = part[0].copy(), part[1]
        else:
            lum, eem, shadowed, edited = part
            self.borders.lumen_r_px[frames] = lum
            self.borders.eem_r_px[frames] = eem
            self.borders.shadowed[frames] = shadowed
        self.edited = set(edited)

    def _record(self, frames: np.ndarray | None, before: tuple) -> None:
        self.history.push((frames, before, self._part(frames)))

    @staticmethod
    def _signal_frame(frames: np.ndarray | None) -> int:
        return int(frames[0]) if frames is not None and frames.size == 1 else -1

    def _changed(self, frame: int) -> None:
        self._measure = None
        self.generation += 1
        self.autosave()
        self.borders_changed.emit(int(frame))

    def undo(self) -> bool:
        step = self.history.undo()
        if step is None:
            return False
        frames, before, _after = step
        self._set_part(frames, before)
        self._changed(self._signal_frame(frames))
        return True

    def redo(self) -> bool:
        step = self.history.redo()
        if step is None:
            return False
        frames, _before, after = step
        self._set_part(frames, after)
        self._changed(self._signal_frame(frames))
        return True

    def measure_frames(self, frames) -> VesselMeasurements:
        """Per-frame measurements of just these frames (a table row after an edit), uncached;
        costs those frames, not the pullback (the summary is of these frames only)."""
        idx = np.asarray(frames, np.int64)
        b = self.borders
        sub = VesselBorders(
            b.lumen_r_px[idx], b.eem_r_px[idx], b.center, b.pixel_spacing_mm, b.shadowed[idx],
            {k: list(b.flags[int(f)]) for k, f in enumerate(idx) if int(f) in b.flags},
        )
        m = measure_vessel(sub, self.mm_per_frame, burden_threshold_pct=self.burden_threshold_pct)
        m.frame_indices = idx
        m.frames["position_mm"] = idx * self.mm_per_frame
        return m

    def measure_snapshot(self):
        """A function that measures the borders as they are now, for a worker thread
        (the editor may change meanwhile: it measures a copy)."""
        mpf, gated, thr = self.mm_per_frame, self.gated_frames, self.burden_threshold_pct

        def run() -> VesselMeasurements:
            # copied on the worker; an edit meanwhile changes the generation, and
            # cache_measurements then refuses this result
            return measure_vessel(self.borders.copy(), mpf, gated, burden_threshold_pct=thr)

        return run

    def cache_measurements(self, m: VesselMeasurements, generation: int) -> bool:
        """Keep measurements computed elsewhere (a worker) if nothing changed since
        ``generation`` (see :attr:`generation`)."""
        if generation != self.generation:
            return False
        self._measure = m
        return True

    # -- edits ----------------------------------------------------------------------------
    def set_borders(self, borders: VesselBorders) -> None:
        """Replace all borders (a new detection); undoable."""
        if borders.n_frames != self.borders.n_frames:
            raise ValueError(f"borders for {borders.n_frames} frames, pullback has "
                             f"{self.borders.n_frames}")
        before = self._part(None)
        self.borders = borders
        self.edited = set()
        self._record(None, before)
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
        self._apply(frame, which, r)

    def _apply(self, frame: int, which: str, r: np.ndarray) -> None:
        r = np.maximum(r, 0.0)
        # the lumen stays inside the EEM: the edited border stops at the other one
        other = self.borders.radii("eem" if which == "lumen" else "lumen")[frame]
        both = np.isfinite(r) & np.isfinite(other)
        crossed = both & ((r > other) if which == "lumen" else (r < other))
        if crossed.any():
            r = np.where(crossed, other, r)
            n = int(crossed.sum())
            side = "inside the EEM" if which == "lumen" else "outside the lumen"
            self.notice.emit(
                f"frame {frame}: the {'lumen' if which == 'lumen' else 'EEM'} was kept {side} "
                f"at {n} of {r.size} A-lines"
            )
        frames = np.array([int(frame)])
        before = self._part(frames)
        self.borders.radii(which)[frame] = r
        self.borders.shadowed[frame] = False
        self.edited.add(int(frame))
        self._record(frames, before)
        self._changed(frame)

    def copy_frame(self, src: int, dst: int) -> None:
        """Copy both borders of frame ``src`` onto ``dst``."""
        self._check(src, "lumen")
        self._check(dst, "lumen")
        frames = np.array([int(dst)])
        before = self._part(frames)
        for w in ("lumen", "eem"):
            self.borders.radii(w)[dst] = self.borders.radii(w)[src]
        self.edited.add(int(dst))
        self._record(frames, before)
        self._changed(dst)

    # -- results and files ----------------------------------------------------------------
    def set_gating(self, frames) -> None:
        """Measure only these frames (e.g. end-diastolic frames from :mod:`.gating`); None:
        every frame. Not an edit (no undo, no save)."""
        if frames is not None:
            frames = np.unique(np.asarray(frames, dtype=np.int64))
            if frames.size == 0 or frames.min() < 0 or frames.max() >= self.borders.n_frames:
                raise ValueError(f"gated frames must lie in 0..{self.borders.n_frames - 1}")
        self.gated_frames = frames
        self._measure = None
        self.generation += 1
        self.borders_changed.emit(-1)

    def measurements(self) -> VesselMeasurements:
        if self._measure is None:
            self._measure = measure_vessel(
                self.borders,
                self.mm_per_frame,
                self.gated_frames,
                burden_threshold_pct=self.burden_threshold_pct,
            )
        return self._measure

    def autosave(self) -> bool:
        """Write the borders file (on the background thread with ``background_save``: the
        return value then says it was queued; ``save_state`` reports the outcome)."""
        if self.save_path is None:
            return False
        path, shape, source = self.save_path, self.frame_shape, self.source
        if self.background_save:
            # the borders are copied on the saving thread (a torn copy, made while an edit
            # runs, is rewritten by the save that edit submits: the last save is of the last
            # state); the edited set is copied here (a set may not change while iterated)
            edited = set(self.edited)
            if self._saver is None:
                self._saver = LatestOnlyRunner()
            self._saver.submit(
                lambda: save_borders(path, self.borders.copy(), shape, edited, source),
                lambda _r, exc: self._report_save(path, exc),
            )
            return True
        try:
            save_borders(path, self.borders, shape, self.edited, source)
        except OSError as exc:
            self._report_save(path, exc)
            return False
        self._report_save(path, None)
        return True

    def _report_save(self, path: Path, exc: BaseException | None) -> None:
        if exc is None:
            self.save_state.emit(f"saved {path.name}", True)
        else:
            self.save_state.emit(f"autosave of {path.name} failed: {exc}", False)

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait for a background autosave to finish (True when nothing is pending)."""
        return True if self._saver is None else self._saver.flush(timeout)

    def save_to(self, path: str | Path) -> bool:
        self.save_path = Path(path)
        return self.autosave()


class BorderLineStack(LazyFrameStack):
    """A lazy (frames, rows, cols) uint8 array of border lines for a napari labels layer.

    Label 1 is the lumen border, 2 the EEM; only the frame on screen is rendered, so
    scrolling never replaces layer data. The radii
    come from ``get_borders()`` at render time: call the layer's ``refresh()`` after an edit.
    ``width_px`` 1 draws one-pixel lines, 2 (default) two-pixel ones.
    """

    def __init__(self, get_borders, n_frames: int, frame_shape, width_px: float = 2.0) -> None:
        super().__init__(n_frames, frame_shape)
        self._get = get_borders
        self.width_px = float(width_px)

    def frame(self, f: int) -> np.ndarray:
        """The border lines of frame f: points along each contour, dense enough to leave no
        gaps (cost proportional to the contour length, not to the frame size)."""
        vb = self._get()
        rows, cols = self.shape[1:]
        out = np.zeros((rows, cols), np.uint8)
        if vb is None:
            return out
        n = vb.n_alines
        for label, r in ((2, vb.eem_r_px[f]), (1, vb.lumen_r_px[f])):
            if not np.isfinite(r).all():
                continue
            m = max(n, int(np.ceil(2 * np.pi * float(r.max()) * 1.5)))
            pos = np.arange(m) * (n / m) - 0.5  # continuous A-line index
            k0 = np.floor(pos).astype(np.int64)
            t = pos - k0
            rb = r[k0 % n] * (1 - t) + r[(k0 + 1) % n] * t
            th = np.radians((pos + 0.5) * 360.0 / n)
            rr = np.rint(vb.center[0] + rb * np.sin(th)).astype(np.int64)
            cc = np.rint(vb.center[1] + rb * np.cos(th)).astype(np.int64)
            ok = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
            out[rr[ok], cc[ok]] = label
            if self.width_px > 1:
                for dr, dc in ((0, 1), (1, 0)):
                    r2, c2 = np.minimum(rr + dr, rows - 1), np.minimum(cc + dc, cols - 1)
                    out[r2[ok], c2[ok]] = label
        return out



def longitudinal_cut(frames, center: tuple[float, float], angle_deg: float, batch: int = 64):
    """Grey values along the line through ``center`` at ``angle_deg`` (and +180), per frame.

    Returns (cut (F, 2R+1) float32, offsets (2R+1,) in pixels along the line, positive towards
    ``angle_deg``), R = half the frame's short side.
    """
    n, rows, cols = (int(s) for s in frames.shape)
    big_r = int(min(rows, cols) // 2)
    s = np.arange(-big_r, big_r + 1, dtype=np.float64)
    a = np.radians(angle_deg)
    rr = np.clip(np.rint(center[0] + s * np.sin(a)), 0, rows - 1).astype(np.int64)
    cc = np.clip(np.rint(center[1] + s * np.cos(a)), 0, cols - 1).astype(np.int64)
    out = np.empty((n, s.size), np.float32)
    for b0 in range(0, n, batch):
        blk = np.asarray(frames[b0 : b0 + batch])
        out[b0 : b0 + blk.shape[0]] = blk[:, rr, cc]
    return out, s


def radius_at(r: np.ndarray, angle_deg: float) -> np.ndarray:
    """Border radius (F,) at an angle, linearly interpolated between A-lines of r (F, N)."""
    n = r.shape[1]
    pos = np.mod(angle_deg, 360.0) * n / 360.0 - 0.5
    k0 = int(np.floor(pos)) % n
    t = pos - np.floor(pos)
    return r[:, k0] * (1 - t) + r[:, (k0 + 1) % n] * t
