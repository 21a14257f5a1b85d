"""Qt-free state of a vessel-analysis session: several vessels of one scan, the current vessel
and cross-section, contour edits with undo / redo, exports. The napari dock only binds gestures
to these methods and redraws on the signals.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from ..history import History
from ..types import CTVolume
from .centreline import Centreline, iter_refine_centreline
from .contours import ContourEdit, radii_from_polygon
from .vessel import VesselResult, iter_analyse_vessel

#: vessel names offered by default (any other name is accepted)
VESSEL_CHOICES = ("LM", "LAD", "LCX", "RCA")


def iter_vessel_job(
    ct: CTVolume,
    name: str,
    points_mm: np.ndarray | None = None,
    centreline: Centreline | None = None,
    step_mm: float = 0.5,
    labels: np.ndarray | None = None,
    **params: Any,
) -> Generator[int, None, VesselResult]:
    """Refine (from points), skeletonise (a lumen / vessel label map) or take a centreline,
    then analyse: one step generator."""
    if centreline is None and labels is not None:
        from .centreline import centreline_from_labels

        yield 0
        centreline = centreline_from_labels(ct, labels, name=name, step_mm=step_mm)
    if centreline is None:
        if points_mm is None:
            raise ValueError("place centreline points (ostium first) or load a centreline")
        centreline = yield from iter_refine_centreline(ct, points_mm, name=name, step_mm=step_mm)
    else:
        centreline.name = name
    res = yield from iter_analyse_vessel(ct, centreline, **params)
    return res


class VesselSession:
    """Vessels analysed on one CT, the current one, the current cross-section, edit history.

    Signals: ``vessels_changed()`` (a vessel added / removed / renamed / current changed),
    ``result_changed(str)`` (a vessel's contours or measurements changed), ``section_changed(int)``.
    """

    vessels_changed = Signal()
    result_changed = Signal(str)
    section_changed = Signal(int)

    def __init__(self, ct: CTVolume | None = None) -> None:
        self.ct = ct
        self.results: dict[str, VesselResult] = {}
        self.current: str | None = None
        self.section = 0
        #: one contour-edit history per vessel (commands: each edit knows before and after)
        self.histories: dict[str, History[ContourEdit]] = {}

    # ---- vessels
    def set_ct(self, ct: CTVolume | None) -> None:
        if ct is not self.ct:
            self.ct = ct
            self.results.clear()
            self.histories.clear()
            self.current = None
            self.vessels_changed.emit()

    def add(self, res: VesselResult) -> None:
        """Add (or replace) the result of a vessel and make it current."""
        self.results[res.name] = res
        self.histories[res.name] = History()
        self.current = res.name
        self.section = min(self.section, len(res.centreline) - 1)
        self.vessels_changed.emit()
        self.result_changed.emit(res.name)
        self.section_changed.emit(self.section)

    def remove(self, name: str) -> None:
        self.results.pop(name, None)
        self.histories.pop(name, None)
        if self.current == name:
            self.current = next(iter(self.results), None)
        self.vessels_changed.emit()

    def set_current(self, name: str) -> None:
        if name in self.results and name != self.current:
            self.current = name
            self.section = min(self.section, len(self.results[name].centreline) - 1)
            self.vessels_changed.emit()
            self.section_changed.emit(self.section)

    @property
    def result(self) -> VesselResult | None:
        return self.results.get(self.current) if self.current else None

    # ---- navigation
    def set_section(self, i: int) -> None:
        res = self.result
        if res is None:
            return
        i = int(np.clip(i, 0, len(res.centreline) - 1))
        if i != self.section:
            self.section = i
            self.section_changed.emit(i)

    def go_to_s(self, s_mm: float) -> None:
        if self.result is not None:
            self.set_section(self.result.centreline.index_at(s_mm))

    def go_to_lesion(self, row: int) -> None:
        res = self.result
        if res is not None and 0 <= row < len(res.lesions):
            self.go_to_s(res.lesions[row].s_mla_mm)

    def world_point(self) -> np.ndarray | None:
        res = self.result
        return None if res is None else res.centreline.points_mm[self.section]

    # ---- edits
    def _apply(self, name: str, i: int, rl: np.ndarray, rv: np.ndarray, edited: bool) -> None:
        res = self.results[name]
        cs = res.contours
        cs.r_lumen[i], cs.r_vessel[i] = rl, np.maximum(rv, rl)
        cs.edited[i] = edited
        if edited:
            cs.lumen_resolved[i] = True
        res.remeasure()
        self.result_changed.emit(name)

    def _record(self, i: int, rl: np.ndarray, rv: np.ndarray, what: str) -> None:
        name = self.current
        cs = self.results[name].contours
        before = (cs.r_lumen[i].copy(), cs.r_vessel[i].copy(), bool(cs.edited[i]))
        after = (np.asarray(rl, float).copy(), np.maximum(np.asarray(rv, float), rl), True)
        self.histories[name].push(ContourEdit(i, before, after, {"what": what}))
        self._apply(name, i, *after)

    def push_contour(self, which: str, theta_deg: float, radius_mm: float,
                     width_deg: float = 40.0) -> None:
        """Move the ``which`` ("lumen" / "vessel") contour of the current section to
        ``radius_mm`` at ``theta_deg``, blending over +-``width_deg / 2`` (one undo step)."""
        res = self.result
        if res is None:
            return
        cs, i = res.contours, self.section
        th = cs.theta_deg
        d = np.abs((th - theta_deg + 180.0) % 360.0 - 180.0)
        w = np.where(d < width_deg / 2, 0.5 * (1 + np.cos(np.pi * d / (width_deg / 2))), 0.0)
        r = (cs.r_lumen if which == "lumen" else cs.r_vessel)[i]
        k = int(np.argmin(d))
        new = np.maximum(r + (float(radius_mm) - r[k]) * w, 0.0)
        rl, rv = (new, cs.r_vessel[i]) if which == "lumen" else (cs.r_lumen[i], new)
        if which == "vessel":
            rv = np.maximum(rv, rl)
        self._record(i, rl, rv, f"push {which}")

    def set_contour_polygon(self, which: str, uv_mm: np.ndarray) -> None:
        """Replace the current section's contour by a polygon drawn in its (u, v) mm frame."""
        res = self.result
        if res is None:
            return
        cs, i = res.contours, self.section
        r = radii_from_polygon(uv_mm, cs.theta_deg)
        rl, rv = (r, cs.r_vessel[i]) if which == "lumen" else (cs.r_lumen[i], r)
        self._record(i, rl, rv, f"draw {which}")

    def _history(self) -> History[ContourEdit] | None:
        return self.histories.get(self.current) if self.current else None

    def can_undo(self) -> bool:
        h = self._history()
        return h is not None and h.can_undo

    def can_redo(self) -> bool:
        h = self._history()
        return h is not None and h.can_redo

    def undo(self) -> None:
        h = self._history()
        e = h.undo() if h is not None else None
        if e is not None:
            self._apply(self.current, e.index, *e.before)
            self.set_section(e.index)

    def redo(self) -> None:
        h = self._history()
        e = h.redo() if h is not None else None
        if e is not None:
            self._apply(self.current, e.index, *e.after)
            self.set_section(e.index)

    # ---- tables and exports
    def lesion_rows(self) -> list[dict[str, Any]]:
        """Lesion rows of every vessel (vessel name first)."""
        return [row for res in self.results.values() for row in res.to_rows()]

    def export_csv(self, path: str | Path) -> Path:
        from ..report import write_csv

        return write_csv(path, self.lesion_rows())

    def export_json(self, path: str | Path) -> Path:
        from ..report import write_json

        return write_json(path, {"vessels": [r.to_dict() for r in self.results.values()]})
