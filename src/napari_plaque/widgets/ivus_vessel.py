"""IVUS vessel borders dock: lumen / EEM borders on the frame and the longitudinal cut,
editable with undo and autosave, a per-frame table and an area-versus-position plot.

All state lives in the Qt-free :class:`~napari_plaque.ivus.border_editor.BorderEditor`; this
widget binds gestures (drag a border, redraw a frame) to its methods and redraws on its
events, as the arc annotator does.

At clinical size (3,000 frames) an edit costs the main thread only the edit: its frame is
measured and its table row replaced (the table is a Qt model / view over the measurement
arrays, rows made only for what is drawn), the summary is numpy over the editor's per-frame
cache, the edit is journaled (a few KB appended; the borders file is rewritten on a background
thread once the edits pause, :mod:`napari_plaque.ivus.border_store`) and the plots redraw once
the edits pause. Only a change of every frame (a detection, a CSV import) measures the whole
pullback, on a worker.

The dock is a :class:`._dock.DockBase`: the pullback picker, Detect with progress and Cancel,
and the viewer callbacks that stop when the dock is deleted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from ..ivus.border_editor import BorderEditor, BorderLineStack, longitudinal_cut, radius_at
from ._common import fmt_value, label_colormap
from ._dock import DockBase, LayerKind
from ._ivus_vessel_views import EEM_COLOR, LUMEN_COLOR, FrameTableModel, VesselViews
from ._table import RowTableView

MODES = ["view", "drag lumen", "drag EEM", "redraw lumen", "redraw EEM"]
#: the per-frame table: (measurement key, header with units, cell format)
TABLE_COLUMNS = [
    ("frame", "frame", str),
    ("position_mm", "position mm", fmt_value),
    ("lumen_area_mm2", "lumen mm²", fmt_value),
    ("eem_area_mm2", "EEM mm²", fmt_value),
    ("plaque_burden_pct", "burden %", lambda v: fmt_value(v, 1)),
    ("lumen_min_diameter_mm", "min Ø mm", fmt_value),
]
TABLE_HEADER = [c[1] for c in TABLE_COLUMNS]
LINES_NAME = "vessel borders"
#: the plots redraw this long after the last edit (a drag edits many times)
REDRAW_DELAY_MS = 150
#: up to this many frames a change of every frame is measured at once (a few ms), beyond it
#: on a worker (a 3,000-frame pullback: ~0.3 s)
MEASURE_HERE_FRAMES = 300


class _ToMainThread(QObject):
    """Carries the editor's save messages (sent from the autosave thread) to the GUI thread."""

    message = Signal(str, bool)


def _read_saved(pullback):
    """The editor of the borders file beside ``pullback`` (a worker's step generator)."""
    yield 0
    return BorderEditor.for_pullback(pullback)


