"""A calcium-scoring session without Qt: the result, manual vessel assignments, exclusions, undo.

:class:`CalciumSession` holds what a reader decides on top of the automatic score: which vessel
each calcification belongs to and which lesions are not coronary calcium (noise, bone, a stent).
Edits are undoable; scoring again (another threshold, another ROI) keeps every decision and the
undo history, carried from the old lesions to the new ones by voxel overlap. The dock
(:mod:`napari_plaque.widgets.ccta`) binds clicks and keys to it and redraws on its ``changed``
signal; everything here is tested without a viewer.

Lesions are 2D per slice (the Agatston convention); a click means a calcification, so
assignment and exclusion act by default on every lesion of the same 3D-connected calcium
(26-connected across slices), or on the one slice's lesion when asked (``scope="slice"``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from enum import Enum
from typing import Any

import numpy as np
from psygnal import Signal

from ..history import History, Undoable
from .calcium import VESSEL_NAMES, CalciumResult, MassCalibration, vessel_name
from .protocol import check_protocol

__all__ = [
    "HEADERLESS_CHECKS",
    "NO_MASK_WARNING",
    "SCOPES",
    "Scope",
    "Action",
    "CalciumSession",
    "connected_groups",
    "protocol_warnings",
]



class Scope(str, Enum):
    """What a click on a lesion acts on: its whole calcification (26-connected across slices)
    or the one slice's lesion."""

    CALCIFICATION = "3d"
    SLICE = "slice"

    def __str__(self) -> str:  # the value, as the session and messages write it
        return self.value


#: the scopes' names (messages)
SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)


class Action(str, Enum):
    """What a click on a lesion does (the dock's action combo holds these, not its texts)."""

    ASSIGN = "assign"
    EXCLUDE = "exclude"
    INCLUDE = "include"
    OFF = "off"

    @property
    def label(self) -> str:
        """The text the dock shows for the action."""
        return _ACTION_LABELS[self]


_ACTION_LABELS = {
    Action.ASSIGN: "assign to",
    Action.EXCLUDE: "exclude",
    Action.INCLUDE: "include again",
    Action.OFF: "off",
}

#: the protocol checks that need no CT header (a layer the CT reader did not make)
HEADERLESS_CHECKS = ("threshold", "roi")


def protocol_warnings(
    meta: Mapping[str, Any] | None = None,
    hu: np.ndarray | None = None,
    spacing_mm: tuple[float, float, float] | None = None,
    *,
    threshold_hu: float | None = None,
    roi_given: bool = False,
    checks: Iterable[str] | None = None,
) -> list[str]:
    """The :func:`~napari_plaque.ccta.protocol.check_protocol` findings of an interactive score
    as warning lines (``code: message``), the rule's one home.

    With the CT's header (``meta``, a CTVolume's) every check runs; without it only
    :data:`HEADERLESS_CHECKS` (an unknown header is not flagged field by field). ``checks``
    narrows further. A refusal (the ``cac`` command would not score the study) is listed too,
    saying so: the dock scores what it is shown, but never silently.
    """
    header = bool(meta)
    rep = check_protocol(
        dict(meta or {}),
        hu if header else None,
        spacing_mm if header else None,
        threshold_hu=threshold_hu,
        roi_given=roi_given,
    )
    keep = set(checks) if checks is not None else (None if header else set(HEADERLESS_CHECKS))
    out = []
    for f in rep.findings:
        if keep is not None and f.code not in keep:
            continue
        if f.level == "flag":
            out.append(f"{f.code}: {f.message}")
        elif f.level == "refuse":
            out.append(f"{f.code}: {f.message} (the cac command refuses this study)")
    return out


#: the warning of a score made without a heart / coronary ROI (from the protocol's ``roi`` check)
NO_MASK_WARNING = protocol_warnings(checks=("roi",))[0]
#: how many undo steps are kept
UNDO_DEPTH = 500


def connected_groups(lesion_labels: np.ndarray | None, n_lesions: int) -> np.ndarray:
    """Group id per lesion id (index = lesion id): lesions whose voxels touch across slices
    (26-connectivity) form one 3D calcification. Without labels each lesion is its own group."""
    group = np.arange(n_lesions + 1)
    if lesion_labels is None or n_lesions == 0:
        return group
    from scipy import ndimage

    mask = lesion_labels > 0
    comp, _ = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    group[lesion_labels[mask]] = comp[mask]
    group[0] = 0
    return group


def _overlap_map(old: np.ndarray, new: np.ndarray) -> dict[int, int]:
    """For each new lesion id, the old lesion id it overlaps most (voxel counts)."""
    both = (old > 0) & (new > 0)
    if not both.any():
        return {}
    o = old[both].astype(np.int64)
    n = new[both].astype(np.int64)
    key = n * (int(o.max()) + 1) + o
    uniq, counts = np.unique(key, return_counts=True)
    nn, oo = np.divmod(uniq, int(o.max()) + 1)
    order = np.lexsort((-counts, nn))  # per new id, the largest overlap first
    out: dict[int, int] = {}
    for i in order:
        out.setdefault(int(nn[i]), int(oo[i]))
    return out


