"""Cohort agreement dock: Bland-Altman and scatter plots of two columns of a cohort CSV.

Thin view over :mod:`napari_plaque.qc.agreement` and :mod:`napari_plaque.qc.cohort`: load a CSV
(e.g. the ``napari-plaque cac`` table of two readers), choose the two columns, plot; ICC(2,1)
with its confidence interval and Pearson r in the title; save the figure as PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..io.atomic import atomic_path
from ..qc import agreement
from ..qc.cohort import read_columns, read_pairs
from ._common import fmt_value
from ._dock import DockBase


class AgreementWidget(DockBase):
    """Agreement of two measurements over a cohort (CSV), plotted and saved as PNG."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        super().__init__(napari_viewer, parent)
        self.cohort: dict[str, Any] | None = None
        self.cohort_path: Path | None = None
        lay = QVBoxLayout(self)
        grid = QGridLayout()
        load = QPushButton("Load CSV…")
        load.clicked.connect(self._browse_cohort)
        self.col_a = QComboBox()
        self.col_b = QComboBox()
        plot = QPushButton("Plot")
        plot.clicked.connect(self.plot_cohort)
        save = QPushButton("Save PNG…")
        save.clicked.connect(self._browse_png)
        grid.addWidget(load, 0, 0)
        grid.addWidget(plot, 0, 1)
        grid.addWidget(save, 0, 2)
        grid.addWidget(QLabel("A"), 1, 0)
        grid.addWidget(self.col_a, 1, 1, 1, 2)
        grid.addWidget(QLabel("B"), 2, 0)
        grid.addWidget(self.col_b, 2, 1, 1, 2)
        lay.addLayout(grid)
        self.figure = Figure(figsize=(5, 2.6), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(200)
        lay.addWidget(self.canvas, 1)
        self.cohort_label = QLabel("")
        self.cohort_label.setWordWrap(True)
        lay.addWidget(self.cohort_label)

    def _browse_cohort(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Cohort CSV", "", "CSV (*.csv)")
        if path:
            self.load_cohort(path)

    def load_cohort(self, path: str | Path) -> list[str]:
        """Read the header of a cohort CSV and offer its columns."""
        try:
            cols = read_columns(path)
        except ValueError as exc:
            self.cohort_label.setText(str(exc))
            return []
        self.cohort_path = Path(path)
        for combo, idx in ((self.col_a, 1), (self.col_b, 2)):
            combo.clear()
            combo.addItems(cols)
            combo.setCurrentIndex(min(idx, len(cols) - 1))
        return cols

    def plot_cohort(self) -> dict[str, Any] | None:
        """Bland-Altman and scatter plots of the chosen columns, with ICC in the title."""
        if self.cohort_path is None:
            self.cohort_label.setText("Load a cohort CSV first.")
            return None
        a_col, b_col = self.col_a.currentText(), self.col_b.currentText()
        try:
            pairs = read_pairs(self.cohort_path, a_col, b_col)
            stats = agreement(pairs["a"], pairs["b"])
        except ValueError as exc:
            self.cohort_label.setText(str(exc))
            return None
        a, b = pairs["a"], pairs["b"]
        ba = stats["bland_altman"]
        self.figure.clear()
        ax1, ax2 = self.figure.subplots(1, 2)
        mean = (a + b) / 2
        ax1.scatter(mean, a - b, s=12, color="C0")
        for y, style in ((ba["bias"], "-"), (ba["loa_low"], "--"), (ba["loa_high"], "--")):
            ax1.axhline(y, color="C3", linestyle=style, linewidth=1)
        ax1.set_xlabel(f"mean of {a_col} and {b_col}")
        ax1.set_ylabel(f"{a_col} − {b_col}")
        ax1.set_title(
            f"Bland-Altman\nbias {ba['bias']:.3g}, LoA [{ba['loa_low']:.3g}, {ba['loa_high']:.3g}]",
            fontsize=7,
        )
        ax2.scatter(b, a, s=12, color="C0")
        lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
        ax2.plot([lo, hi], [lo, hi], color="0.5", linewidth=1)
        ax2.set_xlabel(b_col)
        ax2.set_ylabel(a_col)
        icc = stats["icc"]
        ax2.set_title(
            f"ICC(2,1) {icc['icc']:.3f} [{icc['ci_low']:.3f}, {icc['ci_high']:.3f}]\n"
            f"r {fmt_value(stats['pearson_r'], 3)}",
            fontsize=7,
        )
        self.canvas.draw_idle()
        self.cohort = stats
        skipped = f", {pairs['skipped']} row(s) skipped" if pairs["skipped"] else ""
        self.cohort_label.setText(f"n = {stats['n']}{skipped}")
        return stats

    def _browse_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save plot", "agreement.png", "PNG (*.png)")
        if path:
            self.export_png(path)

    def export_png(self, path: str | Path, dpi: int = 150) -> Path:
        """Save the cohort figure as PNG (atomic write)."""
        with atomic_path(path) as tmp:
            self.figure.savefig(tmp, format="png", dpi=dpi)
        return Path(path)
