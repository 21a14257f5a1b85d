"""One editor for the composition HU ranges that cannot produce gaps or overlaps.

Ranges are half-open (``low <= HU < high``, :func:`napari_plaque.ccta.check_ranges`) and meet:
each component ends where the next begins, so the editor holds four bounds in one ordered
chain ``lipid_lo < fibrous_lo < calcium_lo < calcium_hi``. The lipid high and the fibrous low
are one bound shown twice (editing either moves both), likewise fibrous high and calcium low.
Each spin box's limits follow its neighbours, so any edit keeps the ranges valid. The calcium
high is a cap (Zhao's 1300 HU by default) that the "cap" box lifts (``inf``). ``changed`` is
emitted once per edit.
"""

from __future__ import annotations

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox

from ..ccta import COMPONENT_COLORS, COMPONENTS, DEFAULT_RANGES, check_ranges

HU_MIN, HU_MAX = -1024, 4000


class RangeEditor(QGroupBox):
    """Half-open HU ranges of lipid, fibrous and calcium, in that order, without gaps."""

    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__("HU ranges (low ≤ HU < high, no gaps)", parent)
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
            if comp == COMPONENTS[-1]:
                self.cap_box = QCheckBox("cap")
                self.cap_box.setToolTip(
                    "calcium ends at this HU (Zhao 2026: 1300; the voxels it removes are "
                    "reported). Untick: no upper bound"
                )
                self.cap_box.toggled.connect(self._cap_toggled)
                row.addWidget(self.cap_box)
            r, g, b, _ = COMPONENT_COLORS[comp]
            label = QLabel(comp)
            label.setStyleSheet(f"color: rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})")
            form.addRow(label, row)
        self.note = QLabel("")  # why a bound stops where it does (never a silent clamp)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #ffb020")
        form.addRow(self.note)
        self.set_ranges(DEFAULT_RANGES)

    def ranges(self) -> dict[str, tuple[float, float]]:
        out = {k: (float(a.value()), float(b.value())) for k, (a, b) in self.range_spins.items()}
        if not self.cap_box.isChecked():
            last = COMPONENTS[-1]
            out[last] = (out[last][0], float("inf"))
        return out

    def set_ranges(self, ranges: dict[str, tuple[float, float]]) -> None:
        """Set some ranges (the others stay); ValueError (from :func:`check_ranges`) if the
        result would leave a gap, overlap or leave the lipid < fibrous < calcium order."""
        merged = check_ranges({**self.ranges(), **ranges} if self.spins else ranges)
        cap = merged[COMPONENTS[-1]][1]
        capped = cap != float("inf")
        values = [v for c in COMPONENTS for v in merged[c]]
        if not capped:  # keep the spin box's last cap value (shown greyed)
            values[-1] = max(self.spins[-1].value(), values[-2] + 1)
        if any(v != int(v) for v in values):
            raise ValueError(f"the range editor holds whole HU bounds, got {merged}")
        for sb in self.spins:
            sb.blockSignals(True)
            sb.setRange(HU_MIN, HU_MAX)
        for sb, v in zip(self.spins, values, strict=True):
            sb.setValue(int(v))
        self.cap_box.blockSignals(True)
        self.cap_box.setChecked(capped)
        self.cap_box.blockSignals(False)
        self.spins[-1].setEnabled(capped)
        self._limit()
        for sb in self.spins:
            sb.blockSignals(False)
        self.changed.emit()

    def _limit(self) -> None:
        """Each bound strictly between its neighbouring bounds (the chain of four)."""
        s = self.spins
        # bounds: lipid lo (s0), lipid hi = fibrous lo (s1, s2), fibrous hi = calcium lo
        # (s3, s4), calcium hi (s5)
        chain = [s[0].value(), s[1].value(), s[3].value(), s[5].value()]
        owners = [[s[0]], [s[1], s[2]], [s[3], s[4]], [s[5]]]
        for i, boxes in enumerate(owners):
            lo = HU_MIN if i == 0 else chain[i - 1] + 1
            hi = HU_MAX if i == len(chain) - 1 else chain[i + 1] - 1
            for sb in boxes:
                blocked = sb.blockSignals(True)
                sb.setRange(lo, hi)
                sb.setValue(chain[i])
                sb.setToolTip(
                    f"{lo}..{hi} HU: a bound stays between its neighbours (ranges keep the "
                    "lipid < fibrous < calcium order and cannot overlap or leave a gap)"
                )
                sb.blockSignals(blocked)

    def _say_limit(self, sb) -> None:
        """After an edit: if the edited bound stopped at a neighbour, say so."""
        names = {0: ("lipid", "low"), 1: ("lipid", "high"), 2: ("fibrous", "low"),
                 3: ("fibrous", "high"), 4: ("calcium", "low"), 5: ("calcium", "high")}
        k = next((i for i, x in enumerate(self.spins) if x is sb), None)
        if k is None:
            return
        comp, end = names[k]
        v = sb.value()
        if v == sb.maximum() and sb.maximum() < HU_MAX:
            nxt = {0: "the lipid high", 1: "the fibrous high", 2: "the fibrous high",
                   3: "the calcium high", 4: "the calcium high"}.get(k, "")
            self.note.setText(f"{comp} {end} stops at {v} HU: it must stay below {nxt} "
                              f"({v + 1} HU); ranges cannot overlap")
        elif v == sb.minimum() and sb.minimum() > HU_MIN:
            prv = {1: "the lipid low", 2: "the lipid low", 3: "the fibrous low",
                   4: "the fibrous low", 5: "the calcium low"}.get(k, "")
            self.note.setText(f"{comp} {end} stops at {v} HU: it must stay above {prv} "
                              f"({v - 1} HU); ranges cannot overlap")
        else:
            self.note.setText("")

    def _edited(self, *_: object) -> None:
        s = self.spins
        sender = self.sender()
        # a shared bound edited in one place moves its twin
        for a, b in ((s[1], s[2]), (s[3], s[4])):
            src, dst = (b, a) if sender is b else (a, b)
            if dst.value() != src.value():
                blocked = dst.blockSignals(True)
                dst.setRange(HU_MIN, HU_MAX)
                dst.setValue(src.value())
                dst.blockSignals(blocked)
        self._limit()
        if sender is not None:
            self._say_limit(sender)
        self.changed.emit()

    def _cap_toggled(self, on: bool) -> None:
        self.spins[-1].setEnabled(on)
        self.changed.emit()
