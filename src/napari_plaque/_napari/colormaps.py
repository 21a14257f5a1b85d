"""napari colormaps built for napari-plaque layers."""

from __future__ import annotations


def border_line_colormap(lumen: str = "cyan", eem: str = "orange"):
    """A napari image colormap for :class:`~napari_plaque.ivus.border_editor.BorderLineStack`
    values: 0 transparent, 1 lumen, 2 EEM (an image layer with contrast limits (0, 2) renders
    cheaper than a labels layer)."""
    from napari.utils.colormaps import Colormap
    from vispy.color import Color

    return Colormap(
        colors=[(0, 0, 0, 0), Color(lumen).rgba, Color(eem).rgba],
        controls=[0.0, 0.25, 0.75, 1.0],
        interpolation="zero",
        name="napari-plaque vessel borders",
    )
