"""Canvas side of the CT-IVUS fusion dock: the CT cross-section beside the IVUS frame, and the
arcs drawn on both (all in mm).

The IVUS pullback layer stays the user's; its frame is the viewer's first dims axis. The CT
cross-section at the matched s is a 2D image layer placed to the right of the IVUS frame, and a
2D shapes layer draws the current frame's arcs: on the IVUS frame about the arcs' centre, and on
the CT section rotated by the registration (``FrameMapping.arc_to_ct``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

SECTION_LAYER = "CT section (fusion)"
ARCS_LAYER = "arcs (fusion)"
CLASS_COLORS = {"calcium": "yellow", "attenuation": "cyan"}
#: gap between the IVUS frame and the CT section (mm)
GAP_MM = 1.0
#: radius (mm) at which arcs are drawn on the CT section
CT_ARC_RADIUS_MM = 3.2


def cross_section_fn():
    """The vessel analysis' cross-section sampler (``(image, SectionFrame)``)."""
    from ..ccta.reformat import cross_section

    return cross_section


def contour_offsets(theta_deg: np.ndarray, radii_mm: np.ndarray) -> np.ndarray:
    """(k, 2) row/col offsets (mm) of a contour given as radii per ray angle (the project's
    angle convention: row = r sin theta, col = r cos theta)."""
    th = np.radians(np.asarray(theta_deg, float))
    r = np.asarray(radii_mm, float)
    return np.column_stack([r * np.sin(th), r * np.cos(th)])


def arc_path(cy: float, cx: float, radius: float, start: float, end: float) -> np.ndarray:
    """Polyline (k, 2) (row, col in mm) of an arc clockwise on screen from start to end."""
    from ..ivus.arcs import arc_extent

    ext = arc_extent(start, end)
    n = max(3, int(ext / 4) + 2)
    th = np.radians(start + np.linspace(0.0, ext, n))
    return np.column_stack([cy + radius * np.sin(th), cx + radius * np.cos(th)])


class FusionViews:
    """Owns the section and arcs layers of one viewer."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer

    def _ivus_geometry(self, ivus_layer, pullback) -> tuple[np.ndarray, tuple[float, float]]:
        """(translate (2,), (height, width)) of the IVUS frame in mm."""
        scale = np.asarray(ivus_layer.scale, float)[-2:]
        tr = np.asarray(ivus_layer.translate, float)[-2:]
        rows, cols = pullback.frame_shape
        return tr, (rows * scale[0], cols * scale[1])

    def show_section(self, image: np.ndarray, pixel_mm: float, ivus_layer, pullback, s_mm: float):
        from ..layers import CT_CONTRAST_LIMITS, UNITS

        tr, (h, w) = self._ivus_geometry(ivus_layer, pullback)
        size = image.shape[0] * pixel_mm
        translate = (tr[0] + (h - size) / 2.0, tr[1] + w + GAP_MM)
        if SECTION_LAYER in self.viewer.layers:
            lyr = self.viewer.layers[SECTION_LAYER]
            lyr.data = image
            lyr.translate = translate
            lyr.scale = (pixel_mm, pixel_mm)
        else:
            lyr = self.viewer.add_image(
                image,
                name=SECTION_LAYER,
                scale=(pixel_mm, pixel_mm),
                translate=translate,
                units=UNITS,
                colormap="gray",
                contrast_limits=CT_CONTRAST_LIMITS,
            )
            # frame the IVUS frame and the CT section beside it (the hidden CT's extent would
            # otherwise set the view)
            with contextlib.suppress(Exception):  # napari without fit_to_view(layers=)
                self.viewer.fit_to_view(layers=[ivus_layer, lyr])
        lyr.metadata["s_mm"] = float(s_mm)
        self.raise_arcs()
        return lyr

    def raise_arcs(self) -> None:
        """Keep the arcs above the section image."""
        ll = self.viewer.layers
        if ARCS_LAYER in ll and ll.index(ARCS_LAYER) != len(ll) - 1:
            ll.move(ll.index(ARCS_LAYER), len(ll))

    def section_centre(self) -> tuple[float, float] | None:
        if SECTION_LAYER not in self.viewer.layers:
            return None
        lyr = self.viewer.layers[SECTION_LAYER]
        n = lyr.data.shape[0]
        px = float(lyr.scale[-1])
        tr = np.asarray(lyr.translate, float)[-2:]
        return (tr[0] + (n - 1) / 2.0 * px, tr[1] + (n - 1) / 2.0 * px)

    def draw_arcs(
        self,
        ivus_layer,
        pullback,
        arcs_center_px: tuple[float, float] | None,
        ivus_arcs: list[tuple[str, float, float]],
        ct_arcs: list[tuple[str, float, float]],
        ct_contours: list[tuple[str, np.ndarray]] = (),
    ) -> Any:
        """Arcs on both views; ``ct_contours``: (colour, (k, 2) row/col offsets in mm from the
        section centre) closed polylines, e.g. the vessel analysis' lumen and wall."""
        from ..layers import UNITS

        paths, colors = [], []
        scale = np.asarray(ivus_layer.scale, float)[-2:]
        tr, (h, w) = self._ivus_geometry(ivus_layer, pullback)
        if arcs_center_px is not None:
            cy = tr[0] + arcs_center_px[0] * scale[0]
            cx = tr[1] + arcs_center_px[1] * scale[1]
            r = 0.46 * min(h, w)
            for cls, a, b in ivus_arcs:
                paths.append(arc_path(cy, cx, r, a, b))
                colors.append(CLASS_COLORS.get(cls, "magenta"))
        centre = self.section_centre()
        if centre is not None:
            for cls, a, b in ct_arcs:
                paths.append(arc_path(centre[0], centre[1], CT_ARC_RADIUS_MM, a, b))
                colors.append(CLASS_COLORS.get(cls, "magenta"))
            for colour, pts in ct_contours:
                pts = np.asarray(pts, float) + np.asarray(centre)[None, :]
                paths.append(np.vstack([pts, pts[:1]]))
                colors.append(colour)
        if ARCS_LAYER in self.viewer.layers:
            lyr = self.viewer.layers[ARCS_LAYER]
            lyr.data = []
            if paths:
                lyr.add_paths(paths, edge_color=colors, edge_width=0.25)
        else:
            lyr = self.viewer.add_shapes(
                paths or None,
                shape_type="path",
                edge_color=colors or "yellow",
                edge_width=0.25,
                name=ARCS_LAYER,
                ndim=2,
                units=UNITS,
            )
        return lyr
