"""The arc annotator's controls: choices, edit/file buttons, status lines, the readers panel.

No logic here: the dock (:mod:`napari_plaque.widgets.ivus`) connects the widgets to the
Qt-free models (:class:`~napari_plaque.ivus.annotator.ArcAnnotator`,
:mod:`napari_plaque.ivus.readers`).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..ivus.arcs import DEFAULT_CLASSES, CenterMode
from ..ivus.measure import pullback_summary
from ..ivus.polar import N_ALINES

ERROR_STYLE = "color: #ff5050; font-weight: bold"
NOTE_STYLE = "color: #ffb000"


def _grid(buttons: list[list[QPushButton]]) -> QGridLayout:
    g = QGridLayout()
    g.setContentsMargins(0, 0, 0, 0)
    for r, row in enumerate(buttons):
        for c, b in enumerate(row):
            if b is not None:
                g.addWidget(b, r, c)
    return g


def button(text: str, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    return b


def fixed_lines(label: QLabel, lines: int) -> QLabel:
    """A status line of a fixed height: a label that grows while scrolling would resize the
    views below it, and a resized figure is redrawn in full."""
    label.setWordWrap(True)
    label.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 4)
    return label


class AnnotatorControls(QWidget):
    """Form, buttons and status lines of the arc annotator (no logic: the dock connects them)."""

    def __init__(self, parent: QWidget | None = None, layer_combo: QComboBox | None = None) -> None:
        """``layer_combo``: the pullback picker (the dock's :class:`._dock.LayerPicker`)."""
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        self.layer_combo = layer_combo if layer_combo is not None else QComboBox()
        form.addRow("pullback", self.layer_combo)
        self.layer_note = QLabel("")
        self.layer_note.setWordWrap(True)
        self.layer_note.setStyleSheet(NOTE_STYLE)
        self.layer_note.setVisible(False)
        form.addRow(self.layer_note)
        self.reader_edit = QLineEdit()
        self.reader_edit.setPlaceholderText("your name: each reader's arcs are kept apart")
        self.reader_edit.setToolTip(
            "asked once and remembered; your arcs are saved in <pullback>.arcs.<name>.json "
            "and other readers' arcs stay hidden (blinded reading)"
        )
        form.addRow("reader", self.reader_edit)
        self.class_combo = QComboBox()
        self.class_combo.addItems(list(DEFAULT_CLASSES))
        form.addRow("class", self.class_combo)
        self.n_alines = QSpinBox()
        self.n_alines.setRange(8, 4096)
        self.n_alines.setValue(N_ALINES)
        form.addRow("A-lines / frame", self.n_alines)
        self.center_combo = QComboBox()
        for mode, text in ((CenterMode.CATHETER, "catheter"),
                           (CenterMode.LUMEN, "lumen (estimated)")):
            self.center_combo.addItem(text, mode)  # the mode travels as itemData
        form.addRow("centre", self.center_combo)
        self.draw_check = QCheckBox("Draw arcs (press, drag round the centre, release)")
        self.draw_check.setChecked(True)
        form.addRow(self.draw_check)
        lay.addLayout(form)

        self.undo_btn = button("Undo", "Control-Z")
        self.redo_btn = button("Redo", "Control-Shift-Z")
        self.copy_btn = button("Copy previous frame", "Alt-V")
        self.clear_btn = button("Clear frame")
        self.load_btn = button("Load arcs...")
        self.saveas_btn = button("Save as...", "save the arcs to another file (autosave goes there)")
        self.merge_btn = button("Reload and merge", "merge the arcs someone else saved, then save")
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
        self.save_label = fixed_lines(QLabel("no pullback"), 2)
        lay.addWidget(self.save_label)
        self.stats_label = fixed_lines(QLabel(""), 4)
        self.stats_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.stats_label)
        self.status_label = fixed_lines(QLabel(""), 1)
        lay.addWidget(self.status_label)

    def show_save_state(self, message: str, ok: bool) -> None:
        """Where the arcs were saved, or (in red) why they were not; offers reload-and-merge."""
        self.save_label.setText(message)
        self.save_label.setStyleSheet("" if ok else ERROR_STYLE)
        self.merge_btn.setVisible((not ok) and "Reload and merge" in message)

    def show_stats(
        self, frame: int, stats: dict[str, dict[str, Any]], pullback: Any,
        n_arcs: int | None = None,
    ) -> None:
        """The current frame's arcs and the pullback summary (ivus.measure.pullback_summary);
        ``n_arcs == 0``: "nothing annotated yet" instead of an ICS of 0 (no calcium found and
        nothing looked at are not the same)."""
        ca, att = stats["calcium"], stats["attenuation"]
        assumed = " (rate assumed)" if "pullback_rate_mm_s" in pullback.assumed else ""
        pos = frame * pullback.mm_per_frame
        if n_arcs == 0:
            self.stats_label.setText(
                f"frame {frame} · {pos:.2f} mm{assumed}\n"
                "nothing annotated yet (ICS and arcs appear once frames hold arcs)"
            )
            return
        s = pullback_summary(ca, att)
        self.stats_label.setText(
            f"frame {frame} · {pos:.2f} mm{assumed}: calcium {ca['arc_deg'][frame]:.0f}°, "
            f"attenuation {att['arc_deg'][frame]:.0f}°\n"
            f"ICS {s['ics']:.1f} · max arc {s['max_arc_deg']:.0f}° · calcium length "
            f"{s['calcium_length_mm']:.1f} mm\n"
            f">180° over >5 mm: {'yes' if s['calcium_arc_gt180_over_5mm'] else 'no'} · "
            f"attenuated: max {s['attenuation_max_arc_deg']:.0f}°, "
            f"{s['attenuation_length_mm']:.1f} mm"
        )


