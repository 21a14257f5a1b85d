"""Chest radiograph CAC category dock widget."""

from __future__ import annotations

from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget


class CXRWidget(QWidget):
    """Placeholder until the capability lands."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Chest radiograph CAC category: not built yet"))
