"""Helpers shared by the CCTA docks: the CT and label arrays from layers, table formatting
(layer pickers: :class:`._dock.LayerPicker`)."""

from __future__ import annotations

import numpy as np

from ..layers import volume_from_layer
from ..types import CTVolume
from ._common import fmt_value
from ._dock import NONE

__all__ = ["NONE", "_ct_from_layer", "_fmt", "_labels_array"]

_fmt = fmt_value


def _ct_from_layer(layer, what: str = "image") -> CTVolume:
    """The CT of an image layer (:func:`napari_plaque.layers.volume_from_layer`: HU, spacing,
    origin, direction and the reader's header ``meta``); ValueError when it is not 3D."""
    try:
        return volume_from_layer(layer)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _labels_array(layer, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    if layer is None:
        return None
    arr = np.asarray(layer.data)
    if arr.shape != tuple(shape):
        raise ValueError(
            f"{what} layer {layer.name!r} has shape {arr.shape}, the image has {tuple(shape)}"
        )
    return arr
