"""Qt-free state of the radiograph dock: the latest prediction per radiograph, with events.

The dock binds its labels to :attr:`CXRSession.events.changed` and draws; the CLI and scripts
may use the same object (or :func:`napari_plaque.cxr.model.predict_radiograph` directly).
"""

from __future__ import annotations

from typing import Any

from psygnal import Signal


class CXRSession:
    """Predictions by radiograph name; emits ``changed(name)`` when one is set or cleared."""

    changed = Signal(str)

    def __init__(self) -> None:
        self.predictions: dict[str, Any] = {}
        self.model_name: str = ""
        self.synthetic_model: bool = False

    def set_model(self, name: str, synthetic: bool) -> None:
        """A new model: earlier predictions no longer describe it and are dropped."""
        if name != self.model_name:
            names = list(self.predictions)
            self.predictions.clear()
            for n in names:
                self.changed.emit(n)
        self.model_name, self.synthetic_model = name, bool(synthetic)

    def set_prediction(self, name: str, pred: Any) -> None:
        self.predictions[name] = pred
        self.changed.emit(name)

    def clear(self, name: str) -> None:
        if self.predictions.pop(name, None) is not None:
            self.changed.emit(name)

    def summary(self, name: str) -> dict[str, Any] | None:
        """The JSON-style result of ``name`` (same keys as ``napari-plaque cxr predict``)."""
        pred = self.predictions.get(name)
        if pred is None:
            return None
        d = pred.to_dict()
        d["synthetic_training"] = self.synthetic_model
        return d
