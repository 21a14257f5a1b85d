"""A read-only Qt model / view table for rows of dicts, updated by row.

A dock that shows thousands of rows (2,000 calcium lesions, 3,000 IVUS frames) must not rebuild
a ``QTableWidget`` cell by cell with resize-to-contents on every edit: that costs seconds to
minutes on napari's main thread. :class:`RowTableModel` keeps the rows as data; the view asks
only for the cells it draws. :meth:`RowTableModel.set_rows` diffs the new rows against the shown
ones and signals ``dataChanged`` for the rows that changed (one signal per run of consecutive
changed rows), or resets the model when the row count or identity changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qtpy.QtCore import QAbstractTableModel, QEvent, QModelIndex, Qt
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from ._common import fmt_value

#: rows sampled to size the columns once, after a reset (never all rows: that is the freeze)
_SIZE_SAMPLE = 50


class RowTableModel(QAbstractTableModel):
    """Rows of dicts shown under fixed columns ``(key, header)``; cells formatted on demand."""

    def __init__(
        self,
        columns: Sequence[tuple[str, str]],
        fmt: Callable[[Any], str] = fmt_value,
        key: str | None = None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        # (key, header) or (key, header, formatter of that column's values)
        self.columns = [tuple(c[:2]) for c in columns]
        self._col_fmt = [c[2] if len(c) > 2 else fmt for c in columns]
        self._fmt = fmt
        self._key = key  # a column whose value identifies a row (a lesion id, a frame index)
        self._rows: list[Mapping[str, Any]] = []
        self.n_resets = 0  # for tests and benchmarks: how the last updates were signalled
        self.n_row_updates = 0

    # -- Qt model interface ---------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
        ):
            return None
        c = index.column()
        return self._col_fmt[c](self._rows[index.row()].get(self.columns[c][0]))

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section][1]
        return str(section + 1)

    # -- rows -------------------------------------------------------------------------------------
    @property
    def rows(self) -> list[Mapping[str, Any]]:
        return list(self._rows)

    def row(self, i: int) -> Mapping[str, Any]:
        return self._rows[i]

    def row_key(self, i: int) -> Any:
        return self._rows[i][self._key] if self._key else i

    def set_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[int]:
        """Show ``rows``; returns the indices of the rows whose cells changed.

        Same number of rows with the same keys: only the changed rows are signalled. Otherwise
        the model is reset (a new score, another pullback)."""
        rows = list(rows)
        old = self._rows
        k = self._key
        same_shape = len(rows) == len(old) and (
            k is None or [r.get(k) for r in old] == [r.get(k) for r in rows]
        )
        if not same_shape:
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
            self.n_resets += 1
            return list(range(len(rows)))
        changed = [i for i, (a, b) in enumerate(zip(old, rows, strict=True)) if a != b]
        self._rows = rows
        last = len(self.columns) - 1
        start = prev = None
        for i in [*changed, None]:
            if i is not None and prev is not None and i == prev + 1:
                prev = i
                continue
            if start is not None:
                self.dataChanged.emit(self.index(start, 0), self.index(prev, last))
                self.n_row_updates += 1
            start = prev = i
        return changed

    def update_row(self, i: int, row: Mapping[str, Any]) -> None:
        """Replace one row and signal just that row."""
        self._rows[i] = row
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.columns) - 1))
        self.n_row_updates += 1


class RowTableView(QTableView):
    """A read-only, row-selecting view of a :class:`RowTableModel` with fixed row heights.

    Columns are sized once from a sample of rows after each reset (not on every change), the
    last column stretches, and the view is tall enough for ``min_rows`` rows."""

    def __init__(self, model: RowTableModel, min_rows: int = 4, parent=None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        # no alternating row colours: Qt's default alternate base is near-white, which shows
        # as blank rows under napari's dark theme
        self.setWordWrap(False)
        vh = self.verticalHeader()
        vh.setVisible(False)
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vh.setDefaultSectionSize(self.fontMetrics().height() + 6)
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        self._min_rows = min_rows
        model.modelReset.connect(self._size_columns)
        model.dataChanged.connect(self._grow_columns)
        self._size_columns()

    def rowCount(self) -> int:  # noqa: N802 - the QTableWidget spelling, for callers of both
        return self.model().rowCount()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        # napari's stylesheet reaches the view after a dock filled it: sized with the default
        # font, the columns cut their text ("26..."); size them again with the font shown
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._size_columns()

    def _grow_columns(self, top, bottom, *_) -> None:
        """Rows updated in place (no reset): widen a column whose new text no longer fits
        (never narrower, so a width the user set stays; at most a sample of the rows)."""
        model = self.model()
        fm = self.fontMetrics()
        r0 = top.row()
        r1 = min(bottom.row(), r0 + _SIZE_SAMPLE - 1)
        for c in range(top.column(), bottom.column() + 1):
            need = max(
                (fm.horizontalAdvance(str(model.data(model.index(r, c)))) + 16
                 for r in range(r0, r1 + 1)),
                default=0,
            )
            if need > self.columnWidth(c):
                self.setColumnWidth(c, need)

    def _size_columns(self) -> None:
        model = self.model()
        fm = self.fontMetrics()
        n = min(model.rowCount(), _SIZE_SAMPLE)
        for c in range(model.columnCount()):
            texts = [str(model.headerData(c, Qt.Orientation.Horizontal))]
            texts += [str(model.data(model.index(r, c))) for r in range(n)]
            self.setColumnWidth(c, max(fm.horizontalAdvance(t) for t in texts) + 16)
        rows = max(self._min_rows, 1)
        h = self.horizontalHeader().sizeHint().height()
        self.setMinimumHeight(h + rows * self.verticalHeader().defaultSectionSize() + 4)
