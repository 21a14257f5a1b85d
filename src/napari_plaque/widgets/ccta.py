"""CCTA dock widgets: plaque composition and coronary calcium scoring.

Thin front ends over :mod:`napari_plaque.ccta`: they read the chosen layers, run the core in a
thread worker (progress bar, never blocking the viewer) and write layers and tables back.

- :class:`CompositionWidget`: HU ranges (lipid / fibrous / calcium) in one editor that cannot
  produce gaps or overlaps, whose colour overlay (red / blue / yellow) follows edits: the first
  computation gathers the ROI voxels once (sorted by HU); after a range edit a worker
  reclassifies only the voxels whose HU lies between an old and a new bound, recomposes the
  table from the gathered voxels, and the overlay layer is updated in place at the voxels whose
  class changed; per-plaque table; CSV export.
- :class:`CalciumScoringWidget` (:mod:`._calcium`, over the Qt-free
  :class:`~napari_plaque.ccta.session.CalciumSession`): Agatston / volume / mass; click a
  calcification to assign it to LM/LAD/LCX/RCA or exclude it (undo/redo, kept when scoring
  again); lesion list; CT window presets; mass calibration; JSON report + the one CSV layout.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from ..ccta import (
    COMPONENT_COLORS,
    COMPONENTS,
    DEFAULT_RANGES,
    check_ranges,
    classify,
)
from ..ccta.composition import compose, composition_warnings, roi_voxels
from ..layers import UNITS
from ..report import round_floats, write_csv
from ._calcium import LESION_LAYER, CalciumScoringWidget
from ._ccta_common import NONE, _ct_from_layer, _fmt, _labels_array
from ._common import fit_scroll_width, label_colormap, scrolling_dock, set_table
from ._dock import DockBase, LayerKind
from ._range_editor import RangeEditor

__all__ = [
    "LESION_LAYER",
    "NONE",
    "OVERLAY_LAYER",
    "CalciumScoringWidget",
    "CompositionWidget",
]

OVERLAY_LAYER = "composition overlay"
COMPOSITION_COLUMNS = (
    ("label", "label"),
    ("vessel", "vessel_name"),
    ("volume mm³", "volume_mm3"),
    ("lipid mm³", "lipid_mm3"),
    ("lipid %", "lipid_pct"),
    ("fibrous mm³", "fibrous_mm3"),
    ("fibrous %", "fibrous_pct"),
    ("calcium mm³", "calcium_mm3"),
    ("calcium %", "calcium_pct"),
    ("Ca density HU", "calcium_density_hu"),
    ("mean HU", "mean_hu"),
    ("1K", "one_k_plaque"),
    ("outside", "n_outside"),
    ("above cap", "n_above_range"),
    ("burden %", "plaque_burden_pct"),
)


# ------------------------------------------------------------------------------ composition
def _edges(ranges) -> np.ndarray:
    """The four bounds of contiguous ranges: lipid low, fibrous low, calcium low, calcium high."""
    return np.array([ranges[c][0] for c in COMPONENTS] + [ranges[COMPONENTS[-1]][1]], float)


def _iter_composition_full(hu, spacing_mm, roi, vessels, ranges) -> Generator[int, None, Any]:
    """Gather the ROI voxels once (sorted by HU for later edits), classify, compose."""
    yield 0
    vox = roi_voxels(hu, roi, vessels)
    yield 1
    if vox is None:
        return None
    cls = classify(vox.vals, ranges)
    order = np.argsort(vox.vals, kind="stable")
    comps = compose(vox, spacing_mm, ranges, cls=cls)
    yield 2
    return {"vox": vox, "order": order, "sorted": vox.vals[order], "cls": cls,
            "ranges": ranges, "comps": comps}  # fmt: skip


def _iter_composition_edit(state, spacing_mm, ranges) -> Generator[int, None, Any]:
    """After a range edit: reclassify only the voxels whose HU lies between an old bound and
    its new value (found by binary search in the HU-sorted voxels), recompose the table."""
    yield 0
    old, new = _edges(state["ranges"]), _edges(ranges)
    srt = state["sorted"]
    parts = []
    for a, b in zip(old, new, strict=True):
        if a != b:
            lo, hi = min(a, b), max(a, b)
            i0 = np.searchsorted(srt, lo, side="left")
            i1 = np.searchsorted(srt, hi, side="right")
            parts.append(state["order"][i0:i1])
    touched = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    vox = state["vox"]
    cls = state["cls"].copy()
    new_cls = classify(vox.vals[touched], ranges)
    changed = touched[new_cls != cls[touched]]
    cls[touched] = new_cls
    yield 1
    comps = compose(vox, spacing_mm, ranges, cls=cls)
    yield 2
    return {**state, "cls": cls, "ranges": ranges, "comps": comps, "changed": changed}


class CompositionWidget(DockBase):
    """Plaque composition by HU ranges with a live colour overlay and a results table."""

    #: coalesces the spin box's key repeats; an edit's update itself is incremental
    DEBOUNCE_MS = 10

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        self.results: list = []
        self._generation = 0
        self._state: dict[str, Any] | None = None  # gathered ROI voxels, shown classes
        self._state_key: tuple | None = None
        self._watched: list = []

        # controls in a scroll area: with the composition dock beside it, the pair fits 1080 px
        self.scroll, inner = scrolling_dock(self, 260)
        lay = QVBoxLayout(inner)
        form = QFormLayout()
        self.image_combo = self.layer_picker(LayerKind.IMAGE)
        self.roi_combo = self.layer_picker(LayerKind.LABELS)
        self.vessel_combo = self.layer_picker(LayerKind.LABELS, optional=True)
        form.addRow("image", self.image_combo)
        form.addRow("plaque ROI", self.roi_combo)
        form.addRow("vessels", self.vessel_combo)
        lay.addLayout(form)

        self.range_editor = RangeEditor()
        self.range_editor.changed.connect(self._schedule)
        self.range_spins = self.range_editor.range_spins
        lay.addWidget(self.range_editor)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Compute")
        self.run_button.clicked.connect(lambda *_: self.compute(incremental=False))
        self.reset_button = QPushButton("Defaults")
        self.reset_button.clicked.connect(self.reset_ranges)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._export_dialog)
        for b in (self.run_button, self.reset_button, self.export_button):
            buttons.addWidget(b)
        lay.addLayout(buttons)
        self.status = QLabel("")
        lay.addWidget(self.status)
        self.table = QTableWidget(0, len(COMPOSITION_COLUMNS))
        self.table.setHorizontalHeaderLabels([c for c, _ in COMPOSITION_COLUMNS])
        lay.addWidget(self.table)
        fit_scroll_width(self.scroll)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DEBOUNCE_MS)
        self._timer.timeout.connect(self.compute)

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"error: {exc}")

    # -- ranges ---------------------------------------------------------------------------------
    def ranges(self) -> dict[str, tuple[float, float]]:
        return self.range_editor.ranges()

    def set_ranges(self, ranges: dict[str, tuple[float, float]]) -> None:
        """Set some HU ranges (a debounced update follows, as after editing the spin boxes);
        ValueError if they would overlap."""
        self.range_editor.set_ranges(ranges)

    def reset_ranges(self) -> None:
        self.set_ranges(DEFAULT_RANGES)

    def _schedule(self, *_: Any) -> None:
        if self.image_combo.layer() is not None and self.roi_combo.layer() is not None:
            self._timer.start()

    # -- compute --------------------------------------------------------------------------------
    def _key(self) -> tuple:
        layers = (self.image_combo.layer(), self.roi_combo.layer(), self.vessel_combo.layer())
        return tuple(None if lay is None else (lay.name, id(lay.data)) for lay in layers)

    def _invalidate(self, *_: Any) -> None:
        """Image, ROI or vessel data changed (painted, replaced): gather the voxels again."""
        self._state = None
        self._state_key = None

    def _watch(self) -> None:
        for ev in self._watched:
            ev.disconnect(self._invalidate)
        self._watched = []
        for lay in (self.image_combo.layer(), self.roi_combo.layer(), self.vessel_combo.layer()):
            if lay is None:
                continue
            for name in ("data", "paint"):  # replaced, or painted by the user
                ev = getattr(lay.events, name, None)
                if ev is not None:
                    ev.connect(self._invalidate)
                    self._watched.append(ev)

    def _overlay_layer(self):
        return self.viewer.layers[OVERLAY_LAYER] if OVERLAY_LAYER in self.viewer.layers else None

    def compute(self, incremental: bool = True) -> None:
        """Start (or restart) the computation in a worker; the newest request wins.

        After a range edit (same image, ROI and vessel layers, overlay still shown) only the
        voxels the edit touches are reclassified (``incremental``); *Compute* starts over.
        """
        image, roi_layer = self.image_combo.layer(), self.roi_combo.layer()
        if image is None or roi_layer is None:
            self.status.setText("pick an image and a plaque ROI labels layer")
            return
        try:
            ranges = check_ranges(self.ranges())
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return
        try:
            vol = _ct_from_layer(image, "plaque composition needs a 3D CT")
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return
        spacing, translate = tuple(vol.spacing_mm), tuple(vol.origin_mm)
        state, key = self._state, self._key()
        overlay = self._overlay_layer()
        can_edit = (
            incremental
            and state is not None
            and self._state_key == key
            and overlay is not None
            and overlay.data is state.get("overlay_data")
            and state.get("spacing") == tuple(spacing)
        )
        self._generation += 1
        gen = self._generation
        self.status.setText("computing…")
        if can_edit:
            # milliseconds of work on the gathered voxels: no progress bar (a bar per edit
            # would cost the main thread more than the edit itself); the newest request wins
            self.start(_iter_composition_edit, state, spacing, ranges, total=None,
                       desc="plaque composition", replace=True,
                       on_done=lambda res: self._on_edit_done(gen, res))  # fmt: skip
            return
        hu = vol.hu
        try:
            roi = _labels_array(roi_layer, hu.shape, "ROI")
            vessels = _labels_array(self.vessel_combo.layer(), hu.shape, "vessel")
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return
        self._invalidate()
        self._watch()
        self.start(
            _iter_composition_full,
            hu,
            spacing,
            roi,
            vessels,
            ranges,
            total=2,
            desc="plaque composition",
            on_done=lambda res: self._on_done(gen, res, hu.shape, spacing, translate, key),
            replace=True,  # the newest request wins
        )

    def _on_done(self, gen: int, res, shape, spacing, translate, key=None) -> None:
        if gen != self._generation:
            return  # a newer request is running
        layer = self._overlay_layer()
        if layer is None or layer.data.shape != tuple(shape):
            if layer is not None:
                self.viewer.layers.remove(layer)
            layer = self.viewer.add_labels(
                np.zeros(shape, np.uint8),
                name=OVERLAY_LAYER,
                scale=spacing,
                translate=translate,
                units=UNITS,
                opacity=0.6,
            )
            layer.colormap = label_colormap(
                {i: COMPONENT_COLORS[c] for i, c in enumerate(COMPONENTS, start=1)}
            )
        data = layer.data
        if not (isinstance(data, np.ndarray) and data.flags.c_contiguous):
            data = np.zeros(shape, np.uint8)
            layer.data = data
        data[...] = 0
        if res is not None:
            data.reshape(-1)[res["vox"].flat] = res["cls"]
            self._state = {**res, "overlay_data": data, "spacing": tuple(spacing)}
            self._state_key = key
        layer.scale, layer.translate = spacing, translate
        layer.refresh()
        self._show(res)

    def _on_edit_done(self, gen: int, res) -> None:
        if gen != self._generation:
            return  # a newer request is running
        layer = self._overlay_layer()
        if layer is None or layer.data is not res["overlay_data"]:
            self._invalidate()
            self.compute(incremental=False)
            return
        changed = res["changed"]
        if changed.size:
            flat = res["vox"].flat[changed]
            res["overlay_data"].reshape(-1)[flat] = res["cls"][changed]
            self._refresh_overlay(layer, flat)
        self._state = res
        self._show(res)

    def _refresh_overlay(self, layer, flat: np.ndarray) -> None:
        """Redraw the overlay only if the changed voxels are on the displayed slice(s)."""
        dims = self.viewer.dims
        not_displayed = list(dims.not_displayed)
        if not not_displayed:
            layer.refresh()
            return
        idx = np.unravel_index(flat, layer.data.shape)
        offset = dims.ndim - layer.ndim  # viewer axes before the layer's own
        pos = np.round(np.asarray(layer.world_to_data(dims.point[offset:]), float)).astype(int)
        on = np.ones(flat.size, bool)
        for ax in not_displayed:
            if ax >= offset:
                on &= idx[ax - offset] == pos[ax - offset]
        if np.any(on):
            layer.refresh()

    def _show(self, res) -> None:
        comps = [] if res is None else res["comps"]
        self.results = comps
        self._fill_table()
        text = f"{len(comps)} plaque(s)" if comps else "empty ROI: no plaque"
        warn = composition_warnings(comps, None if res is None else res["ranges"])
        self.status.setText("\n".join([text, *warn]))
        self.status.setWordWrap(True)

    def _fill_table(self) -> None:
        """One row per metric, one column per plaque (narrow docks show every value)."""
        dicts = [p.to_dict() for p in self.results]
        header = ["metric", *(str(d["label"]) for d in dicts)]
        rows = [[name, *(_fmt(d[key]) for d in dicts)] for name, key in COMPOSITION_COLUMNS[1:]]
        t = self.table
        heads = [t.horizontalHeaderItem(j) for j in range(t.columnCount())]
        if t.rowCount() == len(rows) and [h.text() if h else None for h in heads] == header:
            # same plaques (a range edit): change only the cells whose text changed, no resize
            for i, row in enumerate(rows):
                for j, text in enumerate(row):
                    item = t.item(i, j)
                    if item is None or item.text() != text:
                        if item is None:
                            from qtpy.QtWidgets import QTableWidgetItem

                            t.setItem(i, j, QTableWidgetItem(text))
                        else:
                            item.setText(text)
            return
        set_table(t, header, rows, 8)

    # -- export ---------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> Path:
        """Write the per-plaque table (all metrics, ranges used) as CSV, atomically."""
        if not self.results:
            raise ValueError("nothing to export: compute the composition first")
        rows = [p.to_dict() for p in self.results]
        rng = self.ranges()
        for r in rows:
            for k, (lo, hi) in rng.items():
                r[f"{k}_range_hu"] = f"[{lo:g}, {hi:g})"
        return write_csv(path, round_floats(rows, 3))

    def _export_dialog(self) -> None:
        def write(path: str) -> str:
            self.export_csv(path)
            return f"saved {path}"

        self.save_with_dialog("Export composition", "CSV (*.csv)", write)
