"""Qt-free state of a CT-IVUS fusion session, with events (psygnal) for the widget.

Holds the inputs (pullback geometry, arcs, centreline length, CT lesions), the landmarks, the
registration options and the current position. With no landmark the two views move
independently; with one or two the mapping links them: moving the frame moves s and back
(``linked``; unlink to move one view alone, e.g. to pick a second landmark).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from psygnal import Signal

from .join import JOIN_DEFAULTS, JoinResult, join_lesions
from .mapping import DEFAULTS, FrameMapping, Landmark


class FusionSession:
    """One pullback registered to one CT centreline."""

    #: (frame, s_mm) after any move
    position_changed = Signal(int, float)
    #: the mapping was rebuilt (or removed: None)
    mapping_changed = Signal(object)
    #: the joined lesions changed (JoinResult or None)
    lesions_changed = Signal(object)
    landmarks_changed = Signal(list)
    #: a problem to show the user (the mapping could not be built, a warning)
    message = Signal(str)

    def __init__(self) -> None:
        self.pullback = None
        self.arcs = None
        self.centreline_length_mm: float | None = None
        self.ct_lesions: list[dict[str, Any]] = []
        self.landmarks: list[Landmark] = []
        self.options: dict[str, Any] = {k: DEFAULTS[k] for k in DEFAULTS}
        self.join_params: dict[str, Any] = {**JOIN_DEFAULTS, "allow_partial": True}
        self.mapping: FrameMapping | None = None
        self.result: JoinResult | None = None
        self.frame = 0
        self.s_mm = 0.0
        #: with a mapping, moving one view moves the other; unlink to pick another landmark
        self.linked = True

    # -- inputs ----------------------------------------------------------------------------------
    def set_pullback(self, pullback, arcs=None) -> None:
        self.pullback = pullback
        self.arcs = arcs
        self.frame = 0
        self.landmarks = [m for m in self.landmarks if m.frame < pullback.n_frames]
        self._rebuild()

    def set_arcs(self, arcs) -> None:
        self.arcs = arcs
        self._rejoin()

    def set_vessel(self, length_mm: float, lesions: list[dict[str, Any]]) -> None:
        self.centreline_length_mm = float(length_mm)
        self.ct_lesions = [dict(x) for x in lesions]
        self.s_mm = float(np.clip(self.s_mm, 0.0, self.centreline_length_mm))
        self._rebuild()

    def set_option(self, **kw: Any) -> None:
        unknown = set(kw) - set(self.options)
        if unknown:
            raise ValueError(f"unknown fusion options {sorted(unknown)}")
        self.options.update(kw)
        self._rebuild()

    # -- landmarks -------------------------------------------------------------------------------
    def add_landmark(self, s_mm: float | None = None, frame: int | None = None) -> None:
        """Add (s, frame), by default the current s and frame; a third replaces the oldest."""
        lm = Landmark(
            float(self.s_mm if s_mm is None else s_mm),
            float(self.frame if frame is None else frame),
        )
        self.landmarks = [*self.landmarks, lm][-2:]
        self.landmarks_changed.emit(list(self.landmarks))
        self._rebuild()

    def remove_landmark(self, index: int) -> None:
        del self.landmarks[index]
        self.landmarks_changed.emit(list(self.landmarks))
        self._rebuild()

    def clear_landmarks(self) -> None:
        self.landmarks = []
        self.landmarks_changed.emit([])
        self._rebuild()

    # -- mapping and join ------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self.pullback is not None and self.centreline_length_mm is not None

    def _rebuild(self) -> None:
        old = self.mapping
        self.mapping = None
        if self.ready and self.landmarks:
            try:
                self.mapping = FrameMapping.from_pullback(
                    self.pullback, self.landmarks, self.centreline_length_mm, **self.options
                )
            except ValueError as exc:
                self.message.emit(str(exc))
            else:
                for w in self.mapping.warnings:
                    self.message.emit(w)
        if self.mapping is not None or old is not None:
            self.mapping_changed.emit(self.mapping)
        self._rejoin()
        if self.mapping is not None:
            self.set_frame(self.frame)

    def _rejoin(self) -> None:
        self.result = None
        if self.mapping is not None and self.ct_lesions:
            try:
                self.result = join_lesions(
                    self.ct_lesions, self.mapping, self.arcs, **self.join_params
                )
            except ValueError as exc:
                self.message.emit(str(exc))
        self.lesions_changed.emit(self.result)

    # -- position --------------------------------------------------------------------------------
    def set_frame(self, frame: int) -> None:
        """Move the IVUS frame; with a mapping, s follows (clipped to the centreline)."""
        if self.pullback is not None:
            frame = int(np.clip(frame, 0, self.pullback.n_frames - 1))
        self.frame = int(frame)
        if self.mapping is not None and self.linked:
            s = float(self.mapping.s_of_frame(self.frame))
            self.s_mm = float(np.clip(s, 0.0, self.centreline_length_mm))
        self.position_changed.emit(self.frame, self.s_mm)

    def set_s(self, s_mm: float) -> None:
        """Move along the centreline; with a mapping, the frame follows (nearest imaged)."""
        if self.centreline_length_mm is not None:
            s_mm = float(np.clip(s_mm, 0.0, self.centreline_length_mm))
        self.s_mm = float(s_mm)
        if self.mapping is not None and self.linked:
            f = float(self.mapping.frame_of_s(self.s_mm))
            self.frame = int(np.clip(np.round(f), 0, self.mapping.n_frames - 1))
        self.position_changed.emit(self.frame, self.s_mm)

    def set_linked(self, linked: bool) -> None:
        """Link or unlink the views; relinking moves s to the current frame's s."""
        self.linked = bool(linked)
        if self.linked and self.mapping is not None:
            self.set_frame(self.frame)

    def go_to_lesion(self, index: int) -> None:
        les = (self.result.lesions if self.result else self.ct_lesions)[index]
        self.set_s(0.5 * (float(les["start_mm"]) + float(les["end_mm"])))

    @property
    def s_imaged(self) -> bool:
        """Whether the current s is inside the pullback."""
        if self.mapping is None:
            return False
        lo, hi = self.mapping.covered_s_mm
        return lo - 1e-9 <= self.s_mm <= hi + 1e-9

    # -- arcs for drawing ------------------------------------------------------------------------
    def ivus_arcs(self, frame: int | None = None) -> list[tuple[str, float, float]]:
        """(class, start, end) IVUS arcs of a frame (default: current)."""
        if self.arcs is None:
            return []
        f = self.frame if frame is None else int(frame)
        return [(a.cls, a.start_deg, a.end_deg) for a in self.arcs.arcs_for(f)]

    def ct_arcs(self, frame: int | None = None) -> list[tuple[str, float, float]]:
        """The same arcs in CT cross-section angles (needs a mapping for the rotation)."""
        if self.mapping is None:
            return []
        return [(c, *self.mapping.arc_to_ct(a, b)) for c, a, b in self.ivus_arcs(frame)]
