"""Layer side of the arc annotator: overlay labels layers (in mm), mouse and key bindings.

The mouse callbacks go through the dock base's guarded links (``self.links``, see
:class:`napari_plaque.widgets._dock.Links`), the shortcuts through its guard: once the dock is
deleted the first of them to fire detaches everything, and :meth:`on_detach` unbinds the keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import label_colormap
from ._ivus_views import CLASS_COLORS

ARCS_LAYER = "arcs"
PREVIEW_LAYER = "arc preview"
PRED_LAYER = "predicted"
PRED_COLOR = "cyan"
#: the A-line band (fraction of the frame radius) where predicted arcs are drawn
PRED_BAND = (0.62, 0.76)
#: other readers' arcs: one layer each, named ``reader <name>``, drawn in an outer band
READER_LAYER = "reader {}"
READER_BAND = (0.80, 0.90)
READER_COLORS = ("orange", "lime", "violet", "white", "salmon")


class LayerBindingMixin:
    """Adds the overlay layers and binds the annotator's gestures and shortcuts to the viewer."""

    def _ensure_overlay_layers(self) -> None:
        """The ``arcs`` and ``predicted`` layers are lazy 3D stacks napari slices itself (no data
        is replaced while scrolling); ``arc preview`` is one 2D frame set while dragging."""
        from ..ivus.annotator import ArcSectorStack
        from ..layers import UNITS, layer_geometry

        pb, model = self.pullback, self.model
        scale3, translate3 = layer_geometry(self.layer)
        stacks = {
            ARCS_LAYER: ArcSectorStack(lambda: model.arcset, pb.n_frames, pb.frame_shape),
            PRED_LAYER: ArcSectorStack(
                lambda: model.predicted, pb.n_frames, pb.frame_shape, band=PRED_BAND
            ),
            PREVIEW_LAYER: np.zeros(pb.frame_shape, np.uint8),
        }
        specs = (
            (ARCS_LAYER, CLASS_COLORS, 0.45),
            (PRED_LAYER, {1: PRED_COLOR, 2: PRED_COLOR}, 0.45),
            (PREVIEW_LAYER, {1: "white"}, 0.3),
        )
        for name, colors, opacity in specs:
            data = stacks[name]
            nd = np.ndim(data) if isinstance(data, np.ndarray) else 3
            scale, translate = scale3[-nd:], translate3[-nd:]
            if name in self.viewer.layers:
                lyr = self.viewer.layers[name]
                lyr.data = data
                lyr.scale, lyr.translate = scale, translate
            else:
                lyr = self.viewer.add_labels(
                    data,
                    name=name,
                    scale=scale,
                    translate=translate,
                    units=UNITS,
                    opacity=opacity,
                    colormap=label_colormap(colors),
                )
            lyr.mouse_pan = False
        # empty overlays stay hidden (napari neither slices nor draws a hidden layer)
        self.viewer.layers[PREVIEW_LAYER].visible = False
        self.viewer.layers[PRED_LAYER].visible = bool(model.predicted and model.predicted.arcs)
        # keep the pullback selected so its callbacks receive the mouse
        self.viewer.layers.selection.active = self.layer

    def _set_reader_layers(self, readers: dict[str, Any], visible: bool) -> None:
        """One labels layer per other reader (``reader <name>``); hidden unless ``visible``.
        Layers of readers no longer listed are removed."""
        from ..ivus.annotator import ArcSectorStack
        from ..layers import UNITS, layer_geometry

        pb = self.pullback
        want = {READER_LAYER.format(n): (n, rs) for n, rs in readers.items()}
        for ly in list(self.viewer.layers):
            if (ly.metadata or {}).get("napari_plaque") == "reader-arcs" and ly.name not in want:
                self.viewer.layers.remove(ly)
        if pb is None:
            return
        scale, translate = layer_geometry(self.layer)
        for i, (name, (reader, rs)) in enumerate(want.items()):
            color = READER_COLORS[i % len(READER_COLORS)]
            stack = ArcSectorStack(lambda a=rs.arcset: a, pb.n_frames, pb.frame_shape,
                                   band=READER_BAND)
            if name in self.viewer.layers:
                lyr = self.viewer.layers[name]
                lyr.data = stack
            else:
                lyr = self.viewer.add_labels(
                    stack,
                    name=name,
                    scale=scale,
                    translate=translate,
                    units=UNITS,
                    opacity=0.6,
                    colormap=label_colormap({k: color for k in range(1, 5)}),
                    metadata={"napari_plaque": "reader-arcs", "reader": reader},
                    visible=visible,
                )
                lyr.mouse_pan = False
            if lyr.visible != visible:
                lyr.visible = visible
        if self.layer is not None and want:
            self.viewer.layers.selection.active = self.layer

    def _refresh_overlay(self, name: str, visible: bool | None = None) -> None:
        if name in self.viewer.layers:
            lyr = self.viewer.layers[name]
            if visible is not None and lyr.visible != visible:
                lyr.visible = visible  # shows the current slice
            else:
                lyr.refresh()

    def _annot_layers(self) -> list:
        out = [self.layer] if self.layer is not None else []
        names = (ARCS_LAYER, PRED_LAYER, PREVIEW_LAYER)
        return out + [self.viewer.layers[n] for n in names if n in self.viewer.layers]

    def _shortcuts(self) -> dict[str, Any]:
        def guarded(fn):
            def run(*_: Any) -> None:
                if self.model is not None:
                    fn()

            return self.links.guard(run)  # once the dock is deleted: detach instead

        return {
            "Alt-N": guarded(lambda: self.step_frame(1)),
            "Alt-P": guarded(lambda: self.step_frame(-1)),
            "Alt-C": guarded(self.next_class),
            "Alt-V": guarded(self.copy_previous_frame),
            "Alt-D": guarded(self.delete_arc_under_cursor),
            "Control-Z": guarded(self.undo),
            "Control-Shift-Z": guarded(self.redo),
            "Alt-A": guarded(self.accept_arc),
            "Alt-R": guarded(self.reject_arc),
            "Alt-J": guarded(self.next_proposal),
            "Alt-E": guarded(self.step_ed),
            "Alt-Shift-E": guarded(lambda: self.step_ed(-1)),
            "Alt-K": guarded(self.next_disagreement),
        }

    def _bind_layer(self) -> None:
        drawing = self.controls.draw_check.isChecked()
        for lyr in self._annot_layers():
            if drawing and id(lyr) not in self._drag_links:
                cb = self.links.mouse(lyr.mouse_drag_callbacks, self.on_mouse_drag)
                self._drag_links[id(lyr)] = cb
            for key, fn in self._shortcuts().items():
                lyr.bind_key(key, fn, overwrite=True)
        if self.layer is not None:
            self.layer.mouse_pan = not drawing
        self._viewer_keys = self._shortcuts()
        for key, fn in self._viewer_keys.items():
            self.viewer.bind_key(key, fn, overwrite=True)

    def on_detach(self) -> None:
        """The dock was closed or deleted (its links are gone): unbind its keys and layers."""
        from app_model.types import KeyBinding

        for key, fn in getattr(self, "_viewer_keys", {}).items():
            if self.viewer.keymap.get(KeyBinding.from_str(key)) is fn:
                self.viewer.bind_key(key, None)
        self._unbind_layer()

    def _unbind_layer(self) -> None:
        for cb in self._drag_links.values():
            self.links.drop(cb)
        self._drag_links = {}  # id(layer) -> its guarded drag callback
        if self.layer is not None:
            self.layer.mouse_pan = True

    def _on_draw_toggled(self, on: bool) -> None:
        if self.layer is not None:
            (self._bind_layer if on else self._unbind_layer)()
