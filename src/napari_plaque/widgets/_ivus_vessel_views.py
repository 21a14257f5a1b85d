"""The vessel-border dock's views: the per-frame table, area versus position and the cut.

:class:`FrameTableModel` shows a :class:`~napari_plaque.ivus.vessel_measure.VesselMeasurements`
(arrays) as table rows made on demand, for the rows the view draws: filling a 3,000-frame
table costs no per-frame Python, and an edit replaces one row.

One matplotlib figure: lumen and EEM area (mm^2) against position (mm) with the plaque
burden on a second axis and the high-burden segments shaded; below it the longitudinal cut
through the catheter at a chosen angle with the lumen and EEM borders drawn on both sides.
A click on either jumps to that frame (``on_frame``). Moving frames redraws only the two
cursors (blitting), the full figure only when the borders or the cut change.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from qtpy.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from ._table import RowTableModel

LUMEN_COLOR = "cyan"
EEM_COLOR = "orange"


class _FrameRows:
    """The rows of measurements, each made when asked for (a view asks for what it draws);
    rows replaced after an edit are kept as given."""

    def __init__(self, measures=None) -> None:
        self.measures = measures
        self._replaced: dict[int, dict] = {}

    def __len__(self) -> int:
        return 0 if self.measures is None else len(self.measures.frame_indices)

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < len(self):
            raise IndexError(i)
        row = self._replaced.get(i)
        return row if row is not None else self.measures.row(i)

    def __setitem__(self, i: int, row: dict) -> None:
        self._replaced[i] = row

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class FrameTableModel(RowTableModel):
    """A :class:`._table.RowTableModel` over per-frame measurement arrays."""

    def __init__(self, columns, parent=None) -> None:
        super().__init__(columns, key="frame", parent=parent)
        self._rows = _FrameRows()  # type: ignore[assignment]

    def row_key(self, i: int):
        return int(self._rows.measures.frame_indices[i])

    def set_measurements(self, measures) -> None:
        """Show these measurements: the same frames signal one change of every row, other
        frames (gating, another pullback) reset the model. No per-frame Python either way."""
        old = self._rows.measures
        same = old is not None and np.array_equal(old.frame_indices, measures.frame_indices)
        if not same:
            self.beginResetModel()
            self._rows = _FrameRows(measures)  # type: ignore[assignment]
            self.endResetModel()
            self.n_resets += 1
            return
        self._rows = _FrameRows(measures)  # type: ignore[assignment]
        if len(self._rows):
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(len(self._rows) - 1, len(self.columns) - 1))
            self.n_row_updates += 1


class VesselViews(QWidget):
    def __init__(
        self,
        on_frame: Callable[[int], None],
        on_cut_angle: Callable[[float], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self._on_frame = on_frame
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("longitudinal cut at (deg)"))
        self.cut_angle = QSpinBox()
        self.cut_angle.setRange(0, 179)
        self.cut_angle.valueChanged.connect(lambda v: on_cut_angle(float(v)))
        row.addWidget(self.cut_angle)
        row.addStretch(1)
        lay.addLayout(row)
        self.figure = Figure(figsize=(4, 5))
        self.figure.subplots_adjust(left=0.14, right=0.86, top=0.95, bottom=0.09, hspace=0.35)
        self.ax_area = self.figure.add_subplot(2, 1, 1)
        self.ax_burden = self.ax_area.twinx()
        self.ax_cut = self.figure.add_subplot(2, 1, 2)
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(380)
        lay.addWidget(self.canvas)
        self.canvas.mpl_connect("button_press_event", self._click)
        self.canvas.mpl_connect("draw_event", self._on_draw)
        self._mm_per_frame = 1.0
        self._bg = None
        self._cur = []
        self._shown = None  # (frames, mm per frame, id of the cut) of what is drawn
        self._lines: dict = {}
        self._spans: list = []
        self._mla = None
        self._border_lines: list = []

    def _click(self, event) -> None:
        if event.inaxes in (self.ax_area, self.ax_burden) and event.xdata is not None:
            self._on_frame(int(round(event.xdata / self._mm_per_frame)))
        elif event.inaxes is self.ax_cut and event.xdata is not None:
            self._on_frame(int(round(event.xdata / self._mm_per_frame)))

    def set_data(self, measures, mm_per_frame: float, cut=None, offsets_mm=None,
                 border_offsets=None) -> None:
        """Show per-frame measurements (VesselMeasurements), the cut image (F, S) with its
        offsets (mm) and the border offsets ((lumen+, lumen-, eem+, eem-) (F,)).

        After a border edit (same frames, same cut) the curves are updated in place, not
        rebuilt: clearing and re-plotting the axes of a 3,000-frame pullback costs the main
        thread several times more."""
        if self._update_in_place(measures, mm_per_frame, cut, border_offsets):
            return
        self._mm_per_frame = float(mm_per_frame)
        ax, axb, axc = self.ax_area, self.ax_burden, self.ax_cut
        for a in (ax, axb, axc):
            a.clear()
        axb.yaxis.tick_right()  # clear() puts the twin axis back on the left
        axb.yaxis.set_label_position("right")
        self._lines = {}
        self._spans = []
        self._mla = None
        self._border_lines = []
        self._shown = None
        if measures is not None:
            f = measures.frames
            pos = f["position_mm"]
            # the data are animated artists, drawn over a cached background (blitting): an
            # edit redraws them, not the axes, ticks and the cut image
            (self._lines["eem"],) = ax.plot(pos, f["eem_area_mm2"], color=EEM_COLOR, lw=1.2,
                                            label="EEM", animated=True)
            (self._lines["lumen"],) = ax.plot(pos, f["lumen_area_mm2"], color="tab:blue", lw=1.2,
                                              label="lumen", animated=True)
            (self._lines["burden"],) = axb.plot(pos, f["plaque_burden_pct"], color="grey",
                                                lw=0.8, ls="--", label="burden", animated=True)
            self._draw_marks(measures, mm_per_frame)
            ax.set_ylabel("area (mm²)", fontsize=8)
            axb.set_ylabel("plaque burden (%)", fontsize=8)
            axb.set_ylim(0, 100)
            ax.legend(fontsize=7, loc="upper left", framealpha=0.6)
            ax.set_xlim(pos.min(), pos.max() + mm_per_frame)
        ax.set_xlabel("position (mm)", fontsize=8)
        if cut is not None:
            n = cut.shape[0]
            ext = (0, n * mm_per_frame, offsets_mm[-1], offsets_mm[0])
            axc.imshow(cut.T, cmap="gray", aspect="auto", extent=ext, vmin=0, vmax=255)
            if border_offsets is not None:
                x = (np.arange(n) + 0.5) * mm_per_frame
                for k, yv in enumerate(border_offsets):
                    (line,) = axc.plot(x, yv, color=LUMEN_COLOR if k < 2 else EEM_COLOR, lw=0.8,
                                       animated=True)
                    self._border_lines.append(line)
            axc.set_ylabel("offset (mm)", fontsize=8)
            axc.set_xlabel("position (mm)", fontsize=8)
        for a in (ax, axb, axc):
            a.tick_params(labelsize=7)
        self._cur = [
            ax.axvline(0, color="k", lw=0.8, animated=True),
            axc.axvline(0, color="yellow", lw=0.8, animated=True),
        ]
        self._bg = None
        if measures is not None:
            self._shown = (len(measures.frames["position_mm"]), float(mm_per_frame), id(cut))
        self.canvas.draw_idle()

    def _draw_marks(self, measures, mm_per_frame: float) -> None:
        """The high-burden segments and the MLA marker (redrawn on every update)."""
        for sp in self._spans:
            sp.remove()
        self._spans = [
            self.ax_area.axvspan(s["start_mm"], s["stop_mm"] + mm_per_frame, color="red",
                                 alpha=0.12, animated=True)
            for s in measures.summary.get("burden_segments", [])
        ]
        if self._mla is not None:
            self._mla.remove()
            self._mla = None
        mla = measures.summary.get("mla_position_mm")
        if mla is not None:
            (self._mla,) = self.ax_area.plot([mla], [measures.summary["mla_mm2"]], "v",
                                             color="red", ms=6, animated=True)

    def _update_in_place(self, measures, mm_per_frame, cut, border_offsets) -> bool:
        shown = getattr(self, "_shown", None)
        if measures is None or shown is None:
            return False
        f = measures.frames
        if shown != (len(f["position_mm"]), float(mm_per_frame), id(cut)):
            return False
        if border_offsets is not None and len(border_offsets) != len(self._border_lines):
            return False
        self._lines["eem"].set_ydata(f["eem_area_mm2"])
        self._lines["lumen"].set_ydata(f["lumen_area_mm2"])
        self._lines["burden"].set_ydata(f["plaque_burden_pct"])
        self._draw_marks(measures, mm_per_frame)
        for line, yv in zip(self._border_lines, border_offsets or (), strict=False):
            line.set_ydata(yv)
        areas = np.concatenate([f["eem_area_mm2"], f["lumen_area_mm2"]])
        areas = areas[np.isfinite(areas)]
        lo, hi = self.ax_area.get_ylim()
        if self._bg is None or (areas.size and (areas.min() < lo or areas.max() > hi)):
            self.ax_area.relim()  # the curves left the axes: rescale, full redraw
            self.ax_area.autoscale_view(scalex=False)
            self._bg = None
            self.canvas.draw_idle()
        else:
            self._blit()
        return True

    def _animated(self) -> list:
        out = [*self._lines.values(), *self._spans, *self._border_lines, *self._cur]
        return out if self._mla is None else [*out, self._mla]

    def _blit(self) -> None:
        self.canvas.restore_region(self._bg)
        for a in self._animated():
            self.figure.draw_artist(a)
        self.canvas.blit(self.figure.bbox)

    def _on_draw(self, _event) -> None:
        self._bg = self.canvas.copy_from_bbox(self.figure.bbox)
        for a in self._animated():
            self.figure.draw_artist(a)

    def move_cursor(self, frame: int) -> None:
        """Place the frame cursors without drawing (the next draw or blit shows them)."""
        x = (frame + 0.5) * self._mm_per_frame
        for c in self._cur:
            c.set_xdata([x, x])

    def show_frame(self, frame: int) -> None:
        self.move_cursor(frame)
        if self._bg is None:
            self.canvas.draw_idle()
            return
        self._blit()
