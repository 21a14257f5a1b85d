"""Mass calibration box of the calcium scoring dock: a painted rod ROI of known density."""

from __future__ import annotations

import functools
from collections.abc import Callable

from qtpy.QtWidgets import QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QPushButton

from ..ccta import CALCIUM_DEFAULTS
from ._dock import LayerKind, LayerPicker


class CalibrationBox(QGroupBox):
    """Rod ROI, rod density and optional water ROI; *Calibrate* hands them to ``calibrate_from``
    (which returns a description of the calibration or raises ValueError). ``picker`` makes
    the layer pickers (a dock's :meth:`~._dock.DockBase.layer_picker`)."""

    def __init__(
        self,
        viewer,
        calibrate_from: Callable[..., str],
        status: Callable[[str], None],
        picker: Callable[..., LayerPicker] | None = None,
    ) -> None:
        super().__init__("Mass calibration")
        self._calibrate_from, self._status = calibrate_from, status
        form = QFormLayout(self)
        # the dock's picker factory (DockBase.layer_picker: the dock owns the connections)
        if picker is None:
            picker = functools.partial(LayerPicker, viewer)
        self.rod_combo = picker(LayerKind.LABELS, optional=True)
        self.water_combo = picker(LayerKind.LABELS, optional=True)
        self.rod_density = QDoubleSpinBox()
        self.rod_density.setRange(1.0, 3000.0)
        self.rod_density.setValue(CALCIUM_DEFAULTS["rod_density_mg_cm3"])
        self.calibrate_button = QPushButton("Calibrate from rod ROI")
        self.calibrate_button.clicked.connect(self.calibrate)
        self.calibration_label = QLabel("mass: not calibrated")
        self.calibration_label.setWordWrap(True)
        form.addRow("rod ROI (paint it)", self.rod_combo)
        form.addRow("rod mg HA/cm³", self.rod_density)
        form.addRow("water ROI", self.water_combo)
        form.addRow(self.calibrate_button)
        form.addRow(self.calibration_label)

    def calibrate(self) -> None:
        try:
            text = self._calibrate_from(
                self.rod_combo.layer(), self.water_combo.layer(), float(self.rod_density.value())
            )
        except ValueError as exc:
            self._status(f"error: {exc}")
            return
        self.calibration_label.setText(text)
