"""CT-IVUS fusion dock: the IVUS frame and the CT cross-section at the matched s, linked.

Inputs: a CT image layer and a centreline file (the vessel analysis is run here, off the main
thread, or its lesions are read from a ``vessel --json`` file), an IVUS pullback layer and its
arcs file. Landmarks: move the IVUS frame (dims slider) and the CT s (spin box) to the same side
branch, then "Add landmark"; with one landmark the views are linked (moving either moves the
other); untick "linked" to move one view alone and add a second one, which calibrates the
speed. The joined lesion table jumps to a lesion on click.
State lives in :class:`napari_plaque.fusion.model.FusionSession`; this dock binds and draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..fusion.mapping import DEFAULTS, DIRECTIONS
from ..fusion.model import FusionSession
from ._common import fit_scroll_width, hrow, scrolling_dock
from ._dock import DockBase, LayerKind
from ._fusion_views import FusionViews, cross_section_fn
from ._table import RowTableModel, RowTableView

#: the joined lesion table: (row key, header with unit)
TABLE_FIELDS = (
    ("index", "#"),
    ("s", "s (mm)"),
    ("frames", "IVUS frames"),
    ("ca_max", "calcium max arc (°)"),
    ("ics", "ICS"),
    ("att_max", "attenuation max arc (°)"),
    ("att_len", "attenuation length (mm)"),
    ("attenuated", "attenuated"),
)
TABLE_COLUMNS = tuple(h for _, h in TABLE_FIELDS)


def _num(v: Any, fmt: str = ".0f") -> str:
    return "-" if v is None else format(v, fmt)


def _vessel_job(ct, centreline):
    """The vessel analysis ``napari-plaque vessel`` runs, on the dock's CT and centreline (at
    the centreline's own step: the contours are drawn at its samples)."""
    from .. import api

    return api.vessel(ct, centreline, step_mm=centreline.step_mm)


def _not_tagged(other: str):
    """A 3D image layer that is not tagged as the ``other`` kind (``ct`` / ``ivus``)."""

    def where(layer) -> bool:
        return layer.ndim == 3 and (layer.metadata or {}).get("napari_plaque") != other

    return where


