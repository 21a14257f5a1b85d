"""Helpers shared by the CCTA docks: layer combos, geometry from layers, table formatting."""

from __future__ import annotations

from typing import Any

import napari.layers
import numpy as np
from qtpy.QtWidgets import QComboBox

from ..layers import default_layer, layer_geometry
from ._common import fmt_value, refill_combo

_fmt = fmt_value

NONE = "(none)"


class _LayerCombo(QComboBox):
    """A combo box of viewer layers of one kind, kept in sync with the layer list."""

    def __init__(self, viewer, kind: str, optional: bool = False):
        super().__init__()
        self.viewer, self.kind, self.optional = viewer, kind, optional
        viewer.layers.events.inserted.connect(self.refresh)
        viewer.layers.events.removed.connect(self.refresh)
        self.refresh()

    def refresh(self, *_: Any) -> None:
        try:
            current = self.currentText()
        except RuntimeError:  # the dock was deleted while the viewer lives on
            self._disconnect()
            return
        del current  # only probes that the widget still exists
        names = [NONE] if self.optional else []
        cls = {"image": napari.layers.Image, "labels": napari.layers.Labels}[self.kind]
        layers = [ly for ly in self.viewer.layers if isinstance(ly, cls)]
        names += [ly.name for ly in layers]
        default = default_layer(layers, "ct") if self.kind == "image" else None
        refill_combo(self, names, default=default)

    def _disconnect(self) -> None:
        for emitter in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            try:
                emitter.disconnect(self.refresh)
            except (RuntimeError, TypeError, ValueError):
                pass

    def layer(self):
        name = self.currentText()
        if not name or name == NONE or name not in self.viewer.layers:
            return None
        return self.viewer.layers[name]

    def select(self, name: str) -> None:
        self.refresh()
        self.setCurrentText(name)


def _geometry(layer) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return layer_geometry(layer, 3)


def _labels_array(layer, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    if layer is None:
        return None
    arr = np.asarray(layer.data)
    if arr.shape != tuple(shape):
        raise ValueError(
            f"{what} layer {layer.name!r} has shape {arr.shape}, the image has {tuple(shape)}"
        )
    return arr