class ReadersPanel(QWidget):
    """Other readers (hidden by default), inter-reader figures and the adjudication view."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.others_label = fixed_lines(QLabel("no other reader"), 2)
        lay.addWidget(self.others_label)
        row = QHBoxLayout()
        self.show_others = QCheckBox("Show other readers (unblinds)")
        self.show_others.setChecked(False)
        row.addWidget(self.show_others)
        self.rescan_btn = button("Rescan", "look again for readers' files beside the pullback")
        row.addWidget(self.rescan_btn)
        lay.addLayout(row)
        self.figures_btn = button(
            "Inter-reader figures",
            "ICS and max arc per reader, mean ICS, Cohen's kappa per pair, Fleiss' kappa (3+)",
        )
        lay.addWidget(self.figures_btn)
        self.figures_label = QLabel("")
        self.figures_label.setWordWrap(True)
        self.figures_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.figures_label)

        form = QFormLayout()
        self.reader_a = QComboBox()
        self.reader_b = QComboBox()
        pick = QHBoxLayout()
        pick.addWidget(self.reader_a)
        pick.addWidget(QLabel("vs"))
        pick.addWidget(self.reader_b)
        form.addRow("adjudicate", pick)
        lay.addLayout(form)
        self.adjudicate_btn = button(
            "Start adjudication", "step through the frames where the two readers disagree"
        )
        lay.addWidget(self.adjudicate_btn)
        self.take_a_btn = button("Take A", "this frame: reader A's arcs (author kept)")
        self.take_b_btn = button("Take B", "this frame: reader B's arcs (author kept)")
        self.edit_btn = button(
            "Edit: use my arcs", "this frame: the arcs you drew on it (you are the author)"
        )
        self.next_dis_btn = button("Next disagreement", "Alt-K")
        self.undo_dec_btn = button("Undo decision")
        self.save_adj_btn = button("Save adjudicated", "<pullback>.arcs.adjudicated.json")
        lay.addLayout(
            _grid(
                [
                    [self.take_a_btn, self.take_b_btn, self.edit_btn],
                    [self.next_dis_btn, self.undo_dec_btn, self.save_adj_btn],
                ]
            )
        )
        self.adj_label = fixed_lines(QLabel(""), 3)
        lay.addWidget(self.adj_label)
        self.set_adjudicating(False)

    def set_adjudicating(self, on: bool) -> None:
        for b in (
            self.take_a_btn,
            self.take_b_btn,
            self.edit_btn,
            self.next_dis_btn,
            self.undo_dec_btn,
            self.save_adj_btn,
        ):
            b.setEnabled(on)

    def set_readers(self, names: list[str]) -> None:
        """The readers to choose from (this reader first); A and B default to two different
        readers."""
        a_keep, b_keep = self.reader_a.currentText(), self.reader_b.currentText()
        a = a_keep if a_keep in names else (names[0] if names else "")
        rest = [n for n in names if n != a]
        b = b_keep if b_keep in rest else (rest[0] if rest else a)
        for combo, pick in ((self.reader_a, a), (self.reader_b, b)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentText(pick)
            combo.blockSignals(False)
