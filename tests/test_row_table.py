"""widgets._table: the Qt model / view table of the docks."""

from __future__ import annotations

import pytest

pytest.importorskip("qtpy")


def test_columns_are_sized_again_when_the_font_the_view_shows_changes(qtbot):
    """A dock fills its table before napari's stylesheet reaches it; with the stylesheet's
    larger font the columns must grow with it, not cut their text ('26...')."""
    from qtpy.QtGui import QFont

    from napari_plaque.widgets._table import RowTableModel, RowTableView

    model = RowTableModel([("ics", "ICS"), ("arc", "calcium max arc (°)")], fmt=str)
    view = RowTableView(model)
    qtbot.addWidget(view)
    model.set_rows([{"ics": "264.5", "arc": "138"}])
    before = view.columnWidth(0)
    font = QFont(view.font())
    font.setPointSizeF(font.pointSizeF() * 2)
    view.setFont(font)
    assert view.columnWidth(0) > before
    assert view.columnWidth(0) >= view.fontMetrics().horizontalAdvance("264.5")


def test_a_stylesheet_set_on_the_parent_resizes_the_columns(qtbot):
    from qtpy.QtWidgets import QVBoxLayout, QWidget

    from napari_plaque.widgets._table import RowTableModel, RowTableView

    parent = QWidget()
    qtbot.addWidget(parent)
    model = RowTableModel([("ics", "ICS"), ("note", "note")], fmt=str)  # the last one stretches
    view = RowTableView(model)
    QVBoxLayout(parent).addWidget(view)
    model.set_rows([{"ics": "26.5", "note": ""}, {"ics": "1400.25", "note": ""}])
    before = view.columnWidth(0)
    parent.setStyleSheet("QTableView { font-size: 28px; }")
    parent.show()
    qtbot.waitExposed(parent)
    assert view.columnWidth(0) > before
    assert view.columnWidth(0) >= view.fontMetrics().horizontalAdvance("1400.25")


def test_a_row_updated_in_place_widens_a_column_its_text_no_longer_fits(qtbot):
    """The fusion dock shows its lesions first, then fills their IVUS figures in place (same
    rows, no reset): ICS was cut to '26...'."""
    from napari_plaque.widgets._table import RowTableModel, RowTableView

    model = RowTableModel([("ics", "ICS"), ("note", "note")], fmt=str, key="id")
    view = RowTableView(model)
    qtbot.addWidget(view)
    model.set_rows([{"id": 1, "ics": "", "note": ""}])
    before = model.n_resets
    model.set_rows([{"id": 1, "ics": "264.55 (long)", "note": ""}])
    assert model.n_resets == before  # updated in place, not reset
    assert view.columnWidth(0) >= view.fontMetrics().horizontalAdvance("264.55 (long)")
    wide = view.columnWidth(0)
    model.set_rows([{"id": 1, "ics": "1", "note": ""}])
    assert view.columnWidth(0) == wide  # never narrower: a width the user set stays