class IVUSVesselWidget(DockBase):
    """Detect, edit and measure lumen / EEM borders of the chosen pullback layer."""

    def __init__(self, napari_viewer) -> None:
        super().__init__(napari_viewer)
        self.editor: BorderEditor | None = None
        self.pullback = None
        self._layer = None
        self._lines = None
        self._cut_angle = 0.0
        self._cut = None
        self._cursor_frame = None
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(QLabel("pullback"))
        self.layer_combo = self.layer_picker(LayerKind.PULLBACK)
        row.addWidget(self.layer_combo, 1)
        lay.addLayout(row)
        self.detect_btn = self.build_run_row(lay, "Detect borders", on_run=self.detect)
        self.load_btn = QPushButton("Load saved")
        self.load_btn.clicked.connect(self.load_saved)
        lay.addWidget(self.load_btn)
        row = QHBoxLayout()
        row.addWidget(QLabel("edit"))
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.mode.currentTextChanged.connect(self._mode_changed)
        row.addWidget(self.mode, 1)
        self.undo_btn = QPushButton("Undo")
        self.undo_btn.clicked.connect(lambda: self.editor and self.editor.undo())
        self.redo_btn = QPushButton("Redo")
        self.redo_btn.clicked.connect(lambda: self.editor and self.editor.redo())
        row.addWidget(self.undo_btn)
        row.addWidget(self.redo_btn)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.export_btn = QPushButton("Export contours CSV…")
        self.export_btn.clicked.connect(self._export_dialog)
        self.import_btn = QPushButton("Import contours CSV…")
        self.import_btn.clicked.connect(self._import_dialog)
        row.addWidget(self.export_btn)
        row.addWidget(self.import_btn)
        lay.addLayout(row)
        self.gated = QCheckBox("end-diastolic frames only (image-based gating)")
        self.gated.toggled.connect(self._gate)
        lay.addWidget(self.gated)
        self.summary = QLabel("no borders yet")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.views = VesselViews(self.go_to_frame, self._set_cut_angle)
        lay.addWidget(self.views)
        self.table_model = FrameTableModel(TABLE_COLUMNS)
        self.table = RowTableView(self.table_model, min_rows=6)
        self.table.clicked.connect(lambda index: self._table_click(index.row(), index.column()))
        lay.addWidget(self.table)
        self._saves = _ToMainThread(self)  # deleted with the dock
        self._saves.message.connect(self._show_status)
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_DELAY_MS)
        self._redraw_timer.timeout.connect(self._redraw_plots)
        self._measure_worker = None
        self.links.connect(self.viewer.dims.events.current_step, self._on_step)
        self.links.mouse(self.viewer.mouse_drag_callbacks, self._mouse)
        self._enable()

    # -- layers ---------------------------------------------------------------------------
    def _current_layer(self):
        return self.layer_combo.layer()

    def _enable(self) -> None:
        has = self.editor is not None
        for w in (self.undo_btn, self.redo_btn, self.export_btn, self.import_btn, self.mode,
                  self.gated):
            w.setEnabled(has)
        if has:
            self.undo_btn.setEnabled(self.editor.can_undo)
            self.redo_btn.setEnabled(self.editor.can_redo)

    # -- detection ------------------------------------------------------------------------
    def _pullback(self):
        from ..layers import pullback_from_layer

        layer = self._current_layer()
        if layer is None:
            raise ValueError("no 3-D image layer to work on")
        self._layer = layer
        self.pullback = pullback_from_layer(layer)
        return self.pullback

    def detect(self, wait: bool = False) -> None:
        """Detect borders of the chosen layer in a worker (progress + Cancel)."""
        from ..ivus.borders import iter_detect_borders

        try:
            pb = self._pullback()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        self.status.setText("detecting borders…")
        self.start(iter_detect_borders, pb.frames, pb.pixel_spacing_mm, total=pb.n_frames,
                   desc="IVUS borders", on_done=self._detected, on_error=self._failed)

    def _failed(self, exc: Exception) -> None:
        self.status.setText(f"failed: {exc}")

    def _detected(self, borders) -> None:
        pb = self.pullback
        self.status.setText("")
        if self.editor is not None and self.editor.borders.n_frames == borders.n_frames:
            self.editor.set_borders(borders)
            return
        from ..ivus.vessel_files import borders_path

        path = borders_path(pb.source) if pb.source else None
        self._attach(BorderEditor(borders, pb.frame_shape, pb.mm_per_frame, path, pb.source))

    def load_saved(self) -> None:
        """Open the borders file beside the pullback, with the edits of its journal, in a
        worker (a 3,000-frame file takes 0.1 s, a version-1 one a second)."""
        try:
            pb = self._pullback()
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        self.status.setText("reading the borders file…")
        self.start(_read_saved, pb, total=1, desc="IVUS borders file", on_done=self._opened,
                   on_error=self._failed)

    def _opened(self, editor: BorderEditor) -> None:
        self._attach(editor)
        self.status.setText(f"{len(editor.edited)} edited frame(s) read")

    def _attach(self, editor: BorderEditor) -> None:
        if self.editor is not None:
            self.editor.flush()
        self.editor = editor
        editor.background_save = True
        editor.autosave()  # the borders file and a fresh journal, at once (background)
        self.links.connect(editor.borders_changed, self._on_borders)
        editor.save_state.connect(self._relay_save)  # from the saving thread; outlives the dock
        self.links.connect(editor.notice, self._show_status)
        stack = BorderLineStack(lambda: self.editor.borders if self.editor else None,
                                editor.borders.n_frames, editor.frame_shape)
        if LINES_NAME in self.viewer.layers:
            self.viewer.layers.remove(LINES_NAME)
        ly = self._layer
        self._lines = self.viewer.add_labels(
            stack, name=LINES_NAME, scale=tuple(ly.scale), translate=tuple(ly.translate),
            colormap=label_colormap({1: LUMEN_COLOR, 2: EEM_COLOR}), opacity=1.0,
            **({"units": tuple(ly.units)} if hasattr(ly, "units") else {}),
        )
        self.viewer.layers.selection.active = ly
        self._cut = None
        self.views._shown = None  # another pullback: the plots are rebuilt
        self._on_borders(-1)

    # -- redraws --------------------------------------------------------------------------
    def _on_borders(self, frame: int) -> None:
        """A change: of one frame, its table row and the summary now (both from the editor's
        per-frame cache: no pass over the pullback), the plots once the edits pause; of every
        frame (-1), everything once the pullback is measured again (a worker when large)."""
        if self._lines is not None:
            self._lines.refresh()
        self._enable()
        ed = self.editor
        if ed is None:
            return
        if frame < 0 or not ed.has_frame_cache:
            self._redraw_timer.stop()
            if ed.has_frame_cache or ed.borders.n_frames <= MEASURE_HERE_FRAMES:
                self._redraw_views()
            elif frame < 0 or self._measure_worker is None:
                self._measure_in_worker()
            # else: one frame edited while the pullback is measured: measured on adoption
            return
        m = ed.measurements()  # the summary from the cache (about a millisecond)
        row = int(np.searchsorted(m.frame_indices, frame))
        if row < self.table_model.rowCount() and self.table_model.row_key(row) == frame:
            self.table_model.update_row(row, ed.frame_row(frame))
        self._show_summary(m)
        self._redraw_timer.start()  # restarted by every edit of a drag

    def _relay_save(self, msg: str, ok: bool) -> None:
        try:
            self._saves.message.emit(msg, ok)  # queued to the GUI thread
        except RuntimeError:  # the dock was deleted; the file is written all the same
            pass

    def _show_status(self, text: str, *_: object) -> None:
        if self.alive():  # the dock may be deleted while the viewer lives on
            self.status.setText(text)

    def _measure_in_worker(self) -> None:
        """Measure every frame on a worker; the frames edited meanwhile are measured again
        when its result arrives (:meth:`BorderEditor.adopt_frame_cache`)."""
        ed = self.editor
        if ed is None:
            return
        job, token = ed.frame_cache_snapshot()
        self.summary.setText("measuring the pullback…")
        worker = create_worker(job, _start_thread=False)
        worker.returned.connect(lambda per: self._measured(ed, per, token))
        worker.finished.connect(lambda: self._measure_done(worker))
        self._measure_worker = worker
        worker.start()

    def _measure_done(self, worker) -> None:
        if self.alive() and self._measure_worker is worker:
            self._measure_worker = None

    def _measured(self, ed, per_frame, token) -> None:
        if not self.alive() or ed is not self.editor:
            return  # the dock was deleted, or another pullback was opened, meanwhile
        if ed.adopt_frame_cache(per_frame, token):
            self._redraw_views()
        # refused: every frame changed again meanwhile, and that change measures anew

    def _redraw_views(self) -> None:
        """Summary, table and plots now, on this thread (a new cut angle, tests)."""
        ed = self.editor
        if ed is None:
            return
        self._redraw_timer.stop()
        m = ed.measurements()
        self._show_summary(m)
        self.table_model.set_measurements(m)
        self._redraw_plots()

    def _show_summary(self, m) -> None:
        s = m.summary
        if s.get("mla_mm2") is not None:
            self.summary.setText(
                f"MLA {s['mla_mm2']:.2f} mm² at frame {s['mla_frame']} "
                f"({s['mla_position_mm']:.1f} mm) · max burden "
                f"{s['max_plaque_burden_pct']:.0f} % · TAV {s['total_atheroma_volume_mm3']:.1f} "
                f"mm³ · burden ≥ {s['burden_threshold_pct']:g} %: "
                f"{s['burden_segments_length_mm']:.1f} mm"
                + (f" · assumed: {', '.join(sorted(self.pullback.assumed))}"
                   if self.pullback is not None and self.pullback.assumed else "")
            )
        else:
            self.summary.setText("no frame could be measured")

    def _redraw_plots(self) -> None:
        ed = self.editor
        if ed is None or not self.alive() or not ed.has_frame_cache:
            return
        m = ed.measurements()  # from the per-frame cache
        if self._cut is None and self.pullback is not None:
            self._cut = longitudinal_cut(self.pullback.frames, ed.borders.center, self._cut_angle)
        cut, offs = self._cut if self._cut is not None else (None, None)
        px = ed.borders.pixel_spacing_mm
        a = np.radians(self._cut_angle)
        # mm per pixel along the cut direction
        step = float(np.hypot(px[0] * np.sin(a), px[1] * np.cos(a)))
        bo = None
        if cut is not None:
            bo = []
            for r in (ed.borders.lumen_r_px, ed.borders.eem_r_px):
                bo += [radius_at(r, self._cut_angle) * step,
                       -radius_at(r, self._cut_angle + 180.0) * step]
        fresh = self.views._shown is None  # a first draw places the cursors after set_data
        if not fresh:
            self.views.move_cursor(self._frame())  # drawn by set_data's one blit
        self.views.set_data(m, ed.mm_per_frame, cut, None if offs is None else offs * step, bo)
        if fresh:
            self.views.show_frame(self._frame())

    def _gate(self, on: bool) -> None:
        from ..ivus.gating import end_diastolic_frames

        if self.editor is None:
            return
        if not on:
            self.editor.set_gating(None)
            return
        try:
            g = end_diastolic_frames(self.pullback.frames, self.pullback.frame_time_s)
        except ValueError as exc:
            self.status.setText(f"gating: {exc}")
            self.gated.blockSignals(True)
            self.gated.setChecked(False)
            self.gated.blockSignals(False)
            return
        self.editor.set_gating(g.frames)
        warn = " (weak periodicity: check)" if g.confidence < 0.2 else ""
        self.status.setText(
            f"gated: {len(g.frames)} end-diastolic frames, {g.heart_rate_bpm:.0f} bpm{warn}"
        )

    def _set_cut_angle(self, angle: float) -> None:
        self._cut_angle = float(angle)
        self._cut = None
        self._redraw_views()

    def _frame(self) -> int:
        return int(self.viewer.dims.current_step[0])

    def _on_step(self, _event=None) -> None:
        """Move the plots' frame cursor; nothing while the dock is hidden or when the
        pullback's frame did not change."""
        if self.editor is None:
            return
        frame = self._frame()
        if self.isVisible() and frame != self._cursor_frame:
            self._cursor_frame = frame
            self.views.show_frame(frame)

    def go_to_frame(self, frame: int) -> None:
        if self.editor is None:
            return
        frame = int(np.clip(frame, 0, self.editor.borders.n_frames - 1))
        self.viewer.dims.set_current_step(0, frame)

    def _table_click(self, row: int, _col: int) -> None:
        if 0 <= row < self.table_model.rowCount():
            self.go_to_frame(int(self.table_model.row_key(row)))

    def flush(self) -> bool:
        """Wait for the borders file to be written (tests, closing)."""
        return True if self.editor is None else self.editor.flush()

    def on_detach(self) -> None:
        """Closed or deleted: the journal is written into the borders file."""
        if self.editor is not None:
            self.editor.flush()

    # -- gestures -------------------------------------------------------------------------
    def _mode_changed(self, mode: str) -> None:
        # while editing, a drag edits the border instead of panning the view
        if hasattr(self.viewer.camera, "mouse_pan"):
            self.viewer.camera.mouse_pan = mode == "view"

    def _data_point(self, world) -> tuple[float, float]:
        d = self._layer.world_to_data(world)
        return float(d[-2]), float(d[-1])

    def _mouse(self, viewer, event):
        mode = self.mode.currentText()
        if self.editor is None or mode == "view" or self._layer is None:
            return
        which = "lumen" if mode.endswith("lumen") else "eem"
        frame = self._frame()
        pts = [self._data_point(event.position)]
        yield
        while event.type == "mouse_move":
            pts.append(self._data_point(event.position))
            yield
        if mode.startswith("drag"):
            self.editor.drag(frame, which, *pts[-1])
        elif len(pts) >= 3:
            a = np.asarray(pts)
            self.editor.redraw(frame, which, a[:, 0], a[:, 1])

    # -- files ----------------------------------------------------------------------------
    def export_csv(self, path) -> None:
        from ..ivus.vessel_files import export_contours_csv

        export_contours_csv(path, self.editor.borders)
        self.status.setText(f"contours written to {Path(path).name}")

    def import_csv(self, path) -> None:
        from ..ivus.vessel_files import import_contours_csv

        try:
            vb, frames = import_contours_csv(path, self.editor.borders)
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        self.editor.set_borders(vb)
        self.editor.edited |= frames
        self.status.setText(f"{len(frames)} frame(s) read from {Path(path).name}")

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export contours", "", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def _import_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import contours", "", "CSV (*.csv)")
        if path:
            self.import_csv(path)
