"""One base for the docks: a layer picker by kind, a worker with progress + Cancel, the "dock
was deleted" guard and forms from a core ``*_DEFAULTS`` dict (napari-threedee's way: one
component base, the docks say only what differs).

- :class:`LayerKind` and :class:`LayerPicker`: a combo box of the viewer's layers of one kind,
  kept in sync with the layer list; the default follows :func:`napari_plaque.layers.default_layer`
  (one rule for every dock) and a user's own choice is kept (:func:`._common.refill_combo`).
- :func:`dock_alive` and :class:`Links`: napari keeps calling a dock's callbacks after Qt has
  deleted the dock (the viewer lives on); every callback connected through :class:`Links` first
  asks :func:`dock_alive` and, when the dock is gone, disconnects everything it connected.
- :class:`DockBase`: a ``QWidget`` with ``viewer``, ``links``, :meth:`DockBase.layer_picker`,
  :meth:`DockBase.form` (:func:`._form.parameter_form`), :meth:`DockBase.build_run_row` (Run,
  Cancel, progress bar, status line; :meth:`DockBase.run_buttons` for a dock that lays out
  its own row) and :meth:`DockBase.start` (:func:`._worker.start_worker`: each yield advances
  the bar, Cancel stops the worker at its next yield and nothing it would have returned
  reaches the viewer). :meth:`DockBase.start_call` runs a :mod:`napari_plaque.api` function
  the same way (the dock then reports the command's rows; its ``progress`` callback drives
  the bar and a Cancel stops it at its next step: :func:`._worker.iter_call`);
  :meth:`DockBase.on_running` for a dock with several run buttons; :meth:`DockBase.start_side`
  for a short job beside it (a view's redraw: never refused, the newest of its key kept).

Every dock registered in ``napari.yaml`` derives from :class:`DockBase`
(``tests/test_dock_layout.py``, which lists the ones not moved yet).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from ..layers import default_layer, layer_tag
from ._common import refill_combo
from ._form import form_values, parameter_form
from ._worker import iter_call, start_worker

__all__ = [
    "NONE",
    "DockBase",
    "LayerKind",
    "LayerPicker",
    "Links",
    "dock_alive",
    "layers_of_kind",
]

#: the entry of an optional picker that means "no layer"
NONE = "(none)"


class LayerKind(str, Enum):
    """What a picker lists: the layer class, and the ``napari_plaque`` tag its default prefers."""

    IMAGE = "image"  #: any image layer; a CT (tag ``ct``) is the default
    LABELS = "labels"  #: any labels layer
    PULLBACK = "pullback"  #: 3D image layers; an IVUS pullback (tag ``ivus``) is the default
    RADIOGRAPH = "radiograph"  #: 2D image layers but saliency maps; tag ``radiograph`` preferred
    #: what a centreline is made from: points layers (ordered, ostium first), then 3D labels
    #: layers (a lumen / vessel mask, skeletonised)
    CENTRELINE = "centreline"

    @property
    def tag(self) -> str | None:
        return _KIND_TAGS[self]


_KIND_TAGS = {
    LayerKind.IMAGE: "ct",
    LayerKind.LABELS: None,
    LayerKind.PULLBACK: "ivus",
    LayerKind.RADIOGRAPH: "radiograph",
    LayerKind.CENTRELINE: None,
}


def layers_of_kind(viewer, kind: LayerKind | str, min_ndim: int = 0) -> list:
    """The viewer's layers a picker of ``kind`` lists, in viewer order."""
    import napari.layers

    kind = LayerKind(kind)
    if kind is LayerKind.CENTRELINE:
        pts = [ly for ly in viewer.layers if isinstance(ly, napari.layers.Points)]
        return pts + layers_of_kind(viewer, LayerKind.LABELS, max(min_ndim, 3))
    cls = napari.layers.Labels if kind is LayerKind.LABELS else napari.layers.Image
    if kind is LayerKind.PULLBACK:
        min_ndim = max(min_ndim, 3)
    out = []
    for ly in viewer.layers:
        if not isinstance(ly, cls) or ly.ndim < min_ndim:
            continue
        if kind is LayerKind.RADIOGRAPH and (ly.ndim != 2 or layer_tag(ly) == "cxr-saliency"):
            continue
        out.append(ly)
    return out


