"""Deep-model dock widgets: inference and training.

Thin front ends over :mod:`napari_plaque.models`: they read layers, run the core step generators
in a thread worker (progress bar, Cancel) and write layers back with the input's ``scale`` and
``translate``. Cancelling stops the worker at its next batch and adds nothing to the viewer.

- :class:`InferenceWidget`: model file (or a shipped demo model), input layer, device, batch
  size, Run/Cancel. CT models add a labels layer (and optionally a probability image); A-line
  models add the predicted arcs as a labels layer of sectors whose metadata carries the arcs
  and the pullback layer's name (an IVUS arc annotator on that layer takes them as its
  ``predicted`` arcs), and show the ICS. A model whose task does not fit the layer is refused.
- :class:`TrainingWidget`: task, data folder or image + label layers, epochs, Run/Cancel and the
  per-epoch metrics; exports image + label layers as an nnU-Net v2 dataset or a patch folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QFormLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from ..layers import (
    UNITS,
    labels_layer_data,
    layer_geometry,
    pullback_from_layer,
    volume_from_layer,
)
from ..models import (
    BLENDS,
    DEVICES,
    PREDICT_DEFAULTS,
    TASK_INPUT,
    input_mismatch,
    pretrained_models,
)
from ._dock import DockBase, LayerKind
from ._form import form_values, parameter_form
from ._run import _ModelPickerMixin
from ._training import TrainingWidget

__all__ = ["DEVICES", "InferenceWidget", "TrainingWidget"]


#: the inference form: the core's defaults, plus the dock's own batch (0 = auto) and output
INFERENCE_FORM_DEFAULTS = {**PREDICT_DEFAULTS, "batch_size": 0, "probs": False}
INFERENCE_FORM_OPTIONS = {
    "device": {"choices": DEVICES, "tooltip": "auto: cuda, then mps, then cpu"},
    "overlap": {"label": "Tile overlap (CT)", "min": 0.0, "max": 0.9, "step": 0.05},
    "blend": {"label": "Tile blend (CT)", "choices": BLENDS},
    "batch_size": {
        "label": "Batch size (0 = auto)",
        "min": 0,
        "max": 4096,
        "tooltip": "0: 4 (IVUS) / 1 (CT) on a CPU, 64 / 16 on a GPU",
    },
    "probs": {"label": "Add probability image (CT)"},
}


class InferenceWidget(_ModelPickerMixin, DockBase):
    """Run a napari-plaque model on an image layer (CT volume or IVUS pullback)."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.model = None  # LoadedModel
        self.last_result = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self._add_model_rows(form, pretrained_models())
        # 3D images; the default follows the loaded model's input (set_default below)
        self.input_combo = self.layer_picker(LayerKind.IMAGE, min_ndim=3, tag=None)
        form.addRow("Input layer", self.input_combo)
        lay.addLayout(form)
        # the parameters: one magicgui form fed by the core's PREDICT_DEFAULTS (the function's
        # and the CLI's defaults too)
        self.params = parameter_form(INFERENCE_FORM_DEFAULTS, INFERENCE_FORM_OPTIONS)
        lay.addWidget(self.params.native)
        self.device_combo = self.params.device.native
        self.batch_spin = self.params.batch_size.native
        self.probs_check = self.params.probs.native
        self.build_run_row(lay)
        self.ics_label = QLabel("")
        lay.addWidget(self.ics_label)
        lay.addStretch(1)
        self.browse_btn.clicked.connect(self._browse)
        self.model_combo.currentIndexChanged.connect(lambda *_: self._model_changed())
        self._model_changed()

    # -- choices ---------------------------------------------------------------------------
    def _refresh_layers(self, event=None) -> None:
        kind = TASK_INPUT.get(self.model.task) if self.model is not None else None
        self.input_combo.set_default(tag=kind)

    def _load_model_file(self, path):
        from ..models.checkpoint import load_checkpoint

        return load_checkpoint(path)

    def _show_model(self, path) -> None:
        """Show the loaded model's task, classes and training data."""
        m = self.model.metadata
        synth = " - trained on SYNTHETIC data" if self.model.synthetic else ""
        self.model_info.setText(f"{m['task']}: {', '.join(m['classes'])}{synth}")
        self._refresh_layers()  # the default input follows the model's modality

    # -- run -------------------------------------------------------------------------------
    def run(self):
        """Start inference in a worker; returns it (None when nothing could start)."""
        layer = self._model_and_layer("choose a model file first", "choose an input layer")
        if layer is None:
            return None
        why = input_mismatch(self.model.task, (layer.metadata or {}).get("napari_plaque"))
        if why is not None:
            self.status.setText(f"refused: {why}")
            return None
        p = form_values(self.params)
        device, bs = p["device"], p["batch_size"] or None
        from ..ivus.deep import iter_predict_pullback
        from ..models.inference import count_tiles, iter_predict_volume

        self.ics_label.setText("")
        if self.model.task == "alines":
            pb = pullback_from_layer(layer)
            self.status.setText(f"predicting {pb.n_frames} frames...")
            return self.start(
                iter_predict_pullback,
                self.model,
                pb,
                batch_size=bs,
                device=device,
                total=pb.n_frames,
                desc="A-line model",
                on_done=lambda pred: self._add_alines(pred, layer, pb),
            )
        vol = volume_from_layer(layer)
        n = count_tiles(self.model, vol.shape)
        self.status.setText(f"segmenting ({n} tiles)...")
        return self.start(
            iter_predict_volume,
            self.model,
            vol,
            batch_size=bs,
            device=device,
            overlap=p["overlap"],
            blend=p["blend"],
            return_probs=p["probs"],
            total=n,
            desc="U-Net",
            on_done=lambda pred: self._add_volume(pred, layer, vol),
        )

    # -- results ---------------------------------------------------------------------------
    def _model_stem(self) -> str:
        return Path(self.model.path).stem if self.model and self.model.path else "model"

    def _add_volume(self, pred, layer, vol) -> None:
        self.last_result = pred
        data, attrs, _ = labels_layer_data(
            pred.labels, like=vol, name=f"{layer.name} {self._model_stem()}"
        )
        attrs["metadata"] = {"napari_plaque": "model-labels", "classes": pred.classes, **pred.meta}
        self.viewer.add_labels(data, **attrs)
        if pred.probs is not None:
            fg = pred.probs[1] if pred.probs.shape[0] == 2 else 1.0 - pred.probs[0]
            self.viewer.add_image(
                fg,
                name=f"{layer.name} {self._model_stem()} probability",
                scale=tuple(vol.spacing_mm),
                translate=tuple(vol.origin_mm),
                units=UNITS,
                colormap="magma",
                blending="additive",
                contrast_limits=(0.0, 1.0),
            )
        counts = ", ".join(
            f"{c}: {int((pred.labels == k).sum())} vox" for k, c in enumerate(pred.classes) if k
        )
        warn = f" ({'; '.join(pred.warnings)})" if pred.warnings else ""
        self.status.setText(f"done: {counts}{warn}")

    def _add_alines(self, pred, layer, pb) -> None:
        self.last_result = pred
        scale, translate = layer_geometry(layer)
        name = f"{layer.name} {self._model_stem()} arcs"
        # the arc annotator docked on ``layer`` takes these arcs from the layer's metadata
        meta: dict[str, Any] = {
            "napari_plaque": "model-arcs",
            "classes": pred.classes,
            "pullback_layer": layer.name,
            **pred.meta,
        }
        from ..ivus.deep import alines_to_arcset
        from ..ivus.render import arc_sector_labels

        arcset = alines_to_arcset(pred)
        sectors = arc_sector_labels(arcset, band=(0.62, 0.76))
        meta["arcs"] = arcset.to_json()
        self.viewer.add_labels(
            sectors, name=name, scale=scale, translate=translate, units=UNITS, metadata=meta
        )
        if "calcium" in pred.classes:
            from ..ivus.measure import arc_measurements

            m = arc_measurements(pred.class_labels("calcium"), pb.mm_per_frame)
            self.ics_label.setText(
                f"ICS {m['ics']:.1f}; max arc {m['max_arc_deg']:.0f} deg; calcium length "
                f"{m['length_mm']:.1f} mm; arc > 180 deg over > 5 mm: "
                f"{'yes' if m['arc_gt180_over_5mm'] else 'no'}"
            )
        self.status.setText(f"done: {pb.n_frames} frames")
