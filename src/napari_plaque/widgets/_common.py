"""Small Qt/napari helpers shared by the widget modules."""

from __future__ import annotations

from typing import Any

from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget


def refill_combo(
    combo: QComboBox,
    names: list[str],
    default_index: int | None = None,
    default: str | None = None,
) -> None:
    """Replace a combo box's items without emitting signals.

    The user's own choice (picked in the combo) is kept while it exists. Otherwise ``default``
    (a name, e.g. from :func:`napari_plaque.layers.default_layer`) becomes current, else the
    item at ``default_index`` when the current one is gone: a choice made for the user follows
    the layers as they come, a choice made by the user stays.
    """
    if not combo.property("np_watch"):  # a choice made outside this function is sticky
        combo.setProperty("np_watch", True)  # (signals are blocked while it refills)
        combo.currentIndexChanged.connect(lambda *_: combo.setProperty("np_user_chosen", True))
    current = combo.currentText()
    chosen = bool(combo.property("np_user_chosen")) and current in names
    combo.blockSignals(True)
    try:
        combo.clear()
        combo.addItems(names)
        if chosen:
            combo.setCurrentText(current)
        elif default is not None and default in names:
            combo.setCurrentText(default)
        elif current in names:
            combo.setCurrentText(current)
        elif default_index is not None and names:
            combo.setCurrentIndex(min(default_index, len(names) - 1))
    finally:
        combo.blockSignals(False)
    if not chosen:
        combo.setProperty("np_user_chosen", False)


def hrow(*items: Any) -> QHBoxLayout:
    """A row of widgets: each item a widget, a text (a label) or ``(widget, stretch)``."""
    row = QHBoxLayout()
    for item in items:
        w, stretch = item if isinstance(item, tuple) else (item, 0)
        row.addWidget(QLabel(w) if isinstance(w, str) else w, stretch)
    return row


def label_colormap(colors: dict[int, Any], default: Any = (0, 0, 0, 0)):
    """A napari direct label colormap: 0 transparent, unlisted labels ``default`` (transparent
    unless given), others as given."""
    from napari.utils.colormaps import DirectLabelColormap

    return DirectLabelColormap(color_dict={None: default, 0: (0, 0, 0, 0), **colors})


def show_labels(viewer, name: str, data: Any, scale: Any, translate: Any, **add_kw: Any):
    """Put ``data`` in the labels layer ``name`` (its data, scale and translate replaced), or
    add that layer (in mm; ``add_kw``: opacity, colormap, metadata... of a new layer)."""
    if name in viewer.layers:
        layer = viewer.layers[name]
        layer.data = data
        layer.scale, layer.translate = scale, translate
        return layer
    from ..layers import UNITS

    return viewer.add_labels(data, name=name, scale=scale, translate=translate, units=UNITS,
                             **add_kw)  # fmt: skip


def fit_table(table, max_rows: int = 12) -> None:
    """Size a QTableWidget to its contents: every column visible (the last one stretches),
    and tall enough for up to ``max_rows`` rows without an inner scroll bar."""
    from qtpy.QtWidgets import QAbstractScrollArea, QHeaderView

    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    table.verticalHeader().setVisible(False)
    table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
    rows = min(table.rowCount(), max_rows)
    h = header.sizeHint().height() + sum(table.rowHeight(i) for i in range(rows))
    table.setMinimumHeight(h + 2 * table.frameWidth() + 2)


def set_table(table, header: list[str], rows: list[list[str]], max_rows: int = 12) -> None:
    """Fill a read-only QTableWidget with text cells and size it to fit (see fit_table)."""
    from qtpy.QtWidgets import QTableWidgetItem

    table.setColumnCount(len(header))
    table.setHorizontalHeaderLabels(header)
    table.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            table.setItem(i, j, QTableWidgetItem(str(text)))
    fit_table(table, max_rows)


def fmt_value(v: Any, nd: int = 2) -> str:
    """A table cell: floats to ``nd`` decimals, None/NaN as "–", inf as "∞", bools yes/no."""
    import math

    import numpy as np

    if v is None:
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞"
        return f"{v:.{nd}f}"
    return str(v)


def scrolling_dock(dock: QWidget, min_height: int) -> tuple[QScrollArea, QWidget]:
    """Put a dock's controls in a vertical scroll area: (scroll area, inner widget to lay out).

    The dock's minimum height is then ``min_height`` instead of the sum of its controls (a
    vessel dock needed 863 px), so two docks a workflow uses together fit a 1080 px screen with
    napari's dims slider visible. Call :func:`fit_scroll_width` once the controls are in.
    """
    outer = QVBoxLayout(dock)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setMinimumHeight(min_height)
    inner = QWidget()
    scroll.setWidget(inner)
    outer.addWidget(scroll)
    return scroll, inner


def fit_scroll_width(scroll: QScrollArea) -> None:
    """Ask for the width the controls need (a narrower dock scrolls sideways, never clips)."""
    w = scroll.widget().minimumSizeHint().width()
    scroll.setMinimumWidth(w + scroll.verticalScrollBar().sizeHint().width() + 2)
