"""Chest radiograph CAC category dock: three probabilities and a Grad-CAM saliency layer.

A thin view over :mod:`napari_plaque.cxr`: it reads a 2D radiograph layer, runs
:func:`~napari_plaque.cxr.model.iter_predict_radiographs` in a worker thread (progress,
Cancel), stores the result in a Qt-free :class:`~napari_plaque.cxr.session.CXRSession` and
draws it: p(CAC > 0), p(CAC >= 100), p(CAC >= 400), the category, and the saliency map as an
image layer over the radiograph (same scale and translate). A model trained on synthetic data
(the shipped ``demo_cxr``) is labelled so in the dock and in the layer names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from ..cxr.session import CXRSession
from ..models import pretrained_models
from ._dock import DockBase, LayerKind, layers_of_kind
from ._run import DEVICES, _ModelPickerMixin

_TITLES = ("p(CAC > 0)", "p(CAC ≥ 100)", "p(CAC ≥ 400)")
_SYNTH = "trained on SYNTHETIC radiographs: a demo, not a clinical result"


def _radiograph_layers(viewer) -> list:
    return layers_of_kind(viewer, LayerKind.RADIOGRAPH)


class _ProbabilityPanel(QWidget):
    """Three probability bars and the category."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.bars: list[QProgressBar] = []
        self.values: list[QLabel] = []
        for i, title in enumerate(_TITLES):
            grid.addWidget(QLabel(title), i, 0)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setMaximumHeight(14)
            grid.addWidget(bar, i, 1)
            val = QLabel("-")
            val.setMinimumWidth(48)
            val.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(val, i, 2)
            self.bars.append(bar)
            self.values.append(val)
        self.category = QLabel("Category: -")
        self.category.setStyleSheet("font-weight: bold; font-size: 14px;")
        grid.addWidget(self.category, 3, 0, 1, 3)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        grid.addWidget(self.note, 4, 0, 1, 3)

    def show_result(self, d: dict[str, Any] | None) -> None:
        keys = ("p_cac_gt0", "p_cac_ge100", "p_cac_ge400")
        for bar, val, k in zip(self.bars, self.values, keys, strict=True):
            p = None if d is None else d[k]
            bar.setValue(0 if p is None else int(round(1000 * p)))
            val.setText("-" if p is None else f"{p:.2f}")
        if d is None:
            self.category.setText("Category: -")
            self.note.setText("")
            return
        self.category.setText(f"Category: CAC {d['category']}")
        notes = list(d.get("warnings", []))
        if d.get("synthetic_training"):
            notes.insert(0, f"Model {_SYNTH}.")
        self.note.setText(" ".join(notes))


