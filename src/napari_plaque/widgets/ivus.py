"""IVUS arc annotator dock: a thin view over :class:`napari_plaque.ivus.annotator.ArcAnnotator`.

The model holds the arcs, the undo history, predictions and autosave; this dock turns mouse
gestures and shortcuts into model calls and redraws on the model's events: the current frame's
arcs as coloured sectors (2D labels layers ``arcs``, ``arc preview`` and ``predicted``, in mm),
and the linked views (:class:`~napari_plaque.widgets._ivus_views.ArcViews`).

Drawing: with *Draw arcs* on, press on the frame at the start angle, drag around the centre
(either way, up to a full ring) and release at the end angle; a wedge previews the arc and the
status line reads out its angles.

Shortcuts (viewer and annotation layers): ``Alt-N`` / ``Alt-P`` next / previous frame,
``Alt-C`` next class, ``Alt-V`` copy the previous frame's arcs, ``Alt-D`` delete the arc under
the cursor, ``Control-Z`` undo, ``Control-Shift-Z`` redo.

Predictions arrive two ways: *Predict with model...* (an SVM ``.npz`` or a deep A-line ``.pt``
model), or a layer that the Model inference dock adds with ``metadata["napari_plaque"] ==
"model-arcs"`` naming this pullback layer (no reference to the other dock is needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QVBoxLayout, QWidget

from ..io.errors import FormatError
from ..ivus.annotator import ArcAnnotator, ArcDrag, angle_about, autosave_path
from ..ivus.arcs import ArcSet
from ..ivus.polar import default_center, to_polar
from ..ivus.render import arc_map, wedge_mask
from ..layers import default_layer, pullback_from_layer
from ._common import refill_combo
from ._ivus_controls import AnnotatorControls
from ._ivus_layers import ARCS_LAYER, PRED_LAYER, PREVIEW_LAYER, LayerBindingMixin
from ._ivus_predict import PredictionMixin
from ._ivus_views import POLAR_DEPTH, ArcViews

__all__ = ["ARCS_LAYER", "PRED_LAYER", "PREVIEW_LAYER", "ArcAnnotatorWidget", "autosave_path"]

#: after the last frame change, how long scrolling must pause before the views follow (ms)
VIEWS_DELAY_MS = 120


class ArcAnnotatorWidget(LayerBindingMixin, PredictionMixin, QWidget):
    """Annotate IVUS arcs, review a pullback at a glance, score it (ICS), review predictions."""

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.layer = None  # the pullback image layer
        self.pullback = None
        self.model: ArcAnnotator | None = None
        self._drag: ArcDrag | None = None
        self._worker = None
        lay = QVBoxLayout(self)
        self.controls = AnnotatorControls(self)
        lay.addWidget(self.controls)
        self.views = ArcViews(self.set_frame, self._polar_arc, self._start_longitudinal, self)
        lay.addWidget(self.views, 1)
        c = self.controls
        # the controls tests and scripts reach for, by their familiar names
        self.class_combo, self.center_combo, self.n_alines = (
            c.class_combo,
            c.center_combo,
            c.n_alines,
        )
        self.save_label, self.stats_label, self.pred_label = (
            c.save_label,
            c.stats_label,
            c.pred_label,
        )
        c.layer_combo.currentTextChanged.connect(self._on_layer_chosen)
        c.n_alines.valueChanged.connect(self._on_n_alines)
        c.center_combo.currentIndexChanged.connect(self._on_center_mode)
        c.draw_check.toggled.connect(self._on_draw_toggled)
        for btn, fn in (
            (c.undo_btn, self.undo),
            (c.redo_btn, self.redo),
            (c.copy_btn, self.copy_previous_frame),
            (c.clear_btn, self.clear_frame),
            (c.load_btn, self._choose_load),
            (c.saveas_btn, self._choose_save),
            (c.merge_btn, self.reload_and_merge),
            (c.model_btn, self._choose_model),
            (c.accept_btn, self.accept_prediction_frame),
            (c.reject_btn, self.reject_prediction_frame),
            (c.accept_all_btn, self.accept_prediction_all),
        ):
            btn.clicked.connect(lambda *_, f=fn: f())
        # scrolling: the arcs layers follow at once (napari slices them); the views, the stats
        # line and the cursors follow when scrolling pauses (each repaint of the dock costs)
        self._frame_timer = QTimer(self)
        self._frame_timer.setSingleShot(True)
        self._frame_timer.setInterval(VIEWS_DELAY_MS)
        self._frame_timer.timeout.connect(self._redraw_frame)
        self.viewer.layers.events.inserted.connect(self._on_layers_inserted)
        self.viewer.layers.events.removed.connect(self._refresh_layer_choices)
        self.viewer.dims.events.current_step.connect(self._on_frame_changed)
        self._refresh_layer_choices()

    # -- the model's state, as the dock's API ----------------------------------------------------
    @property
    def arcset(self) -> ArcSet | None:
        return self.model.arcset if self.model is not None else None

    @property
    def predicted(self) -> ArcSet | None:
        return self.model.predicted if self.model is not None else None

    @predicted.setter
    def predicted(self, arcs: ArcSet | None) -> None:
        if self.model is not None:
            self.model.set_predictions(arcs)

    @property
    def save_path(self) -> Path | None:
        return self.model.save_path if self.model is not None else None

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        return self.model.measurements() if self.model is not None else {}

    @property
    def ax_map(self):
        return self.views.ax_map

    @property
    def ax_polar(self):
        return self.views.ax_polar

    @property
    def _long_cut(self):
        return self.views.long_cut

    def _on_canvas_click(self, event) -> None:
        self.views._on_canvas_click(event)

    def _on_canvas_release(self, event) -> None:
        self.views._on_canvas_release(event)

    # -- layers --------------------------------------------------------------------------------
    def _pullback_layers(self) -> list:
        from napari.layers import Image

        return [
            ly for ly in self.viewer.layers if isinstance(ly, Image) and ly.ndim == 3 and not ly.rgb
        ]

    def _on_layers_inserted(self, event=None) -> None:
        self._refresh_layer_choices()
        layer = getattr(event, "value", None)
        if layer is not None and self.model is not None:
            self._take_predictions_from(layer)

    def _refresh_layer_choices(self, event=None) -> None:
        try:
            self._update_layer_choices()
        except RuntimeError:  # the dock was deleted while the viewer lives on
            self._detach()

    def _update_layer_choices(self) -> None:
        layers = self._pullback_layers()
        refill_combo(
            self.controls.layer_combo, [ly.name for ly in layers], default=default_layer(layers, "ivus")
        )
        if self.layer is not None and self.layer.name not in self.viewer.layers:
            self._unbind_layer()
            self.layer = self.pullback = self.model = None
            self.controls.save_label.setText("no pullback")
        if self.layer is None:
            ivus = [ly for ly in layers if ly.metadata.get("napari_plaque") == "ivus"]
            pick = ivus[0] if ivus else (layers or [None])[0]
            if pick is not None:
                self.controls.layer_combo.setCurrentText(pick.name)
                self.set_pullback_layer(pick)

    def _on_layer_chosen(self, name: str) -> None:
        if name and name in self.viewer.layers and (self.layer is None or self.layer.name != name):
            self.set_pullback_layer(self.viewer.layers[name])

    def set_pullback_layer(self, layer) -> None:
        """Annotate ``layer``; restores the autosaved arcs of its file if there are any."""
        self._unbind_layer()
        self.layer = layer
        self.pullback = pullback_from_layer(layer)
        self.model = ArcAnnotator.for_pullback(
            self.pullback, n_alines=self.controls.n_alines.value()
        )
        self.model.arcs_changed.connect(self._on_arcs_changed)
        self.model.predictions_changed.connect(self._on_predictions_changed)
        self.model.save_state.connect(self.controls.show_save_state)
        c = self.controls.center_combo
        c.blockSignals(True)
        c.setCurrentIndex(0 if self.model.arcset.center_mode == "catheter" else 1)
        c.blockSignals(False)
        self._ensure_overlay_layers()
        self._bind_layer()
        ok = self.model.save_error is None
        where = self.model.save_path or "(no file)"
        extra = f" ({self.model.message})" if self.model.message else ""
        self.controls.show_save_state(f"autosave: {where}{extra}", ok)
        self.views.reset(self.pullback.n_frames, list(self.model.arcset.classes))
        for ly in list(self.viewer.layers):
            self._take_predictions_from(ly)
        self._on_arcs_changed()
        self._start_longitudinal()

    # -- geometry -------------------------------------------------------------------------------
    def current_frame(self) -> int:
        if self.layer is None:
            return 0
        data = self.layer.world_to_data(self.viewer.dims.point)
        return int(np.clip(round(float(data[0])), 0, self.pullback.n_frames - 1))

    def angle_at(self, position) -> tuple[int, float]:
        """(frame, angle in degrees) of a world position, about that frame's centre."""
        data = np.asarray(self.layer.world_to_data(position), float)
        frame = self.current_frame() if data.size < 3 else int(round(data[-3]))
        frame = int(np.clip(frame, 0, self.pullback.n_frames - 1))
        return frame, angle_about(self.arcset.center_of(frame), data[-2], data[-1])

    # -- gestures --------------------------------------------------------------------------------
    def on_mouse_drag(self, layer, event):
        """Mouse callback (press -> drag -> release) drawing one arc; napari-style generator."""
        try:
            drawing = self.controls.draw_check.isChecked()
        except RuntimeError:  # the dock was deleted while the viewer lives on
            self._detach()
            return
        if self.model is None or not drawing:
            return
        if event.type != "mouse_press" or getattr(event, "button", 1) not in (1, None):
            return
        frame, start = self.angle_at(event.position)
        drag = ArcDrag(frame, start)
        yield
        while event.type == "mouse_move":
            arc = drag.move(self.angle_at(event.position)[1])
            self._set_preview(frame, arc)
            if arc is not None:
                self.controls.status_label.setText(
                    f"drawing {arc[0]:.0f} -> {arc[1]:.0f} deg ({drag.extent_deg:.0f} deg)"
                )
            yield
        self._set_preview(frame, None)
        self.controls.status_label.setText("")
        arc = drag.arc()
        if arc is not None:
            self.model.add_arc(frame, self.controls.class_combo.currentText(), *arc)

    def _set_preview(self, frame: int, arc: tuple[float, float] | None) -> None:
        if PREVIEW_LAYER not in self.viewer.layers:
            return
        lyr = self.viewer.layers[PREVIEW_LAYER]
        if arc is None:
            lyr.data = np.zeros(self.pullback.frame_shape, np.uint8)
            lyr.visible = False
            return
        lyr.visible = True
        center = self.arcset.center_of(frame)
        lyr.data = wedge_mask(self.pullback.frame_shape, center, *arc).astype(np.uint8)

    def _polar_arc(self, start: float, end: float) -> None:
        if self.model is not None:
            self.model.add_arc(
                self.current_frame(), self.controls.class_combo.currentText(), start, end
            )

    def _on_center_mode(self, index: int) -> None:
        """Catheter- or lumen-centred arcs (only while no arcs exist)."""
        if self.model is None:
            return
        mode = "lumen" if index == 1 else "catheter"
        if mode == "lumen" and not self.arcset.arcs:
            from ..ivus.lumen import estimate_lumen_centers

            centers = estimate_lumen_centers(self.pullback.frames).round(3).tolist()
        else:
            centers = list(default_center(self.pullback.frame_shape))
        if not self.model.set_center_mode(mode, centers):
            c = self.controls.center_combo
            c.blockSignals(True)
            c.setCurrentIndex(0 if self.arcset.center_mode == "catheter" else 1)
            c.blockSignals(False)
            self.controls.save_label.setText(self.model.message)

    # -- commands (buttons and shortcuts) -------------------------------------------------------
    def add_arc(self, frame: int, cls: str, start_deg: float, end_deg: float) -> None:
        self.model.add_arc(frame, cls, start_deg, end_deg)

    def delete_arc_at(self, frame: int, angle_deg: float) -> bool:
        return self.model.delete_at(frame, angle_deg, self.controls.class_combo.currentText())

    def delete_arc_under_cursor(self) -> bool:
        return self.delete_arc_at(*self.angle_at(self.viewer.cursor.position))

    def copy_previous_frame(self) -> int:
        f = self.current_frame()
        return self.model.copy_frame(f - 1, f) if self.model is not None and f > 0 else 0

    def clear_frame(self) -> None:
        if self.model is not None:
            self.model.clear_frame(self.current_frame())

    def undo(self) -> bool:
        return self.model.undo() if self.model is not None else False

    def redo(self) -> bool:
        return self.model.redo() if self.model is not None else False

    def next_class(self) -> str:
        combo = self.controls.class_combo
        combo.setCurrentIndex((combo.currentIndex() + 1) % combo.count())
        return combo.currentText()

    def step_frame(self, delta: int) -> int:
        f = int(np.clip(self.current_frame() + delta, 0, self.pullback.n_frames - 1))
        self.set_frame(f)
        return f

    def set_frame(self, frame: int) -> None:
        world = self.layer.data_to_world([frame, 0, 0])
        self.viewer.dims.set_point(0, float(world[0]))
        self._frame_timer.stop()
        self._redraw_frame()

    # -- files -------------------------------------------------------------------------------------
    def save_to(self, path: str | Path) -> bool:
        return self.model.save_to(path)

    def load_from(self, path: str | Path) -> None:
        if self.model is None:
            raise ValueError("open a pullback before loading its arcs")
        self.model.load_from(path)

    def reload_and_merge(self) -> int:
        try:
            return self.model.reload_and_merge() if self.model is not None else 0
        except FormatError as exc:
            self.controls.show_save_state(str(exc), False)
            return 0

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save arcs", "", "Arcs (*.json)")
        if path and self.model is not None:
            self.save_to(path)

    def _choose_load(self) -> None:
        if self.model is None:
            self.controls.save_label.setText("open a pullback first")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load arcs", "", "Arcs (*.json)")
        if path:
            try:
                self.load_from(path)
            except FormatError as exc:
                self.controls.show_save_state(str(exc), False)

    # -- display -------------------------------------------------------------------------------
    def _on_arcs_changed(self) -> None:
        self._refresh_overlay(ARCS_LAYER)
        self.views.set_arc_map(arc_map(self.arcset, 360))
        self._redraw_frame()

    def _on_n_alines(self, n: int) -> None:
        if self.model is not None:
            self.model.n_alines = int(n)
            self.model._stats = None
            self._show_stats()

    def _on_frame_changed(self, event=None) -> None:
        """Scrolling: redraw what depends on the frame once the event loop is free."""
        if self.model is None:
            return
        try:
            self._frame_timer.start()
        except RuntimeError:  # the dock was deleted while the viewer lives on
            self._detach()

    def _redraw_frame(self) -> None:
        if self.model is None:
            return
        f = self.current_frame()
        self._show_stats()
        frame = np.asarray(self.pullback.frames[f])
        pol = to_polar(frame, self.arcset.center_of(f), n_alines=360, depth_samples=POLAR_DEPTH)
        arcs = [(a.cls, a.start_deg, a.end_deg) for a in self.arcset.arcs_for(f)]
        self.views.show_frame(f, pol.T, arcs, f * self.pullback.mm_per_frame)

    def _show_stats(self) -> None:
        if self.model is not None:
            self.controls.show_stats(self.current_frame(), self.stats, self.pullback)

    def _start_longitudinal(self, *_: Any, block: bool = False) -> None:
        if self.layer is None:
            return
        from ..ivus.render import longitudinal_cut

        angle = float(self.views.long_angle.value())
        frames, center = self.pullback.frames, self.arcset.center_of(0)
        if block or self.pullback.n_frames <= 256:
            self.views.set_long_cut(longitudinal_cut(frames, angle, center))
            return
        from ._worker import start_worker

        def job():
            yield 0
            return longitudinal_cut(frames, angle, center)

        start_worker(job, total=0, desc="longitudinal cut", on_done=self.views.set_long_cut)
