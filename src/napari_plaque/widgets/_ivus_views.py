"""The arc annotator's linked views: polar frame, arc map (with legend), longitudinal cut,
and the learning curve of the annotation loop.

The arc map (frames x angle) also shows the proposals waiting for review (cyan) and takes
paint strokes: with *map: paint* or *map: erase*, press, drag and release over it to add or
remove the A-lines under a brush of the chosen width on every frame crossed (one undo step per
stroke, :meth:`ArcAnnotator.begin_stroke` / ``paint`` / ``end_stroke``).

One matplotlib figure, drawn in full only when the arcs or the cut change; moving to another
frame redraws just the polar image, its arc spans and the two frame cursors by blitting over a
saved background (matplotlib's blitting recipe), so scrolling costs a few milliseconds instead
of a full figure redraw per frame.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

#: colour of each annotation class, in class order (the arcs layer and the views share it)
CLASS_COLORS = {1: "yellow", 2: "magenta", 3: "orange", 4: "lime"}
#: colour of proposals (predicted or interpolated arcs waiting for review)
PROPOSAL_COLOR = "cyan"
#: the arc map's value for a proposed A-line (after the class indices 1..4)
PROPOSAL_VALUE = 5
POLAR_DEPTH = 128
MAP_MODES = ("go to frame", "paint", "erase")


def combined_map(user: np.ndarray, proposed: np.ndarray | None) -> np.ndarray:
    """The arc map shown: the user's class indices, proposals (:data:`PROPOSAL_VALUE`) where
    the user has none."""
    out = np.asarray(user, np.uint8).copy()
    if proposed is not None:
        out[(out == 0) & (np.asarray(proposed) > 0)] = PROPOSAL_VALUE
    return out


def unwrapped(start: float, end: float) -> list[tuple[float, float]]:
    """An arc as one or two [a, b] pieces inside [0, 360] (for drawing)."""
    ext = (end - start) % 360.0 if abs(end - start) < 360 else 360.0
    if start + ext <= 360.0:
        return [(start, start + ext)]
    return [(start, 360.0), (0.0, start + ext - 360.0)]


class ArcViews(QWidget):
    """Polar view of the current frame, arc map (frames x angle) and a longitudinal cut.

    ``on_frame(frame)``: a click on the map or the cut asks to go to that frame;
    ``on_polar_arc(start, end)``: a press-release along the polar view's angle axis draws an arc;
    ``on_long_angle(angle)``: the cut angle changed.
    """

    def __init__(
        self,
        on_frame: Callable[[int], None],
        on_polar_arc: Callable[[float, float], None],
        on_long_angle: Callable[[float], None],
        parent: QWidget | None = None,
        on_paint: Callable[[str, int, int, float, float, bool], None] | None = None,
    ) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self._on_frame, self._on_polar_arc = on_frame, on_polar_arc
        self._on_paint = on_paint
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("longitudinal cut at"))
        self.long_angle = QSpinBox()
        self.long_angle.setRange(0, 179)
        self.long_angle.setSuffix(" deg")
        self.long_angle.setMinimumWidth(100)
        self.long_angle.valueChanged.connect(lambda v: on_long_angle(float(v)))
        row.addWidget(self.long_angle)
        row.addStretch(1)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("arc map click"))
        self.map_mode = QComboBox()
        self.map_mode.addItems(list(MAP_MODES))
        self.map_mode.setToolTip(
            "click on the arc map: go to that frame, or paint / erase A-lines (frames x angle)"
        )
        row.addWidget(self.map_mode)
        self.brush = QSpinBox()
        self.brush.setRange(1, 360)
        self.brush.setValue(20)
        self.brush.setSuffix(" deg")
        self.brush.setToolTip("paint brush width (angle)")
        self.brush.setMinimumWidth(100)
        row.addWidget(QLabel("brush"))
        row.addWidget(self.brush)
        row.addStretch(1)
        lay.addLayout(row)
        # fixed margins: a constrained layout costs ~0.25 s per full draw
        self.figure = Figure(figsize=(4, 6))
        # room for each x label under its plot and the next plot's title (no overlap), and for
        # the bottom plot's label
        self.figure.subplots_adjust(left=0.14, right=0.97, top=0.95, bottom=0.1, hspace=0.75)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(480)
        lay.addWidget(self.canvas)
        self.ax_polar = self.figure.add_subplot(3, 1, 1)
        self.ax_map = self.figure.add_subplot(3, 1, 2)
        self.ax_long = self.figure.add_subplot(3, 1, 3)
        self.canvas.mpl_connect("button_press_event", self._on_canvas_click)
        self.canvas.mpl_connect("button_release_event", self._on_canvas_release)
        self.canvas.mpl_connect("motion_notify_event", self._on_canvas_motion)
        self._paint_prev: tuple[int, float] | None = None
        self.canvas.mpl_connect("draw_event", self._on_draw)
        self._polar_press: float | None = None
        self._bg = None
        self._n_frames = 1
        self._frame = 0
        self._polar_im = None
        self._spans = None
        self._map_line = None
        self._long_line = None
        self._polar_title = None
        self._map_im = None
        self._legend = None
        self._empty_text = None
        self._depth = float(POLAR_DEPTH)  # the polar view's depth axis (mm when known)
        self._mm_per_frame = 1.0  # the longitudinal cut's position axis (mm when known)
        self._pixel_mm: float | None = None
        self._long_im = None
        self.long_cut: np.ndarray | None = None
        self.full_draws = 0
        self.draw_events = 0

    # -- setup ----------------------------------------------------------------------------------
    def reset(
        self,
        n_frames: int,
        classes: list[str],
        mm_per_frame: float | None = None,
        pixel_mm: float | None = None,
        depth_mm: float | None = None,
        assumed: set[str] | frozenset = frozenset(),
    ) -> None:
        """A new pullback: lay the three axes out once (static parts drawn in full).

        ``mm_per_frame``: the longitudinal cut's position axis in mm (else in frames);
        ``pixel_mm``: its across-vessel axis in mm (else pixels); ``depth_mm``: the depth the
        polar view covers (else samples); ``assumed``: the pullback's assumed values
        (``pixel_spacing_mm``, ``pullback_rate_mm_s``): their axes say "assumed"."""
        from matplotlib.collections import PolyCollection
        from matplotlib.patches import Patch

        self._n_frames = max(int(n_frames), 1)
        self._mm_per_frame = float(mm_per_frame) if mm_per_frame else 1.0
        px_note = ", assumed" if "pixel_spacing_mm" in assumed else ""
        rate_note = ", assumed" if "pullback_rate_mm_s" in assumed else ""
        self._pos_unit = f"position (mm{rate_note})" if mm_per_frame else "frame"
        self._across_unit = f"across (mm{px_note})" if pixel_mm else "across (px)"
        self._pixel_mm = float(pixel_mm) if pixel_mm else None
        self._depth = float(depth_mm) if depth_mm else float(POLAR_DEPTH)
        depth_label = f"depth (mm{px_note})" if depth_mm else "depth (samples)"
        self._classes = list(classes)
        for ax in (self.ax_polar, self.ax_map, self.ax_long):
            ax.clear()
            ax.tick_params(labelsize=6)
        ax = self.ax_polar
        self._polar_im = ax.imshow(
            np.zeros((POLAR_DEPTH, 360), np.float32),
            cmap="gray",
            aspect="auto",
            origin="upper",
            extent=(0, 360, self._depth, 0),
            interpolation="nearest",
            animated=True,
        )
        self._spans = PolyCollection([], alpha=0.3, animated=True)
        ax.add_collection(self._spans)
        ax.set_xlim(0, 360)
        ax.set_ylim(self._depth, 0)
        ax.set_xlabel("angle (deg)", fontsize=7, labelpad=1)
        ax.set_ylabel(depth_label, fontsize=7)
        self._polar_title = ax.set_title("polar view", fontsize=8, animated=True)
        ax = self.ax_map
        from matplotlib.colors import ListedColormap

        colors = ["black"] + [CLASS_COLORS.get(i + 1, "white") for i in range(4)]
        colors.append(PROPOSAL_COLOR)
        self._map_im = ax.imshow(
            np.zeros((360, self._n_frames), np.uint8),
            cmap=ListedColormap(colors),
            vmin=0,
            vmax=PROPOSAL_VALUE,
            aspect="auto",
            interpolation="nearest",
            extent=(0, self._n_frames, 360, 0),
            animated=True,  # an edit repaints the map by blitting, not the whole figure
        )
        self._map_line = ax.axvline(0.5, color="cyan", lw=1, animated=True)
        ax.set_title("arc map: frames x angle (click: go to frame, or paint)", fontsize=8)
        ax.set_ylabel("angle (deg)", fontsize=7)
        ax.set_xlabel("frame", fontsize=7, labelpad=1)
        self._empty_text = ax.text(
            0.5, 0.5, "nothing annotated yet", ha="center", va="center", fontsize=8,
            color="lightgray", transform=ax.transAxes, animated=True,
        )
        handles = [
            Patch(color=CLASS_COLORS.get(i + 1, "white"), label=c)
            for i, c in enumerate(self._classes)
        ] + [Patch(color=PROPOSAL_COLOR, label="proposed")]
        self._legend = ax.legend(handles=handles, fontsize=6, loc="upper right", framealpha=0.6)
        self._legend.set_animated(True)  # drawn over the (animated) map
        ax = self.ax_long
        self._long_im = None
        self._long_line = ax.axvline(0.5, color="cyan", lw=1, animated=True)
        ax.set_xlim(0, self._n_frames * self._mm_per_frame)
        ax.set_xlabel(self._pos_unit, fontsize=7, labelpad=1)
        ax.set_ylabel(self._across_unit, fontsize=7)
        ax.set_title(f"longitudinal cut at {self.long_angle.value()} deg", fontsize=8)
        self._full_draw()

    def _full_draw(self) -> None:
        self.full_draws += 1
        self._bg = None
        self.canvas.draw_idle()

    def _on_draw(self, event) -> None:
        """After a full draw: keep the static background, then paint the moving parts."""
        self.draw_events += 1
        self._bg = self.canvas.copy_from_bbox(self.figure.bbox)
        self._draw_animated()

    def _animated(self) -> list:
        return [
            a
            for a in (
                self._polar_im,
                self._spans,
                self._polar_title,
                self._map_im,
                self._empty_text,
                self._legend,
                self._map_line,
                self._long_line,
            )
            if a is not None
        ]

    def _draw_animated(self) -> None:
        for a in self._animated():
            ax = getattr(a, "axes", None)
            if ax is not None:
                ax.draw_artist(a)

    # -- updates -------------------------------------------------------------------------------
    def set_arc_map(self, amap: np.ndarray, draw: bool = True) -> None:
        """The arc map (frames x angle class indices) changed: repainted by blitting (the map
        and its legend are animated artists over the saved background)."""
        if self._map_im is None:
            return
        amap = np.asarray(amap)
        self._map_im.set_data(amap.T)
        if self._empty_text is not None:  # an all-black map says why, not "ICS 0"
            self._empty_text.set_visible(not amap.any())
        if draw:  # (False: the caller's show_frame blits next)
            self._blit()

    def set_long_cut(self, cut: np.ndarray | None) -> None:
        self.long_cut = cut
        if cut is None or self._long_line is None:
            return
        if self._long_im is not None:
            self._long_im.remove()
        half = cut.shape[0] / 2 * (self._pixel_mm or 1.0)
        self._long_im = self.ax_long.imshow(
            cut, cmap="gray", aspect="auto",
            extent=(0, self._n_frames * self._mm_per_frame, half, -half),
        )
        self.ax_long.set_title(f"longitudinal cut at {self.long_angle.value()} deg", fontsize=8)
        self._full_draw()

    def show_frame(
        self,
        frame: int,
        polar: np.ndarray,
        arcs: list[tuple[str, float, float]],
        mm: float,
        proposed: list[tuple[str, float, float]] = (),
    ) -> None:
        """Show frame ``frame``: its polar image (depth x angle), the reader's arcs (class,
        start, end) over the full depth and proposals in a cyan strip at the bottom."""
        if self._polar_im is None:
            return
        self._frame = int(frame)
        self._polar_im.set_data(polar)
        lo, hi = float(np.min(polar)), float(np.max(polar))
        self._polar_im.set_clim(lo, hi if hi > lo else lo + 1)
        verts, cols = [], []
        cidx = {c: i for i, c in enumerate(self._classes)}
        depth = self._depth
        for cls, s, e in arcs:
            for a, b in unwrapped(s, e):
                verts.append([(a, 0), (b, 0), (b, depth), (a, depth)])
                cols.append(CLASS_COLORS.get(cidx.get(cls, 0) + 1, "white"))
        strip = depth * 0.82
        for _cls, s, e in proposed:
            for a, b in unwrapped(s, e):
                verts.append([(a, strip), (b, strip), (b, depth), (a, depth)])
                cols.append(PROPOSAL_COLOR)
        self._spans.set_verts(verts)
        self._spans.set_facecolors(cols or ["white"])
        self._polar_title.set_text(f"frame {frame} ({mm:.2f} mm): polar (angle x depth)")
        x = frame + 0.5
        self._map_line.set_xdata([x, x])
        self._long_line.set_xdata([x * self._mm_per_frame, x * self._mm_per_frame])
        self._blit()

    def _blit(self) -> None:
        if self._bg is None:  # a full draw is pending: it paints the moving parts too
            self.canvas.draw_idle()
            return
        self.canvas.restore_region(self._bg)
        self._draw_animated()
        # update(), not blit()'s synchronous repaint(): Qt paints the canvas in the same pass as
        # napari's own canvas (a separate pass recomposes the whole OpenGL window)
        self.canvas.update()

    # -- clicks ----------------------------------------------------------------------------------
    def painting(self) -> str | None:
        """The map's stroke mode ('paint' or 'erase'), None when a click goes to a frame."""
        mode = self.map_mode.currentText()
        return mode if mode in ("paint", "erase") and self._on_paint is not None else None

    def _map_cell(self, event) -> tuple[int, float]:
        f = int(np.clip(np.floor(event.xdata), 0, self._n_frames - 1))
        return f, float(np.clip(event.ydata, 0.0, 360.0))

    def _paint(self, what: str, f0: int, f1: int, angle: float) -> None:
        half = self.brush.value() / 2.0
        self._on_paint(what, f0, f1, angle - half, angle + half, self.painting() == "erase")

    def _on_canvas_click(self, event) -> None:
        if event.xdata is None:
            return
        if event.inaxes is self.ax_map and self.painting():
            f, a = self._map_cell(event)
            self._paint("begin", f, f, a)
            self._paint_prev = (f, a)
        elif event.inaxes is self.ax_map:
            self._on_frame(int(np.clip(event.xdata, 0, self._n_frames - 1)))
        elif event.inaxes is self.ax_long:  # the cut's x axis is in mm
            f = event.xdata / self._mm_per_frame
            self._on_frame(int(np.clip(f, 0, self._n_frames - 1)))
        elif event.inaxes is self.ax_polar:
            self._polar_press = float(np.clip(event.xdata, 0.0, 360.0))

    def _on_canvas_motion(self, event) -> None:
        if self._paint_prev is None or event.inaxes is not self.ax_map or event.xdata is None:
            return
        f, a = self._map_cell(event)
        if (f, round(a)) == (self._paint_prev[0], round(self._paint_prev[1])):
            return
        self._paint("paint", min(f, self._paint_prev[0]), max(f, self._paint_prev[0]), a)
        self._paint_prev = (f, a)

    def _on_canvas_release(self, event) -> None:
        """Press and release along the polar view's angle axis make an arc; on the map in
        paint mode, the release ends the stroke."""
        if self._paint_prev is not None:
            self._paint_prev = None
            self._on_paint("end", 0, 0, 0.0, 0.0, False)
            return
        start, self._polar_press = self._polar_press, None
        if start is None or event.inaxes is not self.ax_polar or event.xdata is None:
            return
        end = float(np.clip(event.xdata, 0.0, 360.0))
        lo, hi = min(start, end), max(start, end)
        if hi - lo < 1.0:
            return
        if lo <= 0.0 and hi >= 360.0:
            self._on_polar_arc(0.0, 360.0)  # the full ring
            return
        self._on_polar_arc(lo, hi % 360.0)


