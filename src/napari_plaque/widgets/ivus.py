"""IVUS arc annotator dock: a thin view over the Qt-free annotation models.

- :class:`~napari_plaque.ivus.annotator.ArcAnnotator`: the reader's arcs, undo/redo,
  proposals, paint strokes, end-diastolic frames, autosave;
- :class:`~napari_plaque.ivus.loop.AnnotationLoop`: train, predict, review, retrain, learning
  curve, active-learning proposals, keyframe interpolation, the training pool;
- :mod:`napari_plaque.ivus.readers`: each reader's own file, other readers hidden by default,
  inter-reader figures and adjudication.

This dock turns gestures, buttons and shortcuts into model calls and redraws on the models'
events: the current frame's arcs as coloured sectors (2D labels layers ``arcs``, ``arc
preview``, ``predicted`` for proposals in a cyan band, ``reader <name>`` for other readers in
an outer band, all in mm) and the linked views
(:class:`~napari_plaque.widgets._ivus_views.ArcViews`, :class:`CurvePlot`). Only pullback
layers are offered (a layer tagged for anything but IVUS, such as a CT volume, is refused).

Drawing: with *Draw arcs* on, press on the frame at the start angle, drag around the centre
(either way, up to a full ring) and release at the end angle; a wedge previews the arc and the
status line reads out its angles. On the arc map, *map: paint* / *erase* strokes add or remove
A-lines over the frames crossed (one undo per stroke).

Readers: the reader's name is asked once (the *reader* field; remembered in the Qt settings)
and the arcs go to ``<pullback>.arcs.<reader>.json``; without a name, to the unnamed
``<pullback>.arcs.json``. The loop's state (training pool, frames marked done, learning curve,
proposals) is kept in the session file ``<pullback>.arcs-session[.<reader>].json``.

Shortcuts (viewer and annotation layers): ``Alt-N`` / ``Alt-P`` next / previous frame,
``Alt-C`` next class, ``Alt-V`` copy the previous frame's arcs, ``Alt-D`` delete the arc under
the cursor, ``Alt-A`` / ``Alt-R`` accept / reject the proposal under the cursor, ``Alt-J`` next
proposed frame, ``Alt-E`` / ``Alt-Shift-E`` next / previous end-diastolic frame, ``Alt-K`` next
disagreement (adjudication), ``Control-Z`` undo, ``Control-Shift-Z`` redo.

Predictions also arrive from *Predict with model...* (an SVM ``.npz`` or a deep A-line ``.pt``
model), or a layer that the Model inference dock adds with ``metadata["napari_plaque"] ==
"model-arcs"`` naming this pullback layer.

The dock is a :class:`._dock.DockBase`: the pullback picker (a :class:`._dock.LayerPicker` of
pullback layers only), train / predict with progress and Cancel (one job at a time; the
longitudinal cut and gating are side jobs), and every callback the viewer, its layers and the
models hold goes through the base's guarded links, so a deleted dock detaches itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import QSettings, Qt, QTimer
from qtpy.QtWidgets import (
    QFileDialog,
    QFrame,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..io.errors import FormatError
from ..ivus.annotator import ArcAnnotator, ArcDrag, angle_about, autosave_path
from ..ivus.arcs import ArcSet, CenterMode, load_arcs, pullback_uid
from ..ivus.polar import default_center, to_polar
from ..ivus.readers import (
    ADJUDICATED,
    Adjudication,
    ReaderSet,
    inter_reader,
    load_reader,
    reader_files,
    reader_path,
    reader_slug,
)
from ..ivus.render import arc_map, wedge_mask
from ..ivus.session import SESSION_FORMAT, load_session, save_session, session_path
from ..layers import layer_tag, pullback_from_layer
from ._dock import DockBase, LayerKind
from ._ivus_controls import ERROR_STYLE, AnnotatorControls, ReadersPanel
from ._ivus_layers import ARCS_LAYER, PRED_LAYER, PREVIEW_LAYER, LayerBindingMixin
from ._ivus_predict import LoopPanel, PredictionMixin
from ._ivus_views import POLAR_DEPTH, ArcViews, CurvePlot, combined_map

__all__ = [
    "ARCS_LAYER",
    "PRED_LAYER",
    "PREVIEW_LAYER",
    "SESSION_FORMAT",
    "ArcAnnotatorWidget",
    "autosave_path",
    "is_pullback_layer",
    "session_path",
]

#: after the last frame change, how long scrolling must pause before the views follow (ms)
VIEWS_DELAY_MS = 120
#: where the reader's name is remembered (QSettings organisation, application, key)
SETTINGS = ("napari-plaque", "ivus-annotator", "reader")


def remembered_reader() -> str:
    org, app, key = SETTINGS
    return str(QSettings(org, app).value(key, "") or "")


def remember_reader(name: str) -> None:
    org, app, key = SETTINGS
    QSettings(org, app).setValue(key, name)


def is_pullback_layer(layer: Any) -> bool:
    """A 3D grey image tagged ``ivus`` or untagged (a CT volume or anything tagged for
    another use is not a pullback)."""
    from napari.layers import Image

    return (
        isinstance(layer, Image)
        and layer.ndim == 3
        and not layer.rgb
        and layer_tag(layer) in ("ivus", None)
    )


class Section(QWidget):
    """A titled section that folds away (a header button over its content), so the dock fits
    a 1080-pixel screen; the content keeps its natural height when it grows."""

    def __init__(self, title: str, widgets: list[QWidget], expanded: bool = True) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.header.setStyleSheet("QToolButton { font-weight: bold; text-align: left; }")
        self.header.toggled.connect(self._toggled)
        lay.addWidget(self.header)
        self.content = QWidget()
        inner = QVBoxLayout(self.content)
        inner.setContentsMargins(4, 0, 0, 0)
        for w in widgets:
            inner.addWidget(w)
        lay.addWidget(self.content)
        self.header.setChecked(expanded)
        self._toggled(expanded)

    def _toggled(self, on: bool) -> None:
        self.header.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.content.setVisible(on)

    def expand(self) -> None:
        self.header.setChecked(True)

    def collapse(self) -> None:
        self.header.setChecked(False)

    def isExpanded(self) -> bool:  # noqa: N802 - Qt style
        return self.header.isChecked()


class ArcAnnotatorWidget(LayerBindingMixin, PredictionMixin, DockBase):
    """Annotate IVUS arcs, train and review a detector in the loop, several readers, ICS."""

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(napari_viewer, parent)
        self.layer = None  # the pullback image layer
        self.pullback = None
        self.model: ArcAnnotator | None = None
        self.loop = None  # the AnnotationLoop over self.model
        self.reader = remembered_reader()
        self.others: dict[str, ReaderSet] = {}  # other readers' sets of this pullback
        self.adjudication: Adjudication | None = None
        self._adj_names: tuple[str, str] = ("", "")
        self._drag: ArcDrag | None = None
        self._drag_links: dict[int, Any] = {}  # id(layer) -> its guarded drag callback
        self._model_links: list = []  # the models' signals, through self.links
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        lay = QVBoxLayout(inner)
        scroll.setWidget(inner)
        # wide enough for the button rows and the views; the height scrolls (1080-px screens)
        scroll.setMinimumWidth(440)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        picker = self.layer_picker(LayerKind.PULLBACK, where=is_pullback_layer)
        self.controls = AnnotatorControls(self, layer_combo=picker)
        self.loop_panel = LoopPanel(self)
        # the base's job row: the loop panel's Cancel, progress bar and status line
        self.cancel_btn, self.progress = self.loop_panel.cancel_btn, self.loop_panel.progress
        self.status = self.loop_panel.loop_label
        self.curve = CurvePlot(self)
        self.readers_panel = ReadersPanel(self)
        self.views = ArcViews(
            self.set_frame, self._polar_arc, self._start_longitudinal, self, self._on_paint
        )
        self.sections = {
            "annotate": Section("Annotate", [self.controls]),
            "views": Section("Views: polar frame, arc map, longitudinal cut", [self.views]),
            "loop": Section("Train, predict, review", [self.loop_panel, self.curve]),
            "readers": Section("Readers and adjudication", [self.readers_panel], False),
        }
        for sec in self.sections.values():
            lay.addWidget(sec)
        lay.addStretch(1)
        c, lp, rp = self.controls, self.loop_panel, self.readers_panel
        # the controls tests and scripts reach for, by their familiar names
        self.class_combo, self.center_combo, self.n_alines = (
            c.class_combo,
            c.center_combo,
            c.n_alines,
        )
        self.save_label, self.stats_label, self.pred_label = (
            c.save_label,
            c.stats_label,
            lp.pred_label,
        )
        c.reader_edit.setText(self.reader)
        c.reader_edit.editingFinished.connect(lambda: self.set_reader(c.reader_edit.text()))
        c.layer_combo.currentTextChanged.connect(self._on_layer_chosen)  # the user's choice
        c.layer_combo.picked.connect(self._on_layer_chosen)  # the list changed under it
        c.n_alines.valueChanged.connect(self._on_n_alines)
        c.center_combo.currentIndexChanged.connect(self._on_center_mode)
        c.draw_check.toggled.connect(self._on_draw_toggled)
        for btn, fn in (
            (c.undo_btn, self.undo),
            (c.redo_btn, self.redo),
            (c.copy_btn, self.copy_previous_frame),
            (c.clear_btn, self.clear_frame),
            (c.load_btn, self._choose_load),
            (c.saveas_btn, self._choose_save),
            (c.merge_btn, self.reload_and_merge),
            (lp.model_btn, self._choose_model),
            (lp.train_btn, self.train),
            (lp.retrain_btn, self.retrain),
            (lp.cancel_btn, self.cancel),
            (lp.predict_btn, self.predict_unannotated),
            (lp.accept_arc_btn, self.accept_arc),
            (lp.reject_arc_btn, self.reject_arc),
            (lp.accept_btn, self.accept_prediction_frame),
            (lp.reject_btn, self.reject_prediction_frame),
            (lp.accept_all_btn, self.accept_prediction_all),
            (lp.reviewed_btn, self.mark_frame_done),
            (lp.accept_range_btn, self.accept_range),
            (lp.reject_range_btn, self.reject_range),
            (lp.interp_btn, self.interpolate_keyframes),
            (lp.next_prop_btn, self.next_proposal),
            (lp.gate_btn, self.gate),
            (lp.prev_ed_btn, lambda: self.step_ed(-1)),
            (lp.next_ed_btn, self.step_ed),
            (lp.pool_add_btn, self._choose_pool),
            (lp.pool_remove_btn, self._remove_pool),
            (rp.rescan_btn, self.scan_readers),
            (rp.figures_btn, self.reader_figures),
            (rp.adjudicate_btn, self.start_adjudication),
            (rp.take_a_btn, lambda: self.take("A")),
            (rp.take_b_btn, lambda: self.take("B")),
            (rp.edit_btn, self.edit_adjudicated),
            (rp.next_dis_btn, self.next_disagreement),
            (rp.undo_dec_btn, self.undo_decision),
            (rp.save_adj_btn, self.save_adjudicated),
        ):
            btn.clicked.connect(lambda *_, f=fn: f())
        lp.proposal_list.itemClicked.connect(self._on_proposal_clicked)
        rp.show_others.toggled.connect(lambda on: self._show_others(on))
        # scrolling: the arcs layers follow at once (napari slices them); the views, the stats
        # line and the cursors follow when scrolling pauses (each repaint of the dock costs)
        self._frame_timer = QTimer(self)
        self._frame_timer.setSingleShot(True)
        self._frame_timer.setInterval(VIEWS_DELAY_MS)
        self._frame_timer.timeout.connect(self._redraw_frame)
        # edits: the views (arc map, polar frame) repaint once per turn of the event loop, however
        # many changes an action or a paint stroke made
        self._views_timer = QTimer(self)
        self._views_timer.setSingleShot(True)
        self._views_timer.setInterval(0)
        self._views_timer.timeout.connect(self._update_views)
        # after the picker's own (it refreshes first)
        self.links.connect(self.viewer.layers.events.inserted, self._on_layers_inserted)
        self.links.connect(self.viewer.layers.events.removed, self._refresh_layer_choices)
        self.links.connect(self.viewer.dims.events.current_step, self._on_frame_changed)
        self._refresh_layer_choices()

    # -- the model's state, as the dock's API ----------------------------------------------------
    @property
    def arcset(self) -> ArcSet | None:
        return self.model.arcset if self.model is not None else None

    @property
    def predicted(self) -> ArcSet | None:
        return self.model.predicted if self.model is not None else None

    @predicted.setter
    def predicted(self, arcs: ArcSet | None) -> None:
        if self.model is not None:
            self.model.set_predictions(arcs)

    @property
    def save_path(self) -> Path | None:
        return self.model.save_path if self.model is not None else None

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        return self.model.measurements() if self.model is not None else {}

    @property
    def ax_map(self):
        return self.views.ax_map

    @property
    def ax_polar(self):
        return self.views.ax_polar

    @property
    def _long_cut(self):
        return self.views.long_cut

    def _on_canvas_click(self, event) -> None:
        self.views._on_canvas_click(event)

    def _on_canvas_release(self, event) -> None:
        self.views._on_canvas_release(event)

    # -- layers --------------------------------------------------------------------------------
    def _refused_layers(self) -> list:
        from napari.layers import Image

        return [
            ly
            for ly in self.viewer.layers
            if isinstance(ly, Image) and ly.ndim == 3 and not is_pullback_layer(ly)
        ]

    def _on_layers_inserted(self, event=None) -> None:
        self._refresh_layer_choices()
        layer = getattr(event, "value", None)
        if layer is not None and self.model is not None:
            self._take_predictions_from(layer)

    def on_running(self, running: bool) -> None:
        self.loop_panel.set_running(running)

    def _refresh_layer_choices(self, event=None) -> None:
        """The layer list changed (the picker has refreshed): the note of the layers refused,
        the dock reset when its pullback went, the picker's pullback opened when none is."""
        refused = self._refused_layers()
        note = self.controls.layer_note
        note.setVisible(bool(refused))
        if refused:
            names = ", ".join(f"{ly.name!r} ({layer_tag(ly)})" for ly in refused[:3])
            note.setText(f"not pullbacks, not offered: {names}")
        if self.layer is not None and self.layer.name not in self.viewer.layers:
            self._unbind_layer()
            self._link_models()
            self.layer = self.pullback = self.model = self.loop = None
            self.adjudication = None
            self.controls.save_label.setText("no pullback")
        if self.layer is None:
            pick = self.controls.layer_combo.layer()  # the one default rule (newest pullback)
            if pick is not None:
                self.set_pullback_layer(pick)

    def _on_layer_chosen(self, name: str) -> None:
        if name and name in self.viewer.layers and (self.layer is None or self.layer.name != name):
            self.set_pullback_layer(self.viewer.layers[name])

    def _arcs_path(self) -> Path | None:
        source = getattr(self.pullback, "source", "") or ""
        if not source:
            return None
        return reader_path(source, self.reader) if self.reader else autosave_path(source)

    def set_pullback_layer(self, layer) -> bool:
        """Annotate ``layer``; restores this reader's arcs of its file if there are any.
        A layer that is not a pullback (a CT volume...) is refused (False)."""
        if not is_pullback_layer(layer):
            self.controls.show_save_state(
                f"{layer.name!r} is not an IVUS pullback ({layer_tag(layer) or 'not 3D grey'}): "
                "the arc annotator works on pullback layers only",
                False,
            )
            return False
        self._unbind_layer()
        self.adjudication = None
        self.readers_panel.set_adjudicating(False)
        self.layer = layer
        self.controls.layer_combo.keep(layer.name)  # a newer pullback does not take its place
        self.pullback = pullback_from_layer(layer)
        self._uid = pullback_uid(self.pullback)
        path = self._arcs_path()
        refused = None
        file_n = 0
        if path is not None and path.exists():
            try:
                file_n = load_arcs(
                    path, self.pullback.n_frames, self.pullback.frame_shape, pullback=self._uid
                ).n_alines
            except FormatError as exc:
                refused, path = str(exc), None
        if file_n and file_n != self.controls.n_alines.value():
            self.controls.n_alines.blockSignals(True)
            self.controls.n_alines.setValue(file_n)  # score on the count the reader read on
            self.controls.n_alines.blockSignals(False)
        self.model = ArcAnnotator.for_pullback(
            self.pullback, n_alines=self.controls.n_alines.value(), save_path=path
        )
        self._stamp()
        from ..ivus.loop import AnnotationLoop

        self.loop = AnnotationLoop(self.model, self.pullback)
        self._link_models()
        self.loop_panel.set_frames(self.pullback.n_frames)
        c = self.controls.center_combo
        c.blockSignals(True)
        self._show_center_mode(self.model.arcset.center_mode)
        c.blockSignals(False)
        self._ensure_overlay_layers()
        self._bind_layer()
        if refused is not None:
            self.controls.show_save_state(
                f"{refused}. Not loaded; autosave is off: 'Save as...' another file", False
            )
        else:
            ok = self.model.save_error is None
            where = self.model.save_path or "(no file)"
            who = f"reader {self.reader}" if self.reader else "no reader name (unnamed file)"
            extra = f" ({self.model.message})" if self.model.message else ""
            self.controls.show_save_state(f"{who} · autosave: {where}{extra}", ok)
        self._ask_reader()
        pb = self.pullback
        self.views.reset(
            pb.n_frames, list(self.model.arcset.classes), mm_per_frame=pb.mm_per_frame,
            pixel_mm=float(pb.pixel_spacing_mm[0]),
            depth_mm=min(pb.frame_shape) / 2 * float(pb.pixel_spacing_mm[0]),  # to_polar's
            assumed=set(pb.assumed),
        )
        self._restore_session()
        for ly in list(self.viewer.layers):
            self._take_predictions_from(ly)
        self.scan_readers()
        self._on_arcs_changed()
        self._start_longitudinal()
        return True

    def _link_models(self) -> None:
        """Connect the current model's and loop's signals (guarded, through ``self.links``);
        the previous ones' are dropped (no link keeps a closed pullback alive)."""
        for cb in self._model_links:
            self.links.drop(cb)
        self._model_links = []
        if self.model is None:
            return
        m, lp = self.model, self.loop
        self._model_links = [
            self.links.connect(sig, fn)
            for sig, fn in (
                (m.arcs_changed, self._on_arcs_changed),
                (m.predictions_changed, self._on_predictions_changed),
                (m.save_state, self.controls.show_save_state),
                (lp.proposals_changed, self._on_proposals_changed),
                (lp.curve_changed, self._on_curve_changed),
                (lp.pool_changed, self._on_pool_changed),
                (lp.reviewed_changed, self._save_session),
            )
        ]

    def _ask_reader(self) -> None:
        """No reader name yet: the field asks for it (highlighted) until one is given."""
        edit = self.controls.reader_edit
        edit.setStyleSheet("" if self.reader else "border: 1px solid #ffb000")

    def _stamp(self) -> None:
        """Record in the arcs the pullback they belong to, the A-line count and the reader."""
        a = self.model.arcset
        a.pullback_uid, a.n_alines = self._uid, int(self.model.n_alines)
        a.reader = self.reader

    # -- readers -------------------------------------------------------------------------------
    def set_reader(self, name: str) -> bool:
        """The reader's name (remembered); their own arcs file is opened (others are hidden)."""
        name = str(name).strip()
        if name == self.reader:
            return True
        if name:
            try:
                reader_slug(name)
            except ValueError as exc:
                self.controls.show_save_state(str(exc), False)
                return False
            if name == ADJUDICATED:
                self.controls.show_save_state(f"{ADJUDICATED!r} is kept for the adjudicated set",
                                              False)
                return False
        self.reader = name
        remember_reader(name)
        self.controls.reader_edit.setText(name)
        if self.layer is not None:
            self.set_pullback_layer(self.layer)
        return True

    def scan_readers(self) -> dict[str, ReaderSet]:
        """Other readers' files beside the pullback (loaded, hidden unless shown)."""
        self.others = {}
        bad = []
        source = getattr(self.pullback, "source", "") or ""
        mine = reader_slug(self.reader) if self.reader else None
        if source:
            for slug, path in reader_files(source).items():
                if slug in (mine, ADJUDICATED):
                    continue
                try:
                    rs = load_reader(path, pullback=self.pullback)
                except FormatError as exc:
                    bad.append(str(exc))
                    continue
                self.others[rs.name] = rs
        shown = self.readers_panel.show_others.isChecked()
        names = ", ".join(self.others) or "none"
        state = "shown" if shown else "hidden: blinded reading"
        text = f"other readers: {names}" + (f" ({state})" if self.others else "")
        if bad:
            text += f"\nrefused: {bad[0]}"
        self.readers_panel.others_label.setText(text)
        self.readers_panel.others_label.setStyleSheet(ERROR_STYLE if bad else "")
        me = self.reader or "me"
        self.readers_panel.set_readers([me, *[n for n in self.others if n != me]])
        if self.layer is not None:
            self._set_reader_layers(self.others, shown or self.adjudication is not None)
        return self.others

    def _show_others(self, on: bool) -> None:
        if self.layer is not None:
            self.scan_readers()

    def _me(self) -> ReaderSet:
        return ReaderSet(self.reader or "me", self.model.arcset, self.model.save_path)

    def _reader_sets(self) -> dict[str, ReaderSet]:
        return {self.reader or "me": self._me(), **self.others}

    def reader_figures(self) -> dict[str, Any] | None:
        """Inter-reader figures of this reader and the others (shown in the panel)."""
        label = self.readers_panel.figures_label
        if self.model is None:
            return None
        sets = list(self._reader_sets().values())
        if len(sets) < 2:
            label.setText("one reader: no inter-reader figures (other readers' files go beside "
                          "the pullback)")
            return None
        try:
            out = inter_reader(sets, self.pullback.mm_per_frame, n_alines=self.model.n_alines)
        except ValueError as exc:
            label.setText(str(exc))
            return None
        lines = [
            f"{r['name']}: ICS {r['ics']:.1f}, max arc {r['max_arc_deg']:.0f}°"
            for r in out["readers"]
        ]
        lines.append(f"mean ICS {out['mean_ics']:.1f} (SD {out['sd_ics']:.1f})")
        lines += [
            f"κ {p['a']}–{p['b']}: {p['kappa']:.2f} ({100 * p['observed_agreement']:.0f}% agree)"
            for p in out["pairwise"]
        ]
        if out["fleiss"] is not None:
            lines.append(f"Fleiss κ ({out['fleiss']['raters']} readers): "
                         f"{out['fleiss']['kappa']:.2f}")
        lines += [f"warning: {w}" for w in out["warnings"]]
        label.setText("\n".join(lines))
        return out

    # -- adjudication ------------------------------------------------------------------------
    def start_adjudication(self, a: str | None = None, b: str | None = None) -> bool:
        """Adjudicate readers ``a`` and ``b`` (default: the panel's choice)."""
        rp = self.readers_panel
        if self.model is None:
            return False
        a = a or rp.reader_a.currentText()
        b = b or rp.reader_b.currentText()
        sets = self._reader_sets()
        if a not in sets or b not in sets or a == b:
            rp.adj_label.setText("choose two different readers")
            return False
        try:
            self.adjudication = Adjudication(
                [sets[a], sets[b]], self.model.n_alines, adjudicator=self.reader
            )
        except ValueError as exc:
            rp.adj_label.setText(str(exc))
            return False
        self._adj_names = (a, b)
        rp.take_a_btn.setText(f"Take {a}")
        rp.take_b_btn.setText(f"Take {b}")
        rp.set_adjudicating(True)
        self.scan_readers()  # adjudicating shows the readers' arcs
        first = self.adjudication.next_pending()
        if first is not None:
            self.set_frame(first)
        self._show_adjudication()
        return True

    def _show_adjudication(self) -> None:
        adj = self.adjudication
        if adj is None:
            return
        a, b = self._adj_names
        f = self.current_frame()
        here = ""
        if f in adj.disagreements:
            dec = adj.decisions.get(f, "pending")
            here = f"\nframe {f}: {adj.disagreements[f]} A-lines differ · decision: {dec}"
        self.readers_panel.adj_label.setText(
            f"{a} vs {b}: {len(adj.frames)} disagreeing frames, {len(adj.pending)} pending"
            + here
        )

    def next_disagreement(self) -> int | None:
        adj = self.adjudication
        if adj is None:
            return None
        f = adj.next_pending(self.current_frame())
        if f is None:
            f = next((x for x in adj.frames if x > self.current_frame()), None)
        if f is not None:
            self.set_frame(f)
        self._show_adjudication()
        return f

    def take(self, which: str) -> bool:
        """Take reader A's (``"A"``) or B's arcs (or a reader's name) for the current frame."""
        adj = self.adjudication
        if adj is None:
            return False
        name = {"A": self._adj_names[0], "B": self._adj_names[1]}.get(which, which)
        try:
            adj.take(self.current_frame(), name)
        except ValueError as exc:
            self.readers_panel.adj_label.setText(str(exc))
            return False
        self.next_disagreement()
        return True

    def edit_adjudicated(self) -> bool:
        """The current frame's adjudicated arcs are the ones drawn here (the adjudicator's)."""
        adj = self.adjudication
        if adj is None:
            return False
        f = self.current_frame()
        arcs = [(a.cls, a.start_deg, a.end_deg) for a in self.arcset.arcs_for(f)]
        try:
            adj.edit(f, arcs)
        except ValueError as exc:
            self.readers_panel.adj_label.setText(str(exc))
            return False
        self.next_disagreement()
        return True

    def undo_decision(self) -> bool:
        ok = self.adjudication is not None and self.adjudication.undo()
        self._show_adjudication()
        return ok

    def save_adjudicated(self, path: str | Path | None = None) -> Path | None:
        adj = self.adjudication
        if adj is None:
            return None
        source = getattr(self.pullback, "source", "") or ""
        if path is None and not source:
            path, _ = QFileDialog.getSaveFileName(self, "Adjudicated arcs", "", "Arcs (*.json)")
            if not path:
                return None
        target = Path(path) if path is not None else reader_path(source, ADJUDICATED)
        try:
            out = adj.save(target, overwrite=True)
        except (ValueError, OSError) as exc:
            self.readers_panel.adj_label.setText(f"not saved: {exc}")
            return None
        self.readers_panel.adj_label.setText(f"adjudicated set saved: {out}")
        return out

    # -- session file (the loop's state) ---------------------------------------------------------
    def _session_file(self) -> Path | None:
        source = getattr(self.pullback, "source", "") or ""
        return session_path(source, self.reader) if source else None

    def _save_session(self) -> None:
        path = self._session_file()
        if path is None or self.loop is None:
            return
        try:
            save_session(path, self.loop.to_json(), self.reader, self._uid,
                         self.pullback.n_frames)  # fmt: skip
        except OSError as exc:
            self.loop_panel.show_error(f"session not saved ({exc}): the pool is kept in memory")

    def _restore_session(self) -> None:
        path = self._session_file()
        if path is None or not path.exists() or self.loop is None:
            self._on_pool_changed()
            return
        try:
            sess = load_session(path, self._uid, self.pullback.n_frames)
            warnings = self.loop.from_json(sess.loop)
        except (FormatError, ValueError, KeyError, TypeError) as exc:
            self.loop_panel.show_error(f"session not restored: {exc}")
            return
        self.loop_panel.show_note(
            "; ".join(warnings) if warnings else f"session restored: {len(self.loop.pool)} "
            "pool pullback(s)"
        )

    def _on_curve_changed(self) -> None:
        if self.loop is not None:
            self.curve.set_points([(p.n_frames, p.f1) for p in self.loop.learning_curve])
            self._save_session()

    # -- painting on the arc map ----------------------------------------------------------------
    def _on_paint(self, what: str, f0: int, f1: int, a0: float, a1: float, erase: bool) -> None:
        if self.model is None:
            return
        if what == "end":
            self.model.end_stroke()
            return
        if what == "begin":
            self.model.begin_stroke()
        cls = self.controls.class_combo.currentText()
        self.model.paint(range(f0, f1 + 1), a0 % 360.0, a1 % 360.0, cls, erase)

    # -- geometry -------------------------------------------------------------------------------
    def current_frame(self) -> int:
        if self.layer is None:
            return 0
        data = self.layer.world_to_data(self.viewer.dims.point)
        return int(np.clip(round(float(data[0])), 0, self.pullback.n_frames - 1))

    def angle_at(self, position) -> tuple[int, float]:
        """(frame, angle in degrees) of a world position, about that frame's centre."""
        data = np.asarray(self.layer.world_to_data(position), float)
        frame = self.current_frame() if data.size < 3 else int(round(data[-3]))
        frame = int(np.clip(frame, 0, self.pullback.n_frames - 1))
        return frame, angle_about(self.arcset.center_of(frame), data[-2], data[-1])

    # -- gestures --------------------------------------------------------------------------------
    def on_mouse_drag(self, layer, event):
        """Mouse callback (press -> drag -> release) drawing one arc; napari-style generator
        (bound through ``self.links``: not called once the dock is deleted)."""
        if self.model is None or not self.controls.draw_check.isChecked():
            return
        if event.type != "mouse_press" or getattr(event, "button", 1) not in (1, None):
            return
        frame, start = self.angle_at(event.position)
        drag = ArcDrag(frame, start)
        yield
        while event.type == "mouse_move":
            arc = drag.move(self.angle_at(event.position)[1])
            self._set_preview(frame, arc)
            if arc is not None:
                self.controls.status_label.setText(
                    f"drawing {arc[0]:.0f} -> {arc[1]:.0f} deg ({drag.extent_deg:.0f} deg)"
                )
            yield
        self._set_preview(frame, None)
        self.controls.status_label.setText("")
        arc = drag.arc()
        if arc is not None:
            self.model.add_arc(frame, self.controls.class_combo.currentText(), *arc)

    def _set_preview(self, frame: int, arc: tuple[float, float] | None) -> None:
        if PREVIEW_LAYER not in self.viewer.layers:
            return
        lyr = self.viewer.layers[PREVIEW_LAYER]
        if arc is None:
            lyr.data = np.zeros(self.pullback.frame_shape, np.uint8)
            lyr.visible = False
            return
        lyr.visible = True
        center = self.arcset.center_of(frame)
        lyr.data = wedge_mask(self.pullback.frame_shape, center, *arc).astype(np.uint8)

    def _polar_arc(self, start: float, end: float) -> None:
        if self.model is not None:
            self.model.add_arc(
                self.current_frame(), self.controls.class_combo.currentText(), start, end
            )

    def _show_center_mode(self, mode) -> None:
        """Select ``mode`` in the centre box (a file's ``manual`` centres show as lumen: both
        are per-frame centres, not the catheter)."""
        mode = CenterMode(mode)
        c = self.controls.center_combo
        want = CenterMode.CATHETER if mode is CenterMode.CATHETER else CenterMode.LUMEN
        c.setCurrentIndex(max(c.findData(want), 0))

    def _on_center_mode(self, index: int) -> None:
        """Catheter- or lumen-centred arcs (only while no arcs exist)."""
        if self.model is None:
            return
        mode = CenterMode(self.controls.center_combo.itemData(index))
        if mode is CenterMode.LUMEN and not self.arcset.arcs:
            from ..ivus.lumen import estimate_lumen_centers

            centers = estimate_lumen_centers(self.pullback.frames).round(3).tolist()
        else:
            centers = list(default_center(self.pullback.frame_shape))
        if not self.model.set_center_mode(mode.value, centers):
            c = self.controls.center_combo
            c.blockSignals(True)
            self._show_center_mode(self.arcset.center_mode)
            c.blockSignals(False)
            self.controls.save_label.setText(self.model.message)

    # -- commands (buttons and shortcuts) -------------------------------------------------------
    def add_arc(self, frame: int, cls: str, start_deg: float, end_deg: float) -> None:
        self.model.add_arc(frame, cls, start_deg, end_deg)

    def delete_arc_at(self, frame: int, angle_deg: float) -> bool:
        return self.model.delete_at(frame, angle_deg, self.controls.class_combo.currentText())

    def delete_arc_under_cursor(self) -> bool:
        return self.delete_arc_at(*self.angle_at(self.viewer.cursor.position))

    def copy_previous_frame(self) -> int:
        f = self.current_frame()
        return self.model.copy_frame(f - 1, f) if self.model is not None and f > 0 else 0

    def clear_frame(self) -> None:
        if self.model is not None:
            self.model.clear_frame(self.current_frame())

    def undo(self) -> bool:
        return self.model.undo() if self.model is not None else False

    def redo(self) -> bool:
        return self.model.redo() if self.model is not None else False

    def next_class(self) -> str:
        combo = self.controls.class_combo
        combo.setCurrentIndex((combo.currentIndex() + 1) % combo.count())
        return combo.currentText()

    def step_frame(self, delta: int) -> int:
        f = int(np.clip(self.current_frame() + delta, 0, self.pullback.n_frames - 1))
        self.set_frame(f)
        return f

    def set_frame(self, frame: int) -> None:
        world = self.layer.data_to_world([frame, 0, 0])
        self.viewer.dims.set_point(0, float(world[0]))
        self._frame_timer.stop()
        self._redraw_frame()

    # -- files -------------------------------------------------------------------------------------
    def save_to(self, path: str | Path) -> bool:
        return self.model.save_to(path)

    def load_from(self, path: str | Path) -> None:
        """Load an arcs file in place of the reader's arcs (undoable); FormatError naming the
        file when it belongs to another pullback."""
        if self.model is None:
            raise ValueError("open a pullback before loading its arcs")
        pb = self.pullback
        load_arcs(path, pb.n_frames, pb.frame_shape, pullback=self._uid)  # refuses another's
        self.model.load_from(path)
        self._stamp()

    def reload_and_merge(self) -> int:
        try:
            return self.model.reload_and_merge() if self.model is not None else 0
        except FormatError as exc:
            self.controls.show_save_state(str(exc), False)
            return 0

    def _choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save arcs", "", "Arcs (*.json)")
        if path and self.model is not None:
            self.save_to(path)

    def _choose_load(self) -> None:
        if self.model is None:
            self.controls.save_label.setText("open a pullback first")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load arcs", "", "Arcs (*.json)")
        if path:
            try:
                self.load_from(path)
            except FormatError as exc:
                self.controls.show_save_state(str(exc), False)

    # -- display -------------------------------------------------------------------------------
    def _on_arcs_changed(self) -> None:
        self._refresh_overlay(ARCS_LAYER)
        self._show_stats()
        self._schedule_views()

    def _schedule_views(self) -> None:
        self._views_timer.start()  # (reached from guarded callbacks only)

    def _update_views(self) -> None:
        self._update_map(draw=False)
        self._redraw_frame()  # one blit paints both

    def _update_map(self, draw: bool = True) -> None:
        """The arc map: the reader's arcs, and proposals (cyan) where the reader has none."""
        if self.model is None:
            return
        pred = self.predicted
        proposed = arc_map(pred, 360) if pred is not None and pred.arcs else None
        self.views.set_arc_map(combined_map(arc_map(self.arcset, 360), proposed), draw)

    def _on_n_alines(self, n: int) -> None:
        if self.model is not None:
            self.model.set_n_alines(n)  # the model drops its own cached figures
            self._show_stats()

    def _on_frame_changed(self, event=None) -> None:
        """Scrolling: redraw what depends on the frame once the event loop is free; nothing
        while the dock is hidden (redrawn when shown) or when the pullback's frame did not
        change (another layer's slice was stepped)."""
        if self.model is None:
            return
        if not self.isVisible():
            self._stale = True
            return
        if self.current_frame() == getattr(self, "_drawn_frame", None):
            return
        self._frame_timer.start()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if getattr(self, "_stale", False) and self.model is not None:
            self._stale = False
            self._frame_timer.start()

    def _redraw_frame(self) -> None:
        if self.model is None:
            return
        f = self.current_frame()
        self._drawn_frame = f
        self._show_stats()
        frame = np.asarray(self.pullback.frames[f])
        pol = to_polar(frame, self.arcset.center_of(f), n_alines=360, depth_samples=POLAR_DEPTH)
        arcs = [(a.cls, a.start_deg, a.end_deg) for a in self.arcset.arcs_for(f)]
        pred = self.predicted
        prop = [(a.cls, a.start_deg, a.end_deg) for a in pred.arcs_for(f)] if pred else []
        self.views.show_frame(f, pol.T, arcs, f * self.pullback.mm_per_frame, prop)
        if self.adjudication is not None:
            self._show_adjudication()

    def _show_stats(self) -> None:
        if self.model is not None:
            self.controls.show_stats(self.current_frame(), self.stats, self.pullback,
                                     n_arcs=len(self.arcset.arcs))

    def _start_longitudinal(self, *_: Any, block: bool = False) -> None:
        if self.layer is None:
            return
        from ..ivus.render import longitudinal_cut

        angle = float(self.views.long_angle.value())
        frames, center = self.pullback.frames, self.arcset.center_of(0)
        if block or self.pullback.n_frames <= 256:
            self.views.set_long_cut(longitudinal_cut(frames, angle, center))
            return

        def job():
            yield 0
            return longitudinal_cut(frames, angle, center)

        # a side job: a Train may start meanwhile; a newer angle's cut replaces this one
        self.start_side("longitudinal cut", job, desc="longitudinal cut",
                        on_done=self.views.set_long_cut)  # fmt: skip
