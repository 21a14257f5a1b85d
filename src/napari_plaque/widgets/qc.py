"""QC dock widget: where is the automated segmentation wrong, and what would a paper report?

Thin front end over :mod:`napari_plaque.qc`: it reads the chosen layers, runs the metrics in a
thread worker, and writes back a disagreement labels layer (false positives, false negatives
and wrong labels in distinct colours, aligned to the image), a per-label table and a worst-slice
list that jumps the viewer. Review flags (:mod:`.review`) and cohort plots (:mod:`.agreement`)
are docks of their own; the metrics reach the Review dock through the automated layer's
``qc_metrics`` metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from ..layers import (
    PREDICTION_TAGS,
    PREDICTION_WORDS,
    default_layer,
    layer_geometry,
)
from ..qc import disagreement_map
from ..qc.metrics import FALSE_NEGATIVE, FALSE_POSITIVE, WRONG_LABEL
from ..report import json_safe
from ._common import fit_scroll_width, fmt_value, hrow, scrolling_dock, set_table, show_labels
from ._dock import NONE, DockBase, LayerKind


def _fmt3(v: Any, nd: int = 3) -> str:
    return fmt_value(v, nd)


#: words in a labels layer's name that mark a reference (manual) segmentation
REFERENCE_WORDS = ("ref", "manual", "truth", "gt", "expert", "reader", "annot")
#: words that mark an anatomy / ROI mask, not a reference for a segmentation's QC
NOT_REFERENCE_WORDS = ("vessel", "heart", "mask", "roi", "lumen")
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
    ("volume, automated (mm³)", "volume_pred_mm3"),
    ("volume, reference (mm³)", "volume_ref_mm3"),
    ("volume difference (%)", "volume_diff_pct"),
    ("HD95 (mm)", "hd95_mm"),
    ("ASSD (mm)", "assd_mm"),
    ("sensitivity", "sensitivity"),
    ("precision", "precision"),
    ("lesions TP / FP / FN", None),
)


ALINE_COLUMNS = (
    ("", None),
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("specificity", "specificity"),
    ("Dice", "dice"),
    ("kappa", "kappa"),
    ("ICS, automated", "ics_other"),
    ("ICS, reference", "ics_reference"),
)


#: A-line frames listed by the dock (the CLI lists ``--worst``)
ALINE_WORST = 50


def _qc_job(pred: np.ndarray, ref: np.ndarray, spacing_mm, progress=None):
    """What ``napari-plaque qc`` computes (:func:`napari_plaque.api.qc`, so the dock's table
    is the CLI's rows) and the disagreement map, in the worker thread."""
    from .. import api

    res = api.qc(pred, ref, spacing=spacing_mm, progress=progress)
    return res, disagreement_map(pred, ref)


def _aline_job(pred: np.ndarray, ref: np.ndarray, progress=None):
    """IVUS per-A-line agreement (reference = truth): ``napari-plaque qc --alines``."""
    from .. import api

    return api.qc(pred, ref, alines=True, worst=ALINE_WORST, progress=progress), None


class QCWidget(DockBase):
    """Compare an automated segmentation with a reference over an image; review a cohort.

    Parameters
    ----------
    napari_viewer : napari.Viewer
        The viewer whose layers are compared.
    """

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        self.result: dict[str, Any] | None = None
        self._geometry: tuple[tuple[float, ...], tuple[float, ...]] = ((1.0,) * 3, (0.0,) * 3)
        #: number of trailing viewer dims the compared data spans (3: volumes; 2: A-line maps)
        self._jump_ndim = 3
        #: what the last result was computed from ("auto vs ref on image"), shown with it
        self._source = ""

        # the controls scroll inside the dock: a squeezed dock (QC beside another on a 1080 px
        # screen) scrolls instead of cutting the status text and the table
        self.scroll, inner = scrolling_dock(self, 300)
        lay = QVBoxLayout(inner)
        lay.addWidget(self._build_layers_box())
        lay.addWidget(self._build_results_box())
        fit_scroll_width(self.scroll)

    @property
    def _worker(self):  # the running job (DockBase.worker), by its former name
        return self.worker

    # ------------------------------------------------------------------ layout
    def _build_layers_box(self) -> QGroupBox:
        box = QGroupBox("Segmentation QC")
        form = QFormLayout(box)
        # image: the CT on screen (or none); automated: a model's output (tag or name);
        # reference: another labels layer of the same kind (not an anatomy mask such as
        # "vessels", unless the automated layer is one too)
        self.image_combo = self.layer_picker(
            LayerKind.IMAGE, optional=True, default_none=False, selection=True
        )
        labels = {"where": lambda ly: ly.name != DISAGREEMENT_LAYER}
        self.pred_combo = self.layer_picker(
            LayerKind.LABELS, **labels, selection=True, prefer_tags=PREDICTION_TAGS,
            prefer_words=PREDICTION_WORDS, avoid_words=REFERENCE_WORDS,
        )  # fmt: skip
        self.ref_combo = self.layer_picker(LayerKind.LABELS, **labels,
                                           default_fn=self._default_reference)
        form.addRow("image", self.image_combo)
        form.addRow("automated", self.pred_combo)
        form.addRow("reference", self.ref_combo)
        form.addRow(hrow(*self.run_buttons("Compute QC", self.compute)))
        self.status = QLabel("")
        self.status.setWordWrap(True)
        form.addRow(self.status)
        return box

    def _build_results_box(self) -> QGroupBox:
        box = QGroupBox("Per label  ·  worst slices (click to jump)")
        v = QVBoxLayout(box)
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setHorizontalHeaderLabels([c[0] for c in TABLE_COLUMNS])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # wide enough for the metric names and three labels side by side (was ~300 px: one
        # label column showed, the rest behind a scroll bar)
        self.table.setMinimumWidth(420)
        v.addWidget(self.table)
        self.worst_list = QListWidget()
        self.worst_list.itemClicked.connect(self._on_worst_clicked)
        v.addWidget(self.worst_list)
        return box

    # ------------------------------------------------------------------ layers
    def _default_reference(self, labels: list) -> str | None:
        auto = self.pred_combo.currentText() if hasattr(self, "pred_combo") else ""
        not_ref = tuple(w for w in NOT_REFERENCE_WORDS if w not in auto.lower())
        return default_layer(labels, prefer_words=REFERENCE_WORDS, avoid=(auto,),
                             avoid_words=not_ref)  # fmt: skip

    def _layer(self, name: str) -> Any:
        if not name or name == NONE or name not in self.viewer.layers:
            return None
        return self.viewer.layers[name]

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
        scale, translate = layer_geometry(geo_l, nd)
        self._geometry = (scale, translate)
        self._jump_ndim = nd
        self._pred_layer = pred_l
        on = f" on {image_l.name}" if image_l is not None else ""
        self._source = f"{pred_l.name} vs {ref_l.name}{on}"
        self.status.setText(f"Computing QC of {self._source}…")
        if pred.ndim == 2:
            job, fargs = _aline_job, (pred, ref)
        else:
            job, fargs = _qc_job, (pred, ref, scale)
        self.start_call(job, *fargs, total=0, desc="QC metrics", on_done=self._on_done)

    def _on_aborted(self) -> None:
        self.status.setText("QC cancelled.")

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"QC failed: {exc}")

    def _on_done(self, payload: tuple[Any, Any]) -> None:
        res, dmap = payload
        if dmap is None:
            self.show_aline_result(res.to_dict())
        else:
            self.show_result(res.to_dict(), dmap)

    def _publish_metrics(self, metrics: dict[str, Any]) -> None:
        """Put a summary on the automated layer's metadata (the Review dock stores it with a
        flag) without the docks knowing each other."""
        layer = getattr(self, "_pred_layer", None)
        if layer is not None:
            layer.metadata = {**layer.metadata, "qc_metrics": json_safe(metrics)}

    def _fill_worst(self, items) -> None:
        """The worst slices / frames: ``(index, text)`` each; a click jumps to ``index``."""
        self.worst_list.clear()
        for index, text in items:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, int(index))
            self.worst_list.addItem(item)

    def _prefix(self) -> str:
        return f"{self._source}: " if self._source else ""

    def show_aline_result(self, result: dict[str, Any]) -> None:
        """IVUS A-line mode: agreement table and the frames sorted by disagreement."""
        self.result = result
        keys = ("accuracy", "precision", "recall", "ics_other", "ics_reference")
        self._publish_metrics({"alines": {k: result[k] for k in keys}})
        # one row per metric: narrow docks show every value (no hidden last columns)
        rows = [
            [name, _fmt3(result[key], 1 if "ics" in key else 3)]
            for name, key in ALINE_COLUMNS
            if key is not None
        ]
        set_table(self.table, ["metric", "A-lines"], rows)
        self._fill_worst(
            (w["index"], f"frame {w['index']}: {w['disagree_alines']} A-lines "
             f"({w['disagree_deg']:.0f}°; FP {w['fp_alines']} / FN {w['fn_alines']})")
            for w in result["worst_frames"]
        )  # fmt: skip
        n_bad = int(np.count_nonzero(result["per_frame_disagree"]))
        self.status.setText(
            f"{self._prefix()}A-lines: accuracy {result['accuracy']:.3f}, "
            f"precision {_fmt3(result['precision'])}, "
            f"recall {_fmt3(result['recall'])}; {n_bad} of {result['frames']} frame(s) disagree."
        )

    def show_result(self, result: dict[str, Any], dmap: np.ndarray) -> None:
        """Write the disagreement layer, the table and the worst-slice list (``result``: the
        ``qc --json`` object)."""
        self.result = result
        self._publish_metrics(
            {
                str(k): {"dice": v["dice"], "hd95_mm": v["hd95_mm"]}
                for k, v in result["labels"].items()
            }
        )
        self._write_disagreement_layer(dmap)
        self._fill_table(result["labels"])
        self._fill_worst(
            (w["index"], f"slice {w['index']}: {w['disagree_voxels']} voxels "
             f"({w['disagree_mm2']:.1f} mm²; FP {w['fp_voxels']} / FN {w['fn_voxels']})")
            for w in result["worst_slices"]
        )  # fmt: skip
        n_bad = int(result["slices_with_disagreement"])
        dice = [np.nan if m["dice"] is None else m["dice"] for m in result["labels"].values()]
        self.status.setText(
            f"{self._prefix()}{len(dice)} label(s), "
            f"mean Dice {np.mean(dice) if dice else float('nan'):.3f}; "
            f"{n_bad} slice(s) disagree. Red = automated only, blue = missed, "
            "yellow = wrong label."
        )

    def _write_disagreement_layer(self, dmap: np.ndarray) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        scale, translate = self._geometry
        colors: dict[int | None, Any] = {None: (0, 0, 0, 0), 0: (0, 0, 0, 0)}
        colors.update(DISAGREEMENT_COLORS)
        cmap = DirectLabelColormap(color_dict=colors)
        meta = {
            "napari_plaque": "qc_disagreement",
            "codes": {"1": "false positive", "2": "false negative", "3": "wrong label"},
        }
        layer = show_labels(self.viewer, DISAGREEMENT_LAYER, dmap, scale, translate,
                            colormap=cmap, opacity=0.8, metadata=meta)  # fmt: skip
        layer.colormap = cmap  # a layer shown before keeps its place, gets these colours

    def _fill_table(self, labels: dict[str, dict[str, Any]]) -> None:
        """One row per metric, one column per label (narrow docks show every value)."""
        items = sorted(labels.items(), key=lambda kv: int(kv[0]))
        rows = []
        for name, key in TABLE_COLUMNS[1:]:
            row = [name]
            for _, m in items:
                if key is None:
                    row.append(f"{m['lesion_tp']} / {m['lesion_fp']} / {m['lesion_fn']}")
                else:
                    nd = 1 if "volume" in key else (2 if key.endswith("_mm") else 3)
                    row.append(_fmt3(m[key], nd))
            rows.append(row)
        set_table(self.table, ["metric", *(f"label {v}" for v, _ in items)], rows, 6)

    # ------------------------------------------------------------------ navigation
    def _on_worst_clicked(self, item: QListWidgetItem) -> None:
        self.jump_to_slice(int(item.data(Qt.ItemDataRole.UserRole)))

    def jump_to_slice(self, index: int) -> None:
        """Move the viewer to slice/frame ``index`` (axis 0 of the compared layers)."""
        scale, translate = self._geometry
        axis = max(self.viewer.dims.ndim - self._jump_ndim, 0)
        self.viewer.dims.set_point(axis, translate[0] + index * scale[0])