class CurvePlot(QWidget):
    """The learning curve: held-out A-line F1 against frames annotated, one point per train."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.figure = Figure(figsize=(4, 1.4))
        self.figure.subplots_adjust(left=0.14, right=0.97, top=0.84, bottom=0.3)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setFixedHeight(120)
        lay.addWidget(self.canvas)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.points: list[tuple[int, float]] = []
        self.set_points([])

    def set_points(self, points: list[tuple[int, float | None]]) -> None:
        """(frames annotated, F1 or None) per train, in order."""
        self.points = [(int(n), float(f)) for n, f in points if f is not None]
        ax = self.ax
        ax.clear()
        ax.tick_params(labelsize=6)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("frames annotated", fontsize=7)
        ax.set_ylabel("F1", fontsize=7)
        ax.set_title("learning curve (held-out A-line F1)", fontsize=8)
        if self.points:
            x, y = zip(*self.points, strict=True)
            ax.plot(x, y, "o-", color="cyan", ms=3, lw=1)
            ax.set_xlim(0, max(x) * 1.1 + 1)
            ax.annotate(f"{y[-1]:.2f}", (x[-1], y[-1]), fontsize=6, xytext=(3, -8),
                        textcoords="offset points")
        else:
            ax.text(0.5, 0.5, "train to see it", ha="center", va="center", fontsize=7,
                    transform=ax.transAxes, color="gray")
        self.canvas.draw_idle()
