"""CCTA dock widgets: plaque composition and coronary calcium scoring.

Thin front ends over :mod:`napari_plaque.ccta`: they read the chosen layers, run the core in a
thread worker (progress bar, never blocking the viewer) and write layers and tables back.

- :class:`CompositionWidget`: HU ranges (lipid / fibrous / calcium) in one editor that cannot
  produce overlapping ranges, whose colour overlay (red / blue / yellow) follows edits with a
  short debounce, computed on the ROI bounding box only; per-plaque table; CSV export.
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
    QFileDialog,
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
    iter_composition,
    roi_bbox,
)
from ..ccta.composition import composition_warnings
from ..layers import UNITS
from ..report import round_floats, write_csv
from ._calcium import LESION_LAYER, CalciumScoringWidget
from ._ccta_common import NONE, _fmt, _geometry, _labels_array, _LayerCombo
from ._common import label_colormap, set_table
from ._range_editor import RangeEditor
from ._worker import start_worker

__all__ = [
    "LESION_LAYER",
    "NONE",
    "OVERLAY_LAYER",
    "CalciumScoringWidget",
    "CompositionWidget",
    "_LayerCombo",
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
def _iter_composition_update(hu, spacing_mm, roi, vessels, ranges) -> Generator[int, None, Any]:
    """Overlay (on the ROI bounding box) and per-plaque composition, as one step generator."""
    box = roi_bbox(roi)
    yield 0
    if box is None:
        return None, None, []
    cls = classify(hu[box], ranges)
    cls[roi[box] == 0] = 0
    yield 1
    comps = yield from iter_composition(hu, spacing_mm, roi, vessels, ranges)
    return box, cls, comps


class CompositionWidget(QWidget):
    """Plaque composition by HU ranges with a live colour overlay and a results table."""

    DEBOUNCE_MS = 150

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.results: list = []
        self.worker = None
        self._generation = 0
        self._overlay_box: tuple[slice, ...] | None = None

        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.image_combo = _LayerCombo(napari_viewer, "image")
        self.roi_combo = _LayerCombo(napari_viewer, "labels")
        self.vessel_combo = _LayerCombo(napari_viewer, "labels", optional=True)
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
        self.run_button.clicked.connect(self.compute)
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

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DEBOUNCE_MS)
        self._timer.timeout.connect(self.compute)

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
    def compute(self) -> None:
        """Start (or restart) the computation in a worker; the newest request wins."""
        image, roi_layer = self.image_combo.layer(), self.roi_combo.layer()
        if image is None or roi_layer is None:
            self.status.setText("pick an image and a plaque ROI labels layer")
            return
        try:
            ranges = check_ranges(self.ranges())
            hu = np.asarray(image.data)
            roi = _labels_array(roi_layer, hu.shape, "ROI")
            vessels = _labels_array(self.vessel_combo.layer(), hu.shape, "vessel")
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return
        spacing, translate = _geometry(image)
        if self.worker is not None:
            self.worker.quit()
        self._generation += 1
        gen = self._generation
        self.status.setText("computing…")
        self.worker = start_worker(
            _iter_composition_update,
            hu,
            spacing,
            roi,
            vessels,
            ranges,
            total=3,
            desc="plaque composition",
            on_done=lambda res: self._on_done(gen, res, hu.shape, spacing, translate, ranges),
            on_error=lambda exc: self.status.setText(f"error: {exc}"),
        )

    def _on_done(self, gen: int, res, shape, spacing, translate, ranges=None) -> None:
        if gen != self._generation:
            return  # a newer request is running
        box, cls, comps = res
        self._update_overlay(box, cls, shape, spacing, translate)
        self.results = comps
        self._fill_table()
        text = f"{len(comps)} plaque(s)" if comps else "empty ROI: no plaque"
        warn = composition_warnings(comps, ranges)
        self.status.setText("\n".join([text, *warn]))
        self.status.setWordWrap(True)

    def _update_overlay(self, box, cls, shape, spacing, translate) -> None:
        layer = self.viewer.layers[OVERLAY_LAYER] if OVERLAY_LAYER in self.viewer.layers else None
        if layer is None or layer.data.shape != tuple(shape):
            if layer is not None:
                self.viewer.layers.remove(layer)
            data = np.zeros(shape, np.uint8)
            layer = self.viewer.add_labels(
                data,
                name=OVERLAY_LAYER,
                scale=spacing,
                translate=translate,
                units=UNITS,
                opacity=0.6,
            )
            layer.colormap = label_colormap(
                {i: COMPONENT_COLORS[c] for i, c in enumerate(COMPONENTS, start=1)}
            )
            self._overlay_box = None
        data = layer.data
        if self._overlay_box is not None:
            data[self._overlay_box] = 0
        if box is not None:
            data[box] = cls
        self._overlay_box = box
        layer.scale, layer.translate = spacing, translate
        layer.refresh()

    def _fill_table(self) -> None:
        """One row per metric, one column per plaque (narrow docks show every value)."""
        dicts = [p.to_dict() for p in self.results]
        header = ["metric", *(str(d["label"]) for d in dicts)]
        rows = [[name, *(_fmt(d[key]) for d in dicts)] for name, key in COMPOSITION_COLUMNS[1:]]
        set_table(self.table, header, rows, 8)

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
        path, _ = QFileDialog.getSaveFileName(self, "Export composition", "", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
                self.status.setText(f"saved {path}")
            except (ValueError, OSError) as exc:
                self.status.setText(f"error: {exc}")