# -- the "dock was deleted" guard ---------------------------------------------------------------
def dock_alive(widget: Any) -> bool:
    """False once Qt has deleted ``widget`` (its Python wrapper may live on in a callback)."""
    if widget is None:
        return False
    try:
        widget.objectName()
    except RuntimeError:  # "wrapped C/C++ object ... has been deleted"
        return False
    return True


class Links:
    """The callbacks a dock connected to things that outlive it (viewer events, psygnal
    signals, the viewer's mouse callbacks), each guarded: called after the dock was deleted,
    it disconnects them all and does nothing. :meth:`detach` disconnects them on close."""

    def __init__(self, owner: QWidget, on_detach: Callable[[], None] | None = None) -> None:
        self.owner = owner
        self._on_detach = on_detach
        self._links: list[tuple[Any, Callable]] = []
        self._mouse: list[tuple[list, Callable]] = []
        self.detached = False

    def guard(self, fn: Callable) -> Callable:
        """``fn`` wrapped: runs while the owner lives; once it is deleted, detaches instead."""

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not dock_alive(self.owner):
                self.detach()
                return None
            return fn(*args, **kwargs)

        return guarded

    def connect(self, emitter: Any, fn: Callable) -> Callable:
        """Connect a guarded ``fn`` to ``emitter`` (napari EventEmitter or psygnal signal)."""
        cb = self.guard(fn)
        emitter.connect(cb)
        self._links.append((emitter, cb))
        return cb

    def mouse(self, callbacks: list, fn: Callable) -> Callable:
        """Append ``fn`` (a generator function, as napari's drag callbacks) to a viewer's or
        layer's ``mouse_*_callbacks`` list, guarded."""
        owner = self

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any):
            if not dock_alive(owner.owner):
                owner.detach()
                return
            out = fn(*args, **kwargs)
            if out is not None and hasattr(out, "__next__"):
                yield from out

        callbacks.append(guarded)
        self._mouse.append((callbacks, guarded))
        return guarded

    def drop(self, cb: Callable) -> None:
        """Disconnect one callback connected here (the value :meth:`connect` or :meth:`mouse`
        returned), e.g. those of a model the dock replaces; safe when it is gone already."""
        for emitter, c in [x for x in self._links if x[1] is cb]:
            with contextlib.suppress(RuntimeError, TypeError, ValueError, KeyError):
                emitter.disconnect(c)
        for callbacks, c in [x for x in self._mouse if x[1] is cb]:
            with contextlib.suppress(ValueError):
                callbacks.remove(c)
        self._links = [x for x in self._links if x[1] is not cb]
        self._mouse = [x for x in self._mouse if x[1] is not cb]

    def detach(self) -> None:
        """Disconnect every callback connected here (safe to call twice)."""
        for emitter, cb in self._links:
            with contextlib.suppress(RuntimeError, TypeError, ValueError, KeyError):
                emitter.disconnect(cb)
        for callbacks, cb in self._mouse:
            with contextlib.suppress(ValueError):
                callbacks.remove(cb)
        self._links, self._mouse = [], []
        if not self.detached and self._on_detach is not None:
            self.detached = True
            with contextlib.suppress(RuntimeError):
                self._on_detach()
        self.detached = True


# -- the layer picker -----------------------------------------------------------------------------
_KIND_TAG = object()  # "the kind's own tag"


