"""Model training dock (re-exported by :mod:`napari_plaque.widgets.models`)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..io.errors import FormatError
from ..layers import (
    volume_from_layer,
)
from ..models import TRAIN_TASKS
from ._dock import DockBase, LayerKind
from ._form import form_values, parameter_form
from ._run import DEVICES

#: how the TrainSettings fields are shown (their values come from models.TRAIN_TASKS)
TRAIN_FORM_OPTIONS = {
    "epochs": {"min": 1, "max": 10000},
    "batch_size": {"min": 1, "max": 4096},
    "lr": {"label": "Learning rate", "min": 1e-6, "max": 1.0, "step": 1e-4},
    "seed": {"min": 0, "max": 2**31 - 1},
    "val_fraction": {"label": "Validation share", "min": 0.05, "max": 0.9, "step": 0.05},
    "patience": {"label": "Early stop (epochs)", "min": 1, "max": 1000},
    "device": {"choices": DEVICES},
}


def annotated_arcs(pullback_layer, labels_layer=None):
    """The user's arcs for ``pullback_layer``: ``(ArcSet, where they came from)``.

    Looked up, first found: the ``arcs`` layer an IVUS arc annotator draws for this pullback
    (its live annotation, unsaved edits included), else the annotator's autosave file beside
    the pullback file (``<pullback>.arcs.json``). ValueError says why there are none.
    """
    from ..ivus.annotator import ArcSectorStack, autosave_path
    from ..ivus.arcs import load_arcs
    from ..layers import pullback_from_layer

    if (pullback_layer.metadata or {}).get("napari_plaque") != "ivus":
        raise ValueError(f"{pullback_layer.name!r} is not an IVUS pullback layer")
    pb = pullback_from_layer(pullback_layer)
    data = getattr(labels_layer, "data", None)
    data = getattr(data, "__wrapped__", data)  # a plugin dock sees napari's public-only proxy
    if isinstance(data, ArcSectorStack):
        arcs = data.arcset  # the annotator's live ArcSet, unsaved edits included
        if arcs is not None and (arcs.n_frames, tuple(arcs.frame_shape)) == (
            pb.n_frames,
            tuple(pb.frame_shape),
        ):
            return arcs, f"the arc annotator's layer {labels_layer.name!r}"
    src = getattr(pb, "source", "") or ""
    if src and autosave_path(src).is_file():
        path = autosave_path(src)
        return load_arcs(path, pb.n_frames, pb.frame_shape), str(path)
    raise ValueError(
        f"no arcs for {pullback_layer.name!r}: annotate it in the IVUS arc annotator (choose "
        "its 'arcs' layer as the labels layer) or keep its arcs file beside the pullback file"
    )


def iter_train_alines_job(
    source: Any,
    out: str | Path,
    live: dict[str, Any],
    **kwargs: Any,
):
    """The dock's A-line training job, all of it off the main thread: read (a training set
    folder) or build (``source`` = ``(pullback, arcs)``: the export's writer into a temporary
    folder, then its reader) the training set, then train. Yields ``(step, live)``: ``live``
    is a snapshot of the trainer's progress taken in the worker at that step (phase
    ``"data"`` with frames done while the set is made, then epoch, batch, loss), so the dock
    shows each step as it was, not the worker's state when the main thread gets to it."""
    import tempfile

    from ..ivus.dataset import iter_export_training_set, read_aline_dataset
    from ..ivus.deep import iter_train_alines

    live.update(phase="data", batch=0, batches=0)
    yield 0, dict(live)
    if isinstance(source, tuple):
        pb, arcs = source
        with tempfile.TemporaryDirectory(prefix="napari-plaque-alines-") as tmp:
            gen = iter_export_training_set([(pb, arcs)], Path(tmp) / "alines")
            while True:  # a step per batch of frames: Cancel stops the export too
                try:
                    k = next(gen)
                except StopIteration as stop:
                    folder = stop.value
                    break
                live.update(frames=int(k), n_frames=pb.n_frames)
                yield 0, dict(live)
            data = read_aline_dataset(folder, features=False)
    else:
        data = read_aline_dataset(source, features=False)
    gen = iter_train_alines(data, out, live=live, **kwargs)
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            return stop.value
        yield step, dict(live)


