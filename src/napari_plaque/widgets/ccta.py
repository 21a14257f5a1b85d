"""CCTA dock widgets: plaque composition and coronary calcium scoring.

Thin front ends over :mod:`napari_plaque.ccta`: they read the chosen layers, run the core in a
thread worker (progress bar, never blocking the viewer) and write layers and tables back.

- :class:`CompositionWidget`: HU ranges (lipid / fibrous / calcium) whose colour overlay
  (red / blue / yellow) follows edits with a short debounce, computed on the ROI bounding box
  only; per-plaque table; CSV export.
- :class:`CalciumScoringWidget`: Agatston / volume / mass scores; lesions as a labels layer
  coloured by weight; click a lesion to assign it to LM/LAD/LCX/RCA (with undo); per-vessel
  table, CAC-DRS and category; mass calibration from a painted rod ROI; CSV + JSON report.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import napari.layers
import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..ccta import (
    COMPONENT_COLORS,
    COMPONENTS,
    DEFAULT_RANGES,
    VESSEL_NAMES,
    CalciumResult,
    calibrate_mass,
    check_ranges,
    classify,
    iter_calcium_score,
    iter_composition,
    roi_bbox,
    vessel_name,
)
from ..io.atomic import _json_default, atomic_write_text
from ._common import label_colormap, refill_combo
from ._worker import start_worker

NONE = "(none)"
OVERLAY_LAYER = "composition overlay"
LESION_LAYER = "calcium lesions"
#: lesion colours by Agatston weight 1..4
WEIGHT_COLORS = {
    1: (0.3, 0.9, 0.3, 1.0),
    2: (1.0, 0.9, 0.0, 1.0),
    3: (1.0, 0.55, 0.0, 1.0),
    4: (1.0, 0.1, 0.1, 1.0),
}
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
    ("burden %", "plaque_burden_pct"),
)


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return f"{v:.2f}"
    return str(v)


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
        names += [ly.name for ly in self.viewer.layers if isinstance(ly, cls)]
        refill_combo(self, names)

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
    return (
        tuple(float(s) for s in np.asarray(layer.scale)[-3:]),
        tuple(float(t) for t in np.asarray(layer.translate)[-3:]),
    )


def _labels_array(layer, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    if layer is None:
        return None
    arr = np.asarray(layer.data)
    if arr.shape != tuple(shape):
        raise ValueError(
            f"{what} layer {layer.name!r} has shape {arr.shape}, the image has {tuple(shape)}"
        )
    return arr


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

        box = QGroupBox("HU ranges (inclusive)")
        grid = QFormLayout(box)
        self.range_spins: dict[str, tuple[QSpinBox, QSpinBox]] = {}
        for comp in COMPONENTS:
            lo, hi = DEFAULT_RANGES[comp]
            row = QHBoxLayout()
            spins = []
            for v in (lo, hi):
                sb = QSpinBox()
                sb.setRange(-1024, 4000)
                sb.setValue(int(v))
                sb.valueChanged.connect(self._schedule)
                row.addWidget(sb)
                spins.append(sb)
            self.range_spins[comp] = (spins[0], spins[1])
            r, g, b, _ = COMPONENT_COLORS[comp]
            label = QLabel(comp)
            label.setStyleSheet(f"color: rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})")
            grid.addRow(label, row)
        lay.addWidget(box)

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
        return {k: (float(a.value()), float(b.value())) for k, (a, b) in self.range_spins.items()}

    def set_ranges(self, ranges: dict[str, tuple[float, float]]) -> None:
        """Set some HU ranges (triggers a debounced update, like editing the spin boxes)."""
        for k, (lo, hi) in ranges.items():
            a, b = self.range_spins[k]
            a.setValue(int(lo))
            b.setValue(int(hi))

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
            on_done=lambda res: self._on_done(gen, res, hu.shape, spacing, translate),
            on_error=lambda exc: self.status.setText(f"error: {exc}"),
        )

    def _on_done(self, gen: int, res, shape, spacing, translate) -> None:
        if gen != self._generation:
            return  # a newer request is running
        box, cls, comps = res
        self._update_overlay(box, cls, shape, spacing, translate)
        self.results = comps
        self._fill_table()
        self.status.setText(f"{len(comps)} plaque(s)" if comps else "empty ROI: no plaque")

    def _update_overlay(self, box, cls, shape, spacing, translate) -> None:
        layer = self.viewer.layers[OVERLAY_LAYER] if OVERLAY_LAYER in self.viewer.layers else None
        if layer is None or layer.data.shape != tuple(shape):
            if layer is not None:
                self.viewer.layers.remove(layer)
            data = np.zeros(shape, np.uint8)
            layer = self.viewer.add_labels(
                data, name=OVERLAY_LAYER, scale=spacing, translate=translate, opacity=0.6
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
        self.table.setRowCount(len(self.results))
        for i, p in enumerate(self.results):
            d = p.to_dict()
            for j, (_, key) in enumerate(COMPOSITION_COLUMNS):
                self.table.setItem(i, j, QTableWidgetItem(_fmt(d[key])))

    # -- export ---------------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> Path:
        """Write the per-plaque table (all metrics, ranges used) as CSV, atomically."""
        if not self.results:
            raise ValueError("nothing to export: compute the composition first")
        rows = [p.to_dict() for p in self.results]
        rng = self.ranges()
        for r in rows:
            for k, (lo, hi) in rng.items():
                r[f"{k}_range_hu"] = f"{lo:g}..{hi:g}"
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
        return atomic_write_text(path, buf.getvalue())

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export composition", "", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
                self.status.setText(f"saved {path}")
            except (ValueError, OSError) as exc:
                self.status.setText(f"error: {exc}")


# ---------------------------------------------------------------------------------- calcium
class CalciumScoringWidget(QWidget):
    """Agatston / volume / mass scores with click-to-assign lesions and a report export."""

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.base_result: CalciumResult | None = None
        self.calibration = None
        self.assignments: dict[int, int] = {}
        self.undo_stack: list[tuple[int, int | None]] = []
        self.worker = None
        self._image_name = ""

        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.image_combo = _LayerCombo(napari_viewer, "image")
        self.roi_combo = _LayerCombo(napari_viewer, "labels", optional=True)
        self.vessel_combo = _LayerCombo(napari_viewer, "labels", optional=True)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-1024, 3000)
        self.threshold.setValue(130.0)
        self.min_area = QDoubleSpinBox()
        self.min_area.setRange(0.0, 100.0)
        self.min_area.setSingleStep(0.1)
        self.min_area.setValue(1.0)
        form.addRow("image", self.image_combo)
        form.addRow("ROI / heart mask", self.roi_combo)
        form.addRow("vessel labels", self.vessel_combo)
        form.addRow("threshold HU", self.threshold)
        form.addRow("min area mm²", self.min_area)
        lay.addLayout(form)
        self.run_button = QPushButton("Score")
        self.run_button.clicked.connect(self.compute)
        lay.addWidget(self.run_button)

        assign = QGroupBox("Assign lesions (click a lesion)")
        al = QHBoxLayout(assign)
        self.assign_mode = QCheckBox("click to assign to")
        self.assign_mode.setChecked(True)
        self.vessel_choice = QComboBox()
        for lab, name in VESSEL_NAMES.items():
            self.vessel_choice.addItem(name, lab)
        self.vessel_choice.addItem("unassigned", 0)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo)
        for w in (self.assign_mode, self.vessel_choice, self.undo_button):
            al.addWidget(w)
        lay.addWidget(assign)

        cal = QGroupBox("Mass calibration")
        cf = QFormLayout(cal)
        self.rod_combo = _LayerCombo(napari_viewer, "labels", optional=True)
        self.water_combo = _LayerCombo(napari_viewer, "labels", optional=True)
        self.rod_density = QDoubleSpinBox()
        self.rod_density.setRange(1.0, 3000.0)
        self.rod_density.setValue(200.0)
        self.calibrate_button = QPushButton("Calibrate from rod ROI")
        self.calibrate_button.clicked.connect(self.calibrate)
        self.calibration_label = QLabel("mass: not calibrated")
        cf.addRow("rod ROI (paint it)", self.rod_combo)
        cf.addRow("rod mg HA/cm³", self.rod_density)
        cf.addRow("water ROI", self.water_combo)
        cf.addRow(self.calibrate_button)
        cf.addRow(self.calibration_label)
        lay.addWidget(cal)

        self.summary = QLabel("")
        lay.addWidget(self.summary)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            ["vessel", "Agatston", "volume mm³", "mass mg", "lesions"]
        )
        lay.addWidget(self.table)
        self.export_button = QPushButton("Export report (CSV + JSON)…")
        self.export_button.clicked.connect(self._export_dialog)
        lay.addWidget(self.export_button)
        self.status = QLabel("")
        lay.addWidget(self.status)

    # -- result ---------------------------------------------------------------------------------
    @property
    def result(self) -> CalciumResult | None:
        """The current result: scores, assignments and calibration applied."""
        if self.base_result is None:
            return None
        res = self.base_result
        if self.assignments:
            res = res.with_assignments(self.assignments)
        if self.calibration is not None:
            res = res.with_calibration(self.calibration)
        return res

    def compute(self) -> None:
        image = self.image_combo.layer()
        if image is None:
            self.status.setText("pick a CT image layer")
            return
        try:
            hu = np.asarray(image.data)
            if hu.ndim != 3:
                raise ValueError(f"image {image.name!r} is {hu.ndim}D; calcium scoring needs 3D")
            roi = _labels_array(self.roi_combo.layer(), hu.shape, "ROI")
            vessels = _labels_array(self.vessel_combo.layer(), hu.shape, "vessel")
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return
        spacing, translate = _geometry(image)
        self._image_name = image.name
        self.status.setText("scoring…")
        if self.worker is not None:
            self.worker.quit()
        self.worker = start_worker(
            iter_calcium_score,
            hu,
            spacing,
            roi=roi,
            vessel_labels=vessels,
            threshold_hu=float(self.threshold.value()),
            min_area_mm2=float(self.min_area.value()),
            return_labels=True,
            total=4,
            desc="calcium scoring",
            on_done=lambda res: self._on_done(res, spacing, translate),
            on_error=lambda exc: self.status.setText(f"error: {exc}"),
        )

    def _on_done(self, res: CalciumResult, spacing, translate) -> None:
        self.base_result = res
        self.assignments.clear()
        self.undo_stack.clear()
        self._show_lesions(res, spacing, translate)
        self._refresh()
        self.status.setText(f"{res.n_lesions} lesion(s)")

    def _show_lesions(self, res: CalciumResult, spacing, translate) -> None:
        if LESION_LAYER in self.viewer.layers:
            self.viewer.layers.remove(LESION_LAYER)
        layer = self.viewer.add_labels(
            res.lesion_labels, name=LESION_LAYER, scale=spacing, translate=translate, opacity=0.8
        )
        les = res.lesions
        layer.colormap = label_colormap(
            {int(i): WEIGHT_COLORS[int(w)] for i, w in zip(les["id"], les["weight"], strict=True)}
        )
        layer.mouse_drag_callbacks.append(self._on_lesion_click)
        self.lesion_layer = layer

    # -- assignment -------------------------------------------------------------------------------
    def assign_lesion(self, lesion_id: int, vessel: int) -> None:
        """Assign a lesion (id in the lesion layer) to a vessel label; undoable."""
        if self.base_result is None:
            raise ValueError("score the image first")
        ids = self.base_result.lesions["id"]
        if int(lesion_id) not in set(ids.tolist()):
            raise ValueError(f"no lesion with id {lesion_id}")
        lesion_id = int(lesion_id)
        self.undo_stack.append((lesion_id, self.assignments.get(lesion_id)))
        self.assignments[lesion_id] = int(vessel)
        self._refresh()
        self.status.setText(f"lesion {lesion_id} -> {vessel_name(vessel)}")

    def undo(self) -> None:
        """Undo the last assignment."""
        if not self.undo_stack:
            self.status.setText("nothing to undo")
            return
        lesion_id, previous = self.undo_stack.pop()
        if previous is None:
            self.assignments.pop(lesion_id, None)
        else:
            self.assignments[lesion_id] = previous
        self._refresh()
        self.status.setText(f"undone: lesion {lesion_id}")

    def _on_lesion_click(self, layer, event):
        """Mouse callback on the lesion layer: a click (press + release without dragging)
        assigns the lesion under the cursor; a drag (panning) does nothing."""
        if not self.assign_mode.isChecked() or getattr(event, "button", 1) != 1:
            return
        position = tuple(event.position)
        yield
        moved = False
        while event.type == "mouse_move":
            moved = True
            yield
        if not moved:
            self.assign_at(
                layer,
                position,
                view_direction=getattr(event, "view_direction", None),
                dims_displayed=getattr(event, "dims_displayed", None),
            )

    def assign_at(self, layer, position, view_direction=None, dims_displayed=None) -> int:
        """Assign the lesion at world ``position`` of ``layer`` to the chosen vessel.

        Returns the lesion id (0 when the click hit no lesion).
        """
        value = layer.get_value(
            position, view_direction=view_direction, dims_displayed=dims_displayed, world=True
        )
        if isinstance(value, tuple):  # multiscale returns (level, value)
            value = value[-1]
        if value is None or int(value) == 0:
            return 0
        self.assign_lesion(int(value), int(self.vessel_choice.currentData()))
        return int(value)

    # -- calibration ------------------------------------------------------------------------------
    def calibrate(self) -> None:
        image, rod_layer = self.image_combo.layer(), self.rod_combo.layer()
        try:
            if image is None or rod_layer is None:
                raise ValueError("pick the image and paint a rod ROI labels layer")
            hu = np.asarray(image.data)
            rod = _labels_array(rod_layer, hu.shape, "rod ROI")
            water = _labels_array(self.water_combo.layer(), hu.shape, "water ROI")
            self.calibration = calibrate_mass(hu, rod, float(self.rod_density.value()), water)
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return
        c = self.calibration
        self.calibration_label.setText(
            f"c = {c.factor_mg_per_mm3_hu:.3e} mg/(mm³·HU) (rod {c.rod_mean_hu:.0f} HU, "
            f"water {c.water_mean_hu:.0f} HU)"
        )
        self._refresh()

    # -- display ------------------------------------------------------------------------------
    def _refresh(self) -> None:
        res = self.result
        if res is None:
            return
        pv = res.per_vessel
        self.table.setRowCount(len(pv))
        for i, (name, d) in enumerate(pv.items()):
            vals = [name, d["agatston"], d["volume_mm3"], d["mass_mg"], d["n_lesions"]]
            for j, v in enumerate(vals):
                self.table.setItem(i, j, QTableWidgetItem(_fmt(v)))
        mass = "not calibrated" if res.mass_mg is None else f"{res.mass_mg:.1f} mg"
        self.summary.setText(
            f"Agatston {res.agatston:.1f} · volume {res.volume_mm3:.1f} mm³ · mass {mass}\n"
            f"CAC-DRS {res.cac_drs} · category {res.category}"
        )

    def report(self) -> dict[str, Any]:
        res = self.result
        if res is None:
            raise ValueError("nothing to export: score the image first")
        d = {"image": self._image_name, **res.to_dict()}
        d["manual_assignments"] = {str(k): vessel_name(v) for k, v in self.assignments.items()}
        return d

    def export_report(self, json_path: str | Path, csv_path: str | Path | None = None) -> None:
        """Write the JSON report and a per-vessel CSV (with the parameters used), atomically."""
        rep = self.report()
        text = json.dumps(rep, indent=1, default=_json_default) + "\n"
        params = rep["parameters"]
        buf = io.StringIO()
        cols = ["vessel", "agatston", "volume_mm3", "mass_mg", "n_lesions", "cac_drs",
                "category", "threshold_hu", "min_area_mm2", "slice_increment_mm",
                "calibration_mg_per_mm3_hu"]  # fmt: skip
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        cal = rep["calibration"]
        for name, d in rep["per_vessel"].items():
            w.writerow(
                [
                    name,
                    d["agatston"],
                    d["volume_mm3"],
                    "" if d["mass_mg"] is None else d["mass_mg"],
                    d["n_lesions"],
                    rep["cac_drs"],
                    rep["category"],
                    params["threshold_hu"],
                    params["min_area_mm2"],
                    params["slice_increment_mm"],
                    "" if cal is None else cal["factor_mg_per_mm3_hu"],
                ]  # fmt: skip
            )
        if csv_path is None:
            csv_path = Path(json_path).with_suffix(".csv")
        atomic_write_text(json_path, text)
        atomic_write_text(csv_path, buf.getvalue())

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CAC report", "", "JSON (*.json)")
        if path:
            try:
                self.export_report(path)
                self.status.setText(f"saved {path} and {Path(path).with_suffix('.csv')}")
            except (ValueError, OSError) as exc:
                self.status.setText(f"error: {exc}")
