"""The IVUS vessel-border editor's state, without Qt: borders, edits with undo, autosave, events.

:class:`BorderEditor` holds the :class:`~napari_plaque.ivus.borders.VesselBorders` of one
pullback, the frames edited by hand, an undo/redo history and the measurements (cached until
the next edit). The widget (:mod:`napari_plaque.widgets.ivus_vessel`) binds mouse gestures to
its methods and redraws on its events, like the arc annotator (:mod:`.annotator`).

Edits: :meth:`drag` pulls a border towards a point (the change fades out with a cosine taper
over ``width_deg`` either side, so the border stays smooth); :meth:`redraw` replaces a frame's
contour by a drawn polygon. Every edit is autosaved at once to ``<pullback>.borders.json``
beside the pullback and its arcs file (:mod:`.vessel_files`): written whole (atomically) after
each edit, or, with ``background_save`` (the dock sets it), journaled (:mod:`.border_store`):
the edit's frame appended to the journal at once (a few KB: a kill loses nothing) and the whole
file rewritten on a background thread once the edits pause, so an edit of a 3,000-frame
pullback costs the main thread the edit, not the file. :meth:`flush` writes and waits.

Measurements are kept per frame (:func:`.vessel_measure.frame_measures`): an edit recomputes
its frame's row and the pullback summary is numpy over the cached rows
(:func:`.vessel_measure.summarise`, about a millisecond at 3,000 frames), so nothing after an
edit measures the whole pullback again.

An edit keeps the lumen inside the EEM: a lumen pulled past the EEM (or an EEM pushed inside
the lumen) stops at the other border, and :attr:`notice` says where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from ..history import History, Undoable
from ..lazy_stack import LazyFrameStack
from .borders import VesselBorders
from .polar import aline_angles_deg
from .vessel_files import borders_path, load_borders, radii_from_points, save_borders
from .vessel_measure import VesselMeasurements, frame_measures, measure_vessel, summarise

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
        self._store = None  # a BorderStore once background_save autosaves
        self.generation = 0  # counts changes
        # per-frame measurements of every frame (None: not computed yet); an edit recomputes
        # its frames' rows. A worker may compute them (frame_cache_snapshot): the frames
        # edited meanwhile are recomputed when its result is adopted
        self._per_frame: dict[str, np.ndarray] | None = None
        self._whole_changes = 0
        self._snapshot_token: tuple[int, int] | None = None
        self._dirty: set[int] = set()

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

    def _changed(self, frames: np.ndarray | None) -> None:
        """After a change of ``frames`` (None: every frame): measurements, file, event."""
        self._measure = None
        self.generation += 1
        if frames is None:
            self._per_frame = None
            self._whole_changes += 1
        else:
            self._dirty.update(int(f) for f in frames)
            if self._per_frame is not None:
                for k, v in frame_measures(self.borders, frames).items():
                    self._per_frame[k][frames] = v
        self._save_change(frames)
        self.borders_changed.emit(self._signal_frame(frames))

    def undo(self) -> bool:
        step = self.history.undo()
        if step is None:
            return False
        frames, before, _after = step
        self._set_part(frames, before)
        self._changed(frames)
        return True

    def redo(self) -> bool:
        step = self.history.redo()
        if step is None:
            return False
        frames, _before, after = step
        self._set_part(frames, after)
        self._changed(frames)
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

    def frame_cache_snapshot(self):
        """``(job, token)``: ``job()`` measures every frame of the borders as they are now
        (for a worker thread: it measures a copy); give its result and the token to
        :meth:`adopt_frame_cache`."""
        borders = self.borders.copy()  # ~10 ms at 3,000 frames, here: the worker holds none
        self._dirty = set()
        self._snapshot_token = token = (self._whole_changes, self.generation)

        def job() -> dict[str, np.ndarray]:
            return frame_measures(borders, np.arange(borders.n_frames))

        return job, token

    def adopt_frame_cache(self, per_frame: dict[str, np.ndarray], token) -> bool:
        """Keep per-frame measurements a worker made from :meth:`frame_cache_snapshot`: the
        frames edited since are measured again here (a few). Refused (False) when a newer
        snapshot was taken or every frame changed since."""
        if token != self._snapshot_token or token[0] != self._whole_changes:
            return False
        self._snapshot_token = None
        if self._per_frame is None:
            self._per_frame = per_frame
            if self._dirty:
                idx = np.fromiter(sorted(self._dirty), np.int64)
                for k, v in frame_measures(self.borders, idx).items():
                    per_frame[k][idx] = v
            self._measure = None
        return True

    @property
    def has_frame_cache(self) -> bool:
        return self._per_frame is not None

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
        self._changed(None)

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
        self._changed(frames)

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
        self._changed(frames)

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
        """The measurements of the measured frames (all, or the gated ones) and their summary:
        from the per-frame cache (every frame measured once, then only edited frames)."""
        if self._measure is None:
            if self._per_frame is None:
                self._per_frame = frame_measures(self.borders, np.arange(self.borders.n_frames))
            idx = (np.arange(self.borders.n_frames) if self.gated_frames is None
                   else self.gated_frames)
            if self.gated_frames is None:  # copies: the cache changes with the next edit
                per = {k: v.copy() for k, v in self._per_frame.items()}
            else:
                per = {k: v[idx] for k, v in self._per_frame.items()}
            self._measure = summarise(per, idx, self.mm_per_frame, self.burden_threshold_pct)
        return self._measure

    def frame_row(self, frame: int) -> dict[str, Any] | None:
        """The table row of one frame from the per-frame cache (None before it exists)."""
        if self._per_frame is None:
            return None
        f = int(frame)
        per = {k: v[f : f + 1] for k, v in self._per_frame.items()}
        return summarise(per, np.array([f]), self.mm_per_frame).to_rows()[0]

    def _snapshot(self):
        # the live borders (no 17 MB copy): see BorderStore on rows torn by an edit meanwhile
        return self.borders, set(self.edited), self.frame_shape, self.source

    def _journal(self):
        if self._store is None or self._store.path != self.save_path:
            from .border_store import BorderStore

            self._store = BorderStore(self.save_path, self._snapshot, self._report_save)
        return self._store

    def _save_change(self, frames: np.ndarray | None) -> None:
        if self.save_path is None:
            return
        if self.background_save and frames is not None:
            self._journal().record(frames, self.borders, self.edited)
        else:
            self.autosave()

    def autosave(self) -> bool:
        """Write the borders file. With ``background_save`` the write runs on the store's
        thread (the return value then says it was queued; ``save_state`` reports the outcome)
        and a new journal starts beside it."""
        if self.save_path is None:
            return False
        if self.background_save:
            self._journal().replace_all()
            return True
        try:
            save_borders(self.save_path, self.borders, self.frame_shape, self.edited,
                         self.source)
        except OSError as exc:
            self._report_save(self.save_path, exc)
            return False
        self._report_save(self.save_path, None)
        return True

    def _report_save(self, path: Path, exc: BaseException | None) -> None:
        if exc is None:
            self.save_state.emit(f"saved {path.name}", True)
        else:
            self.save_state.emit(f"autosave of {path.name} failed: {exc}", False)

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Write what the journal holds into the borders file now and wait (True when
        nothing is pending)."""
        return True if self._store is None else self._store.flush(timeout)

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