class CalciumSession(Undoable):
    """The automatic calcium score plus a reader's assignments and exclusions, with undo.

    Signals
    -------
    changed : the result shown changed (new score, assignment, exclusion, undo, calibration)
    """

    changed = Signal()

    def __init__(self) -> None:
        self.base_result: CalciumResult | None = None
        self.calibration: MassCalibration | None = None
        self.assignments: dict[int, int] = {}
        self.excluded: set[int] = set()
        self.warnings: list[str] = []
        self.message = ""
        self._groups = np.zeros(1, np.int64)
        self.history: History[tuple[dict[int, int], frozenset[int]]] = History(UNDO_DEPTH)

    # -- scoring --------------------------------------------------------------------------------
    def set_result(
        self,
        result: CalciumResult,
        roi_given: bool | None = None,
        warnings: list[str] | None = None,
    ) -> dict[str, int]:
        """A new automatic score. Earlier assignments, exclusions and history are carried to the
        new lesions (each new lesion takes the decisions of the old lesion it overlaps most).
        ``warnings`` (e.g. :func:`protocol_warnings`) go into the report; without them only the
        protocol's ROI check is made.

        Returns how many assignments and exclusions were carried over.
        """
        old = self.base_result
        carried = {"assignments": 0, "excluded": 0}
        if old is not None and (self.assignments or self.excluded or len(self.history)):
            if old.lesion_labels is not None and result.lesion_labels is not None:
                new_from_old = _overlap_map(old.lesion_labels, result.lesion_labels)
            else:
                new_from_old = {}

            def carry(state: tuple[dict[int, int], frozenset[int]]):
                assign, excl = state
                a = {n: assign[o] for n, o in new_from_old.items() if o in assign}
                e = frozenset(n for n, o in new_from_old.items() if o in excl)
                return a, e

            self.assignments, excl = carry((self.assignments, frozenset(self.excluded)))
            self.excluded = set(excl)
            self.history.map(carry)
            carried = {"assignments": len(self.assignments), "excluded": len(self.excluded)}
        self.base_result = result
        self._groups = connected_groups(result.lesion_labels, result.n_lesions)
        roi = result.parameters.get("roi") if roi_given is None else roi_given
        if warnings is None:
            warnings = protocol_warnings(roi_given=bool(roi), checks=("roi",))
        self.warnings = list(warnings)
        self.changed.emit()
        return carried

    def set_calibration(self, calibration: MassCalibration | None) -> None:
        self.calibration = calibration
        self.changed.emit()

    @property
    def result(self) -> CalciumResult | None:
        """The score with assignments, exclusions and calibration applied."""
        res = self.base_result
        if res is None:
            return None
        if self.assignments:
            res = res.with_assignments(self.assignments)
        if self.excluded:
            keep = ~np.isin(res.lesions["id"], np.fromiter(self.excluded, np.int64))
            params = dict(res.parameters, excluded_lesions=sorted(self.excluded))
            res = replace(res, lesions=res.lesions[keep], parameters=params)
        if self.calibration is not None:
            res = res.with_calibration(self.calibration)
        return res

    # -- lookups ------------------------------------------------------------------------------
    def lesion_ids(self) -> np.ndarray:
        return np.zeros(0, np.int64) if self.base_result is None else self.base_result.lesions["id"]

    def lesion_at(self, index: Iterable[float]) -> int:
        """Lesion id at a voxel index (z, y, x) of the scored volume (0: none)."""
        lab = None if self.base_result is None else self.base_result.lesion_labels
        if lab is None:
            return 0
        idx = tuple(int(round(float(i))) for i in index)
        if len(idx) != 3 or any(not 0 <= i < s for i, s in zip(idx, lab.shape, strict=True)):
            return 0
        return int(lab[idx])

    def members(self, lesion_id: int, scope: str = Scope.CALCIFICATION) -> list[int]:
        """The lesions an action on ``lesion_id`` acts on: its 3D calcification, or itself."""
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        ids = self.lesion_ids()
        lesion_id = int(lesion_id)
        if lesion_id not in set(ids.tolist()):
            raise ValueError(f"no lesion with id {lesion_id}")
        if scope == Scope.SLICE:
            return [lesion_id]
        g = self._groups[lesion_id]
        return [int(i) for i in ids if self._groups[int(i)] == g]

    def vessels(self) -> np.ndarray:
        """The vessel label of every lesion (assignments applied), in the lesions' order."""
        les = self.base_result.lesions
        v = np.asarray(les["vessel"], np.int64).copy()
        if self.assignments:
            ids = les["id"]
            keys = np.fromiter(self.assignments, np.int64, len(self.assignments))
            vals = np.fromiter(self.assignments.values(), np.int64, len(self.assignments))
            pos = np.searchsorted(ids, keys)
            ok = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == keys)
            v[pos[ok]] = vals[ok]
        return v

    def vessel_of(self, lesion_id: int) -> int:
        if lesion_id in self.assignments:
            return self.assignments[lesion_id]
        les = self.base_result.lesions
        return int(les["vessel"][np.searchsorted(les["id"], lesion_id)])

    # -- edits ----------------------------------------------------------------------------------
    def _state(self) -> tuple[dict[int, int], frozenset[int]]:
        return dict(self.assignments), frozenset(self.excluded)

    def _snapshot(self) -> None:
        self.history.push(self._state())

    def assign(self, lesion_id: int, vessel: int, scope: str = Scope.CALCIFICATION) -> list[int]:
        """Assign the calcification of ``lesion_id`` (or, ``scope="slice"``, that lesion) to a
        vessel label (0 = unassigned); undoable. Returns the lesion ids changed."""
        if self.base_result is None:
            raise ValueError("score the image first")
        ids = self.members(lesion_id, scope)
        self._snapshot()
        for i in ids:
            self.assignments[i] = int(vessel)
        self.message = f"{len(ids)} lesion(s) -> {vessel_name(vessel)}"
        self.changed.emit()
        return ids

    def exclude(self, lesion_id: int, scope: str = Scope.CALCIFICATION, excluded: bool = True) -> list[int]:
        """Exclude (or include again) the calcification of ``lesion_id``; undoable."""
        if self.base_result is None:
            raise ValueError("score the image first")
        ids = self.members(lesion_id, scope)
        self._snapshot()
        if excluded:
            self.excluded.update(ids)
        else:
            self.excluded.difference_update(ids)
        self.message = f"{len(ids)} lesion(s) {'excluded' if excluded else 'included'}"
        self.changed.emit()
        return ids

    def act(
        self, action: Action | str, lesion_id: int, vessel: int = 0, scope: str = Scope.CALCIFICATION
    ) -> list[int]:
        """Apply a click's :class:`Action` to the calcification of ``lesion_id``; undoable
        (``OFF`` changes nothing). Returns the lesion ids changed."""
        action = Action(action)
        if action is Action.OFF:
            return []
        if action is Action.EXCLUDE:
            return self.exclude(lesion_id, scope)
        if action is Action.INCLUDE:
            return self.exclude(lesion_id, scope, excluded=False)
        return self.assign(lesion_id, vessel, scope)

    def undo(self) -> bool:
        state = self.history.undo(self._state())
        if state is None:
            self.message = "nothing to undo"
            return False
        self.assignments, self.excluded = dict(state[0]), set(state[1])
        self.message = "undone"
        self.changed.emit()
        return True

    def redo(self) -> bool:
        state = self.history.redo(self._state())
        if state is None:
            return False
        self.assignments, self.excluded = dict(state[0]), set(state[1])
        self.changed.emit()
        return True

    # -- report ---------------------------------------------------------------------------------
    def lesion_rows(self) -> list[dict[str, Any]]:
        """One row per lesion (excluded ones too, flagged) for the lesion list."""
        if self.base_result is None:
            return []
        les = self.base_result.lesions
        ids = les["id"].astype(np.int64).tolist()
        labels = self.vessels().tolist()  # once: a row per lesion at 2,000 lesions
        names = {v: vessel_name(v) for v in set(labels)}
        vessel = [names[v] for v in labels]
        groups = self._groups[les["id"].astype(np.int64)].tolist()
        excluded = self.excluded
        return [
            {
                "id": i,
                "slice": sl,
                "group": g,
                "vessel": vname,
                "agatston": round(ag, 2),
                "peak_hu": round(pk, 1),
                "area_mm2": round(ar, 2),
                "excluded": i in excluded,
            }
            for i, sl, g, vname, ag, pk, ar in zip(
                ids,
                les["slice"].astype(np.int64).tolist(),
                groups,
                vessel,
                les["agatston"].astype(float).tolist(),
                les["peak_hu"].astype(float).tolist(),
                les["area_mm2"].astype(float).tolist(),
                strict=True,
            )
        ]

    def to_dict(self, image: str = "") -> dict[str, Any]:
        """The report: the result (assignments and exclusions applied) and the decisions."""
        res = self.result
        if res is None:
            raise ValueError("nothing to export: score the image first")
        d = {"image": image, **res.to_dict()}
        d["manual_assignments"] = {str(k): vessel_name(v) for k, v in self.assignments.items()}
        d["excluded_lesions"] = sorted(self.excluded)
        d["warnings"] = list(self.warnings)
        return d


#: vessel label -> name, for the assignment keys 1-4
ASSIGN_KEYS = {str(k): k for k in VESSEL_NAMES}