class LayerPicker(QComboBox):
    """A combo box of the viewer's layers of one kind, kept in sync with the layer list.

    The default is :func:`~napari_plaque.layers.default_layer` over the listed layers (``tag``
    preferred: the kind's own unless given, e.g. the loaded model's input; plus
    ``default_options``: ``prefer_words``, ``prefer_tags``, ``avoid_words``...); a choice the
    user made stays while its layer exists. A labels picker without options has no default
    rule (it keeps its current layer: a new overlay never takes a mask's place). ``optional``
    adds :data:`NONE` first (and it is the default, unless ``default_none=False``: then the
    rule's layer is, :data:`NONE` when there is none). :meth:`set_default` changes the rule.

    ``where(layer)``: a dock's own filter over the kind's layers (e.g. not its own output
    layers); ``selection``: the viewer's selected layers raise a layer in the rule;
    ``default_fn(layers)``: a rule that depends on the dock's state (e.g. the reference
    picker avoids the automated picker's layer), called on each refresh. :attr:`picked`
    is emitted when a refresh changed the chosen layer (the list changed under it: Qt's own
    signals are blocked while it refills).
    """

    #: the chosen name after a refresh changed it
    picked = Signal(str)

    def __init__(
        self,
        viewer,
        kind: LayerKind | str,
        optional: bool = False,
        min_ndim: int = 0,
        links: Links | None = None,
        parent: QWidget | None = None,
        tag: Any = _KIND_TAG,
        where: Callable[[Any], bool] | None = None,
        selection: bool = False,
        default_fn: Callable[[list], str | None] | None = None,
        default_none: bool = True,
        **default_options: Any,
    ) -> None:
        super().__init__(parent)
        self.viewer, self.kind, self.optional = viewer, LayerKind(kind), optional
        self.min_ndim = min_ndim
        self.tag = self.kind.tag if tag is _KIND_TAG else tag
        self._rule = (tag is not _KIND_TAG or bool(default_options) or self.tag is not None
                      or default_fn is not None)  # fmt: skip
        self.default_options = default_options
        self.where, self.selection, self.default_fn = where, selection, default_fn
        self.default_none = default_none
        self.links = links if links is not None else Links(self)
        for emitter in (viewer.layers.events.inserted, viewer.layers.events.removed):
            self.links.connect(emitter, self.refresh)
        self.refresh()

    def layers(self) -> list:
        layers = layers_of_kind(self.viewer, self.kind, self.min_ndim)
        return layers if self.where is None else [ly for ly in layers if self.where(ly)]

    def default(self, layers: list) -> str | None:
        """The rule's layer among ``layers`` (None: no rule, or no candidate)."""
        if (self.optional and self.default_none) or not self._rule:
            return None
        if self.default_fn is not None:
            return self.default_fn(layers)
        options = dict(self.default_options)
        if self.selection:
            options["selected"] = [ly.name for ly in self.viewer.layers.selection]
        return default_layer(layers, self.tag, **options)

    def refresh(self, *_: Any) -> None:
        if not dock_alive(self):
            self.links.detach()
            return
        old = self.currentText()
        layers = self.layers()
        names = ([NONE] if self.optional else []) + [ly.name for ly in layers]
        default = self.default(layers)
        if default is None and self.optional and not self.default_none:
            default = NONE
        refill_combo(self, names, default=default)
        if self.currentText() != old:
            self.picked.emit(self.currentText())

    def set_default(self, tag: Any = _KIND_TAG, **default_options: Any) -> None:
        """Change the default rule (e.g. a loaded model's input tag) and refresh."""
        if tag is not _KIND_TAG:
            self.tag = tag
        self.default_options.update(default_options)
        self._rule = True
        self.refresh()

    def layer(self):
        """The chosen layer, or None (nothing listed, or :data:`NONE`)."""
        name = self.currentText()
        if not name or name == NONE or name not in self.viewer.layers:
            return None
        return self.viewer.layers[name]

    def select(self, name: str) -> None:
        """Choose a layer by name (as a user would: the choice is kept)."""
        self.refresh()
        self.setCurrentText(name)

    def keep(self, name: str | None = None) -> None:
        """Keep ``name`` (default: the current layer) as if the user had chosen it, without a
        refresh: a dock that opened a layer stays on it while it exists (a newer layer of the
        kind does not take its place)."""
        if name is not None and name != self.currentText():
            self.setCurrentText(name)
        self.setProperty("np_user_chosen", True)  # the mark refill_combo keeps a choice by


