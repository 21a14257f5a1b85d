"""Prediction side of the arc annotator: the annotation loop (train, predict, review, retrain,
active learning, keyframes, end-diastolic stepping) bound to
:class:`~napari_plaque.ivus.loop.AnnotationLoop`, plus predicting with a model file and taking a
model's arcs layer.

Long work runs through the dock base (:class:`napari_plaque.widgets._dock.DockBase`): train,
predict and predicting with a model file are its one job at a time (:meth:`DockBase.start`:
the panel's progress bar and Cancel; the train / predict buttons are disabled meanwhile),
gating a side job (:meth:`DockBase.start_side`). The loop's state changes only on the main
thread, in the worker's ``returned`` callback (``train_steps(apply=False)`` then
``apply_train``), and only while the dock lives.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..io.errors import FormatError
from ..ivus.arcs import ArcSet, arc_contains
from ._ivus_controls import ERROR_STYLE, _grid, button, fixed_lines

#: said when a job is asked for while another runs (the dock base runs one at a time)
_BUSY = "another job is running: wait for it, or Cancel it"
#: detector kinds offered (the deep one only where torch is installed)
KINDS = {"svm": "SVM (A-line features)", "deep": "deep A-line model (torch)"}


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


class LoopPanel(QWidget):
    """Buttons and lists of the annotation loop (no logic: the dock connects them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("training pool (other pullback + arcs pairs):"))
        self.pool_list = QListWidget()
        self.pool_list.setMaximumHeight(60)
        lay.addWidget(self.pool_list)
        self.pool_add_btn = button("Add pullback + arcs...")
        self.pool_remove_btn = button("Remove")
        lay.addLayout(_grid([[self.pool_add_btn, self.pool_remove_btn]]))
        form = QFormLayout()
        self.kind_combo = QComboBox()
        for k, text in KINDS.items():
            self.kind_combo.addItem(text, k)
        if not torch_available():
            self.kind_combo.model().item(1).setEnabled(False)
            self.kind_combo.setItemText(1, KINDS["deep"] + ": not installed")
        form.addRow("detector", self.kind_combo)
        lay.addLayout(form)
        self.train_btn = button("Train", "fit a detector on the annotated frames and the pool")
        self.retrain_btn = button("Retrain", "train again: accepted frames now count as labels")
        self.cancel_btn = button("Cancel")
        self.cancel_btn.setEnabled(False)
        self.predict_btn = button("Predict", "proposals on the frames nobody annotated")
        self.model_btn = button("Predict with model...", "an SVM (.npz) or deep A-line model (.pt)")
        lay.addLayout(
            _grid(
                [
                    [self.train_btn, self.retrain_btn, self.cancel_btn],
                    [self.predict_btn, self.model_btn, None],
                ]
            )
        )
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(14)
        self.progress.setTextVisible(False)
        self.progress.setVisible(False)
        lay.addWidget(self.progress)
        self.loop_label = fixed_lines(QLabel(""), 2)
        lay.addWidget(self.loop_label)

        lay.addWidget(QLabel("review proposals (cyan band):"))
        self.accept_arc_btn = button("Accept arc", "the proposal under the cursor (Alt-A)")
        self.reject_arc_btn = button("Reject arc", "the proposal under the cursor (Alt-R)")
        self.accept_btn = button("Accept frame")
        self.reject_btn = button("Reject frame")
        self.accept_all_btn = button("Accept all")
        self.reviewed_btn = button(
            "Frame done", "mark this frame fully annotated (also without calcium): a label"
        )
        lay.addLayout(
            _grid(
                [
                    [self.accept_arc_btn, self.reject_arc_btn, self.accept_all_btn],
                    [self.accept_btn, self.reject_btn, self.reviewed_btn],
                ]
            )
        )
        rng = QHBoxLayout()
        rng.addWidget(QLabel("frames"))
        self.range_first = QSpinBox()
        self.range_last = QSpinBox()
        for sp in (self.range_first, self.range_last):
            sp.setMinimumWidth(110)
        rng.addWidget(self.range_first, 1)
        rng.addWidget(QLabel("to"))
        rng.addWidget(self.range_last, 1)
        lay.addLayout(rng)
        self.accept_range_btn = button("Accept range", "every proposal of those frames")
        self.reject_range_btn = button("Reject range", "every proposal of those frames")
        lay.addLayout(_grid([[self.accept_range_btn, self.reject_range_btn]]))
        self.pred_label = fixed_lines(QLabel(""), 2)
        lay.addWidget(self.pred_label)

        kf = QHBoxLayout()
        self.interp_btn = button(
            "Interpolate keyframes", "arcs between annotated frames, as proposals to accept"
        )
        kf.addWidget(self.interp_btn)
        kf.addWidget(QLabel("max gap"))
        self.max_gap = QSpinBox()
        self.max_gap.setRange(2, 10000)
        self.max_gap.setValue(_default_gap())
        kf.addWidget(self.max_gap)
        lay.addLayout(kf)

        lay.addWidget(QLabel("frames to annotate next (most informative first):"))
        self.proposal_list = QListWidget()
        self.proposal_list.setMaximumHeight(60)
        lay.addWidget(self.proposal_list)
        self.next_prop_btn = button("Next proposal", "Alt-J")
        self.gate_btn = button("Find end-diastolic frames")
        self.prev_ed_btn = button("Previous ED", "Alt-[")
        self.next_ed_btn = button("Next ED", "Alt-]")
        self.prev_ed_btn.setEnabled(False)
        self.next_ed_btn.setEnabled(False)
        lay.addLayout(
            _grid([[self.next_prop_btn, self.gate_btn], [self.prev_ed_btn, self.next_ed_btn]])
        )
        self.ed_label = fixed_lines(QLabel(""), 2)
        lay.addWidget(self.ed_label)

    def set_frames(self, n_frames: int) -> None:
        for s in (self.range_first, self.range_last):
            s.setRange(0, max(n_frames - 1, 0))
            s.lineEdit().setText(s.textFromValue(s.value()))  # Qt leaves an unchanged 0 blank

    def set_running(self, running: bool, what: str = "") -> None:
        """While a job runs: its buttons off, Cancel on, the progress bar shown (the dock base
        sets its range and value), ``what`` in the status line."""
        for b in (self.train_btn, self.retrain_btn, self.predict_btn, self.model_btn):
            b.setEnabled(not running)
        self.cancel_btn.setEnabled(running)
        self.progress.setVisible(running)
        if running and what:
            self.loop_label.setStyleSheet("")
            self.loop_label.setText(what)

    def show_error(self, message: str) -> None:
        self.loop_label.setStyleSheet(ERROR_STYLE)
        self.loop_label.setText(message)

    def show_note(self, message: str) -> None:
        self.loop_label.setStyleSheet("")
        self.loop_label.setText(message)


