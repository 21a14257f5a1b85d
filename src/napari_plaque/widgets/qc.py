"""QC dock widget: where is the automated segmentation wrong, and what would a paper report?

Thin front end over :mod:`napari_plaque.qc`: it reads the chosen layers, runs the metrics in a
thread worker, and writes back a disagreement labels layer (false positives, false negatives
and wrong labels in distinct colours, aligned to the image), a per-label table, a worst-slice
list that jumps the viewer, review flags saved to a review file, and cohort plots.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..io.atomic import atomic_path
from ..qc import (
    FLAGS,
    ReviewFile,
    agreement,
    aline_agreement,
    disagreement_map,
    iter_qc_metrics,
)
from ..qc.cohort import read_columns, read_pairs
from ..qc.metrics import FALSE_NEGATIVE, FALSE_POSITIVE, WRONG_LABEL
from ._common import refill_combo

NONE = "(none)"
DISAGREEMENT_LAYER = "QC disagreement"
#: RGBA colours of the disagreement codes
DISAGREEMENT_COLORS = {
    FALSE_POSITIVE: (1.0, 0.2, 0.2, 1.0),  # red: automated only
    FALSE_NEGATIVE: (0.2, 0.6, 1.0, 1.0),  # blue: reference only (missed)
    WRONG_LABEL: (1.0, 0.85, 0.0, 1.0),  # yellow: both labelled, different label
}
TABLE_COLUMNS = (
    ("label", None),
    ("Dice", "dice"),
    ("Jaccard", "jaccard"),
    ("vol auto mm³", "volume_pred_mm3"),
    ("vol ref mm³", "volume_ref_mm3"),
    ("Δvol %", "volume_diff_pct"),
    ("HD95 mm", "hd95_mm"),
    ("ASSD mm", "assd_mm"),
    ("sens", "sensitivity"),
    ("prec", "precision"),
    ("lesions TP/FP/FN", None),
)


def _iter_widget_qc(
    pred: np.ndarray, ref: np.ndarray, spacing_mm: tuple[float, ...]
) -> Generator[int, None, tuple[dict[str, Any], np.ndarray]]:
    """Metrics and the disagreement map, in the worker thread."""
    result = yield from iter_qc_metrics(pred, ref, spacing_mm)
    dmap = disagreement_map(pred, ref)
    return result, dmap


ALINE_COLUMNS = (
    ("", None),
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("specificity", "specificity"),
    ("Dice", "dice"),
    ("kappa", "kappa"),
    ("ICS auto", "ics_other"),
    ("ICS ref", "ics_reference"),
)


def _iter_widget_alines(
    ref: np.ndarray, pred: np.ndarray
) -> Generator[int, None, tuple[str, dict[str, Any]]]:
    """IVUS per-A-line agreement (reference = truth), in the worker thread."""
    yield 0
    result = aline_agreement(ref != 0, pred != 0, n_worst=50)
    yield 1
    return "alines", result


def _fmt(v: Any, nd: int = 3) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞"
        return f"{v:.{nd}f}"
    return str(v)


class QCWidget(QWidget):
    """Compare an automated segmentation with a reference over an image; review a cohort.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are compared.
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.result: dict[str, Any] | None = None
        self.review: ReviewFile | None = None
        self.cohort: dict[str, Any] | None = None
        self.cohort_path: Path | None = None
        self._worker = None
        self._geometry: tuple[tuple[float, ...], tuple[float, ...]] = ((1.0,) * 3, (0.0,) * 3)
        #: number of trailing viewer dims the compared data spans (3: volumes; 2: A-line maps)
        self._jump_ndim = 3

        lay = QVBoxLayout(self)
        lay.addWidget(self._build_layers_box())
        lay.addWidget(self._build_results_box())
        lay.addWidget(self._build_review_box())
        lay.addWidget(self._build_cohort_box())

        ev = self.viewer.layers.events
        ev.inserted.connect(self._refresh_layers)
        ev.removed.connect(self._refresh_layers)
        self._refresh_layers()

    # ------------------------------------------------------------------ layout
    def _build_layers_box(self) -> QGroupBox:
        box = QGroupBox("Segmentation QC")
        form = QFormLayout(box)
        self.image_combo = QComboBox()
        self.pred_combo = QComboBox()
        self.ref_combo = QComboBox()
        form.addRow("image", self.image_combo)
        form.addRow("automated", self.pred_combo)
        form.addRow("reference", self.ref_combo)
        self.run_btn = QPushButton("Compute QC")
        self.run_btn.clicked.connect(self.compute)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.addWidget(self.run_btn)
        row.addWidget(self.cancel_btn)
        form.addRow(row)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        self.image_combo.currentTextChanged.connect(self._default_case_id)
        return box

    def _build_results_box(self) -> QGroupBox:
        box = QGroupBox("Per label  ·  worst slices (click to jump)")
        v = QVBoxLayout(box)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in TABLE_COLUMNS])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        v.addWidget(self.table)
        self.worst_list = QListWidget()
        self.worst_list.itemClicked.connect(self._on_worst_clicked)
        v.addWidget(self.worst_list)
        return box

    def _build_review_box(self) -> QGroupBox:
        box = QGroupBox("Review")
        form = QFormLayout(box)
        path_row = QHBoxLayout()
        self.review_path = QLineEdit()
        self.review_path.setPlaceholderText("review.json")
        self.review_path.editingFinished.connect(
            lambda: self.review_path.text() and self.open_review(self.review_path.text())
        )
        browse = QPushButton("Open…")
        browse.clicked.connect(self._browse_review)
        path_row.addWidget(self.review_path)
        path_row.addWidget(browse)
        form.addRow("file", path_row)
        self.case_edit = QLineEdit()
        self.case_edit.textChanged.connect(self._show_flag)
        form.addRow("case", self.case_edit)
        self.note_edit = QLineEdit()
        form.addRow("note", self.note_edit)
        btns = QHBoxLayout()
        self.flag_buttons: dict[str, QPushButton] = {}
        for flag in FLAGS:
            b = QPushButton(flag.capitalize())
            b.clicked.connect(lambda _=False, f=flag: self.set_flag(f))
            btns.addWidget(b)
            self.flag_buttons[flag] = b
        form.addRow(btns)
        self.flag_label = QLabel("no review file")
        form.addRow(self.flag_label)
        return box

    def _build_cohort_box(self) -> QGroupBox:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        box = QGroupBox("Cohort agreement")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        load = QPushButton("Load CSV…")
        load.clicked.connect(self._browse_cohort)
        self.col_a = QComboBox()
        self.col_b = QComboBox()
        plot = QPushButton("Plot")
        plot.clicked.connect(self.plot_cohort)
        save = QPushButton("Save PNG…")
        save.clicked.connect(self._browse_png)
        for w in (load, QLabel("A"), self.col_a, QLabel("B"), self.col_b, plot, save):
            row.addWidget(w)
        v.addLayout(row)
        self.figure = Figure(figsize=(6, 2.8), tight_layout=True)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(220)
        v.addWidget(self.canvas)
        self.cohort_label = QLabel("")
        self.cohort_label.setWordWrap(True)
        v.addWidget(self.cohort_label)
        return box

    # ------------------------------------------------------------------ layers
    def _refresh_layers(self, *_: Any) -> None:
        try:
            self._update_layer_combos()
        except RuntimeError:  # the dock's Qt widgets were deleted while the viewer lives on
            ev = self.viewer.layers.events
            ev.inserted.disconnect(self._refresh_layers)
            ev.removed.disconnect(self._refresh_layers)

    def _update_layer_combos(self) -> None:
        from napari.layers import Image, Labels

        images = [lay.name for lay in self.viewer.layers if isinstance(lay, Image)]
        labels = [
            lay.name
            for lay in self.viewer.layers
            if isinstance(lay, Labels) and lay.name != DISAGREEMENT_LAYER
        ]
        for combo, names, default in (
            (self.image_combo, [NONE, *images], 1 if images else 0),
            (self.pred_combo, labels, 0),
            (self.ref_combo, labels, 1 if len(labels) > 1 else 0),
        ):
            refill_combo(combo, names, default_index=default)
        self._default_case_id()

    def _layer(self, name: str) -> Any:
        if not name or name == NONE or name not in self.viewer.layers:
            return None
        return self.viewer.layers[name]

    def _default_case_id(self, *_: Any) -> None:
        if self.case_edit.text():
            return
        lay = self._layer(self.image_combo.currentText()) or self._layer(
            self.pred_combo.currentText()
        )
        if lay is not None:
            self.case_edit.setText(lay.name)

    # ------------------------------------------------------------------ compute
    def compute(self) -> None:
        """Start the QC of the chosen layers in a thread worker."""
        pred_l = self._layer(self.pred_combo.currentText())
        ref_l = self._layer(self.ref_combo.currentText())
        if pred_l is None or ref_l is None:
            self.status.setText("Choose an automated and a reference labels layer.")
            return
        if pred_l is ref_l:
            self.status.setText("Automated and reference are the same layer.")
            return
        pred = np.asarray(pred_l.data)
        ref = np.asarray(ref_l.data)
        if pred.shape != ref.shape:
            self.status.setText(
                f"Shapes differ: {pred_l.name} {pred.shape} vs {ref_l.name} {ref.shape}."
            )
            return
        if pred.ndim not in (2, 3):
            self.status.setText(
                f"QC needs 3D label layers, or 2D (frames, A-lines) IVUS calcium labels; "
                f"{pred_l.name} is {pred.ndim}D."
            )
            return
        image_l = self._layer(self.image_combo.currentText())
        if image_l is not None and image_l.ndim != 3:
            image_l = None
        geo_l = image_l or pred_l
        nd = 3 if image_l is not None else pred.ndim
        scale = tuple(float(s) for s in np.asarray(geo_l.scale)[-nd:])
        translate = tuple(float(t) for t in np.asarray(geo_l.translate)[-nd:])
        self._geometry = (scale, translate)
        self._jump_ndim = nd
        self.status.setText(f"Computing QC of {pred_l.name} vs {ref_l.name}…")
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        from ._worker import start_worker

        if pred.ndim == 2:
            func, fargs = _iter_widget_alines, (ref, pred)
        else:
            func, fargs = _iter_widget_qc, (pred, ref, scale)
        self._worker = start_worker(
            func,
            *fargs,
            total=0,
            desc="QC metrics",
            on_done=self._on_done,
            on_error=self._on_error,
            on_aborted=self._on_aborted,
            on_finished=self._on_finished,
        )

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.quit()

    def _on_finished(self) -> None:
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self._worker = None

    def _on_aborted(self) -> None:
        self.status.setText("QC cancelled.")

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"QC failed: {exc}")

    def _on_done(self, payload: tuple[Any, Any]) -> None:
        if isinstance(payload[0], str) and payload[0] == "alines":
            self.show_aline_result(payload[1])
        else:
            self.show_result(*payload)

    def show_aline_result(self, result: dict[str, Any]) -> None:
        """IVUS A-line mode: agreement table and the frames sorted by disagreement."""
        self.result = result
        self.table.setColumnCount(len(ALINE_COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in ALINE_COLUMNS])
        self.table.setRowCount(1)
        for col, (_, key) in enumerate(ALINE_COLUMNS):
            text = "A-lines" if key is None else _fmt(result[key], 1 if "ics" in key else 3)
            self.table.setItem(0, col, QTableWidgetItem(text))
        self.worst_list.clear()
        for w in result["worst_frames"]:
            item = QListWidgetItem(
                f"frame {w['index']}: {w['disagree_alines']} A-lines ({w['disagree_deg']:.0f}°; "
                f"FP {w['fp_alines']} / FN {w['fn_alines']})"
            )
            item.setData(Qt.ItemDataRole.UserRole, int(w["index"]))
            self.worst_list.addItem(item)
        n_bad = int(np.count_nonzero(result["per_frame_disagree"]))
        self.status.setText(
            f"A-lines: accuracy {result['accuracy']:.3f}, precision {_fmt(result['precision'])}, "
            f"recall {_fmt(result['recall'])}; {n_bad} of {result['frames']} frame(s) disagree."
        )

    def show_result(self, result: dict[str, Any], dmap: np.ndarray) -> None:
        """Write the disagreement layer, the table and the worst-slice list."""
        self.result = result
        self._write_disagreement_layer(dmap)
        self._fill_table(result["labels"])
        self.worst_list.clear()
        for w in result["worst_slices"]:
            item = QListWidgetItem(
                f"slice {w['index']}: {w['disagree_voxels']} voxels "
                f"({w['disagree_mm2']:.1f} mm²; FP {w['fp_voxels']} / FN {w['fn_voxels']})"
            )
            item.setData(Qt.ItemDataRole.UserRole, int(w["index"]))
            self.worst_list.addItem(item)
        n_bad = int(np.count_nonzero(result["per_slice"]["disagree"]))
        dice = [m["dice"] for m in result["labels"].values()]
        self.status.setText(
            f"{len(dice)} label(s), mean Dice {np.mean(dice) if dice else float('nan'):.3f}; "
            f"{n_bad} slice(s) disagree. Red = automated only, blue = missed, "
            "yellow = wrong label."
        )

    def _write_disagreement_layer(self, dmap: np.ndarray) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        scale, translate = self._geometry
        colors: dict[int | None, Any] = {None: (0, 0, 0, 0), 0: (0, 0, 0, 0)}
        colors.update(DISAGREEMENT_COLORS)
        cmap = DirectLabelColormap(color_dict=colors)
        if DISAGREEMENT_LAYER in self.viewer.layers:
            layer = self.viewer.layers[DISAGREEMENT_LAYER]
            layer.data = dmap
            layer.scale = scale
            layer.translate = translate
            layer.colormap = cmap
        else:
            self.viewer.add_labels(
                dmap,
                name=DISAGREEMENT_LAYER,
                scale=scale,
                translate=translate,
                colormap=cmap,
                opacity=0.8,
                metadata={
                    "napari_plaque": "qc_disagreement",
                    "codes": {"1": "false positive", "2": "false negative", "3": "wrong label"},
                },
            )

    def _fill_table(self, labels: dict[int, dict[str, Any]]) -> None:
        self.table.setColumnCount(len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in TABLE_COLUMNS])
        self.table.setRowCount(len(labels))
        for row, (value, m) in enumerate(sorted(labels.items())):
            for col, (_, key) in enumerate(TABLE_COLUMNS):
                if col == 0:
                    text = str(value)
                elif key is None:
                    text = f"{m['lesion_tp']}/{m['lesion_fp']}/{m['lesion_fn']}"
                else:
                    nd = 1 if "volume" in key else (2 if key.endswith("_mm") else 3)
                    text = _fmt(m[key], nd)
                self.table.setItem(row, col, QTableWidgetItem(text))

    # ------------------------------------------------------------------ navigation
    def _on_worst_clicked(self, item: QListWidgetItem) -> None:
        self.jump_to_slice(int(item.data(Qt.ItemDataRole.UserRole)))

    def jump_to_slice(self, index: int) -> None:
        """Move the viewer to slice/frame ``index`` (axis 0 of the compared layers)."""
        scale, translate = self._geometry
        axis = max(self.viewer.dims.ndim - self._jump_ndim, 0)
        self.viewer.dims.set_point(axis, translate[0] + index * scale[0])

    # ------------------------------------------------------------------ review
    def _browse_review(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Review file",
            self.review_path.text() or "review.json",
            "JSON (*.json)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if path:
            self.open_review(path)

    def open_review(self, path: str | Path) -> None:
        """Open (or start) a review file; existing flags are restored."""
        try:
            self.review = ReviewFile(path)
        except ValueError as exc:
            self.review = None
            self.flag_label.setText(str(exc))
            return
        self.review_path.setText(str(path))
        self._show_flag()

    def set_flag(self, flag: str) -> None:
        """Flag the current case and save the review file at once."""
        if self.review is None:
            path = self.review_path.text().strip()
            if not path:
                self.flag_label.setText("Choose a review file first.")
                return
            self.open_review(path)
            if self.review is None:
                return
        case = self.case_edit.text().strip()
        if not case:
            self.flag_label.setText("Enter a case id.")
            return
        metrics = None
        if self.result is not None and "labels" in self.result:
            metrics = {
                str(k): {"dice": v["dice"], "hd95_mm": v["hd95_mm"]}
                for k, v in self.result["labels"].items()
            }
        elif self.result is not None:
            keys = ("accuracy", "precision", "recall", "ics_other", "ics_reference")
            metrics = {"alines": {k: self.result[k] for k in keys}}
        metrics = _json_safe(metrics) if metrics else None
        self.review.set_flag(case, flag, note=self.note_edit.text(), metrics=metrics)
        self._show_flag()

    def _show_flag(self, *_: Any) -> None:
        if self.review is None:
            return
        case = self.case_edit.text().strip()
        entry = self.review.cases.get(case)
        counts = self.review.summary()
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        if entry is None:
            self.flag_label.setText(f"{case or '(no case)'}: not reviewed  [{summary}]")
        else:
            self.note_edit.setText(entry.get("note", ""))
            self.flag_label.setText(f"{case}: {entry['flag'].upper()}  [{summary}]")

    # ------------------------------------------------------------------ cohort
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
            f"Bland-Altman: bias {ba['bias']:.3g}, LoA [{ba['loa_low']:.3g}, {ba['loa_high']:.3g}]",
            fontsize=8,
        )
        ax2.scatter(b, a, s=12, color="C0")
        lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
        ax2.plot([lo, hi], [lo, hi], color="0.5", linewidth=1)
        ax2.set_xlabel(b_col)
        ax2.set_ylabel(a_col)
        icc = stats["icc"]
        ax2.set_title(
            f"ICC(2,1) {icc['icc']:.3f} [{icc['ci_low']:.3f}, {icc['ci_high']:.3f}], "
            f"r {_fmt(stats['pearson_r'])}",
            fontsize=8,
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


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
