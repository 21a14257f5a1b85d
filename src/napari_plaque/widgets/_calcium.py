"""Calcium scoring dock: a thin view over :class:`napari_plaque.ccta.session.CalciumSession`.

The session holds the score, the reader's vessel assignments and exclusions and their undo
history; this dock runs the scoring in a worker, binds clicks and keys and redraws on the
session's ``changed`` signal.

- Click a lesion (whatever layer is selected) to assign its 3D calcification to the chosen
  vessel, or to exclude it (noise, bone, stent); tick *this slice only* to act on one slice's
  lesion. Keys ``1``-``4`` pick LM/LAD/LCX/RCA, ``0`` unassigned, ``X`` exclude mode,
  ``Control-Z`` / ``Control-Shift-Z`` undo/redo, whatever layer is selected: while the dock is
  open they are bound on the viewer and on every layer (a layer's own ``2`` or ``X`` would
  otherwise win), and the current action is shown in the dock.
- The lesion list is a Qt model / view table updated by row: an assignment at 2,000 lesions
  redraws the rows it changed, not the table.
- Lesions are coloured by vessel (LM/LAD/LCX/RCA), unassigned ones white, excluded ones dim.
- The lesion list jumps to a lesion's slice when a row is clicked.
- Scoring again (other threshold or ROI) keeps every assignment, exclusion and the history.
- Scoring runs in a worker with a progress bar and Cancel (the score shown stays); its warnings
  are the protocol checks' (:func:`napari_plaque.ccta.session.protocol_warnings`): all of them
  when the CT reader made the layer (its header is in the layer's metadata), else threshold and
  ROI only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..ccta import CALCIUM_DEFAULTS, VESSEL_NAMES, calibrate_mass, iter_calcium_score
from ..ccta.session import Action, CalciumSession, Scope, protocol_warnings
from ..layers import WINDOW_PRESETS
from ..report import write_csv, write_json
from ._calcium_cal import CalibrationBox
from ._ccta_common import _ct_from_layer, _fmt, _labels_array
from ._common import fit_scroll_width, fit_table, label_colormap, scrolling_dock, show_labels
from ._dock import DockBase, LayerKind
from ._table import RowTableModel, RowTableView

LESION_LAYER = "calcium lesions"
#: lesion colours by vessel label (0 = unassigned)
VESSEL_COLORS = {
    0: (1.0, 1.0, 1.0, 1.0),
    1: (1.0, 0.3, 0.3, 1.0),  # LM red
    2: (0.2, 0.9, 0.2, 1.0),  # LAD green
    3: (0.3, 0.6, 1.0, 1.0),  # LCX blue
    4: (1.0, 0.85, 0.0, 1.0),  # RCA yellow
}
EXCLUDED_COLOR = (0.45, 0.45, 0.45, 0.35)
WARN_STYLE = "color: #ffb020"
LESION_COLUMNS = ("id", "slice", "vessel", "agatston", "peak_hu", "excluded")
#: the lesion table's headers, with units
LESION_HEADERS = {
    "id": "id",
    "slice": "slice",
    "vessel": "vessel",
    "agatston": "Agatston",
    "peak_hu": "peak HU",
    "excluded": "excluded",
}
ACTION_STYLE = "font-weight: bold"
#: the scoring parameters the dock shows (keys of CALCIUM_DEFAULTS) and their widgets' ranges
SCORE_FORM_OPTIONS = {
    "threshold_hu": {"label": "threshold HU", "min": -1024.0, "max": 3000.0},
    "min_area_mm2": {"label": "min area mm²", "min": 0.0, "max": 100.0, "step": 0.1},
}


def _vessel_color(v: int) -> tuple[float, ...]:
    return VESSEL_COLORS.get(int(v), (0.8, 0.5, 1.0, 1.0))


def _iter_score(vol, roi, vessels, threshold_hu: float, min_area_mm2: float):
    """The score and its protocol warnings, in the worker (yields 0..4, then 5)."""
    res = yield from iter_calcium_score(
        vol.hu,
        vol.spacing_mm,
        roi=roi,
        vessel_labels=vessels,
        threshold_hu=threshold_hu,
        min_area_mm2=min_area_mm2,
        return_labels=True,
    )
    warnings = protocol_warnings(
        vol.meta, vol.hu, vol.spacing_mm, threshold_hu=threshold_hu, roi_given=roi is not None
    )
    yield 5
    return res, warnings


class CalciumScoringWidget(DockBase):
    """Agatston / volume / mass scores; click to assign or exclude calcifications; report."""

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        self.session = CalciumSession()
        self.session.changed.connect(self._refresh)
        self.lesion_layer = None
        self._image_name = ""
        self._shown_colors: dict | None = None
        # controls in a scroll area: with the composition dock beside it, the pair fits 1080 px
        self.scroll, inner = scrolling_dock(self, 300)
        lay = QVBoxLayout(inner)
        form = QFormLayout()
        self.image_combo = self.layer_picker(LayerKind.IMAGE)
        self.roi_combo = self.layer_picker(LayerKind.LABELS, optional=True)
        self.vessel_combo = self.layer_picker(LayerKind.LABELS, optional=True)
        # the scoring parameters: a form of the core's CALCIUM_DEFAULTS (the CLI's defaults too)
        self.params = self.form(
            {k: CALCIUM_DEFAULTS[k] for k in SCORE_FORM_OPTIONS}, SCORE_FORM_OPTIONS
        )
        self.threshold = self.params.threshold_hu.native
        self.min_area = self.params.min_area_mm2.native
        self.window_combo = QComboBox()
        self.window_combo.addItems(list(WINDOW_PRESETS))
        self.window_combo.activated.connect(lambda *_: self.apply_window())
        for label, w in (
            ("image", self.image_combo),
            ("ROI / heart mask", self.roi_combo),
            ("vessel labels", self.vessel_combo),
            # the form's widgets in the dock's one form grid (labels aligned); the magicgui
            # form keeps them and reads them back (form_values)
            *((w.label, w.native) for w in self.params),
            ("CT window", self.window_combo),
        ):
            form.addRow(label, w)
        lay.addLayout(form)
        self.run_button = self.build_run_row(lay, "Score", on_run=self.compute)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(WARN_STYLE)
        lay.addWidget(self.warning)

        box = QGroupBox("Click a lesion (keys 1-4 vessel, 0 unassigned, X exclude)")
        g = QGridLayout(box)
        self.action_combo = QComboBox()
        for action in Action:
            self.action_combo.addItem(action.label, action.value)
        self.vessel_choice = QComboBox()
        for lab, name in VESSEL_NAMES.items():
            self.vessel_choice.addItem(name, lab)
        self.vessel_choice.addItem("unassigned", 0)
        self.slice_only = QCheckBox("this slice only")
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.clicked.connect(self.session.redo)
        g.addWidget(self.action_combo, 0, 0)
        g.addWidget(self.vessel_choice, 0, 1)
        g.addWidget(self.slice_only, 0, 2)
        g.addWidget(self.undo_button, 1, 0)
        g.addWidget(self.redo_button, 1, 1)
        self.action_label = QLabel("")
        self.action_label.setStyleSheet(ACTION_STYLE)
        g.addWidget(self.action_label, 1, 2)
        self.action_combo.currentIndexChanged.connect(lambda *_: self._show_action())
        self.vessel_choice.currentIndexChanged.connect(lambda *_: self._show_action())
        lay.addWidget(box)

        self.calibration_box = CalibrationBox(
            napari_viewer, self._calibrate_from, self._status, picker=self.layer_picker
        )
        lay.addWidget(self.calibration_box)
        self.summary = QLabel("")
        lay.addWidget(self.summary)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["vessel", "Agatston", "volume mm³", "mass mg", "n"])
        fit_table(self.table, 6)
        lay.addWidget(self.table)
        self.lesion_model = RowTableModel(
            [(c, LESION_HEADERS[c]) for c in LESION_COLUMNS], fmt=_fmt, key="id"
        )
        self.lesion_table = RowTableView(self.lesion_model, min_rows=4)
        self.lesion_table.clicked.connect(
            lambda index: self.go_to_lesion(self.lesion_model.row_key(index.row()))
        )
        lay.addWidget(QLabel("lesions (click a row: go to its slice)"))
        lay.addWidget(self.lesion_table, 1)
        self.export_button = QPushButton("Export report (JSON + CSV)…")
        self.export_button.clicked.connect(self._export_dialog)
        lay.addWidget(self.export_button)
        self.links.mouse(self.viewer.mouse_drag_callbacks, self._on_click)
        self._keyed_layers: list = []
        self._bind_keys(self.viewer)
        for layer in self.viewer.layers:
            self._bind_layer_keys(layer)
        self.links.connect(self.viewer.layers.events.inserted, self._on_layer_inserted)
        self._show_action()
        fit_scroll_width(self.scroll)

    @property
    def action(self) -> Action:
        """What a click does now (the action combo's item data, not its text)."""
        return Action(self.action_combo.currentData())

    def set_action(self, action: Action | str) -> None:
        self.action_combo.setCurrentIndex(self.action_combo.findData(Action(action).value))

    # -- compatibility: the session's state under the dock's names ----------------------------------
    @property
    def base_result(self):
        return self.session.base_result

    @property
    def result(self):
        return self.session.result

    @property
    def assignments(self) -> dict[int, int]:
        return self.session.assignments

    @property
    def calibration(self):
        return self.session.calibration

    @property
    def rod_combo(self):
        return self.calibration_box.rod_combo

    @property
    def water_combo(self):
        return self.calibration_box.water_combo

    # -- scoring ------------------------------------------------------------------------------------
    def compute(self) -> None:
        image = self.image_combo.layer()
        if image is None:
            self.status.setText("pick a CT image layer")
            return
        try:
            vol = _ct_from_layer(image, "calcium scoring needs a 3D CT")
            roi = _labels_array(self.roi_combo.layer(), vol.shape, "ROI")
            vessels = _labels_array(self.vessel_combo.layer(), vol.shape, "vessel")
        except ValueError as exc:
            self.status.setText(f"error: {exc}")
            return
        spacing, translate = tuple(vol.spacing_mm), tuple(vol.origin_mm)
        self._image_name = image.name
        image.visible = True  # the lesions are drawn over the scan that was scored
        self.status.setText("scoring…")
        self.start(
            _iter_score,
            vol,
            roi,
            vessels,
            float(self.threshold.value()),
            float(self.min_area.value()),
            total=5,
            desc="calcium scoring",
            on_done=lambda out: self._on_done(out, spacing, translate),
            on_error=lambda exc: self.status.setText(f"error: {exc}"),
            on_aborted=lambda: self.status.setText(
                "scoring cancelled: the score shown (if any) is unchanged"
            ),
            replace=True,  # scoring again (another threshold) replaces a running score
        )

    def _on_done(self, out, spacing, translate) -> None:
        res, warnings = out
        self._show_lesions(res, spacing, translate)
        kept = self.session.set_result(res, warnings=warnings)
        note = ""
        if kept["assignments"] or kept["excluded"]:
            note = f"; kept {kept['assignments']} assignment(s), {kept['excluded']} exclusion(s)"
        self.status.setText(f"{res.n_lesions} lesion(s){note}")

    def _show_lesions(self, res, spacing, translate) -> None:
        # the layer shows a copy: painting into it never changes which lesion a click assigns
        data = res.lesion_labels.copy()
        self.lesion_layer = show_labels(self.viewer, LESION_LAYER, data, spacing, translate,
                                        opacity=0.8)  # fmt: skip
        self._shown_colors = None

    def apply_window(self, name: str | None = None) -> None:
        """Set the image layer's contrast to a CT window preset."""
        image = self.image_combo.layer()
        name = name or self.window_combo.currentText()
        self.window_combo.setCurrentText(name)
        if image is not None:
            image.contrast_limits = WINDOW_PRESETS[name]

    # -- clicks and keys --------------------------------------------------------------------------
    def _key_actions(self) -> dict[str, Any]:
        def pick(i: int):
            def run(*_: Any) -> None:
                self.set_action(Action.ASSIGN)
                self.vessel_choice.setCurrentIndex(self.vessel_choice.findData(i))

            return run

        keys: dict[str, Any] = {str(k): pick(k) for k in (*VESSEL_NAMES, 0)}
        keys["x"] = lambda *_: self.set_action(Action.EXCLUDE)
        keys["Control-Z"] = lambda *_: self.undo()
        keys["Control-Shift-Z"] = lambda *_: self.session.redo()
        return keys

    def _bind_keys(self, target) -> None:
        for key, fn in self._key_actions().items():
            target.bind_key(key, fn, overwrite=True)

    def _bind_layer_keys(self, layer) -> None:
        """Bind the keys on a layer too: napari asks the selected layer's keymap before the
        viewer's, so the CT's own ``2`` (transform mode) or a labels layer's ``2`` (paint)
        would otherwise win and the next click would assign to the previous vessel."""
        self._bind_keys(layer)
        self._keyed_layers.append(layer)

    def _on_layer_inserted(self, event) -> None:
        self._bind_layer_keys(event.value)

    def _show_action(self) -> None:
        action = self.action
        if action is Action.ASSIGN:
            text = f"click assigns to {self.vessel_choice.currentText()}"
        elif action is Action.OFF:
            text = "clicks do nothing"
        else:
            text = f"click: {action.label}"
        self.action_label.setText(text)

    def _on_click(self, viewer, event):
        """Viewer mouse callback: a click (no drag) acts on the lesion under the cursor,
        whatever layer is selected; nothing happens while the lesion layer is painted on."""
        layer = self.lesion_layer
        if self.action is Action.OFF or layer is None or getattr(event, "button", 1) != 1:
            return
        if LESION_LAYER not in self.viewer.layers:
            return
        position = tuple(event.position)
        yield
        moved = False
        while event.type == "mouse_move":
            moved = True
            yield
        if moved:
            return
        if getattr(layer, "mode", "pan_zoom") not in ("pan_zoom", "transform"):
            self.status.setText(
                f"the lesion layer is in {layer.mode} mode: switch it to pan/zoom to click lesions"
            )
            return
        self.act_at(position)

    def act_at(self, world_position) -> int:
        """Apply the chosen action to the lesion at a world position; returns its id (0: none)."""
        if self.lesion_layer is None:
            return 0
        index = np.asarray(self.lesion_layer.world_to_data(world_position))[-3:]
        lesion_id = self.session.lesion_at(index)
        if lesion_id == 0:
            return 0
        scope = Scope.SLICE if self.slice_only.isChecked() else Scope.CALCIFICATION
        vessel = int(self.vessel_choice.currentData())
        if not self.session.act(self.action, lesion_id, vessel, scope):
            return 0
        self.status.setText(self.session.message)
        return lesion_id

    def assign_lesion(self, lesion_id: int, vessel: int, scope: str = Scope.CALCIFICATION) -> list[int]:
        return self.session.assign(lesion_id, vessel, scope)

    def undo(self) -> None:
        self.session.undo()
        self.status.setText(self.session.message)

    def _detach(self) -> None:
        self.detach()

    def on_detach(self) -> None:
        """Give the keys back (the viewer's and every layer's)."""
        import contextlib

        for target in [self.viewer, *self._keyed_layers]:
            for key in self._key_actions():
                with contextlib.suppress(KeyError, ValueError, RuntimeError):
                    target.bind_key(key, None)
        self._keyed_layers = []

    @property
    def _row_ids(self) -> list[int]:
        return [r["id"] for r in self.lesion_model.rows]

    def go_to_lesion(self, lesion_id: int) -> None:
        """Show the slice of a lesion, centred on it."""
        les = self.session.base_result.lesions
        rec = les[np.searchsorted(les["id"], lesion_id)]
        layer = self.lesion_layer or self.image_combo.layer()
        world = layer.data_to_world([rec["slice"], rec["centroid_y"], rec["centroid_x"]])
        self.viewer.dims.set_point(0, float(world[0]))
        self.viewer.camera.center = (float(world[1]), float(world[2]))
        self.status.setText(f"lesion {lesion_id}: slice {int(rec['slice'])}")

    def _status(self, text: str) -> None:
        self.status.setText(text)

    # -- calibration ------------------------------------------------------------------------------
    def calibrate(self) -> None:
        self.calibration_box.calibrate()

    def _calibrate_from(self, rod_layer, water_layer, density: float) -> str:
        image = self.image_combo.layer()
        if image is None or rod_layer is None:
            raise ValueError("pick the image and paint a rod ROI labels layer")
        hu = _ct_from_layer(image, "calibration needs a 3D CT").hu
        rod = _labels_array(rod_layer, hu.shape, "rod ROI")
        water = _labels_array(water_layer, hu.shape, "water ROI")
        self.session.set_calibration(calibrate_mass(hu, rod, density, water))
        c = self.session.calibration
        return (
            f"c = {c.factor_mg_per_mm3_hu:.3e} mg/(mm³·HU) (rod {c.rod_mean_hu:.0f} HU, "
            f"water {c.water_mean_hu:.0f} HU)"
        )

    # -- display ------------------------------------------------------------------------------
    def _refresh(self) -> None:
        s = self.session
        res = s.result
        if res is None:
            return
        self.warning.setText("\n".join(s.warnings))
        pv = res.per_vessel
        self.table.setRowCount(len(pv))
        for i, (name, d) in enumerate(pv.items()):
            vals = [name, d["agatston"], d["volume_mm3"], d["mass_mg"], d["n_lesions"]]
            for j, v in enumerate(vals):
                self.table.setItem(i, j, QTableWidgetItem(_fmt(v)))
        fit_table(self.table, 6)
        rows = s.lesion_rows()
        self.lesion_model.set_rows(rows)
        mass = "not calibrated" if res.mass_mg is None else f"{res.mass_mg:.1f} mg"
        excl = f" · {len(s.excluded)} excluded" if s.excluded else ""
        self.summary.setText(
            f"Agatston {res.agatston:.1f} · volume {res.volume_mm3:.1f} mm³ · mass {mass}{excl}\n"
            f"CAC-DRS {res.cac_drs} · category {res.category}"
        )
        if self.lesion_layer is not None:
            # unassigned lesions take the colormap's default colour: at 2,000 lesions only the
            # assigned and excluded ones are listed, and nothing is rebuilt when none changed
            colors = {
                r["id"]: _vessel_color(v)
                for r, v in zip(rows, s.vessels().tolist(), strict=True)
                if v != 0
            }
            colors.update({r["id"]: EXCLUDED_COLOR for r in rows if r["excluded"]})
            if colors != self._shown_colors or self.lesion_layer.colormap is None:
                self._shown_colors = colors
                self.lesion_layer.colormap = label_colormap(colors, default=VESSEL_COLORS[0])

    # -- report ---------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        return self.session.to_dict(self._image_name)

    def rows(self) -> list[dict[str, Any]]:
        """The CSV row of the score shown: ``napari-plaque cac``'s (:func:`napari_plaque.api.cac`
        rows: the calcium CSV layout, then the protocol warnings)."""
        rows = self.session.result.to_rows(study=self._image_name)
        return [{**row, "warnings": " | ".join(self.session.warnings)} for row in rows]

    def export_report(self, json_path: str | Path, csv_path: str | Path | None = None) -> None:
        """Write the JSON report and the one-row CSV (the CLI's layout), atomically."""
        rep = self.report()
        rows = self.rows()
        write_json(json_path, rep)
        write_csv(Path(json_path).with_suffix(".csv") if csv_path is None else csv_path, rows)

    def _export_dialog(self) -> None:
        def write(path: str) -> str:
            self.export_report(path)
            return f"saved {path} and {Path(path).with_suffix('.csv')}"

        self.save_with_dialog("Export CAC report", "JSON (*.json)", write)