# -- the base -------------------------------------------------------------------------------------
class DockBase(QWidget):
    """What every napari-plaque dock shares; subclasses build their layout in ``__init__``.

    ``self.viewer``; ``self.links`` (guarded connections, detached on close or on the first
    callback after the dock was deleted, then :meth:`on_detach` runs); pickers from
    :meth:`layer_picker`; a form from :meth:`form`; one worker at a time via :meth:`start`
    (``self.worker``, :attr:`running`, :meth:`cancel`) with the row of :meth:`build_run_row`.
    """

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.links = Links(self, on_detach=lambda: self.on_detach())
        self.worker = None
        self._stop: threading.Event | None = None  # set by Cancel: stops a start_call job
        self.run_btn: QPushButton | None = None
        self.cancel_btn: QPushButton | None = None
        self.progress: QProgressBar | None = None
        self.status: QLabel | None = None
        self._side: dict[str, Any] = {}  # key -> the newest side job (start_side)

    # -- layers and forms ---------------------------------------------------------------------
    def layer_picker(
        self, kind: LayerKind | str, optional: bool = False, **options: Any
    ) -> LayerPicker:
        """A :class:`LayerPicker` whose viewer connections this dock owns."""
        return LayerPicker(
            self.viewer, kind, optional=optional, links=self.links, parent=self, **options
        )

    def form(
        self,
        defaults: Mapping[str, Any],
        options: Mapping[str, Mapping[str, Any]] | None = None,
    ):
        """A magicgui form of a core ``*_DEFAULTS`` dict (:func:`._form.parameter_form`)."""
        return parameter_form(defaults, options)

    @staticmethod
    def form_values(form) -> dict[str, Any]:
        return form_values(form)

    def alive(self) -> bool:
        """False once Qt deleted this dock."""
        return dock_alive(self)

    # -- the worker ---------------------------------------------------------------------------
    def run_buttons(
        self, run_text: str = "Run", on_run: Callable | None = None
    ) -> tuple[QPushButton, QPushButton]:
        """Run and Cancel (enabled while a job runs) for a dock that lays them out itself;
        ``on_run`` (default: the dock's ``run``) runs on a click."""
        self.run_btn = QPushButton(run_text)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        run = on_run if on_run is not None else getattr(self, "run", None)
        if run is not None:
            self.run_btn.clicked.connect(lambda *_: run())
        self.cancel_btn.clicked.connect(lambda *_: self.cancel())
        return self.run_btn, self.cancel_btn

    def build_run_row(self, layout, run_text: str = "Run", on_run: Callable | None = None):
        """Add Run and Cancel buttons, a progress bar and a status line to ``layout``."""
        row = QHBoxLayout()
        for b in self.run_buttons(run_text, on_run):
            row.addWidget(b)
        layout.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        return self.run_btn

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(
        self,
        gen_func: Callable,
        *args: Any,
        total: int | None,
        desc: str,
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None = None,
        on_aborted: Callable[[], None] | None = None,
        replace: bool = False,
        **kwargs: Any,
    ):
        """Run ``gen_func(*args, **kwargs)`` (a core step generator) in a worker; returns it.

        While one runs, a second start is refused (None) unless ``replace`` (the old one is
        cancelled first; only the newest worker's result is kept). The callbacks run only while
        the dock lives; errors go to ``on_error`` (default: the status line). ``total``: the
        steps of the progress bars; None: no napari progress bar (a job of milliseconds, e.g.
        an incremental update after an edit, where a bar would cost more than the job)."""
        if self.worker is not None:
            if not replace:
                return None
            self.worker.quit()
        if gen_func is not iter_call:
            self._stop_job()  # a replaced api job stops too
        if self.progress is not None:
            self.progress.setRange(0, max(int(total or 0), 1))
            self.progress.setValue(0)
        if self.run_btn is not None and not replace:
            self.run_btn.setEnabled(False)
        if self.cancel_btn is not None:
            self.cancel_btn.setEnabled(True)
        self.on_running(True)
        holder: dict[str, Any] = {}

        def finished() -> None:
            if holder.get("w") is self.worker and dock_alive(self):
                self.worker = None
                self._on_finished()
                self.on_running(False)

        worker, mine = self._new_worker(
            lambda: holder.get("w") is self.worker, gen_func, args, kwargs, total=total,
            desc=desc, on_done=on_done, on_error=on_error,
            on_aborted=on_aborted or self._on_aborted, on_finished=finished,
        )  # fmt: skip
        worker.yielded.connect(mine(self._on_yield))
        holder["w"] = worker
        self.worker = worker
        worker.start()
        return worker

    def _new_worker(self, current: Callable[[], bool], gen_func: Callable, args: tuple,
                    kwargs: dict, *, total: int | None, desc: str, on_done: Callable,
                    on_error: Callable | None, on_finished: Callable,
                    on_aborted: Callable | None = None):  # fmt: skip
        """A worker (not started) and the wrapper its callbacks go through: each runs only
        while ``current()`` (the worker is still the dock's newest: a replaced worker's late
        signals are dropped) and the dock lives."""

        def mine(fn: Callable | None) -> Callable:
            def cb(*a: Any) -> None:
                if fn is not None and current() and dock_alive(self):
                    fn(*a)

            return cb

        worker = start_worker(
            gen_func, *args, total=total, desc=desc, on_done=mine(on_done),
            on_error=mine(on_error or self._on_error),
            on_aborted=mine(on_aborted) if on_aborted is not None else None,
            on_finished=on_finished, start=False, **kwargs,
        )  # fmt: skip
        return worker, mine

    def start_side(
        self,
        key: str,
        gen_func: Callable,
        *args: Any,
        desc: str,
        on_done: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None = None,
        total: int | None = 0,
        **kwargs: Any,
    ):
        """Run a short job beside the one of :meth:`start` (a view's redraw, a look-up): no
        Run / Cancel / progress row, never refused. A second side job of the same ``key``
        quits the first, whose result is dropped; callbacks run only while the dock lives
        (errors go to ``on_error``, default: the status line); close stops them. Returns the
        worker."""
        old = self._side.get(key)
        if old is not None:
            with contextlib.suppress(RuntimeError):
                old.quit()
        holder: dict[str, Any] = {}

        def finished() -> None:
            if self._side.get(key) is holder["w"]:
                del self._side[key]

        worker, _ = self._new_worker(
            lambda: self._side.get(key) is holder["w"], gen_func, args, kwargs, total=total,
            desc=desc, on_done=on_done, on_error=on_error, on_finished=finished,
        )  # fmt: skip
        holder["w"] = self._side[key] = worker
        worker.start()
        return worker

    def start_call(self, fn: Callable, *args: Any, **kwargs: Any):
        """:meth:`start` for a :mod:`napari_plaque.api` function (one that takes the CLI's
        ``progress`` callback): it runs as the command runs (the dock's rows are the CLI's);
        each step it reports advances the bar; Cancel stops it at its next step."""
        if self.worker is not None and not kwargs.get("replace"):
            return None
        self._stop_job()
        self._stop = stop = threading.Event()
        return self.start(iter_call, fn, *args, stop=stop, **kwargs)

    def _stop_job(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    def cancel(self) -> None:
        """Stop the running job at its next step; nothing it would have made is kept."""
        if self.worker is not None:
            self._set_status("cancelling…")
            self.worker.quit()  # first: the worker sees it at the step the stop ends on
            self._stop_job()

    def _set_status(self, text: str) -> None:
        if self.status is not None:
            self.status.setText(text)

    def _on_yield(self, step: Any) -> None:
        if self.progress is not None and isinstance(step, (int, np.integer)):
            self.progress.setValue(int(step))

    def _on_error(self, exc: Exception) -> None:
        self._set_status(f"failed: {exc}")

    def _on_aborted(self) -> None:
        self._set_status("cancelled: nothing was added")

    def _on_finished(self) -> None:
        if self.run_btn is not None:
            self.run_btn.setEnabled(True)
        if self.cancel_btn is not None:
            self.cancel_btn.setEnabled(False)

    def on_running(self, running: bool) -> None:
        """A job of :meth:`start` began (True) or ended (False, after its callbacks): a dock
        with more buttons than :attr:`run_btn` to disable while it runs does so here."""

    # -- files --------------------------------------------------------------------------------
    def save_with_dialog(self, title: str, filt: str, write: Callable[[str], str],
                         start: str = "") -> None:  # fmt: skip
        """Ask where to save; ``write(path)`` writes and returns what the status line says;
        a ValueError or OSError it raises is said there too."""
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, title, start, filt)
        if not path:
            return
        try:
            self._set_status(write(path))
        except (ValueError, OSError) as exc:
            self._set_status(f"error: {exc}")

    # -- lifecycle ----------------------------------------------------------------------------
    def on_detach(self) -> None:
        """Undo what :attr:`links` cannot (key bindings...); runs once, on close or deletion."""

    def detach(self) -> None:
        for w in [self.worker, *self._side.values()]:
            if w is not None:
                with contextlib.suppress(RuntimeError):
                    w.quit()
        self._side = {}
        self._stop_job()
        self.links.detach()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.detach()
        super().closeEvent(event)
