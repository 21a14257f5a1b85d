"""Vessel analysis dock: a thin view over :class:`napari_plaque.ccta.vessel_session.VesselSession`.

Pick the CT layer and a Points layer (ordered points, ostium first) or load a centreline, name
the vessel and Compute (off the main thread, progress + Cancel). Each vessel gets a straightened
CPR image layer (mm, beside the CT), a centreline layer and its plaque ROI (labels on the CT
grid, for the composition / CAC / QC widgets). The dock shows the cross-section at the cursor
with lumen (red) and wall (yellow) contours: a click pushes the chosen contour to the clicked
point (Undo / Redo), the area profile along s (a click moves the cross-section and the 3D
cursor there), and the lesion table (a row click jumps to the lesion). CSV / JSON export.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..ccta.centreline import CENTRELINE_DEFAULTS, Centreline
from ..ccta.vessel import ANALYSE_STEPS
from ..ccta.vessel_session import VESSEL_CHOICES, VesselSession, iter_vessel_job
from ..layers import volume_from_layer
from ._common import fit_scroll_width, hrow, refill_combo, scrolling_dock
from ._dock import DockBase, LayerKind
from ._table import RowTableModel, RowTableView
from ._vessel_views import VesselViews

#: the dock's own layers, never offered as its inputs
_OWN_POINTS = (" centreline", " section")
_OWN_LABELS = " plaque ROI"


def _ct_candidate(layer) -> bool:
    return layer.ndim == 3 and not layer.rgb


def _centreline_source(layer) -> bool:
    """Points a user placed, or a lumen / vessel label map (not this dock's own layers)."""
    import napari.layers

    own = _OWN_POINTS if isinstance(layer, napari.layers.Points) else (_OWN_LABELS,)
    return not layer.name.endswith(own)


def _f(nd: int):
    """A cell formatter with ``nd`` decimals ('' for unknown)."""
    return lambda v: "" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


#: the lesion table: (row key, header with unit, formatter at the measurement's precision)
TABLE_FIELDS = (
    ("vessel", "vessel", str), ("index", "#", str),
    ("start_mm", "start (mm)", _f(1)), ("end_mm", "end (mm)", _f(1)),
    ("length_mm", "length (mm)", _f(1)), ("mla_mm2", "MLA (mm²)", _f(2)),
    ("mld_mm", "MLD (mm)", _f(2)), ("diameter_stenosis_pct", "diameter stenosis (%)", _f(0)),
    ("area_stenosis_pct", "area stenosis (%)", _f(0)), ("remodeling_index", "remodeling index",
                                                        _f(2)),
    ("plaque_volume_mm3", "plaque (mm³)", _f(1)), ("lipid_pct", "lipid (%)", _f(0)),
    ("fibrous_pct", "fibrous (%)", _f(0)), ("calcium_pct", "calcium (%)", _f(0)),
    ("plaque_burden_pct", "burden (%)", _f(0)),
)  # fmt: skip


class VesselAnalysisWidget(DockBase):
    """The "Vessel analysis" dock (see the module docstring)."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.session = VesselSession()
        self._loaded: Centreline | None = None
        self._ct_layer_name: str | None = None
        # everything scrolls inside the dock: its minimum height stays small, so it fits a
        # 1080 px screen beside another dock with the dims slider still visible
        self.scroll, inner = scrolling_dock(self, 360)
        lay = QVBoxLayout(inner)
        form = QFormLayout()
        self.ct_combo = self.layer_picker(LayerKind.IMAGE, where=_ct_candidate, selection=True)
        # a lumen / vessel label map (e.g. a model's output) gives the centreline by skeleton
        self.points_combo = self.layer_picker(LayerKind.CENTRELINE, where=_centreline_source)
        self.name_combo = QComboBox()
        self.name_combo.setEditable(True)
        self.name_combo.addItems(list(VESSEL_CHOICES))
        self.name_combo.setCurrentText("LAD")
        self.step = QDoubleSpinBox()
        self.step.setRange(0.1, 5.0)
        self.step.setSingleStep(0.1)
        self.step.setValue(CENTRELINE_DEFAULTS["step_mm"])
        self.step.setSuffix(" mm")
        form.addRow("CT", self.ct_combo)
        form.addRow("points / labels", self.points_combo)
        form.addRow("vessel name", self.name_combo)
        form.addRow("step", self.step)
        lay.addLayout(form)
        self.compute_btn, _ = self.run_buttons("Compute", self.compute)
        self.load_btn = QPushButton("Load centreline…")
        self.save_btn = QPushButton("Save centreline…")
        lay.addLayout(hrow(self.compute_btn, self.cancel_btn, self.load_btn, self.save_btn))
        self.vessel_combo = QComboBox()
        self.edit_lumen = QRadioButton("edit lumen")
        self.edit_lumen.setChecked(True)
        self.edit_wall = QRadioButton("edit wall")
        self.undo_btn = QPushButton("Undo")
        self.redo_btn = QPushButton("Redo")
        lay.addLayout(hrow("vessel", (self.vessel_combo, 1), self.edit_lumen, self.edit_wall,
                           self.undo_btn, self.redo_btn))  # fmt: skip
        self.prox_ref = QLineEdit()
        self.prox_ref.setPlaceholderText("proximal auto, e.g. 2-7")
        self.dist_ref = QLineEdit()
        self.dist_ref.setPlaceholderText("distal auto")
        self.ref_btn = QPushButton("Apply")
        lay.addLayout(hrow("references (mm)", self.prox_ref, self.dist_ref, self.ref_btn))
        self.views = VesselViews(self._on_section_click, self.session.go_to_s)
        lay.addWidget(self.views, 1)
        self.table_model = RowTableModel(TABLE_FIELDS)
        self.table = RowTableView(self.table_model, min_rows=3)
        # napari's dark theme paints the alternate rows white under white text (rows vanish)
        self.table.setAlternatingRowColors(False)
        lay.addWidget(self.table)
        self.csv_btn = QPushButton("Export CSV…")
        self.json_btn = QPushButton("Export JSON…")
        self.roi_btn = QPushButton("Update ROI layer")
        lay.addLayout(hrow(self.csv_btn, self.json_btn, self.roi_btn))
        self.status = QLabel("Place points (ostium first) in a Points layer, then Compute.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)

        self.load_btn.clicked.connect(lambda: self.load_centreline())
        self.save_btn.clicked.connect(lambda: self.save_centreline())
        self.undo_btn.clicked.connect(self.session.undo)
        self.redo_btn.clicked.connect(self.session.redo)
        self.csv_btn.clicked.connect(lambda: self.export_csv())
        self.json_btn.clicked.connect(lambda: self.export_json())
        self.roi_btn.clicked.connect(self.update_roi_layer)
        self.ref_btn.clicked.connect(self.apply_references)
        self.vessel_combo.currentTextChanged.connect(self.session.set_current)
        self.table.clicked.connect(lambda index: self._on_row(index.row(), index.column()))
        self.session.vessels_changed.connect(self._on_vessels)
        self.session.result_changed.connect(self._on_result)
        self.session.section_changed.connect(self._on_section)
        self._update_buttons()
        fit_scroll_width(self.scroll)

    # ---- layers
    def _ct(self):
        name = self.ct_combo.currentText()
        if name not in self.viewer.layers:
            raise ValueError("choose a CT image layer")
        ct = volume_from_layer(self.viewer.layers[name])
        if name != self._ct_layer_name:
            self._ct_layer_name = name
            self.session.set_ct(ct)
        return self.session.ct

    # ---- compute
    def compute(self) -> None:
        """Refine the points (or take the loaded centreline) and analyse, in a worker."""
        import napari.layers

        try:
            ct = self._ct()
            name = self.name_combo.currentText().strip() or "vessel"
            pts, cl, labels = None, None, None
            if self._loaded is not None:
                cl = self._loaded
            else:
                pname = self.points_combo.currentText()
                if pname not in self.viewer.layers:
                    raise ValueError("add a Points layer with the centreline points (ostium "
                                     "first), or load a centreline")
                layer = self.viewer.layers[pname]
                if isinstance(layer, napari.layers.Labels):
                    labels = np.asarray(layer.data)
                    if labels.shape != ct.shape:
                        raise ValueError(f"label map {pname!r} {labels.shape} is not on the CT "
                                         f"grid {ct.shape}")
                else:
                    pts = np.asarray([layer.data_to_world(p) for p in layer.data], float)
        except ValueError as exc:
            self.status.setText(f"⚠ {exc}")
            return
        self.status.setText(f"computing {name}…")
        self.start(
            iter_vessel_job, ct, name, points_mm=pts, centreline=cl, labels=labels,
            step_mm=float(self.step.value()),
            total=ANALYSE_STEPS + (0 if pts is None else max(len(pts) - 1, 1) + 1),
            desc=f"vessel {name}", on_done=self._on_done,
        )

    def _on_aborted(self) -> None:
        self.status.setText("cancelled: nothing changed")

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"⚠ {exc}")

    def _on_done(self, res) -> None:
        self._loaded = None
        self.session.add(res)
        self._add_cpr_layers(res)
        self.update_roi_layer()
        n = len(res.lesions)
        warn = ("  ⚠ " + "; ".join(res.warnings)) if res.warnings else ""
        on = f" on {self._ct_layer_name}" if self._ct_layer_name else ""  # the image it came from
        self.status.setText(f"{res.name}{on}: {res.length_mm:.1f} mm, {len(res.centreline)} "
                            f"cross-sections, {n} lesion{'s' if n != 1 else ''}{warn}")

    def _add_cpr_layers(self, res) -> None:
        from ..ccta.reformat import straightened_cpr

        ct = self.session.ct
        # the two orthogonal longitudinal planes (t-u, t-v), beside the CT in the (y, x) plane,
        # rows along s; one pair per vessel
        k = list(self.session.results).index(res.name)
        new = f"{res.name} CPR" not in self.viewer.layers
        cprs = []
        for j, cpr in enumerate(straightened_cpr(ct, res.centreline)):
            width = cpr.image.shape[1] * cpr.pixel_mm
            x0 = ct.origin_mm[2] + ct.shape[2] * ct.spacing_mm[2] + 5.0 + (2 * k + j) * (
                width + 2.0)
            name = f"{res.name} CPR" + ("" if j == 0 else " (v plane)")
            cprs.append(self._set_layer(name, cpr.image, "image", scale=cpr.scale,
                                        translate=(ct.origin_mm[1], x0), colormap="gray",
                                        contrast_limits=(-300, 700),
                                        metadata={"napari_plaque": "cpr", "plane": cpr.plane}))
        self._set_layer(f"{res.name} centreline", res.centreline.points_mm, "points", size=0.4,
                        face_color="cyan")
        self._set_layer(f"{res.name} section", res.centreline.points_mm[[self.session.section]],
                        "points", size=1.5, face_color="magenta")
        if new:  # frame the new CPRs with the CT they lie beside (they open off-screen otherwise)
            frame = cprs + [ly for ly in self.viewer.layers if ly.name == self._ct_layer_name]
            with contextlib.suppress(Exception):  # napari without fit_to_view(layers=)
                self.viewer.fit_to_view(layers=frame)

    def _set_layer(self, name: str, data, kind: str, **kw):
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        add = getattr(self.viewer, f"add_{kind}")
        return add(data, name=name, units="mm", **kw)  # every napari-plaque layer is in mm

    def update_roi_layer(self) -> None:
        """Rasterise the current vessel's lesion plaque into a labels layer on the CT grid."""
        from ..ccta.vessel_roi import rasterize

        res = self.session.result
        if res is None:
            return
        ct = self.session.ct
        plaque, _ = rasterize(res, ct)
        self._set_layer(f"{res.name} plaque ROI", plaque, "labels", scale=ct.spacing_mm,
                        translate=ct.origin_mm, opacity=0.5)

    def apply_references(self) -> None:
        """Use the typed reference segments ("start-end" mm; empty = automatic)."""
        res = self.session.result
        if res is None:
            return
        try:
            segs = []
            for edit in (self.prox_ref, self.dist_ref):
                txt = edit.text().strip()
                if not txt:
                    segs.append(None)
                    continue
                a, b = txt.replace(",", "-").split("-", 1)
                segs.append((float(a), float(b)))
            res.set_references(*segs)
        except ValueError as exc:
            self.status.setText(f"⚠ references: {exc} (write start-end in mm, e.g. 2-7)")
            return
        self.session.result_changed.emit(res.name)
        self.status.setText("references: " + ", ".join(
            f"{k} {a:.1f}-{b:.1f} mm" for k, (a, b) in res.reference_override.items())
            if res.reference_override else "references: automatic")

    # ---- session events
    def _on_vessels(self) -> None:
        names = list(self.session.results)
        refill_combo(self.vessel_combo, names)
        if self.session.current:
            self.vessel_combo.blockSignals(True)
            self.vessel_combo.setCurrentText(self.session.current)
            self.vessel_combo.blockSignals(False)
        res = self.session.result
        if res is None:
            self.views.clear()
        else:
            self.views.draw_profile(res)
        self._fill_table()
        self._update_buttons()

    def _on_result(self, name: str) -> None:
        if name == self.session.current:
            self.views.draw_profile(self.session.result)
            self.views.draw_section(self.session.ct, self.session.result, self.session.section)
        self._fill_table()
        self._update_buttons()

    def _on_section(self, i: int) -> None:
        res = self.session.result
        if res is None:
            return
        self.views.draw_section(self.session.ct, res, i)
        p = res.centreline.points_mm[i]
        name = f"{res.name} section"
        if name in self.viewer.layers:
            self.viewer.layers[name].data = p[None]
        dims = self.viewer.dims
        if dims.ndim >= 3:  # move the 3D cursor (slice) to the cross-section's centre
            for ax in range(3):
                dims.set_point(dims.ndim - 3 + ax, float(p[ax]))

    def _on_section_click(self, theta: float, radius: float) -> None:
        which = "lumen" if self.edit_lumen.isChecked() else "vessel"
        self.session.push_contour(which, theta, radius)

    def _on_row(self, row: int, col: int = 0) -> None:
        rows = self.session.lesion_rows()
        if 0 <= row < len(rows):
            self.session.set_current(rows[row]["vessel"])
            self.session.go_to_s(rows[row]["s_mla_mm"])

    def _fill_table(self) -> None:
        """Only the rows that changed are redrawn (an edit changes one lesion's row)."""
        self.table_model.set_rows(self.session.lesion_rows())

    def _update_buttons(self) -> None:
        has = self.session.result is not None
        self.undo_btn.setEnabled(self.session.can_undo())
        self.redo_btn.setEnabled(self.session.can_redo())
        for b in (self.save_btn, self.csv_btn, self.json_btn, self.roi_btn, self.ref_btn):
            b.setEnabled(has)

    # ---- files
    def _ask(self, title: str, filt: str, save: bool) -> str | None:
        f = (QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName)(
            self, title, "", filt)[0]
        return f or None

    def load_centreline(self, path: str | None = None) -> None:
        """Load a centreline JSON (checked against the CT) or a Points CSV as points."""
        from ..ccta.centreline import check_source, load_centreline_any

        path = path or self._ask("Load centreline", "Centreline (*.json *.csv)", False)
        if not path:
            return
        try:
            cl, pts = load_centreline_any(path)
            if cl is not None:
                check_source(cl, self._ct(), f"{Path(path).name}: centreline")
                self._loaded = cl
                self.name_combo.setCurrentText(cl.name)
                self.status.setText(f"loaded centreline {cl.name} ({cl.length_mm:.1f} mm): "
                                    "Compute to analyse it")
            else:
                self._set_layer(f"{Path(path).stem} points", pts, "points", size=1.0,
                                face_color="orange")
                self.points_combo.setCurrentText(f"{Path(path).stem} points")
                self.status.setText(f"loaded {len(pts)} points: Compute to refine them")
        except ValueError as exc:
            self.status.setText(f"⚠ {exc}")

    def save_centreline(self, path: str | None = None) -> None:
        res = self.session.result
        path = path or self._ask("Save centreline", "Centreline (*.json)", True)
        if res is not None and path:
            res.centreline.save(path)
            self.status.setText(f"saved {Path(path).name}")

    def export_csv(self, path: str | None = None) -> None:
        path = path or self._ask("Export lesions", "CSV (*.csv)", True)
        if path:
            self.session.export_csv(path)
            self.status.setText(f"wrote {Path(path).name}")

    def export_json(self, path: str | None = None) -> None:
        path = path or self._ask("Export vessel report", "JSON (*.json)", True)
        if path:
            self.session.export_json(path)
            self.status.setText(f"wrote {Path(path).name}")

