"""Keyframes: annotate two frames, interpolate the arcs of the frames between them.

Between two keyframes ``a < b`` (frames the user annotated, ``b - a <= max_gap``), each arc of
frame ``a`` is paired with the arc of frame ``b`` of the same class whose centre is nearest on
the circle (within ``match_deg``). For a frame ``f`` between them, ``t = (f - a) / (b - a)``:

- the **start angle** moves from the start on ``a`` to the start on ``b`` the shorter way
  round the circle (350 -> 10 deg goes through 0, never through 180);
- the **extent** changes linearly, so the end follows the start (the end also moves the
  shorter way round whenever the two extents allow it).

An arc with no partner (calcium starting or ending between the keyframes) shrinks to nothing
about its centre towards the other keyframe, and is dropped where it is under ``min_deg``. A
keyframe reviewed with no arc (no calcium) is a keyframe too: the arcs of the other keyframe
shrink towards it. The result is an :class:`~napari_plaque.ivus.arcs.ArcSet` of the
in-between frames only, meant as proposals for the user to accept (never written over the
user's arcs).
"""

from __future__ import annotations

from collections.abc import Iterable

from .arcs import Arc, ArcSet, arc_extent

__all__ = [
    "DEFAULT_MATCH_DEG",
    "DEFAULT_MAX_GAP",
    "circular_lerp",
    "interpolate_arcs",
    "interpolate_pair",
    "keyframe_gaps",
]

#: keyframes further apart than this (frames) are not interpolated (the one home of the default)
DEFAULT_MAX_GAP = 10
#: arcs of two keyframes pair up when their centres are at most this far apart (deg)
DEFAULT_MATCH_DEG = 90.0
#: interpolated arcs narrower than this (deg) are dropped
MIN_DEG = 1.0

ANNOTATOR = "interpolated"


def _signed(d: float) -> float:
    """Signed smallest angular difference in (-180, 180]."""
    d = (float(d) + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


def circular_lerp(a_deg: float, b_deg: float, t: float) -> float:
    """The angle a fraction ``t`` of the way from ``a`` to ``b`` the shorter way round, in
    [0, 360)."""
    return float((a_deg + t * _signed(b_deg - a_deg)) % 360.0)


def _ext(a: Arc) -> float:
    return arc_extent(a.start_deg, a.end_deg)


def _centre(a: Arc) -> float:
    return float((a.start_deg + arc_extent(a.start_deg, a.end_deg) / 2.0) % 360.0)


def _pairs(
    arcs_a: list[Arc], arcs_b: list[Arc], match_deg: float
) -> tuple[list[tuple[Arc, Arc]], list[Arc], list[Arc]]:
    """Greedy pairing by centre distance: (pairs, unmatched of a, unmatched of b)."""
    cand = sorted(
        (abs(_signed(_centre(x) - _centre(y))), i, j)
        for i, x in enumerate(arcs_a)
        for j, y in enumerate(arcs_b)
    )
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for d, i, j in cand:
        if d > match_deg or i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        pairs.append((arcs_a[i], arcs_b[j]))
    rest_a = [x for i, x in enumerate(arcs_a) if i not in used_a]
    rest_b = [y for j, y in enumerate(arcs_b) if j not in used_b]
    return pairs, rest_a, rest_b


def interpolate_pair(
    arcs: ArcSet,
    a: int,
    b: int,
    match_deg: float = DEFAULT_MATCH_DEG,
    min_deg: float = MIN_DEG,
    classes: Iterable[str] | None = None,
) -> list[Arc]:
    """The interpolated arcs of the frames strictly between keyframes ``a`` and ``b``."""
    a, b = sorted((int(a), int(b)))
    if b - a < 2:
        return []
    out: list[Arc] = []
    note = f"{ANNOTATOR} (keyframes {a}-{b})"
    for cls in classes if classes is not None else arcs.classes:
        pairs, rest_a, rest_b = _pairs(arcs.arcs_for(a, cls), arcs.arcs_for(b, cls), match_deg)
        # an unmatched arc shrinks to zero extent about its centre at the other keyframe
        tracks = [
            (x.start_deg, _ext(x), y.start_deg, _ext(y)) for x, y in pairs
        ]
        tracks += [
            (x.start_deg, _ext(x), _centre(x), 0.0) for x in rest_a
        ]
        tracks += [
            (_centre(y), 0.0, y.start_deg, _ext(y)) for y in rest_b
        ]
        for f in range(a + 1, b):
            t = (f - a) / (b - a)
            for s0, e0, s1, e1 in tracks:
                ext = (1 - t) * e0 + t * e1
                if ext < min_deg:
                    continue
                if ext >= 360.0 - 1e-9:
                    out.append(Arc(f, cls, 0.0, 360.0, note))
                    continue
                if e0 >= 360.0 - 1e-9 or e1 >= 360.0 - 1e-9:  # a ring has no start: keep the other
                    s = s1 if e0 >= 360.0 - 1e-9 else s0
                else:
                    s = circular_lerp(s0, s1, t)
                out.append(Arc(f, cls, round(s, 4), round((s + ext) % 360.0, 4), note))
    return out


def interpolate_arcs(
    arcs: ArcSet,
    keyframes: Iterable[int] | None = None,
    max_gap: int = DEFAULT_MAX_GAP,
    match_deg: float = DEFAULT_MATCH_DEG,
    skip: Iterable[int] = (),
) -> ArcSet:
    """Interpolated arcs between consecutive keyframes, as a new ArcSet (same geometry and
    centre as ``arcs``) holding only the in-between frames.

    Parameters
    ----------
    arcs : the annotation (arcs of the keyframes)
    keyframes : annotated frames to interpolate between (default: every frame holding an arc)
    max_gap : consecutive keyframes further apart than this are left alone
    match_deg : see :data:`DEFAULT_MATCH_DEG`
    skip : frames never filled (e.g. frames the user annotated otherwise)
    """
    if max_gap < 2:
        raise ValueError(f"max_gap must be at least 2 frames (got {max_gap})")
    given = keyframes if keyframes is not None else (a.frame for a in arcs.arcs)
    keys = sorted({int(f) for f in given})
    bad = [f for f in keys if not 0 <= f < arcs.n_frames]
    if bad:
        raise ValueError(f"keyframe {bad[0]} outside the pullback (0..{arcs.n_frames - 1})")
    skip_set = {int(f) for f in skip} | set(keys)
    out = arcs.copy()  # same geometry, centre and pullback record, no arcs
    out.arcs = []
    new: list[Arc] = []
    for a, b in zip(keys[:-1], keys[1:], strict=True):
        if b - a > max_gap:
            continue
        new.extend(x for x in interpolate_pair(arcs, a, b, match_deg) if x.frame not in skip_set)
    out.add_many(new)
    return out


def keyframe_gaps(
    keyframes: Iterable[int], max_gap: int = DEFAULT_MAX_GAP
) -> list[tuple[int, int]]:
    """Consecutive keyframe pairs ``(a, b)`` that would be interpolated (gap 2..max_gap)."""
    keys = sorted({int(f) for f in keyframes})
    return [(a, b) for a, b in zip(keys[:-1], keys[1:], strict=True) if 2 <= b - a <= max_gap]