class CXRWidget(_ModelPickerMixin, DockBase):
    """Predict the CAC category of a chest radiograph layer (with Grad-CAM saliency)."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.session = CXRSession()
        self.model = None  # LoadedModel
        self.last_result = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self._add_model_rows(form, {n: p for n, p in pretrained_models().items() if "cxr" in n})
        self.input_combo = self.layer_picker(LayerKind.RADIOGRAPH)
        form.addRow("Radiograph", self.input_combo)
        self.age_spin = QDoubleSpinBox()
        self.age_spin.setRange(0, 120)
        self.age_spin.setValue(60)
        self.sex_combo = QComboBox()
        self.sex_combo.addItems(["F", "M"])
        self.bmi_spin = QDoubleSpinBox()
        self.bmi_spin.setRange(10, 80)
        self.bmi_spin.setValue(26)
        self.age_spin.setDecimals(0)  # years
        self.bmi_spin.setDecimals(1)  # kg/m²
        self.age_spin.setSuffix(" y")
        crow = QHBoxLayout()
        for lbl, w in (("age", self.age_spin), ("sex", self.sex_combo), ("BMI", self.bmi_spin)):
            crow.addWidget(QLabel(lbl))
            crow.addWidget(w)
        for sb in (self.age_spin, self.bmi_spin):  # the whole value shows (was cut: "60.0(")
            sb.setMinimumWidth(sb.sizeHint().width() + 8)
        self.clinical_box = QWidget()
        self.clinical_box.setLayout(crow)
        crow.setContentsMargins(0, 0, 0, 0)
        form.addRow("Clinical", self.clinical_box)
        self.device_combo = QComboBox()
        self.device_combo.addItems(DEVICES)
        form.addRow("Device", self.device_combo)
        self.saliency_check = QCheckBox("Grad-CAM saliency layer")
        self.saliency_check.setChecked(True)
        self.target_combo = QComboBox()
        self.target_combo.addItems(["auto", "cac_gt0", "cac_ge100", "cac_ge400"])
        srow = QHBoxLayout()
        srow.addWidget(self.saliency_check)
        srow.addWidget(self.target_combo)
        form.addRow("", srow)
        lay.addLayout(form)
        self.build_run_row(lay)
        self.panel = _ProbabilityPanel()
        lay.addWidget(self.panel)
        lay.addStretch(1)
        self.browse_btn.clicked.connect(self._browse)
        self.model_combo.currentIndexChanged.connect(lambda *_: self._model_changed())
        self.input_combo.currentTextChanged.connect(lambda *_: self._redraw())
        self.session.changed.connect(lambda name: self._redraw())
        self._model_changed()

    # -- choices ---------------------------------------------------------------------------
    _model_dialog_title = "CXR model"

    def _load_model_file(self, path):
        from ..cxr.model import load_cxr_model

        return load_cxr_model(path)

    def _show_model(self, path) -> None:
        """Show what the model is (input size, clinical inputs, synthetic or not)."""
        m = self.model.metadata
        needs = int(m["hparams"].get("n_clinical", 0)) > 0
        self.clinical_box.setEnabled(needs)
        size = m["input"]["image_size"][0]
        text = f"{size} px input, {'image + age/sex/BMI' if needs else 'image only'}"
        if self.model.synthetic:
            text += f" - {_SYNTH}"
            self.model_info.setStyleSheet("color: #e0a030;")
        else:
            self.model_info.setStyleSheet("")
        self.model_info.setText(text)
        self.session.set_model(str(path), self.model.synthetic)

    # -- run -------------------------------------------------------------------------------
    def run(self):
        """Start the prediction in a worker; returns it (None when nothing could start)."""
        layer = self._model_and_layer("choose a CXR model first", "choose a radiograph layer")
        if layer is None:
            return None
        from ..cxr.io import radiograph_from_layer
        from ..cxr.model import iter_predict_radiographs

        try:
            rg = radiograph_from_layer(layer)
        except ValueError as exc:
            self.status.setText(f"refused: {exc}")
            return None
        clinical = None
        if self.clinical_box.isEnabled():
            clinical = {
                "age": self.age_spin.value(),
                "sex": self.sex_combo.currentText(),
                "bmi": self.bmi_spin.value(),
            }
        self.status.setText("predicting...")
        return self.start(
            iter_predict_radiographs,
            self.model,
            [rg],
            clinical=[clinical],
            saliency=self.saliency_check.isChecked(),
            saliency_target=self.target_combo.currentText(),
            device=self.device_combo.currentText(),
            total=1,
            desc="CXR model",
            on_done=lambda preds: self._show(preds[0], layer),
        )

    # -- results ---------------------------------------------------------------------------
    def _redraw(self) -> None:
        self.panel.show_result(self.session.summary(self.input_combo.currentText()))

    def _show(self, pred, layer) -> None:
        self.last_result = pred
        if pred.saliency is not None:
            stem = Path(self.model.path).stem if self.model and self.model.path else "model"
            synth = " SYNTHETIC" if self.model is not None and self.model.synthetic else ""
            attrs: dict[str, Any] = {
                "name": f"{layer.name} Grad-CAM {pred.saliency_target} ({stem}{synth})",
                "scale": tuple(float(s) for s in layer.scale),
                "translate": tuple(float(t) for t in layer.translate),
                "colormap": "inferno",
                "blending": "additive",
                "opacity": 0.5,
                "contrast_limits": (0.0, 1.0),
                "metadata": {
                    "napari_plaque": "cxr-saliency",
                    "radiograph_layer": layer.name,
                    **pred.to_dict(),
                },
            }
            if (layer.metadata or {}).get("spacing_known"):
                attrs["units"] = "mm"
            self.viewer.add_image(pred.saliency, **attrs)
        self.session.set_prediction(layer.name, pred)
        self.set_input(layer.name)
        self._redraw()
        flag = ""
        if (pred.meta.get("ood") or {}).get("flagged"):
            flag = " - FLAGGED: not a frontal chest radiograph like the training images (see notes)"
        self.status.setText(f"done: category CAC {pred.category}{flag}")
