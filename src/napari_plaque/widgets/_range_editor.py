"""One editor for the composition HU ranges that cannot produce overlapping ranges.

The six bounds (lipid low/high, fibrous low/high, calcium low/high) form one ordered chain:
``lipid_lo <= lipid_hi < fibrous_lo <= fibrous_hi < calcium_lo <= calcium_hi``. Each spin box's
limits follow its neighbours, so any edit keeps the ranges valid (gaps are allowed, overlaps
are not). ``changed`` is emitted once per edit.
"""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox

from ..ccta import COMPONENT_COLORS, COMPONENTS, DEFAULT_RANGES, check_ranges

HU_MIN, HU_MAX = -1024, 4000


class RangeEditor(QGroupBox):
    """Inclusive HU ranges of lipid, fibrous and calcium, in that order, never overlapping."""

    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__("HU ranges (inclusive; they cannot overlap)", parent)
        form = QFormLayout(self)
        self.spins: list[QSpinBox] = []
        self.range_spins: dict[str, tuple[QSpinBox, QSpinBox]] = {}
        for comp in COMPONENTS:
            row = QHBoxLayout()
            pair = []
            for _ in range(2):
                sb = QSpinBox()
                sb.setRange(HU_MIN, HU_MAX)
                sb.valueChanged.connect(self._edited)
                row.addWidget(sb)
                pair.append(sb)
                self.spins.append(sb)
            self.range_spins[comp] = (pair[0], pair[1])
            r, g, b, _ = COMPONENT_COLORS[comp]
            label = QLabel(comp)
            label.setStyleSheet(f"color: rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})")
            form.addRow(label, row)
        self.set_ranges(DEFAULT_RANGES)

    def ranges(self) -> dict[str, tuple[float, float]]:
        return {k: (float(a.value()), float(b.value())) for k, (a, b) in self.range_spins.items()}

    def set_ranges(self, ranges: dict[str, tuple[float, float]]) -> None:
        """Set some ranges (the others stay); ValueError if the result would overlap or leave
        the lipid < fibrous < calcium order."""
        merged = check_ranges({**self.ranges(), **ranges} if self.spins else ranges)
        values = [int(v) for c in COMPONENTS for v in merged[c]]
        if any(b < a for a, b in zip(values[:-1], values[1:], strict=True)):
            raise ValueError(f"HU ranges must run lipid < fibrous < calcium, got {merged}")
        for sb in self.spins:
            sb.blockSignals(True)
            sb.setRange(HU_MIN, HU_MAX)
        for sb, v in zip(self.spins, values, strict=True):
            sb.setValue(v)
        self._limit()
        for sb in self.spins:
            sb.blockSignals(False)
        self.changed.emit()

    def _limit(self) -> None:
        """Each bound between its neighbours: a low may equal its own high; a high stays
        below the next component's low."""
        v = [sb.value() for sb in self.spins]
        for i, sb in enumerate(self.spins):
            lo = HU_MIN if i == 0 else v[i - 1] + (1 if i % 2 == 0 else 0)
            hi = HU_MAX if i == len(v) - 1 else v[i + 1] - (1 if i % 2 == 1 else 0)
            blocked = sb.blockSignals(True)
            sb.setRange(lo, hi)
            sb.blockSignals(blocked)

    def _edited(self, *_: object) -> None:
        self._limit()
        self.changed.emit()
