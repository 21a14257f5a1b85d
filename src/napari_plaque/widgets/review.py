"""Segmentation review dock: accept / reject / fix flags per case, saved at once.

A thin view over :class:`napari_plaque.qc.review.ReviewSession`. The case id defaults to the
first image layer's name; the QC dock's latest metrics (Dice, HD95 per label, or the A-line
agreement) are stored with the flag, read from the ``qc_metrics`` metadata the QC dock puts on
the automated labels layer (no reference to the other dock is needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..qc.review import FLAGS, ReviewSession
from ._dock import DockBase, LayerKind, layers_of_kind


def latest_qc_metrics(viewer) -> dict[str, Any] | None:
    """The ``qc_metrics`` summary on the most recently added layer that has one."""
    for layer in reversed(list(viewer.layers)):
        metrics = (getattr(layer, "metadata", None) or {}).get("qc_metrics")
        if metrics:
            return metrics
    return None


class ReviewWidget(DockBase):
    """Flag cases as accept / reject / fix in a review file (restored when reopened)."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.session = ReviewSession()
        lay = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.review_path = QLineEdit()
        self.review_path.setPlaceholderText("review.json")
        self.review_path.editingFinished.connect(
            lambda: self.review_path.text() and self.open_review(self.review_path.text())
        )
        browse = QPushButton("Open…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.review_path, 1)
        row.addWidget(browse)
        form.addRow("file", row)
        self.case_edit = QLineEdit()
        self.case_edit.textChanged.connect(self.session.set_case)
        form.addRow("case", self.case_edit)
        self.note_edit = QLineEdit()
        form.addRow("note", self.note_edit)
        lay.addLayout(form)
        btns = QHBoxLayout()
        self.flag_buttons: dict[str, QPushButton] = {}
        for flag in FLAGS:
            b = QPushButton(flag.capitalize())
            b.clicked.connect(lambda _=False, f=flag: self.set_flag(f))
            btns.addWidget(b)
            self.flag_buttons[flag] = b
        lay.addLayout(btns)
        self.flag_label = QLabel("no review file")
        self.flag_label.setWordWrap(True)
        lay.addWidget(self.flag_label)
        lay.addStretch(1)
        self.session.changed.connect(self._show)
        self.links.connect(self.viewer.layers.events.inserted, self._default_case)
        self._default_case()

    @property
    def review(self):
        return self.session.file

    def _default_case(self, *_: Any) -> None:
        """The first image layer's name, until a case id is typed."""
        if self.case_edit.text():
            return
        images = layers_of_kind(self.viewer, LayerKind.IMAGE)
        if images:
            self.case_edit.setText(images[0].name)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Review file",
            self.review_path.text() or "review.json",
            "JSON (*.json)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.open_review(path)

    def open_review(self, path: str | Path) -> bool:
        """Open (or start) a review file; existing flags are restored."""
        if self.session.open(path):
            self.review_path.setText(str(path))
            return True
        return False

    def set_flag(self, flag: str) -> bool:
        """Flag the current case (with the latest QC metrics) and save the file at once."""
        if self.session.file is None and self.review_path.text().strip():
            self.open_review(self.review_path.text().strip())
        self.session.set_case(self.case_edit.text())
        return self.session.set_flag(flag, self.note_edit.text(), latest_qc_metrics(self.viewer))

    def _show(self) -> None:
        entry = self.session.entry()
        if entry is not None:
            self.note_edit.setText(entry.get("note", ""))
        self.flag_label.setText(self.session.message)
