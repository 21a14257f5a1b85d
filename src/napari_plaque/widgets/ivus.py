"""IVUS arc annotator: draw calcium / attenuated-plaque arcs, review, score, predict.

Thin front end over :mod:`napari_plaque.ivus`: the arcs live in an
:class:`~napari_plaque.ivus.arcs.ArcSet`; the widget turns mouse gestures into arcs, renders
the current frame's arcs as coloured sectors (2D labels layers ``arcs``, ``arc preview`` and
``predicted``), and shows a polar view of the current frame, an arc map (frames x angle) and a
longitudinal cut, all linked to the current frame.

Drawing: with *Draw arcs* on, press on the frame at the start angle, drag around the centre
(either way, up to a full ring) and release at the end angle; a wedge previews the arc.

Shortcuts (viewer and annotation layers): ``Alt-N`` / ``Alt-P`` next / previous frame,
``Alt-C`` next class, ``Alt-V`` copy the previous frame's arcs, ``Alt-D`` delete the arc under
the cursor, ``Control-Z`` undo, ``Control-Shift-Z`` redo.

Every edit is saved at once (atomically) to ``<pullback>.arcs.json`` beside the pullback file,
or to the file chosen with *Save to...*; opening the same pullback again restores them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..io.errors import FormatError
from ..ivus.arcs import DEFAULT_CLASSES, ArcSet, load_arcs, save_arcs
from ..ivus.measure import arc_measurements
from ..ivus.polar import to_polar
from ..ivus.render import arc_map, frame_sector_labels, wedge_mask
from ..layers import pullback_from_layer
from ._common import label_colormap, refill_combo

ARCS_LAYER = "arcs"
PREVIEW_LAYER = "arc preview"
PRED_LAYER = "predicted"
CLASS_COLORS = {1: "yellow", 2: "magenta", 3: "orange", 4: "lime"}
PRED_COLOR = "cyan"
#: how many undo steps are kept
UNDO_DEPTH = 200


def autosave_path(source: str | Path) -> Path:
    """Where the annotations of a pullback file are kept: ``<pullback>.arcs.json`` beside it."""
    p = Path(source)
    return p.with_name(p.name + ".arcs.json")


def _sweep(prev_deg: float, new_deg: float) -> float:
    """Signed smallest angular step from ``prev`` to ``new`` in (-180, 180]."""
    d = (new_deg - prev_deg + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


class ArcAnnotatorWidget(QWidget):
    """Annotate IVUS arcs, review a pullback at a glance, score it (ICS) and run the SVM."""

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.layer = None  # the pullback image layer
        self.pullback = None
        self.arcset: ArcSet | None = None
        self.predicted: ArcSet | None = None
        self.save_path: Path | None = None
        self._undo: list[ArcSet] = []
        self._redo: list[ArcSet] = []
        self._drag_preview: tuple[float, float] | None = None
        self._long_cut: np.ndarray | None = None
        self._worker = None
        self._build_ui()
        self.viewer.layers.events.inserted.connect(self._refresh_layer_choices)
        self.viewer.layers.events.removed.connect(self._refresh_layer_choices)
        self.viewer.dims.events.current_step.connect(self._on_frame_changed)
        self._refresh_layer_choices()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.currentTextChanged.connect(self._on_layer_chosen)
        form.addRow("pullback", self.layer_combo)
        self.class_combo = QComboBox()
        self.class_combo.addItems(list(DEFAULT_CLASSES))
        form.addRow("class", self.class_combo)
        self.n_alines = QSpinBox()
        self.n_alines.setRange(8, 4096)
        self.n_alines.setValue(360)
        self.n_alines.valueChanged.connect(self._update_stats)
        form.addRow("A-lines / frame", self.n_alines)
        self.center_combo = QComboBox()
        self.center_combo.addItems(["catheter", "lumen (estimated)"])
        self.center_combo.currentIndexChanged.connect(self._on_center_mode)
        form.addRow("centre", self.center_combo)
        self.draw_check = QCheckBox("Draw arcs (press, drag round the centre, release)")
        self.draw_check.setChecked(True)
        self.draw_check.toggled.connect(self._on_draw_toggled)
        form.addRow(self.draw_check)
        lay.addLayout(form)

        row = QHBoxLayout()
        self.undo_btn = QPushButton("Undo")
        self.undo_btn.clicked.connect(self.undo)
        self.redo_btn = QPushButton("Redo")
        self.redo_btn.clicked.connect(self.redo)
        self.copy_btn = QPushButton("Copy previous frame")
        self.copy_btn.clicked.connect(self.copy_previous_frame)
        for b in (self.undo_btn, self.redo_btn, self.copy_btn):
            row.addWidget(b)
        lay.addLayout(row)
        row = QHBoxLayout()
        self.clear_btn = QPushButton("Clear frame")
        self.clear_btn.clicked.connect(self.clear_frame)
        self.load_btn = QPushButton("Load arcs...")
        self.load_btn.clicked.connect(self._choose_load)
        self.saveas_btn = QPushButton("Save to...")
        self.saveas_btn.clicked.connect(self._choose_save)
        for b in (self.clear_btn, self.load_btn, self.saveas_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self.save_label = QLabel("no pullback")
        self.save_label.setWordWrap(True)
        lay.addWidget(self.save_label)

        self.stats_label = QLabel("")
        self.stats_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        lay.addWidget(self.stats_label)

        # prediction
        row = QHBoxLayout()
        self.model_btn = QPushButton("Predict with SVM model...")
        self.model_btn.clicked.connect(self._choose_model)
        self.accept_btn = QPushButton("Accept frame")
        self.accept_btn.clicked.connect(self.accept_prediction_frame)
        self.reject_btn = QPushButton("Reject frame")
        self.reject_btn.clicked.connect(self.reject_prediction_frame)
        self.accept_all_btn = QPushButton("Accept all")
        self.accept_all_btn.clicked.connect(self.accept_prediction_all)
        for b in (self.model_btn, self.accept_btn, self.reject_btn, self.accept_all_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self.pred_label = QLabel("")
        lay.addWidget(self.pred_label)

        # views: polar frame, arc map, longitudinal cut
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 6), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.ax_polar = self.figure.add_subplot(3, 1, 1)
        self.ax_map = self.figure.add_subplot(3, 1, 2)
        self.ax_long = self.figure.add_subplot(3, 1, 3)
        self.canvas.mpl_connect("button_press_event", self._on_canvas_click)
        self.canvas.mpl_connect("button_release_event", self._on_canvas_release)
        self._polar_press: float | None = None
        row = QHBoxLayout()
        row.addWidget(QLabel("longitudinal cut at (deg)"))
        self.long_angle = QSpinBox()
        self.long_angle.setRange(0, 179)
        self.long_angle.setValue(0)
        self.long_angle.valueChanged.connect(self._start_longitudinal)
        row.addWidget(self.long_angle)
        lay.addLayout(row)
        lay.addWidget(self.canvas)

    # ------------------------------------------------------------------ layers
    def _pullback_layers(self) -> list:
        from napari.layers import Image

        return [
            lyr
            for lyr in self.viewer.layers
            if isinstance(lyr, Image) and lyr.ndim == 3 and not lyr.rgb
        ]

    def _refresh_layer_choices(self, event=None) -> None:
        try:
            self._update_layer_choices()
        except RuntimeError:  # the dock was deleted while the viewer lives on
            self._detach()

    def _update_layer_choices(self) -> None:
        names = [lyr.name for lyr in self._pullback_layers()]
        refill_combo(self.layer_combo, names)
        if self.layer is not None and self.layer not in self.viewer.layers:
            self._unbind_layer()
            self.layer = self.pullback = self.arcset = self.predicted = None
            self._undo.clear()
            self._redo.clear()
            self.save_label.setText("no pullback")
        if self.layer is None:
            ivus = [
                lyr
                for lyr in self._pullback_layers()
                if lyr.metadata.get("napari_plaque") == "ivus"
            ]
            pick = ivus[0] if ivus else (self._pullback_layers() or [None])[0]
            if pick is not None:
                self.layer_combo.setCurrentText(pick.name)
                self.set_pullback_layer(pick)

    def _on_layer_chosen(self, name: str) -> None:
        if name and name in self.viewer.layers and (self.layer is None or self.layer.name != name):
            self.set_pullback_layer(self.viewer.layers[name])

    def set_pullback_layer(self, layer) -> None:
        """Annotate ``layer``; restores the autosaved arcs of its file if there are any."""
        self._unbind_layer()
        self.layer = layer
        self.pullback = pullback_from_layer(layer)
        n, shape = self.pullback.n_frames, self.pullback.frame_shape
        self.arcset = ArcSet(n, shape)
        self._undo.clear()
        self._redo.clear()
        self.predicted = None
        self.save_path = autosave_path(self.pullback.source) if self.pullback.source else None
        restored = ""
        if self.save_path is not None and self.save_path.exists():
            try:
                self.arcset = load_arcs(self.save_path, n_frames=n, frame_shape=shape)
                restored = f" (restored {len(self.arcset.arcs)} arcs)"
            except FormatError as exc:
                # never overwrite a file we could not read: save elsewhere until chosen
                self.save_path = None
                restored = f" - could not restore: {exc}"
        self.center_combo.blockSignals(True)
        self.center_combo.setCurrentIndex(0 if self.arcset.center_mode == "catheter" else 1)
        self.center_combo.blockSignals(False)
        self._ensure_overlay_layers()
        self._bind_layer()
        self._update_save_label(restored)
        self._update_stats()
        self._draw_map()
        self._on_frame_changed()
        self._start_longitudinal()

    def _ensure_overlay_layers(self) -> None:
        shape = self.pullback.frame_shape
        scale = tuple(self.pullback.scale[1:])
        empty = np.zeros(shape, np.uint8)
        specs = (
            (ARCS_LAYER, CLASS_COLORS, 0.45),
            (PRED_LAYER, {1: PRED_COLOR, 2: PRED_COLOR}, 0.45),
            (PREVIEW_LAYER, {1: "white"}, 0.3),
        )
        for name, colors, opacity in specs:
            if name in self.viewer.layers:
                lyr = self.viewer.layers[name]
                if tuple(lyr.data.shape) != tuple(shape):
                    lyr.data = empty.copy()
                lyr.scale = scale
            else:
                lyr = self.viewer.add_labels(
                    empty.copy(),
                    name=name,
                    scale=scale,
                    opacity=opacity,
                    colormap=label_colormap(colors),
                )
            lyr.mouse_pan = False
        # keep the pullback selected so its callbacks receive the mouse
        self.viewer.layers.selection.active = self.layer

    # ------------------------------------------------------------------ bindings
    def _annot_layers(self) -> list:
        out = [self.layer] if self.layer is not None else []
        out += [
            self.viewer.layers[n]
            for n in (ARCS_LAYER, PRED_LAYER, PREVIEW_LAYER)
            if n in self.viewer.layers
        ]
        return out

    def _shortcuts(self) -> dict[str, Any]:
        def guarded(fn):
            def run(*_: Any) -> None:
                if self.arcset is None:
                    return
                try:
                    fn()
                except RuntimeError:  # the dock was deleted while the viewer lives on
                    self._detach()

            return run

        return {
            "Alt-N": guarded(lambda: self.step_frame(1)),
            "Alt-P": guarded(lambda: self.step_frame(-1)),
            "Alt-C": guarded(self.next_class),
            "Alt-V": guarded(self.copy_previous_frame),
            "Alt-D": guarded(self.delete_arc_under_cursor),
            "Control-Z": guarded(self.undo),
            "Control-Shift-Z": guarded(self.redo),
        }

    def _bind_layer(self) -> None:
        for lyr in self._annot_layers():
            if self.on_mouse_drag not in lyr.mouse_drag_callbacks and self.draw_check.isChecked():
                lyr.mouse_drag_callbacks.append(self.on_mouse_drag)
            for key, fn in self._shortcuts().items():
                lyr.bind_key(key, fn, overwrite=True)
        if self.layer is not None:
            self.layer.mouse_pan = not self.draw_check.isChecked()
        self._viewer_keys = self._shortcuts()
        for key, fn in self._viewer_keys.items():
            self.viewer.bind_key(key, fn, overwrite=True)

    def _detach(self) -> None:
        """Disconnect from the viewer (its events, keys and layer callbacks)."""
        import contextlib

        from app_model.types import KeyBinding

        ev = self.viewer.layers.events
        for sig, cb in (
            (ev.inserted, self._refresh_layer_choices),
            (ev.removed, self._refresh_layer_choices),
            (self.viewer.dims.events.current_step, self._on_frame_changed),
        ):
            with contextlib.suppress(Exception):
                sig.disconnect(cb)
        for key, fn in getattr(self, "_viewer_keys", {}).items():
            if self.viewer.keymap.get(KeyBinding.from_str(key)) is fn:
                self.viewer.bind_key(key, None)
        with contextlib.suppress(Exception):
            for lyr in self._annot_layers():
                if self.on_mouse_drag in lyr.mouse_drag_callbacks:
                    lyr.mouse_drag_callbacks.remove(self.on_mouse_drag)

    def _unbind_layer(self) -> None:
        for lyr in self._annot_layers():
            if self.on_mouse_drag in lyr.mouse_drag_callbacks:
                lyr.mouse_drag_callbacks.remove(self.on_mouse_drag)
            if self.layer is not None and lyr is self.layer:
                self.layer.mouse_pan = True

    def _on_draw_toggled(self, on: bool) -> None:
        if self.layer is None:
            return
        if on:
            self._bind_layer()
        else:
            self._unbind_layer()
        self.layer.mouse_pan = not on

    # ------------------------------------------------------------------ geometry
    def current_frame(self) -> int:
        if self.layer is None:
            return 0
        data = self.layer.world_to_data(self.viewer.dims.point)
        return int(np.clip(round(float(data[0])), 0, self.pullback.n_frames - 1))

    def _event_pixel(self, position) -> tuple[int, float, float]:
        """(frame, row, col) of a world position on the pullback layer."""
        data = np.asarray(self.layer.world_to_data(position), float)
        frame = self.current_frame() if data.size < 3 else int(round(data[-3]))
        frame = int(np.clip(frame, 0, self.pullback.n_frames - 1))
        return frame, float(data[-2]), float(data[-1])

    def angle_at(self, position) -> tuple[int, float]:
        """(frame, angle in degrees) of a world position, about that frame's centre."""
        frame, row, col = self._event_pixel(position)
        cy, cx = self.arcset.center_of(frame)
        return frame, float(np.degrees(np.arctan2(row - cy, col - cx)) % 360.0)

    # ------------------------------------------------------------------ drawing
    def on_mouse_drag(self, layer, event):
        """Mouse callback (press -> drag -> release) drawing one arc; napari-style generator."""
        try:
            drawing = self.draw_check.isChecked()
        except RuntimeError:  # the dock was deleted while the viewer lives on
            self._detach()
            return
        if self.arcset is None or not drawing:
            return
        if event.type != "mouse_press" or getattr(event, "button", 1) not in (1, None):
            return
        frame, start = self.angle_at(event.position)
        prev = start
        sweep = 0.0
        yield
        while event.type == "mouse_move":
            _, a = self.angle_at(event.position)
            sweep = float(np.clip(sweep + _sweep(prev, a), -360.0, 360.0))
            prev = a
            self._set_preview(frame, start, sweep)
            yield
        self._set_preview(frame, start, 0.0)
        if abs(sweep) >= 1.0:
            s, e = (start, start + sweep) if sweep > 0 else (start + sweep, start)
            if abs(sweep) >= 359.5:
                s, e = 0.0, 360.0
            self.add_arc(
                frame, self.class_combo.currentText(), s % 360.0, e % 360.0 if e != 360 else e
            )

    def _set_preview(self, frame: int, start: float, sweep: float) -> None:
        self._drag_preview = None if sweep == 0 else (start, sweep)
        if PREVIEW_LAYER not in self.viewer.layers:
            return
        lyr = self.viewer.layers[PREVIEW_LAYER]
        if sweep == 0:
            lyr.data = np.zeros(self.pullback.frame_shape, np.uint8)
            return
        s, e = (start, start + sweep) if sweep > 0 else (start + sweep, start)
        if abs(sweep) >= 359.5:
            s, e = 0.0, 360.0
        m = wedge_mask(self.pullback.frame_shape, self.arcset.center_of(frame), s % 360, e)
        lyr.data = m.astype(np.uint8)

    def _on_center_mode(self, index: int) -> None:
        """Switch between catheter-centred and lumen-centred arcs (only while no arcs exist)."""
        if self.arcset is None:
            return
        mode = "lumen" if index == 1 else "catheter"
        if mode == self.arcset.center_mode:
            return
        if self.arcset.arcs:
            self.center_combo.blockSignals(True)
            self.center_combo.setCurrentIndex(0 if self.arcset.center_mode == "catheter" else 1)
            self.center_combo.blockSignals(False)
            self.save_label.setText(
                "the centre can only change while there are no arcs (arcs are angles about it)"
            )
            return
        if mode == "lumen":
            from ..ivus.lumen import estimate_lumen_centers

            centers = estimate_lumen_centers(self.pullback.frames).round(3).tolist()
        else:
            shape = self.pullback.frame_shape
            centers = [(shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0]
        self.arcset.center_mode = mode
        self.arcset.centers = centers
        self.predicted = None
        self._changed()

    # ------------------------------------------------------------------ editing (undoable)
    def _push(self) -> None:
        self._undo.append(self.arcset.copy())
        del self._undo[:-UNDO_DEPTH]
        self._redo.clear()

    def _changed(self) -> None:
        self._autosave()
        self._render_frame()
        self._update_stats()
        self._draw_map()

    def add_arc(self, frame: int, cls: str, start_deg: float, end_deg: float) -> None:
        self._push()
        self.arcset.add(frame, cls, start_deg, end_deg)
        self._changed()

    def delete_arc_at(self, frame: int, angle_deg: float) -> bool:
        cls = self.class_combo.currentText()
        hit = [a for a in self.arcset.arcs_for(frame) if a.cls == cls] or self.arcset.arcs_for(
            frame
        )
        if not hit:
            return False
        snapshot = self.arcset.copy()
        removed = self.arcset.remove_at(frame, angle_deg, cls) or self.arcset.remove_at(
            frame, angle_deg
        )
        if removed is None:
            return False
        self._undo.append(snapshot)
        self._redo.clear()
        self._changed()
        return True

    def delete_arc_under_cursor(self) -> bool:
        frame, angle = self.angle_at(self.viewer.cursor.position)
        return self.delete_arc_at(frame, angle)

    def copy_previous_frame(self) -> int:
        if self.arcset is None:
            return 0
        f = self.current_frame()
        if f == 0 or not self.arcset.arcs_for(f - 1):
            return 0
        self._push()
        n = self.arcset.copy_frame(f - 1, f)
        self._changed()
        return n

    def clear_frame(self) -> None:
        if self.arcset is None:
            return
        f = self.current_frame()
        if self.arcset.arcs_for(f):
            self._push()
            self.arcset.clear_frame(f)
            self._changed()

    def undo(self) -> bool:
        if not self._undo or self.arcset is None:
            return False
        self._redo.append(self.arcset)
        self.arcset = self._undo.pop()
        self._changed()
        return True

    def redo(self) -> bool:
        if not self._redo or self.arcset is None:
            return False
        self._undo.append(self.arcset)
        self.arcset = self._redo.pop()
        self._changed()
        return True

    def next_class(self) -> str:
        i = (self.class_combo.currentIndex() + 1) % self.class_combo.count()
        self.class_combo.setCurrentIndex(i)
        return self.class_combo.currentText()

    def step_frame(self, delta: int) -> int:
        f = int(np.clip(self.current_frame() + delta, 0, self.pullback.n_frames - 1))
        self.set_frame(f)
        return f

    def set_frame(self, frame: int) -> None:
        world = self.layer.data_to_world([frame, 0, 0])
        self.viewer.dims.set_point(0, float(world[0]))

    # ------------------------------------------------------------------ saving
    def _autosave(self) -> None:
        if self.arcset is None:
            return
        if self.save_path is None:
            self._update_save_label(" - not saved: choose a file with 'Save to...'")
            return
        save_arcs(self.arcset, self.save_path)
        self._update_save_label("")

    def _update_save_label(self, extra: str) -> None:
        where = str(self.save_path) if self.save_path else "(no file)"
        self.save_label.setText(f"autosave: {where}{extra}")

    def save_to(self, path: str | Path) -> None:
        self.save_path = Path(path)
        self._autosave()

    def load_from(self, path: str | Path) -> None:
        if self.pullback is None:
            raise ValueError("open a pullback before loading its arcs")
        arcs = load_arcs(
            path, n_frames=self.pullback.n_frames, frame_shape=self.pullback.frame_shape
        )
        self._push()
        self.arcset = arcs
        self._changed()

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save arcs", "", "Arcs (*.json)")
        if path:
            self.save_to(path)

    def _choose_load(self) -> None:
        if self.pullback is None:
            self.save_label.setText("open a pullback first")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load arcs", "", "Arcs (*.json)")
        if path:
            try:
                self.load_from(path)
            except FormatError as exc:
                self.save_label.setText(str(exc))

    # ------------------------------------------------------------------ prediction
    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "SVM model", "", "Model (*.npz)")
        if path:
            self.predict(path)

    def predict(self, model_path: str | Path, block: bool = False):
        """Run the SVM on the pullback in a worker; results go to the ``predicted`` layer."""
        from ..ivus.svm import iter_predict_pullback, load_model

        if self.arcset is None:
            self.pred_label.setText("open a pullback first")
            return None
        try:
            model = load_model(model_path)
        except FormatError as exc:
            self.pred_label.setText(str(exc))
            return None
        if block:
            from .._progress import run_steps

            center = self.arcset.centers_array()
            self._on_predicted(run_steps(iter_predict_pullback(model, self.pullback, center)))
            return None
        from ._worker import start_worker

        self.pred_label.setText("predicting...")
        self._worker = start_worker(
            iter_predict_pullback,
            model,
            self.pullback,
            self.arcset.centers_array(),
            total=self.pullback.n_frames,
            desc="SVM calcium",
            on_done=self._on_predicted,
            on_error=lambda exc: self.pred_label.setText(f"prediction failed: {exc}"),
        )
        return self._worker

    def _on_predicted(self, result) -> None:
        labels, arcs = result
        self.predicted = arcs
        m = arc_measurements(labels, self.pullback.mm_per_frame)
        self.pred_label.setText(
            f"predicted: ICS {m['ics']:.1f}, max arc {m['max_arc_deg']:.0f} deg, "
            f"length {m['length_mm']:.1f} mm"
        )
        self._render_frame()

    def accept_prediction_frame(self, frame: int | None = None) -> int:
        if self.predicted is None:
            return 0
        f = self.current_frame() if frame is None else frame
        arcs = self.predicted.arcs_for(f)
        if not arcs:
            return 0
        self._push()
        for a in arcs:
            self.arcset.add(f, a.cls, a.start_deg, a.end_deg, annotator=a.annotator)
        self.predicted.clear_frame(f)
        self._changed()
        return len(arcs)

    def reject_prediction_frame(self, frame: int | None = None) -> None:
        if self.predicted is not None:
            self.predicted.clear_frame(self.current_frame() if frame is None else frame)
            self._render_frame()

    def accept_prediction_all(self) -> int:
        if self.predicted is None or not self.predicted.arcs:
            return 0
        self._push()
        n = len(self.predicted.arcs)
        self.arcset.add_many(list(self.predicted.arcs))
        self.predicted.arcs = []
        self._changed()
        return n

    # ------------------------------------------------------------------ display
    def _on_frame_changed(self, event=None) -> None:
        """Scrolling: redraw only what depends on the current frame."""
        if self.layer is None or self.arcset is None:
            return
        try:
            self._redraw_frame()
        except RuntimeError:  # the dock was deleted while the viewer lives on
            self._detach()

    def _redraw_frame(self) -> None:
        self._render_frame()
        self._show_stats()
        self._move_lines()

    def _render_frame(self) -> None:
        f = self.current_frame()
        if ARCS_LAYER in self.viewer.layers:
            self.viewer.layers[ARCS_LAYER].data = frame_sector_labels(self.arcset, f)
        if PRED_LAYER in self.viewer.layers:
            if self.predicted is not None:
                lab = frame_sector_labels(self.predicted, f, band=(0.62, 0.76))
            else:
                lab = np.zeros(self.pullback.frame_shape, np.uint8)
            self.viewer.layers[PRED_LAYER].data = lab
        self._draw_polar()

    def _update_stats(self, *_: Any) -> None:
        """Recompute the pullback measurements (after an edit) and show them."""
        if self.arcset is None:
            return
        n = self.n_alines.value()
        mpf = self.pullback.mm_per_frame
        lab = self.arcset.labels(n, ["calcium", "attenuation"])
        self.stats = {
            "calcium": arc_measurements(lab[:, :, 0], mpf),
            "attenuation": arc_measurements(lab[:, :, 1], mpf),
        }
        self._show_stats()

    def _show_stats(self) -> None:
        if self.arcset is None or not hasattr(self, "stats"):
            return
        ca, att = self.stats["calcium"], self.stats["attenuation"]
        f = self.current_frame()
        assumed = " (rate assumed)" if "pullback_rate_mm_s" in self.pullback.assumed else ""
        self.stats_label.setText(
            f"frame {f}: calcium arc {ca['arc_deg'][f]:.0f} deg, attenuation "
            f"{att['arc_deg'][f]:.0f} deg\n"
            f"ICS {ca['ics']:.1f} | max arc {ca['max_arc_deg']:.0f} deg | calcium length "
            f"{ca['length_mm']:.1f} mm{assumed} | >180 deg over >5 mm: "
            f"{'yes' if ca['arc_gt180_over_5mm'] else 'no'}\n"
            f"attenuated plaque: max arc {att['max_arc_deg']:.0f} deg, length "
            f"{att['length_mm']:.1f} mm"
        )

    def _move_lines(self) -> None:
        x = self.current_frame() + 0.5
        for line in (getattr(self, "_map_line", None), getattr(self, "_long_line", None)):
            if line is not None:
                line.set_xdata([x, x])
        self.canvas.draw_idle()

    def _draw_views(self) -> None:
        self._draw_map()
        self._draw_long()

    def _draw_polar(self) -> None:
        ax = self.ax_polar
        ax.clear()
        f = self.current_frame()
        frame = np.asarray(self.pullback.frames[f])
        pol = to_polar(frame, self.arcset.center_of(f), n_alines=360, depth_samples=128)
        ax.imshow(pol.T, cmap="gray", aspect="auto", origin="upper", extent=(0, 360, 128, 0))
        colors = {c: CLASS_COLORS.get(i + 1, "white") for i, c in enumerate(self.arcset.classes)}
        for a in self.arcset.arcs_for(f):
            for s, e in _unwrapped(a.start_deg, a.end_deg):
                ax.axvspan(s, e, color=colors[a.cls], alpha=0.3)
        ax.set_title(f"frame {f}: polar (A-line angle x depth)", fontsize=8)
        ax.set_xlabel("angle (deg)", fontsize=7)
        ax.tick_params(labelsize=6)
        self.canvas.draw_idle()

    def _draw_map(self) -> None:
        ax = self.ax_map
        ax.clear()
        amap = arc_map(self.arcset, 360)
        from matplotlib.colors import ListedColormap

        cmap = ListedColormap(["black", "yellow", "magenta", "orange", "lime"])
        ax.imshow(
            amap.T,
            cmap=cmap,
            vmin=0,
            vmax=4,
            aspect="auto",
            interpolation="nearest",
            extent=(0, self.arcset.n_frames, 360, 0),
        )
        self._map_line = ax.axvline(self.current_frame() + 0.5, color="cyan", lw=1)
        ax.set_title("arc map (click: go to frame)", fontsize=8)
        ax.set_ylabel("angle", fontsize=7)
        ax.tick_params(labelsize=6)
        self.canvas.draw_idle()

    def _draw_long(self) -> None:
        ax = self.ax_long
        ax.clear()
        if self._long_cut is not None:
            ax.imshow(
                self._long_cut,
                cmap="gray",
                aspect="auto",
                extent=(0, self.pullback.n_frames, self._long_cut.shape[0], 0),
            )
        self._long_line = ax.axvline(self.current_frame() + 0.5, color="cyan", lw=1)
        ax.set_title(f"longitudinal cut at {self.long_angle.value()} deg", fontsize=8)
        ax.set_xlabel("frame", fontsize=7)
        ax.tick_params(labelsize=6)
        self.canvas.draw_idle()

    def _start_longitudinal(self, *_: Any, block: bool = False) -> None:
        if self.layer is None:
            return
        angle = float(self.long_angle.value())
        center = self.arcset.center_of(0)
        if block or self.pullback.n_frames <= 256:
            from ..ivus.render import longitudinal_cut

            self._long_cut = longitudinal_cut(self.pullback.frames, angle, center)
            self._draw_long()
            return
        from ._worker import start_worker

        def job():
            from ..ivus.render import longitudinal_cut

            yield 0
            return longitudinal_cut(self.pullback.frames, angle, center)

        def done(cut):
            self._long_cut = cut
            self._draw_long()

        start_worker(job, total=0, desc="longitudinal cut", on_done=done)

    def _on_canvas_click(self, event) -> None:
        if self.layer is None or event.xdata is None:
            return
        if event.inaxes in (self.ax_map, self.ax_long):
            self.set_frame(int(np.clip(event.xdata, 0, self.pullback.n_frames - 1)))
        elif event.inaxes is self.ax_polar:
            self._polar_press = float(np.clip(event.xdata, 0.0, 360.0))

    def _on_canvas_release(self, event) -> None:
        """Drawing in the polar view: press and release along the angle axis make an arc."""
        start, self._polar_press = self._polar_press, None
        if start is None or event.inaxes is not self.ax_polar or event.xdata is None:
            return
        end = float(np.clip(event.xdata, 0.0, 360.0))
        lo, hi = min(start, end), max(start, end)
        if hi - lo < 1.0:
            return
        if lo <= 0.0 and hi >= 360.0:
            lo, hi = 0.0, 360.0  # the full ring
        end = 360.0 if (lo, hi) == (0.0, 360.0) else hi % 360.0
        self.add_arc(self.current_frame(), self.class_combo.currentText(), lo, end)


def _unwrapped(start: float, end: float) -> list[tuple[float, float]]:
    ext = (end - start) % 360.0 if abs(end - start) < 360 else 360.0
    if start + ext <= 360.0:
        return [(start, start + ext)]
    return [(start, 360.0), (0.0, start + ext - 360.0)]
