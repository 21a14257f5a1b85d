"""The vessel dock's linked views: the cross-section at the cursor with its lumen (red) and
outer-wall (yellow) contours, and the profile of lumen / vessel area along s with the lesions
shaded. A click on the cross-section pushes the chosen contour to the clicked point (one undo
step); a click on the profile moves the cross-section there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from qtpy.QtWidgets import QVBoxLayout, QWidget

from ..ccta.reformat import REFORMAT_DEFAULTS, cross_sections, frame_at

LUMEN_COLOR = "red"
VESSEL_COLOR = "yellow"


class VesselViews(QWidget):
    """Cross-section + profile (one matplotlib figure).

    ``on_section_click(theta_deg, radius_mm)``; ``on_profile_click(s_mm)``.
    """

    def __init__(
        self,
        on_section_click: Callable[[float, float], None],
        on_profile_click: Callable[[float], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self._on_section_click = on_section_click
        self._on_profile_click = on_profile_click
        self.field_mm = float(REFORMAT_DEFAULTS["field_mm"])
        self.pixel_mm = float(REFORMAT_DEFAULTS["pixel_mm"])
        self.figure = Figure(figsize=(4, 6.4))
        self.figure.patch.set_facecolor("#262930")
        self.ax_x = self.figure.add_axes((0.14, 0.43, 0.78, 0.49))
        self.ax_p = self.figure.add_axes((0.14, 0.07, 0.82, 0.26))
        for ax in (self.ax_x, self.ax_p):
            ax.set_facecolor("#1e1e1e")
            ax.tick_params(colors="w", labelsize=7)
            for sp in ax.spines.values():
                sp.set_color("#888")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(460)
        self.canvas.mpl_connect("button_press_event", self._click)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)
        self._img = None
        self._lines: dict[str, object] = {}
        self._cursor = None

    # ---- drawing
    def clear(self) -> None:
        self.ax_x.clear()
        self.ax_p.clear()
        self._img, self._lines, self._cursor = None, {}, None
        self.canvas.draw_idle()

    def draw_profile(self, res) -> None:
        """Lumen / vessel area against s, lesions shaded, current-section cursor."""
        ax = self.ax_p
        ax.clear()
        p = res.profile
        s = p["s_mm"]
        ax.plot(s, p["vessel_area_mm2"], color=VESSEL_COLOR, lw=1, label="vessel")
        ax.plot(s, p["lumen_area_mm2"], color=LUMEN_COLOR, lw=1, label="lumen")
        for les in res.lesions:
            ax.axvspan(les.start_mm, les.end_mm, color="orange", alpha=0.25, lw=0)
            ax.text(les.s_mla_mm, ax.get_ylim()[1] * 0.92, str(les.index), color="w",
                    fontsize=7, ha="center")
        ax.set_xlim(0, max(float(s[-1]), 1e-3))
        ax.set_xlabel("s (mm)", color="w", fontsize=8)
        ax.set_ylabel("area (mm²)", color="w", fontsize=8)
        ax.legend(fontsize=6, loc="upper right", facecolor="#333", labelcolor="w")
        self._cursor = ax.axvline(0, color="c", lw=1)

    def draw_section(self, ct, res, i: int) -> None:
        """The cross-section image with its contours; the profile cursor at its s."""
        cl = res.centreline
        img = cross_sections(ct, cl, self.field_mm, self.pixel_mm, indices=[i])[0]
        h = self.field_mm / 2
        ax = self.ax_x
        if self._img is None:
            ax.clear()
            self._img = ax.imshow(img, cmap="gray", vmin=-300, vmax=700,
                                  extent=(-h, h, h, -h), interpolation="nearest")
            self._lines = {
                "lumen": ax.plot([], [], color=LUMEN_COLOR, lw=1.2)[0],
                "vessel": ax.plot([], [], color=VESSEL_COLOR, lw=1.2)[0],
            }
            ax.set_xlabel("u (mm)", color="w", fontsize=8)
            ax.set_ylabel("v (mm)", color="w", fontsize=8)
        else:
            self._img.set_data(img)
        cs = res.contours
        th = np.radians(np.r_[cs.theta_deg, cs.theta_deg[:1]])
        for name, r in (("lumen", cs.r_lumen[i]), ("vessel", cs.r_vessel[i])):
            rr = np.r_[r, r[:1]]
            self._lines[name].set_data(rr * np.cos(th), rr * np.sin(th))
        p = res.profile
        edited = " (edited)" if cs.edited[i] else ""
        ax.set_title(
            f"{res.name}  s = {cl.s_mm[i]:.1f} mm{edited}\nlumen {p['lumen_area_mm2'][i]:.2f} "
            f"mm²  vessel {p['vessel_area_mm2'][i]:.2f} mm²  burden "
            f"{p['plaque_burden_pct'][i]:.0f} %",
            color="w", fontsize=8,
        )
        if self._cursor is not None:
            self._cursor.set_xdata([cl.s_mm[i], cl.s_mm[i]])
        self.frame = frame_at(cl, i, self.field_mm, self.pixel_mm)
        self.canvas.draw_idle()

    # ---- gestures
    def _click(self, event) -> None:
        if event.inaxes is self.ax_x and event.xdata is not None:
            u, v = float(event.xdata), float(event.ydata)
            theta = float(np.degrees(np.arctan2(v, u)) % 360.0)
            self._on_section_click(theta, float(np.hypot(u, v)))
        elif event.inaxes is self.ax_p and event.xdata is not None:
            self._on_profile_click(float(event.xdata))
