"""IVUS frame <-> CT centreline arc length s, and IVUS <-> CT cross-section angles.

Conventions (``docs/fusion.md``; pinned by ``tests/test_fusion_mapping.py``)
---------------------------------------------------------------------------
- The CT centreline runs from the ostium (s = 0 at its first point) to distal, as the vessel
  analysis builds it.
- A motorised IVUS pullback runs distal to proximal: the frame index grows towards the ostium,
  so s *decreases* as the frame grows (``direction="ostium"``, the default). A pullback recorded
  the other way (frame grows distally) must be declared (``direction="distal"``); two landmarks
  that contradict the declared direction are refused, never silently flipped.
- The distance of frame f along the pullback is ``pos[f] = f x frame time x pullback rate``, or
  ``t_f x rate`` with the per-frame times of a Frame Time Vector.
- One landmark ``(s_L, f_L)`` (a side branch or the ostium seen in both) anchors the line:
  ``s(f) = s_L + sign (pos[f] - pos[f_L])`` with ``sign = -1`` for ``"ostium"``. Two landmarks
  rescale it: ``s(f) = s_1 + (s_2 - s_1) (pos[f] - pos[f_1]) / (pos[f_2] - pos[f_1])`` -- both
  land exactly; the implied speed is ``scale x`` nominal and a warning is raised when it differs
  from the nominal by more than ``speed_tolerance`` (20 %): a wrong landmark, a wrong pullback
  rate or a non-uniform (manual) pullback.
- Angles: IVUS theta and CT cross-section theta are both ``atan2(row - cy, col - cx)`` in
  degrees [0, 360). ``theta_ct = rotation + theta_ivus`` (mod 360), or
  ``theta_ct = rotation - theta_ivus`` when ``mirror`` is set (the IVUS image is the mirror
  image of the CT cross-section, which depends on the viewing side of the two systems). Arcs map
  with their clockwise order kept: a mirrored ``[a, b)`` becomes ``[rotation - b, rotation - a)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .defaults import DEFAULTS, DIRECTIONS  # defaults of the mapping (one home, light)

#: how far outside [0, length] a landmark s may lie (rounding of a typed value)
_S_SLACK_MM = 1e-6


@dataclass(frozen=True)
class Landmark:
    """The same anatomical point seen on the CT centreline (s, mm) and in the pullback (frame)."""

    s_mm: float
    frame: float

    def to_dict(self) -> dict[str, float]:
        return {"s_mm": float(self.s_mm), "frame": float(self.frame)}


def parse_landmark(text: str) -> Landmark:
    """``"S_MM:FRAME"`` -> Landmark (clear ValueError otherwise)."""
    parts = str(text).split(":")
    if len(parts) != 2:
        raise ValueError(f"landmark must be S_MM:FRAME (e.g. 12.5:340), got {text!r}")
    try:
        s, f = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"landmark must be S_MM:FRAME with numbers, got {text!r}") from None
    if not (np.isfinite(s) and np.isfinite(f)):
        raise ValueError(f"landmark {text!r} is not finite")
    return Landmark(s, f)


def _as_landmarks(landmarks) -> list[Landmark]:
    out = []
    for lm in landmarks:
        if isinstance(lm, Landmark):
            out.append(lm)
        elif isinstance(lm, str):
            out.append(parse_landmark(lm))
        elif isinstance(lm, dict):
            out.append(Landmark(float(lm["s_mm"]), float(lm["frame"])))
        else:
            s, f = lm
            out.append(Landmark(float(s), float(f)))
    return out


def frame_positions_mm(
    n_frames: int,
    mm_per_frame: float | None = None,
    frame_times_s: np.ndarray | None = None,
    pullback_rate_mm_s: float | None = None,
) -> np.ndarray:
    """Distance of every frame along the pullback (mm), frame 0 at 0."""
    if frame_times_s is not None:
        if pullback_rate_mm_s is None or not pullback_rate_mm_s > 0:
            raise ValueError("frame times given without a positive pullback rate")
        t = np.asarray(frame_times_s, float)
        if t.shape != (n_frames,) or not np.all(np.diff(t) > 0) or not np.all(np.isfinite(t)):
            raise ValueError("frame times must be finite, increasing, one per frame")
        return (t - t[0]) * float(pullback_rate_mm_s)
    if mm_per_frame is None or not np.isfinite(mm_per_frame) or mm_per_frame <= 0:
        raise ValueError(f"mm per frame must be a positive number, got {mm_per_frame}")
    return np.arange(n_frames, dtype=float) * float(mm_per_frame)


@dataclass
class FrameMapping:
    """Frame <-> s mapping of one pullback onto one centreline (build with the constructors)."""

    n_frames: int
    positions_mm: np.ndarray
    landmarks: list[Landmark]
    centreline_length_mm: float
    direction: str = DEFAULTS["direction"]
    rotation_deg: float = DEFAULTS["rotation_deg"]
    mirror: bool = DEFAULTS["mirror"]
    speed_tolerance: float = DEFAULTS["speed_tolerance"]
    nominal_rate_assumed: bool = False
    warnings: list[str] = field(default_factory=list)
    # derived in __post_init__
    scale: float = field(init=False, default=1.0)
    slope: float = field(init=False, default=-1.0)  # ds / d(position)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        self.positions_mm = np.asarray(self.positions_mm, float)
        if self.positions_mm.shape != (self.n_frames,) or self.n_frames < 2:
            raise ValueError(f"a pullback needs >= 2 frames with positions, got {self.n_frames}")
        if not np.all(np.diff(self.positions_mm) > 0):
            raise ValueError("frame positions must increase with the frame index")
        if not (np.isfinite(self.centreline_length_mm) and self.centreline_length_mm > 0):
            raise ValueError(f"centreline length must be > 0, got {self.centreline_length_mm}")
        if not np.isfinite(self.rotation_deg):
            raise ValueError(f"rotation must be finite, got {self.rotation_deg}")
        self.landmarks = _as_landmarks(self.landmarks)
        self._check_landmarks()
        sign = -1.0 if self.direction == "ostium" else 1.0
        lm = self.landmarks
        if len(lm) == 1:
            self.scale, self.slope = 1.0, sign
        else:
            (a, b) = lm
            dpos = self._pos(b.frame) - self._pos(a.frame)
            slope = (b.s_mm - a.s_mm) / dpos
            if np.sign(slope) != sign:
                implied = "ostium" if slope < 0 else "distal"
                raise ValueError(
                    f"the two landmarks imply the frame index grows towards the {implied} "
                    f"(s {'falls' if slope < 0 else 'rises'} from frame {a.frame:g} to "
                    f"{b.frame:g}), but the pullback direction is '{self.direction}'; check the "
                    "landmarks or declare the direction"
                )
            self.slope, self.scale = float(slope), float(abs(slope))
            if abs(self.scale - 1.0) > self.speed_tolerance:
                self.warnings.append(
                    f"the two landmarks imply a pullback speed {self.scale:.2f} x nominal "
                    f"({100 * (self.scale - 1):+.0f} %, more than "
                    f"{100 * self.speed_tolerance:.0f} %): check the landmarks and the pullback "
                    "rate (a manual or irregular pullback cannot be mapped linearly)"
                )
        if self.nominal_rate_assumed and len(lm) == 1:
            self.warnings.append(
                "the pullback rate was not in the file (assumed); with one landmark the mapping "
                "relies on it: add a second landmark to calibrate the speed"
            )

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_pullback(cls, pullback, landmarks, centreline_length_mm: float, **kw) -> FrameMapping:
        """From a :class:`napari_plaque.types.Pullback` (mm per frame from frame time x rate)."""
        n = int(pullback.n_frames)
        times = getattr(pullback, "frame_times_s", None)
        pos = frame_positions_mm(
            n,
            pullback.mm_per_frame,
            times if times is not None and len(times) == n else None,
            pullback.pullback_rate_mm_s,
        )
        assumed = bool({"pullback_rate_mm_s", "frame_time_s"} & set(pullback.assumed or ()))
        return cls(n, pos, landmarks, centreline_length_mm, nominal_rate_assumed=assumed, **kw)

    @classmethod
    def uniform(
        cls, n_frames: int, mm_per_frame: float, landmarks, centreline_length_mm: float, **kw
    ) -> FrameMapping:
        """Frames equally spaced by ``mm_per_frame``."""
        pos = frame_positions_mm(int(n_frames), mm_per_frame)
        return cls(int(n_frames), pos, landmarks, centreline_length_mm, **kw)

    def _check_landmarks(self) -> None:
        lm = self.landmarks
        if not 1 <= len(lm) <= 2:
            raise ValueError(f"give one or two landmarks (S_MM:FRAME), got {len(lm)}")
        length = self.centreline_length_mm
        for m in lm:
            if not -_S_SLACK_MM <= m.s_mm <= length + _S_SLACK_MM:
                raise ValueError(
                    f"landmark s = {m.s_mm:g} mm is outside the centreline (0 .. {length:.2f} mm)"
                )
            if not 0 <= m.frame <= self.n_frames - 1:
                raise ValueError(
                    f"landmark frame {m.frame:g} is outside the pullback "
                    f"(frames 0 .. {self.n_frames - 1})"
                )
        if len(lm) == 2:
            if lm[0].frame == lm[1].frame:
                raise ValueError(f"the two landmarks are on the same frame ({lm[0].frame:g})")
            if lm[0].s_mm == lm[1].s_mm:
                raise ValueError(f"the two landmarks are at the same s ({lm[0].s_mm:g} mm)")

    # -- frame <-> s -----------------------------------------------------------------------------
    def _pos(self, frame) -> np.ndarray | float:
        """Pullback position (mm) at a (possibly fractional) frame; linear outside the frames."""
        f = np.asarray(frame, float)
        idx = np.arange(self.n_frames, dtype=float)
        p = np.interp(f, idx, self.positions_mm)
        lo_slope = self.positions_mm[1] - self.positions_mm[0]
        hi_slope = self.positions_mm[-1] - self.positions_mm[-2]
        p = np.where(f < 0, self.positions_mm[0] + f * lo_slope, p)
        p = np.where(f > idx[-1], self.positions_mm[-1] + (f - idx[-1]) * hi_slope, p)
        return p if p.ndim else float(p)

    @property
    def _anchor(self) -> Landmark:
        return self.landmarks[0]

    def s_of_frame(self, frame) -> np.ndarray | float:
        """Centreline s (mm) of a frame (fractional frames interpolate); may lie off [0, L]."""
        a = self._anchor
        return a.s_mm + self.slope * (np.asarray(self._pos(frame)) - self._pos(a.frame)) + 0.0

    def frame_of_s(self, s_mm) -> np.ndarray | float:
        """Fractional frame at centreline s (inverse of :meth:`s_of_frame`)."""
        a = self._anchor
        pos = self._pos(a.frame) + (np.asarray(s_mm, float) - a.s_mm) / self.slope
        idx = np.arange(self.n_frames, dtype=float)
        f = np.interp(pos, self.positions_mm, idx)
        p0, p1 = self.positions_mm[0], self.positions_mm[-1]
        lo_slope = self.positions_mm[1] - p0
        hi_slope = p1 - self.positions_mm[-2]
        f = np.where(pos < p0, (pos - p0) / lo_slope, f)
        f = np.where(pos > p1, idx[-1] + (pos - p1) / hi_slope, f)
        return f if f.ndim else float(f)

    def nearest_frame(self, s_mm: float) -> int:
        """The frame nearest to s; ValueError when s is not imaged by the pullback."""
        f = float(self.frame_of_s(s_mm))
        if not -0.5 <= f <= self.n_frames - 0.5:
            lo, hi = self.covered_s_mm
            raise ValueError(
                f"s = {s_mm:g} mm is not in the pullback (it covers s = {lo:.2f} .. {hi:.2f} mm)"
            )
        return int(np.clip(np.round(f), 0, self.n_frames - 1))

    @property
    def frame_s_mm(self) -> np.ndarray:
        """s (mm) of every frame."""
        return np.asarray(self.s_of_frame(np.arange(self.n_frames)), float)

    @property
    def covered_s_mm(self) -> tuple[float, float]:
        """The s range imaged by the pullback (min, max)."""
        s = self.s_of_frame(np.array([0.0, self.n_frames - 1.0]))
        return (float(np.min(s)), float(np.max(s)))

    @property
    def mm_per_frame_nominal(self) -> float:
        return float((self.positions_mm[-1] - self.positions_mm[0]) / (self.n_frames - 1))

    @property
    def mm_per_frame_used(self) -> float:
        """Mean centreline distance between frames after landmark calibration."""
        return self.mm_per_frame_nominal * self.scale

    def frames_for_s_range(self, s0: float, s1: float) -> tuple[int, int] | None:
        """Inclusive ``(first, last)`` frames whose s lies in ``[min(s0,s1), max(s0,s1)]``,
        clipped to the pullback; None when no frame of the pullback lies there."""
        lo_s, hi_s = min(s0, s1), max(s0, s1)
        fa, fb = sorted(float(v) for v in self.frame_of_s(np.array([lo_s, hi_s])))
        eps = 1e-9
        first = max(0, int(np.ceil(fa - eps)))
        last = min(self.n_frames - 1, int(np.floor(fb + eps)))
        if first > last:
            return None
        return (first, last)

    def coverage(self, s0: float, s1: float) -> float:
        """Fraction of ``[s0, s1]`` imaged by the pullback (0..1)."""
        lo_s, hi_s = min(s0, s1), max(s0, s1)
        c0, c1 = self.covered_s_mm
        if hi_s <= lo_s:
            return 1.0 if c0 <= lo_s <= c1 else 0.0
        return float(max(0.0, min(hi_s, c1) - max(lo_s, c0)) / (hi_s - lo_s))

    # -- angles ----------------------------------------------------------------------------------
    def ivus_to_ct_angle(self, theta_deg) -> np.ndarray | float:
        t = np.asarray(theta_deg, float)
        out = np.mod(self.rotation_deg + (-t if self.mirror else t), 360.0)
        return out if out.ndim else float(out)

    def ct_to_ivus_angle(self, theta_deg) -> np.ndarray | float:
        t = np.asarray(theta_deg, float) - self.rotation_deg
        out = np.mod(-t if self.mirror else t, 360.0)
        return out if out.ndim else float(out)

    def arc_to_ct(self, start_deg: float, end_deg: float) -> tuple[float, float]:
        """An IVUS arc ``[start, end)`` as a CT cross-section arc (clockwise order kept)."""
        return self._map_arc(start_deg, end_deg, self.ivus_to_ct_angle)

    def arc_to_ivus(self, start_deg: float, end_deg: float) -> tuple[float, float]:
        """A CT cross-section arc as an IVUS arc."""
        return self._map_arc(start_deg, end_deg, self.ct_to_ivus_angle)

    def _map_arc(self, start: float, end: float, fn) -> tuple[float, float]:
        from ..ivus.arcs import arc_extent

        ext = arc_extent(start, end)
        if ext >= 360.0:
            return (0.0, 360.0)
        a, b = float(fn(start)), float(fn(end))
        if self.mirror:
            a, b = b, a
        return (a, float(np.mod(a + ext, 360.0)))

    # -- report ----------------------------------------------------------------------------------
    def to_dict(self, frames: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "direction": self.direction,
            "landmarks": [m.to_dict() for m in self.landmarks],
            "mm_per_frame_nominal": self.mm_per_frame_nominal,
            "mm_per_frame_used": self.mm_per_frame_used,
            "speed_scale": self.scale,
            "rotation_deg": float(self.rotation_deg),
            "mirror": bool(self.mirror),
            "centreline_length_mm": float(self.centreline_length_mm),
            "covered_s_mm": list(self.covered_s_mm),
            "warnings": list(self.warnings),
        }
        if frames:
            s = self.frame_s_mm
            out["mapping"] = [{"frame": i, "s_mm": float(v)} for i, v in enumerate(s)]
        return out


def build_mapping(
    n_frames: int,
    landmarks: Sequence,
    centreline_length_mm: float,
    mm_per_frame: float | None = None,
    pullback=None,
    **kw,
) -> FrameMapping:
    """Convenience: a mapping from a Pullback, or from n_frames and mm per frame."""
    if pullback is not None:
        return FrameMapping.from_pullback(pullback, landmarks, centreline_length_mm, **kw)
    return FrameMapping.uniform(n_frames, mm_per_frame, landmarks, centreline_length_mm, **kw)