def _default_gap() -> int:
    from ..ivus.keyframes import DEFAULT_MAX_GAP

    return int(DEFAULT_MAX_GAP)


class PredictionMixin:
    """Binds the loop panel to the dock's :class:`AnnotationLoop` (``self.loop``) and takes
    predictions from a model file or a model's arcs layer."""

    # -- taking predictions -------------------------------------------------------------------
    def _take_predictions_from(self, layer) -> None:
        """A model's arcs layer for this pullback (by its metadata) becomes the predictions."""
        meta = getattr(layer, "metadata", {}) or {}
        if meta.get("napari_plaque") != "model-arcs" or self.layer is None:
            return
        if meta.get("pullback_layer") not in (None, self.layer.name) or "arcs" not in meta:
            return
        doc = meta["arcs"]
        try:
            arcs = ArcSet.from_dicts(
                doc["arcs"],
                doc["n_frames"],
                doc["frame_shape"],
                doc.get("classes"),
                doc.get("center_mode", "catheter"),
                doc.get("centers"),
            )
            self.model.set_predictions(arcs, source=str(layer.name))
        except (KeyError, TypeError, ValueError) as exc:
            self.pred_label.setText(f"predictions in {layer.name!r} not used: {exc}")

    def _choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "A-line model", "", "A-line detector (*.npz *.pt)"
        )
        if path:
            self.predict(path)

    def predict(self, model_path: str | Path, block: bool = False):
        """Run an A-line detector file (SVM ``.npz`` or deep ``.pt``); results become
        predictions."""
        from ..ivus.detector import load_aline_detector

        label = self.pred_label
        if self.model is None:
            label.setText("open a pullback first")
            return None
        try:
            det = load_aline_detector(model_path)
        except (FormatError, ValueError, ImportError) as exc:
            label.setText(str(exc))
            return None
        args = (self.pullback, self.arcset.centers_array())
        if block:
            from .._progress import run_steps

            self._on_predicted(run_steps(det.iter_predict(*args)))
            return None

        def aborted() -> None:  # said where the Cancel's "cancelling…" was, and here
            for lbl in (label, self.loop_panel.loop_label):
                lbl.setText("prediction cancelled: nothing changed")

        worker = self.start(
            det.iter_predict,
            *args,
            total=self.pullback.n_frames,
            desc=det.name,
            on_done=self._on_predicted,
            on_error=lambda exc: label.setText(f"prediction failed: {exc}"),
            on_aborted=aborted,
        )
        label.setText("predicting..." if worker is not None else _BUSY)
        return worker

    def _on_predicted(self, arcs: ArcSet) -> None:
        self.loop_panel.set_running(False)  # now: the worker's end is said a moment later
        if self.model is not None:
            self.model.set_predictions(arcs, source="model")

    # -- the loop: train / predict ------------------------------------------------------------
    def _kind(self) -> str:
        return str(self.loop_panel.kind_combo.currentData() or "svm")

    def _run_loop_job(self, what: str, gen_func, total: int, on_done, block: bool,
                      on_fail=None, **kw):  # fmt: skip
        """Run a loop step generator: blocking (scripts, tests) or in a worker with Cancel;
        ``on_fail()`` may add a sentence to the error shown."""
        panel = self.loop_panel

        def failed_text(exc) -> str:
            extra = on_fail() if on_fail is not None else ""
            return f"{what} failed: {exc}{extra}"

        if block:
            from .._progress import run_steps

            try:
                result = run_steps(gen_func(**kw))
            except (ValueError, RuntimeError, FormatError, OSError, ImportError) as exc:
                panel.show_error(failed_text(exc))
                return None
            on_done(result)
            return result

        def done(result):
            panel.set_running(False)  # now: the worker's end is said a moment later
            on_done(result)

        worker = self.start(
            gen_func,
            total=total,
            desc=what,
            on_done=done,
            on_error=lambda exc: panel.show_error(failed_text(exc)),
            on_aborted=lambda: panel.show_note(f"{what} cancelled: nothing changed"),
            **kw,
        )
        if worker is None:
            panel.show_note(_BUSY)
        else:
            panel.set_running(True, f"{what}...")
        return worker

    def train(self, kind: str | None = None, block: bool = False, **params: Any):
        """Train a detector on the annotated frames and the pool (off the main thread)."""
        if self.loop is None:
            return None
        kind = kind or self._kind()
        total = self.loop.train_total(kind)
        return self._run_loop_job(
            f"training ({kind})",
            self.loop.train_steps,
            total,
            self._on_trained,
            block,
            on_fail=self._cold_start_proposals,
            kind=kind,
            apply=False,
            **params,
        )

    def _cold_start_proposals(self) -> str:
        """After a train that could not run (e.g. no calcium annotated yet) and before any
        detector: propose the frames least like those annotated (the loop's cold start)."""
        if self.loop is None or self.loop.model is not None:
            return ""
        frames = self.loop.propose()
        if not frames:
            return ""
        return (f"; {len(frames)} frames proposed, least like those annotated (Next proposal, "
                "Alt-J)")  # fmt: skip

    def retrain(self, block: bool = False, **params: Any):
        """One click: train again with the same kind (accepted frames now count)."""
        if self.loop is None:
            return None
        return self.train(self.loop.kind or self._kind(), block=block, **params)

    def _on_trained(self, result) -> None:
        if self.loop is None:
            return
        self.loop.apply_train(result)
        pt = result.point
        f1 = ("n/a (too few frames, or no calcium, held out)" if pt.f1 is None
              else f"{pt.f1:.2f}")
        warn = f" · {result.warnings[0]}" if result.warnings else ""
        self.loop_panel.show_note(
            f"trained {result.kind} on {pt.n_frames} annotated frames "
            f"({pt.n_train_alines} A-lines): held-out F1 {f1}{warn}"
        )
        self._save_session()

    def predict_unannotated(self, block: bool = False):
        """Proposals from the trained detector on every frame nobody annotated."""
        if self.loop is None:
            return None
        if self.loop.model is None:
            self.loop_panel.show_error("train first: no detector yet")
            return None
        return self._run_loop_job(
            "predicting",
            self.loop.predict_steps,
            self.loop.predict_total(),
            self._on_loop_predicted,
            block,
            apply=False,
        )

    def _on_loop_predicted(self, prediction) -> None:
        if self.loop is None:
            return
        self.loop.apply_prediction(prediction)
        n = len(prediction.arcs.arcs)
        self.loop_panel.show_note(
            f"{n} proposed arc(s) on {len(prediction.frames)} unannotated frames: accept or "
            "reject them"
        )

    # -- reviewing proposals: each one undo step of the annotator ------------------------------
    def proposal_index_at(self, frame: int, angle_deg: float) -> int | None:
        """Index (in ``predicted.arcs_for(frame)``) of the proposal containing the angle."""
        pred = self.predicted
        if pred is None:
            return None
        for i, a in enumerate(pred.arcs_for(frame)):
            if bool(arc_contains(a.start_deg, a.end_deg, angle_deg)):
                return i
        return None

    def accept_arc(self, frame: int | None = None, index: int | None = None) -> int:
        """Accept one proposal (default: the one under the cursor)."""
        return self._review_arc(True, frame, index)

    def reject_arc(self, frame: int | None = None, index: int | None = None) -> int:
        return self._review_arc(False, frame, index)

    def _review_arc(self, accept: bool, frame: int | None, index: int | None) -> int:
        if self.model is None:
            return 0
        if frame is None or index is None:
            f, angle = self.angle_at(self.viewer.cursor.position)
            frame = f if frame is None else frame
            index = self.proposal_index_at(frame, angle) if index is None else index
        if index is None:
            self.pred_label.setText("no proposal under the cursor")
            return 0
        fn = self.model.accept if accept else self.model.reject
        return fn(int(frame), int(index))

    def accept_prediction_frame(self, frame: int | None = None) -> int:
        f = self.current_frame() if frame is None else frame
        return self.model.accept_frame(f) if self.model is not None else 0

    def reject_prediction_frame(self, frame: int | None = None) -> int:
        if self.model is None:
            return 0
        return self.model.reject_frame(self.current_frame() if frame is None else frame)

    def accept_prediction_all(self) -> int:
        return self.model.accept_all() if self.model is not None else 0

    def accept_range(self, first: int | None = None, last: int | None = None) -> int:
        p = self.loop_panel
        a = p.range_first.value() if first is None else first
        b = p.range_last.value() if last is None else last
        return self.model.accept_range(a, b) if self.model is not None else 0

    def reject_range(self, first: int | None = None, last: int | None = None) -> int:
        p = self.loop_panel
        a = p.range_first.value() if first is None else first
        b = p.range_last.value() if last is None else last
        return self.model.reject_range(a, b) if self.model is not None else 0

    def mark_frame_done(self, frame: int | None = None) -> bool:
        if self.loop is None:
            return False
        return self.loop.mark_reviewed(self.current_frame() if frame is None else frame)

    def interpolate_keyframes(self) -> int:
        if self.loop is None:
            return 0
        n = self.loop.interpolate(self.loop_panel.max_gap.value())
        self.loop_panel.show_note(f"{n} interpolated arc(s) proposed between keyframes")
        return n

    # -- active learning, end-diastolic frames -----------------------------------------------
    def next_proposal(self, direction: int = 1) -> int | None:
        if self.loop is None:
            return None
        f = self.loop.next_proposal(self.current_frame(), direction)
        if f is None:
            self.loop_panel.show_note("no frame proposed: train first")
            return None
        self.set_frame(f)
        return f

    def _on_proposals_changed(self) -> None:
        lst = self.loop_panel.proposal_list
        lst.clear()
        if self.loop is None:
            return
        u, doubt = self.loop.frame_uncertainty(), self.loop.frame_doubt()
        for f in self.loop.proposals:
            if u is None:
                lst.addItem(f"frame {f} · unlike the annotated")
                continue
            lst.addItem(f"frame {f} · {int(doubt[f])} A-lines in doubt")
            lst.item(lst.count() - 1).setToolTip(
                f"frame {f}: {int(doubt[f])} A-lines the detector calls calcium or doubts, "
                f"mean A-line uncertainty {float(u[f]):.2f}"
            )

    def _on_proposal_clicked(self, item) -> None:
        if self.loop is None:
            return
        row = self.loop_panel.proposal_list.row(item)
        if 0 <= row < len(self.loop.proposals):
            self.set_frame(self.loop.proposals[row])

    def gate(self, block: bool = False):
        """Find the end-diastolic frames (``ivus.gating``) to step through."""
        if self.model is None:
            return None
        frames, dt = self.pullback.frames, self.pullback.frame_time_s
        panel = self.loop_panel

        def job():
            yield 0
            from ..ivus.gating import end_diastolic_frames

            return end_diastolic_frames(frames, dt)

        def done(g):
            self.model.gating = g
            c = self.model.gating_confidence
            weak = " (weak: check the frames)" if c is not None and c < 0.2 else ""
            panel.ed_label.setText(
                f"{len(g.frames)} end-diastolic frames · gating confidence {c:.2f}{weak}"
            )
            panel.prev_ed_btn.setEnabled(True)
            panel.next_ed_btn.setEnabled(True)

        if block:
            from .._progress import run_steps

            try:
                done(run_steps(job()))
            except ValueError as exc:
                panel.ed_label.setText(f"no gating: {exc}")
            return None
        panel.ed_label.setText("gating...")
        return self.start_side(
            "gating",
            job,
            desc="gating",
            on_done=done,
            on_error=lambda exc: panel.ed_label.setText(f"no gating: {exc}"),
        )

    def step_ed(self, direction: int = 1) -> int | None:
        if self.model is None:
            return None
        f = self.model.next_ed_frame(self.current_frame(), direction)
        if f is not None:
            self.set_frame(f)
        return f

    # -- the training pool --------------------------------------------------------------------
    def add_to_pool(self, pullback_path: str | Path, arcs_path: str | Path) -> bool:
        if self.loop is None:
            return False
        try:
            self.loop.add_to_pool(pullback_path, arcs_path)
        except (FormatError, ValueError, OSError) as exc:
            self.loop_panel.show_error(str(exc))
            return False
        self.loop_panel.show_note(f"pool: {len(self.loop.pool)} pullback(s)")
        return True

    def _choose_pool(self) -> None:
        pb, _ = QFileDialog.getOpenFileName(self, "Annotated pullback", "", "Pullback (*)")
        if not pb:
            return
        guess = Path(pb).with_name(Path(pb).name + ".arcs.json")
        arcs, _ = QFileDialog.getOpenFileName(
            self, "Its arcs", str(guess.parent), "Arcs (*.json)"
        )
        if arcs:
            self.add_to_pool(pb, arcs)

    def _remove_pool(self) -> None:
        row = self.loop_panel.pool_list.currentRow()
        if self.loop is not None and 0 <= row < len(self.loop.pool):
            self.loop.remove_from_pool(row)

    def _on_pool_changed(self) -> None:
        lst = self.loop_panel.pool_list
        lst.clear()
        if self.loop is None:
            return
        for e in self.loop.pool:
            lst.addItem(f"{Path(e.pullback).name} + {Path(e.arcs).name} ({e.n_frames} frames)")
        self._save_session()

    # -- display --------------------------------------------------------------------------------
    def _on_predictions_changed(self) -> None:
        s = self.model.prediction_summary() if self.model is not None else None
        pred = self.predicted
        n = len(pred.arcs) if pred is not None else 0
        self.pred_label.setText(
            ""
            if s is None
            else f"predicted: ICS {s['ics']:.1f}, max arc {s['max_arc_deg']:.0f} deg, "
            f"length {s['length_mm']:.1f} mm · {n} proposal(s) left"
        )
        self._refresh_overlay("predicted", visible=bool(pred is not None and pred.arcs))
        self._schedule_views()
