"""CCTA widgets (placeholder until the CCTA issue lands)."""
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget


class _Placeholder(QWidget):
    def __init__(self, napari_viewer=None):
        super().__init__()
        self.viewer = napari_viewer
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Not implemented yet"))


class CompositionWidget(_Placeholder):
    pass


class CalciumScoringWidget(_Placeholder):
    pass