class FusionWidget(DockBase):
    """Linked IVUS frame <-> CT cross-section, landmarks and the joined lesion table."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.session = FusionSession()
        self.views = FusionViews(napari_viewer)
        self.centreline = None
        self.ct = None
        self._ivus_layer = None
        self._busy = False
        self._ct_hidden = False
        self.vessel_result = None  # the vessel analysis run here (its contours are drawn)
        self._analysed = None  # the centreline it was run on
        self._build()
        self._connect()
        # the layers the pickers chose on opening
        for combo, handler in ((self.ct_combo, self._on_ct_layer),
                               (self.ivus_combo, self._on_ivus_layer)):  # fmt: skip
            if combo.currentText():
                handler(combo.currentText())

    # -- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        # the controls scroll inside the dock, which then fits a 1080 px screen beside another
        self.scroll, inner = scrolling_dock(self, 300)
        lay = QVBoxLayout(inner)
        src = QGroupBox("Inputs")
        form = QFormLayout(src)
        # the layer of each kind on screen (or selected), not the first added; an image tagged
        # as the other kind is never offered
        self.ct_combo = self.layer_picker(LayerKind.IMAGE, where=_not_tagged("ivus"),
                                          selection=True)  # fmt: skip
        self.ivus_combo = self.layer_picker(LayerKind.PULLBACK, where=_not_tagged("ct"),
                                            selection=True)  # fmt: skip
        form.addRow("CT", self.ct_combo)
        form.addRow("IVUS", self.ivus_combo)
        self.centreline_btn = QPushButton("Centreline...")
        self.analyse_btn, _ = self.run_buttons("Analyse vessel", self.analyse_vessel)
        self.lesions_btn = QPushButton("Lesions JSON...")
        self.arcs_btn = QPushButton("Arcs...")
        form.addRow(hrow(self.centreline_btn, self.analyse_btn, self.cancel_btn, self.lesions_btn,
                         self.arcs_btn))  # fmt: skip
        lay.addWidget(src)

        reg = QGroupBox("Registration")
        rf = QFormLayout(reg)
        self.frame_spin = QSpinBox()
        self.s_spin = QDoubleSpinBox()
        self.s_spin.setDecimals(2)
        self.s_spin.setSingleStep(0.5)
        self.s_spin.setSuffix(" mm")
        rf.addRow(hrow("frame", self.frame_spin, "s", self.s_spin))
        self.add_lm_btn = QPushButton("Add landmark (s, frame)")
        self.clear_lm_btn = QPushButton("Clear")
        self.link_check = QCheckBox("linked")
        self.link_check.setChecked(True)
        self.link_check.setToolTip("untick to move one view alone (to pick another landmark)")
        rf.addRow(hrow(self.add_lm_btn, self.clear_lm_btn, self.link_check))
        self.landmarks_label = QLabel("no landmark: views not linked")
        self.landmarks_label.setWordWrap(True)
        rf.addRow(self.landmarks_label)
        self.direction_combo = QComboBox()
        self.direction_combo.addItems(list(DIRECTIONS))
        self.direction_combo.setCurrentText(DEFAULTS["direction"])
        self.direction_combo.setToolTip("where the frame index grows (motorised: to the ostium)")
        self.rotation_spin = QDoubleSpinBox()
        self.rotation_spin.setRange(-360.0, 360.0)
        self.rotation_spin.setSuffix(" deg")
        self.rotation_spin.setValue(DEFAULTS["rotation_deg"])
        self.mirror_check = QCheckBox("mirror")
        rf.addRow("frames grow to / rotation",
                  hrow(self.direction_combo, self.rotation_spin, self.mirror_check))  # fmt: skip
        self.mapping_label = QLabel("")
        self.mapping_label.setWordWrap(True)
        rf.addRow(self.mapping_label)
        lay.addWidget(reg)

        self.table_model = RowTableModel(TABLE_FIELDS, fmt=str)
        self.table = RowTableView(self.table_model, min_rows=4)
        # napari's dark theme paints the alternate rows white under white text (rows vanish)
        self.table.setAlternatingRowColors(False)
        lay.addWidget(self.table)
        self.export_btn = QPushButton("Save lesions CSV...")
        lay.addWidget(self.export_btn)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        fit_scroll_width(self.scroll)

    def _connect(self) -> None:
        s = self.session
        s.position_changed.connect(self._on_position)
        s.lesions_changed.connect(self._fill_table)
        s.landmarks_changed.connect(self._show_landmarks)
        s.mapping_changed.connect(self._show_mapping)
        s.message.connect(lambda text: self.status.setText(text))
        self.links.connect(self.viewer.dims.events.current_step, self._on_dims)
        # a user's choice, or the list changing under the picker (a layer added or removed)
        for combo, handler in ((self.ivus_combo, self._on_ivus_layer),
                               (self.ct_combo, self._on_ct_layer)):  # fmt: skip
            combo.currentTextChanged.connect(handler)
            combo.picked.connect(handler)
        self.frame_spin.valueChanged.connect(self._on_frame_spin)
        self.s_spin.valueChanged.connect(self._on_s_spin)
        self.add_lm_btn.clicked.connect(lambda: self.session.add_landmark())
        self.clear_lm_btn.clicked.connect(self.session.clear_landmarks)
        self.link_check.toggled.connect(self.session.set_linked)
        self.direction_combo.currentTextChanged.connect(self._on_options)
        self.rotation_spin.valueChanged.connect(self._on_options)
        self.mirror_check.toggled.connect(self._on_options)
        self.table.clicked.connect(lambda index: self.session.go_to_lesion(index.row()))
        self.centreline_btn.clicked.connect(lambda: self._ask(self.load_centreline, "*.json"))
        self.lesions_btn.clicked.connect(lambda: self._ask(self.load_vessel_json, "*.json"))
        self.arcs_btn.clicked.connect(lambda: self._ask(self.load_arcs, "*.json"))
        self.export_btn.clicked.connect(self._export)

    def _ask(self, fn, pattern: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open", "", pattern)
        if path:
            try:
                fn(path)
            except (ValueError, OSError) as exc:
                self.status.setText(str(exc))

    # -- layers ----------------------------------------------------------------------------------
    def _on_ct_layer(self, name: str) -> None:
        from ..layers import volume_from_layer

        self.ct = volume_from_layer(self.viewer.layers[name]) if name else None
        self._update_section()

    def _on_ivus_layer(self, name: str) -> None:
        from ..layers import pullback_from_layer

        if not name or name not in self.viewer.layers:
            return
        self._ivus_layer = self.viewer.layers[name]
        pb = pullback_from_layer(self._ivus_layer)
        arcs = self.session.arcs if (self.session.arcs and self.session.arcs.n_frames == pb.n_frames) else None  # fmt: skip
        self.frame_spin.setRange(0, pb.n_frames - 1)
        self.session.set_pullback(pb, arcs)
        self._on_dims()

    # -- inputs ----------------------------------------------------------------------------------
    def load_centreline(self, path: str | Path) -> None:
        from ..ccta.centreline import Centreline

        self.centreline = Centreline.load(path)
        self.s_spin.setRange(0.0, self.centreline.length_mm)
        if self.session.centreline_length_mm is None:
            self.session.set_vessel(self.centreline.length_mm, [])
        self.status.setText(
            f"centreline {self.centreline.name}: {self.centreline.length_mm:.1f} mm"
        )
        self._update_section()

    def load_arcs(self, path: str | Path) -> None:
        from ..ivus.arcs import load_arcs

        pb = self.session.pullback
        arcs = load_arcs(path, n_frames=pb.n_frames if pb else None)
        self.session.set_arcs(arcs)
        self._draw_arcs()

    def load_vessel_json(self, path: str | Path) -> None:
        """Lesions from a ``napari-plaque vessel --json`` (or ``fuse --json``) output file."""
        from ..fusion.join import load_vessel_json

        self.set_vessel_result(*load_vessel_json(path))

    def set_vessel_result(self, length_mm: float, lesions: list[dict[str, Any]]) -> None:
        self.s_spin.setRange(0.0, float(length_mm))
        self.session.set_vessel(length_mm, lesions)
        self.status.setText(f"{len(lesions)} CT lesion(s) over {length_mm:.1f} mm")

    def analyse_vessel(self) -> None:
        """Run the vessel analysis on the CT and centreline (``napari-plaque vessel``, in a
        worker; Cancel drops its result)."""
        if self.ct is None or self.centreline is None:
            self.status.setText("choose a CT layer and load its centreline first")
            return

        ct_name, centreline = self.ct_combo.currentText(), self.centreline

        def done(res) -> None:
            self.vessel_result, self._analysed = res.analysis, centreline
            d = res.to_dict()
            self.set_vessel_result(float(d["length_mm"]), d["lesions"])
            self.status.setText(f"{self.status.text()} (vessel analysis of {ct_name})")

        self.status.setText("analysing the vessel...")
        self.start_call(_vessel_job, self.ct, centreline, total=0, desc="vessel analysis",
                        on_done=done)  # fmt: skip

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"vessel analysis failed: {exc}")

    def _on_options(self, *_: Any) -> None:
        self.session.set_option(
            direction=self.direction_combo.currentText(),
            rotation_deg=float(self.rotation_spin.value()),
            mirror=bool(self.mirror_check.isChecked()),
        )

    # -- position (the links) --------------------------------------------------------------------
    def _frame_from_dims(self) -> int | None:
        ly = self._ivus_layer
        if ly is None or ly not in self.viewer.layers:
            return None
        world = float(self.viewer.dims.point[0])
        return int(round((world - float(ly.translate[0])) / float(ly.scale[0])))

    def _on_dims(self, *_: Any) -> None:
        f = self._frame_from_dims()
        if f is not None and not self._busy and f != self.session.frame:
            self.session.set_frame(f)

    def _on_frame_spin(self, f: int) -> None:
        if not self._busy:
            self.session.set_frame(int(f))

    def _on_s_spin(self, s: float) -> None:
        if not self._busy:
            self.session.set_s(float(s))

    def _on_position(self, frame: int, s_mm: float) -> None:
        self._busy = True
        try:
            self.frame_spin.setValue(frame)
            self.s_spin.setValue(s_mm)
            ly = self._ivus_layer
            if ly is not None and ly in self.viewer.layers and self._frame_from_dims() != frame:
                self.viewer.dims.set_point(0, float(ly.translate[0]) + frame * float(ly.scale[0]))
        finally:
            self._busy = False
        self._update_section()

    # -- drawing ---------------------------------------------------------------------------------
    def _update_section(self) -> None:
        if self.ct is None or self.centreline is None or self._ivus_layer is None:
            self._draw_arcs()
            return
        s = self.session.s_mm
        try:
            img, frame = cross_section_fn()(self.ct, self.centreline, s)
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        pb = self.session.pullback
        self.views.show_section(np.asarray(img), float(frame.pixel_mm), self._ivus_layer, pb, s)
        ct_layer = self.viewer.layers[self.ct_combo.currentText()]
        if not self._ct_hidden and ct_layer.visible:
            ct_layer.visible = False  # its slices would lie under the fused views
            self._ct_hidden = True
        self._draw_arcs()

    def _draw_arcs(self) -> None:
        pb, arcs = self.session.pullback, self.session.arcs
        if pb is None or self._ivus_layer is None:
            return
        centre = arcs.center_of(self.session.frame) if arcs is not None else None
        ct_arcs = self.session.ct_arcs() if self.session.s_imaged else []
        self.views.draw_arcs(
            self._ivus_layer, pb, centre, self.session.ivus_arcs(), ct_arcs, self._contours()
        )
        if self._ivus_layer in self.viewer.layers:
            self.viewer.layers.selection.active = self._ivus_layer

    def _contours(self) -> list[tuple[str, np.ndarray]]:
        """Lumen (red) and outer wall (green) of the vessel analysis at the current s."""
        from ._fusion_views import contour_offsets

        res = self.vessel_result
        if res is None or self._analysed is not self.centreline:
            return []
        cs = res.contours
        i = self.centreline.index_at(self.session.s_mm)
        return [
            ("red", contour_offsets(cs.theta_deg, cs.r_lumen[i])),
            ("lime", contour_offsets(cs.theta_deg, cs.r_vessel[i])),
        ]

    def _show_landmarks(self, landmarks: list) -> None:
        if not landmarks:
            self.landmarks_label.setText("no landmark: views not linked")
            return
        txt = ", ".join(f"s {m.s_mm:.2f} mm = frame {m.frame:g}" for m in landmarks)
        self.landmarks_label.setText(f"landmarks: {txt}")

    def _show_mapping(self, mapping) -> None:
        if mapping is None:
            self.mapping_label.setText("")
            return
        lo, hi = (round(v, 1) + 0.0 for v in mapping.covered_s_mm)  # + 0.0: never "-0.0"
        self.mapping_label.setText(
            f"{mapping.mm_per_frame_used:.4f} mm/frame (x{mapping.scale:.3f} nominal); pullback "
            f"covers s = {lo:.1f} .. {hi:.1f} mm"
        )

    def _fill_table(self, result) -> None:
        lesions = result.lesions if result is not None else self.session.ct_lesions
        rows = []
        for i, les in enumerate(lesions):
            fr = les.get("ivus_frames")
            att = les.get("attenuated")
            rows.append({
                "index": str(i + 1),
                "s": f"{les['start_mm']:.1f}-{les['end_mm']:.1f}",
                "frames": f"{fr[0]}-{fr[1]}" if fr else "-",
                "ca_max": _num(les.get("ivus_calcium_max_arc_deg")),
                "ics": _num(les.get("ivus_ics"), ".1f"),
                "att_max": _num(les.get("ivus_attenuation_max_arc_deg")),
                "att_len": _num(les.get("ivus_attenuation_length_mm"), ".1f"),
                "attenuated": "-" if att is None else ("yes" if att else "no"),
            })  # fmt: skip
        self.table_model.set_rows(rows)

    def _export(self) -> None:
        from ..report import write_csv

        if self.session.result is None:
            self.status.setText("no joined lesions yet (add a landmark)")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save lesions", "fusion_lesions.csv", "*.csv")
        if path:
            write_csv(path, self.session.result.to_rows())
            self.status.setText(f"saved {path}")