def iter_train_ctseg_job(source: Any, out: str | Path, **kwargs: Any):
    """The dock's CT job: a training set folder (``source`` a path) is read on the worker
    (phase ``"data"``), then :func:`~napari_plaque.models.train.iter_train_ctseg` runs."""
    from ..models.data import read_ct_training_set
    from ..models.train import iter_train_ctseg

    live = kwargs.get("live")
    if live is not None:
        live.update(phase="data", batch=0, batches=0)
    yield 0
    data = read_ct_training_set(source) if isinstance(source, str | Path) else source
    return (yield from iter_train_ctseg(data, out, **kwargs))


class TrainingWidget(DockBase):
    """Train the A-line detector or a CT U-Net from a data folder or image + label layers.

    For the A-line task, "image + label layers" means an IVUS pullback layer and the arcs an
    IVUS arc annotator keeps for it (:func:`annotated_arcs`); the training set is made and read
    on the worker, so pressing Run never blocks the viewer.
    """

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(napari_viewer, parent)
        self.history: list[dict[str, Any]] = []
        self._shown = 0
        self.result = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.task_combo = QComboBox()
        self.task_combo.addItems(list(TRAIN_TASKS))
        self.task_combo.currentTextChanged.connect(self._task_defaults)
        form.addRow("Task", self.task_combo)
        self.source_combo = QComboBox()
        self.source_combo.addItems(["data folder", "image + label layers"])
        form.addRow("Training data", self.source_combo)
        drow = QHBoxLayout()
        self.data_edit = QLineEdit()
        self.data_btn = QPushButton("...")
        drow.addWidget(self.data_edit, 1)
        drow.addWidget(self.data_btn)
        form.addRow("Data folder", drow)
        self.image_combo = self.layer_picker(LayerKind.IMAGE, min_ndim=3, tag=None)
        self.labels_combo = self.layer_picker(LayerKind.LABELS, min_ndim=3)
        form.addRow("Image layer", self.image_combo)
        form.addRow("Labels layer", self.labels_combo)
        # the settings: a magicgui form fed by the task's TrainSettings (the CLI's too)
        self.params = parameter_form(
            asdict(TRAIN_TASKS[self.task_combo.currentText()].settings), TRAIN_FORM_OPTIONS
        )
        form.addRow(self.params.native)
        self.epochs_spin = self.params.epochs.native
        self.batch_spin = self.params.batch_size.native
        self.seed_spin = self.params.seed.native
        self.device_combo = self.params.device.native
        orow = QHBoxLayout()
        self.out_edit = QLineEdit(str(Path.home() / "napari-plaque-model.pt"))
        self.out_btn = QPushButton("...")
        orow.addWidget(self.out_edit, 1)
        orow.addWidget(self.out_btn)
        form.addRow("Save model to", orow)
        self.resume_check = QCheckBox("Resume from the saved state")
        form.addRow("", self.resume_check)
        lay.addLayout(form)
        self.export_btn = QPushButton("Export layers as nnU-Net dataset...")
        lay.addWidget(self.export_btn)
        self.build_run_row(lay)
        self.metrics = QPlainTextEdit()
        self.metrics.setReadOnly(True)
        lay.addWidget(self.metrics, 1)
        self.data_btn.clicked.connect(self._browse_data)
        self.out_btn.clicked.connect(self._browse_out)
        self.export_btn.clicked.connect(self._export_dialog)
        self._refresh_layers()

    def _task_defaults(self, task: str) -> None:
        """The chosen task's default settings (one home: models.TRAIN_TASKS)."""
        for key, value in asdict(TRAIN_TASKS[task].settings).items():
            getattr(self.params, key).value = value
        self._refresh_layers()

    def _refresh_layers(self, event=None) -> None:
        """The pickers' default rule follows the task (its input kind, its label words)."""
        alines = self.task_combo.currentText() == "alines"
        self.image_combo.set_default(tag=TRAIN_TASKS[self.task_combo.currentText()].input)
        words = ("arcs",) if alines else ("ref", "manual", "truth", "label")
        self.labels_combo.set_default(prefer_words=words)

    def _browse_data(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Training set folder")
        if path:
            self.data_edit.setText(path)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Model file", "", "Model (*.pt)")
        if path:
            self.out_edit.setText(path)

    def _layers_pair(self):
        img = self.viewer.layers[self.image_combo.currentText()]
        lab = self.viewer.layers[self.labels_combo.currentText()]
        vol = volume_from_layer(img)
        labels = np.asarray(lab.data)
        if labels.shape != vol.shape:
            raise ValueError(
                f"labels layer {lab.name!r} {labels.shape} does not match image {vol.shape}"
            )
        return vol, labels

    def export_layers(self, out_dir: str | Path, fmt: str = "nnunet") -> Path:
        """Export the chosen image + label layers as an nnU-Net v2 dataset or a patch folder."""
        from ..models.data import export_ct_patches, export_nnunet

        vol, labels = self._layers_pair()
        if fmt == "nnunet":
            out = export_nnunet([vol], [labels], out_dir)
        else:
            out = export_ct_patches([vol], [labels], out_dir)
        self.status.setText(f"exported {out}")
        return out

    def _export_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export nnU-Net dataset into")
        if path:
            try:
                self.export_layers(path)
            except (ValueError, KeyError, OSError) as exc:
                self.status.setText(f"export failed: {exc}")

    def run(self):
        """Start training in a worker; returns it (None when nothing could start)."""
        if self.running:
            return None
        from ..models.data import ct_training_set_from_arrays, split_into_slabs

        task = self.task_combo.currentText()
        out = self.out_edit.text().strip()
        if not out:
            self.status.setText("choose where to save the model")
            return None
        self.history = []
        self._shown = 0
        self.metrics.clear()
        common = {
            **form_values(self.params),
            "resume": self.resume_check.isChecked(),
            "history": self.history,
        }
        self._live = live = {}
        try:
            if task == "alines":
                if self.source_combo.currentIndex() == 1:
                    img = self.viewer.layers[self.image_combo.currentText()]
                    lab_name = self.labels_combo.currentText()
                    lab = self.viewer.layers[lab_name] if lab_name else None
                    arcs, where = annotated_arcs(img, lab)
                    if not arcs.arcs:
                        raise ValueError(f"no arcs drawn yet ({where})")
                    from ..layers import pullback_from_layer

                    pb = pullback_from_layer(img)
                    source: Any = (pb, arcs.copy())  # the user may edit on while it trains
                    n_fr = len({a.frame for a in arcs.arcs})
                    self.metrics.appendPlainText(
                        f"labels: {len(arcs.arcs)} arcs from {where} on {n_fr} of "
                        f"{pb.n_frames} frames (as export-alines: frames without arcs are "
                        "negatives)"
                    )
                else:
                    source = self.data_edit.text().strip()
                    if not source:
                        raise ValueError("choose a training set folder")
                gen, args = iter_train_alines_job, (source, out, live)
                kwargs = common
                per_epoch = 1  # known once the data is read (on the worker): see _on_yield
            else:
                if self.source_combo.currentIndex() == 1:
                    vol, labels = self._layers_pair()
                    data = split_into_slabs(ct_training_set_from_arrays([vol], [labels]), 4)
                else:  # read on the worker, as the A-line set
                    data = self.data_edit.text().strip()
                    if not data:
                        raise ValueError("choose a training set folder")
                kwargs = dict(common, patches_per_epoch=64, live=live)
                per_epoch = -(-64 // common["batch_size"])
                gen, args = iter_train_ctseg_job, (data, out)
        except (ValueError, KeyError, OSError, FormatError) as exc:
            self.status.setText(f"cannot train: {exc}")
            return None
        self.status.setText(f"training {task}...")
        return self.start(
            gen,
            *args,
            total=per_epoch * common["epochs"],
            desc=f"train {task}",
            on_done=self._on_trained,
            **kwargs,
        )

    def _on_yield(self, step: Any) -> None:
        live = getattr(self, "_live", {})
        if isinstance(step, tuple):  # (step, snapshot of the progress) from the A-line job
            step, live = step
        total = int(live.get("batches", 0)) * int(live.get("epochs", 0))
        if total and self.progress.maximum() != total:
            self.progress.setRange(0, total)
        super()._on_yield(step)
        if live.get("phase") == "data":
            done = live.get("frames")
            self.status.setText(
                "reading the training set..."
                if done is None
                else f"making the training set: frame {done}/{live.get('n_frames')}"
            )
        elif live.get("phase") in ("train", "validate") and step is not None:
            what = (
                f"batch {live['batch']}/{live['batches']}, loss {live['loss']:.4f}"
                if live["phase"] == "train"
                else "validating"
            )
            self.status.setText(f"epoch {live['epoch']}/{live['epochs']}: {what}")
        while self._shown < len(self.history):
            rec = self.history[self._shown]
            self._shown += 1
            text = ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in rec.items()
                if k != "seconds"
            )
            self.metrics.appendPlainText(text)

    def _on_trained(self, res) -> None:
        self._on_yield(None)
        self.result = res
        early = ", stopped early" if res.stopped_early else ""
        self.status.setText(f"saved {res.path} (best epoch {res.best_epoch}{early})")
