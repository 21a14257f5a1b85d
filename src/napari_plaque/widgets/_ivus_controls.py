"""The arc annotator's controls: choices, edit/file/prediction buttons and status lines."""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..ivus.annotator import DEFAULT_N_ALINES
from ..ivus.arcs import DEFAULT_CLASSES
from ..ivus.measure import pullback_summary

ERROR_STYLE = "color: #ff5050; font-weight: bold"


def _grid(buttons: list[list[QPushButton]]) -> QGridLayout:
    g = QGridLayout()
    g.setContentsMargins(0, 0, 0, 0)
    for r, row in enumerate(buttons):
        for c, b in enumerate(row):
            g.addWidget(b, r, c)
    return g


class AnnotatorControls(QWidget):
    """Form, buttons and status lines of the arc annotator (no logic: the dock connects them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        self.layer_combo = QComboBox()
        form.addRow("pullback", self.layer_combo)
        self.class_combo = QComboBox()
        self.class_combo.addItems(list(DEFAULT_CLASSES))
        form.addRow("class", self.class_combo)
        self.n_alines = QSpinBox()
        self.n_alines.setRange(8, 4096)
        self.n_alines.setValue(DEFAULT_N_ALINES)
        form.addRow("A-lines / frame", self.n_alines)
        self.center_combo = QComboBox()
        self.center_combo.addItems(["catheter", "lumen (estimated)"])
        form.addRow("centre", self.center_combo)
        self.draw_check = QCheckBox("Draw arcs (press, drag round the centre, release)")
        self.draw_check.setChecked(True)
        form.addRow(self.draw_check)
        lay.addLayout(form)

        def btn(text: str, tip: str = "") -> QPushButton:
            b = QPushButton(text)
            b.setToolTip(tip)
            return b

        self.undo_btn = btn("Undo", "Control-Z")
        self.redo_btn = btn("Redo", "Control-Shift-Z")
        self.copy_btn = btn("Copy previous frame", "Alt-V")
        self.clear_btn = btn("Clear frame")
        self.load_btn = btn("Load arcs...")
        self.saveas_btn = btn("Save as...", "save the arcs to another file (autosave goes there)")
        self.merge_btn = btn("Reload and merge", "merge the arcs someone else saved, then save")
        self.merge_btn.setVisible(False)
        lay.addLayout(
            _grid(
                [
                    [self.undo_btn, self.redo_btn, self.copy_btn],
                    [self.clear_btn, self.load_btn, self.saveas_btn],
                ]
            )
        )
        lay.addWidget(self.merge_btn)
        self.save_label = QLabel("no pullback")
        self.save_label.setWordWrap(True)
        lay.addWidget(self.save_label)
        self.stats_label = QLabel("")
        self.stats_label.setWordWrap(True)
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.stats_label)
        self.status_label = QLabel("")
        lay.addWidget(self.status_label)

        self.model_btn = btn("Predict with model...", "an SVM (.npz) or deep A-line model (.pt)")
        self.accept_btn = btn("Accept frame")
        self.reject_btn = btn("Reject frame")
        self.accept_all_btn = btn("Accept all")
        lay.addLayout(
            _grid([[self.model_btn, self.accept_all_btn], [self.accept_btn, self.reject_btn]])
        )
        self.pred_label = QLabel("")
        self.pred_label.setWordWrap(True)
        lay.addWidget(self.pred_label)
        # fixed heights: a status line that grows or shrinks while scrolling would resize the
        # views below it, and a resized figure is redrawn in full
        for label, lines in (
            (self.save_label, 2),
            (self.stats_label, 5),
            (self.status_label, 1),
            (self.pred_label, 2),
        ):
            label.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 4)

    def show_save_state(self, message: str, ok: bool) -> None:
        """Where the arcs were saved, or (in red) why they were not; offers reload-and-merge."""
        self.save_label.setText(message)
        self.save_label.setStyleSheet("" if ok else ERROR_STYLE)
        self.merge_btn.setVisible((not ok) and "Reload and merge" in message)

    def show_stats(self, frame: int, stats: dict[str, dict[str, Any]], pullback: Any) -> None:
        """The current frame's arcs and the pullback summary (ivus.measure.pullback_summary)."""
        ca, att = stats["calcium"], stats["attenuation"]
        s = pullback_summary(ca, att)
        assumed = " (rate assumed)" if "pullback_rate_mm_s" in pullback.assumed else ""
        pos = frame * pullback.mm_per_frame
        self.stats_label.setText(
            f"frame {frame} · {pos:.2f} mm{assumed}: calcium {ca['arc_deg'][frame]:.0f}°, "
            f"attenuation {att['arc_deg'][frame]:.0f}°\n"
            f"ICS {s['ics']:.1f} · max arc {s['max_arc_deg']:.0f}° · calcium length "
            f"{s['calcium_length_mm']:.1f} mm\n"
            f">180° over >5 mm: {'yes' if s['calcium_arc_gt180_over_5mm'] else 'no'} · "
            f"attenuated: max {s['attenuation_max_arc_deg']:.0f}°, "
            f"{s['attenuation_length_mm']:.1f} mm"
        )
