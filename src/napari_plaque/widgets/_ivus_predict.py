"""Prediction side of the arc annotator: run a detector, take a model's arcs layer, review."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import QFileDialog

from ..io.errors import FormatError
from ..ivus.arcs import ArcSet


class PredictionMixin:
    """Predictions reach the annotator model from a detector run here or from layer metadata."""

    def _take_predictions_from(self, layer) -> None:
        """A model's arcs layer for this pullback (by its metadata) becomes the predictions."""
        meta = getattr(layer, "metadata", {}) or {}
        if meta.get("napari_plaque") != "model-arcs" or self.layer is None:
            return
        if meta.get("pullback_layer") not in (None, self.layer.name) or "arcs" not in meta:
            return
        doc = meta["arcs"]
        try:
            arcs = ArcSet.from_dicts(
                doc["arcs"],
                doc["n_frames"],
                doc["frame_shape"],
                doc.get("classes"),
                doc.get("center_mode", "catheter"),
                doc.get("centers"),
            )
            self.model.set_predictions(arcs, source=str(layer.name))
        except (KeyError, TypeError, ValueError) as exc:
            self.controls.pred_label.setText(f"predictions in {layer.name!r} not used: {exc}")

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "A-line model", "", "A-line detector (*.npz *.pt)"
        )
        if path:
            self.predict(path)

    def predict(self, model_path: str | Path, block: bool = False):
        """Run an A-line detector (SVM ``.npz`` or deep ``.pt``); results become predictions."""
        from ..ivus.detector import load_aline_detector

        label = self.controls.pred_label
        if self.model is None:
            label.setText("open a pullback first")
            return None
        try:
            det = load_aline_detector(model_path)
        except (FormatError, ValueError, ImportError) as exc:
            label.setText(str(exc))
            return None
        args = (self.pullback, self.arcset.centers_array())
        if block:
            from .._progress import run_steps

            self._on_predicted(run_steps(det.iter_predict(*args)))
            return None
        from ._worker import start_worker

        label.setText("predicting...")
        self._worker = start_worker(
            det.iter_predict,
            *args,
            total=self.pullback.n_frames,
            desc=det.name,
            on_done=self._on_predicted,
            on_error=lambda exc: label.setText(f"prediction failed: {exc}"),
        )
        return self._worker

    def _on_predicted(self, arcs: ArcSet) -> None:
        if self.model is not None:
            self.model.set_predictions(arcs, source="model")

    def accept_prediction_frame(self, frame: int | None = None) -> int:
        f = self.current_frame() if frame is None else frame
        return self.model.accept_frame(f) if self.model is not None else 0

    def reject_prediction_frame(self, frame: int | None = None) -> None:
        if self.model is not None:
            self.model.reject_frame(self.current_frame() if frame is None else frame)

    def accept_prediction_all(self) -> int:
        return self.model.accept_all() if self.model is not None else 0

    def _on_predictions_changed(self) -> None:
        s = self.model.prediction_summary() if self.model is not None else None
        self.controls.pred_label.setText(
            ""
            if s is None
            else f"predicted: ICS {s['ics']:.1f}, max arc {s['max_arc_deg']:.0f} deg, "
            f"length {s['length_mm']:.1f} mm"
        )
        pred = self.predicted
        self._refresh_overlay("predicted", visible=bool(pred is not None and pred.arcs))
        self._redraw_frame()
