"""A synthetic IVUS pullback with known calcium and attenuated-plaque arcs.

Each frame is a scan-converted greyscale image with the catheter at the image centre:
Rayleigh speckle, a dark catheter core and bright catheter ring, a dark lumen (off-centre,
radius drifting smoothly), an echo-moderate intima/media, a bright adventitia, and
perivascular tissue fading with depth. Over known arcs and frame ranges:

* calcium: a bright (hyperechoic) leading edge just behind the lumen border followed by an
  acoustic shadow (signal almost gone behind the edge);
* attenuated plaque: a hypoechoic plaque whose signal attenuates quickly with depth, *without*
  a bright edge;
* a guide wire in the lumen: a narrow (8 deg) bright reflector with a shadow, in every frame,
  which is *not* calcium (a realistic false-positive trap).

Arcs vary smoothly from frame to frame (the centre angle drifts, the extent rises and falls),
calcium segments are several mm long, the first calcium segment exceeds 180 deg over > 5 mm and
one segment is centred near 0 deg so that its arcs wrap through 0. The seed changes all the
geometry (lumen, arcs, frame ranges, edge depths, gain), so held-out seeds test generalisation.

``preset="realistic"`` (:data:`PRESETS`) keeps the default's anatomy and timing but makes the
A-line detection task harder, the way real pullbacks are, so that a detector trained on one or
two frames does not generalise while one trained on many frames does:

* calcium comes in more, shorter runs (five: one of 3-4 mm, the others 0.8-2.4 mm; calcium
  on about a quarter of the frames, 24-30 % for seeds 0-4 of 160 frames, the rest none), and
  each run draws its own appearance: edge brightness 125-245 (a weak edge is no brighter than
  the adventitia), edge thickness 0.08-0.2 mm, edge depth 0.05-0.3 or 0.3-0.8 mm (deep calcium
  behind a thick plaque, beyond the adventitia), shadow from full (x0.05) to partial (x0.3);
  within an arc the edge fades and the shadow lifts towards both ends (by 15-50 %);
* confounders that are *not* calcium: bright fibrous plaque without a shadow (edge 150-215,
  0.15-0.35 mm thick), side branches (a sector where the wall is missing, dark to depth), and
  attenuated plaque (a shadow without a bright edge; three runs); a confounder in a frame with
  a plaque arc is centred opposite it (never drawn over it); the guide wire is wider (8-14 deg);
* stronger speckle (x1.3) and a gain that drifts more along the pullback.

Measured (2026-12-04, 160 frames of 256 px, the loop's SVM, held-out third of the frames):
trained on one or two random frames (at least one with calcium; 4 draws each, seeds 0-4),
held-out calcium A-line F1 0.14-0.89, median about 0.67 (the default pullback, seeds 0-1:
0.84-0.99); trained on all the other frames 0.92-0.97 (the default: 0.99-1.0). See ``benchmarks/bench_active_learning.py``.

The extra appearance parameters draw from a second random stream (``seed``, 1), so the
default output is unchanged; the truth (``arcs``, ``labels``) has the same format, with
per-segment ``edge_brightness``, ``edge_thickness_mm``, ``shadow`` and ``taper`` in
``segments`` and the confounders listed in ``confounders``.

Frames are spaced 0.2 mm by default (frame time 0.4 s at the clinical 0.5 mm/s, as after ECG
gating), so that a few hundred frames cover clinically meaningful lengths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..ivus.arcs import DEFAULT_CLASSES, CenterMode, arcs_to_labels
from ..ivus.polar import N_ALINES

__all__ = ["PRESETS", "ivus_layers", "make_ivus_sample", "make_pullback_frames"]

#: the generator's presets (``make_pullback_frames(preset=...)``; see the module docstring)
PRESETS = ("default", "realistic")


def _smooth_walk(rng: np.random.Generator, n: int, scale: float, corr: float = 25.0) -> np.ndarray:
    """A smooth random curve (n,) with roughly unit-``scale`` amplitude."""
    k = max(1, int(corr))
    x = rng.normal(size=n + 2 * k)
    kern = np.hanning(2 * k + 1)
    full = np.convolve(x, kern / kern.sum(), mode="same")
    # normalise by the whole smoothed series: a few frames alone have almost no spread, and
    # dividing by it made short pullbacks blow up (all-white or all-black frames)
    y = full[k : k + n]
    y = y / (np.std(y if n >= 2 * k else full) + 1e-9)
    return y * scale


def _slots(rng: np.random.Generator, n_frames: int, n_ca: int, n_att: int, big_weight: float):
    """The segments' kinds, their random order and the slot bounds along the pullback (the
    first calcium segment, the big one, gets a slot ``big_weight`` times as wide)."""
    kinds = ["calcium"] * n_ca + ["attenuation"] * n_att
    order = rng.permutation(len(kinds))
    weights = np.array([big_weight if (kinds[k] == "calcium" and k == 0) else 1.0 for k in order])
    bounds = np.concatenate([[0.0], np.cumsum(weights) / weights.sum() * n_frames])
    return kinds, order, bounds


def _finish_segments(rng: np.random.Generator, segs: list[dict]) -> list[dict]:
    """Drop the empty segments (a short pullback has no room for every one), let the last
    calcium segment wrap through 0 deg, and sort them along the pullback."""
    segs = [s for s in segs if s["frame_stop"] > s["frame_start"]]
    wrap = [s for s in segs if s["class"] == "calcium"]
    if wrap:
        w = wrap[-1]
        w["center_deg"] = float(rng.uniform(-15, 15) % 360)
        w["drift_deg"] = float(rng.uniform(-10, 10))
    segs.sort(key=lambda s: s["frame_start"])
    return segs


def _segment(rng: np.random.Generator, kind: str, f0: int, f1: int, ext_max: float, big: bool):
    """One segment's arc parameters (its centre, drift and edge depth drawn from ``rng``)."""
    return {
        "class": kind,
        "frame_start": int(f0),
        "frame_stop": int(f1),
        "center_deg": float(rng.uniform(0, 360)),
        "drift_deg": float(rng.uniform(-40, 40)),
        "max_extent_deg": float(ext_max),
        "edge_depth_mm": float(rng.uniform(0.05, 0.3)),
        "profile_power": 0.4 if big else 0.6,
    }


def _segments(rng: np.random.Generator, n_frames: int, mm_per_frame: float, n_ca: int, n_att: int):
    """Non-overlapping frame ranges, one per segment, with arc parameters."""
    kinds, order, bounds = _slots(rng, n_frames, n_ca, n_att, 3.5)
    segs = []
    for slot_i, k in enumerate(order):
        kind = kinds[k]
        big = kind == "calcium" and k == 0
        lo = int(round(bounds[slot_i]))
        hi = int(round(bounds[slot_i + 1]))
        room = max(4, int((hi - lo) * 0.85))
        if big:
            want = int(round(rng.uniform(9.0, 12.0) / mm_per_frame))
        elif kind == "calcium":
            want = int(round(rng.uniform(2.5, 7.0) / mm_per_frame))
        else:
            want = int(round(rng.uniform(2.0, 5.0) / mm_per_frame))
        length = int(min(room, max(4, want)))
        f0 = lo + int(rng.integers(0, max(1, (hi - lo) - length + 1)))
        if big:
            ext_max = rng.uniform(220.0, 290.0)
        elif kind == "calcium":
            ext_max = rng.uniform(50.0, 170.0)
        else:
            ext_max = rng.uniform(60.0, 150.0)
        segs.append(_segment(rng, kind, f0, min(n_frames, f0 + length), ext_max, big))
    return _finish_segments(rng, segs)


def _realistic_segments(rng, rng2, n_frames, mm_per_frame, n_ca, n_att):
    """Segments of the realistic preset: shorter calcium runs with varied appearance."""
    kinds, order, bounds = _slots(rng, n_frames, n_ca, n_att, 1.5)
    segs = []
    for slot_i, k in enumerate(order):
        kind = kinds[k]
        big = kind == "calcium" and k == 0
        lo, hi = int(round(bounds[slot_i])), int(round(bounds[slot_i + 1]))
        room = max(4, int((hi - lo) * 0.8))
        if big:
            want = rng2.uniform(3.0, 4.0)
        elif kind == "calcium":
            want = rng2.uniform(0.8, 2.4)
        else:
            want = rng2.uniform(1.0, 2.5)
        length = int(min(room, max(4, int(round(want / mm_per_frame)))))
        f0 = lo + int(rng.integers(0, max(1, (hi - lo) - length + 1)))
        ext_max = rng2.uniform(200.0, 270.0) if big else rng2.uniform(40.0, 160.0)
        seg = _segment(rng, kind, f0, min(n_frames, f0 + length), ext_max, big)
        if kind == "calcium":
            seg.update(
                edge_brightness=float(rng2.uniform(125.0, 245.0)),
                edge_thickness_mm=float(rng2.uniform(0.08, 0.2)),
                edge_depth_mm=float(rng2.choice([rng2.uniform(0.05, 0.3),
                                                 rng2.uniform(0.3, 0.8)])),  # fmt: skip
                shadow=float(rng2.uniform(0.05, 0.3)),
                taper=float(rng2.uniform(0.2, 0.5)),
            )
        segs.append(seg)
    return _finish_segments(rng, segs)


def _confounders(rng2, n_frames, mm_per_frame, n_fibrous, n_branch):
    """Non-calcium look-alikes of the realistic preset: per frame (class, start, extent,
    brightness, thickness) with class 0 none, 1 fibrous plaque, 2 side branch."""
    c_class = np.zeros(n_frames, np.int8)
    c_start = np.zeros(n_frames)
    c_ext = np.zeros(n_frames)
    c_bright = np.zeros(n_frames)
    c_thick = np.zeros(n_frames)
    listed = []
    kinds = [1] * n_fibrous + [2] * n_branch
    rng2.shuffle(kinds)
    bounds = np.linspace(0, n_frames, len(kinds) + 1)
    for i, kind in enumerate(kinds):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        want = rng2.uniform(1.5, 5.0) if kind == 1 else rng2.uniform(0.6, 1.6)
        length = int(min(max(1, int((hi - lo) * 0.8)), max(3, int(round(want / mm_per_frame)))))
        f0 = lo + int(rng2.integers(0, max(1, (hi - lo) - length + 1)))
        f1 = min(n_frames, f0 + length)
        if f1 <= f0:
            continue
        n = f1 - f0
        t = (np.arange(n) + 0.5) / n
        ext_max = rng2.uniform(50.0, 150.0) if kind == 1 else rng2.uniform(30.0, 80.0)
        ext = 15.0 + (ext_max - 15.0) * np.sin(np.pi * t) ** 0.6
        cen = rng2.uniform(0, 360) + rng2.uniform(-30, 30) * (t - 0.5)
        c_class[f0:f1] = kind
        c_start[f0:f1] = np.mod(cen - ext / 2, 360.0)
        c_ext[f0:f1] = ext
        c_bright[f0:f1] = rng2.uniform(150.0, 215.0)
        c_thick[f0:f1] = rng2.uniform(0.15, 0.35)
        listed.append(
            {
                "class": "fibrous" if kind == 1 else "side branch",
                "frame_start": int(f0),
                "frame_stop": int(f1),
                "max_extent_deg": float(ext.max()),
            }
        )
    return (c_class, c_start, c_ext, c_bright, c_thick), listed


def make_pullback_frames(
    n_frames: int = 160,
    size: int = 256,
    seed: int = 0,
    field_of_view_mm: float = 10.0,
    frame_time_s: float = 0.4,
    pullback_rate_mm_s: float = 0.5,
    n_calcium: int | None = None,
    n_attenuation: int | None = None,
    noise: float = 1.0,
    preset: str = "default",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Synthetic IVUS frames and their ground truth.

    Parameters
    ----------
    n_frames, size : int
        Number of frames and frame size (square, pixels).
    seed : int
        Random seed; changes the whole geometry.
    field_of_view_mm : float
        Width of a frame in mm (pixel size = field_of_view_mm / size).
    frame_time_s, pullback_rate_mm_s : float
        Timing; the distance between frames is their product (default 0.2 mm).
    n_calcium, n_attenuation : int or None
        Number of calcium and attenuated-plaque segments (None: 3 and 2; the realistic
        preset: 6 and 3).
    noise : float
        Speckle strength (1 = fully developed Rayleigh speckle, 0 = none).
    preset : str
        ``"default"`` or ``"realistic"`` (:data:`PRESETS`; see the module docstring). The
        realistic preset multiplies ``noise`` by 1.3.

    Returns
    -------
    frames : uint8 ndarray (n_frames, size, size)
    truth : dict
        ``arcs`` (list of ``{"frame", "class", "start_deg", "end_deg"}``), ``classes``,
        ``labels`` (bool (F, N_ALINES, n_classes) per-A-line truth), ``n_alines`` (360), ``center``
        ((cy, cx) catheter centre, pixels), ``pixel_spacing_mm``, ``frame_time_s``,
        ``pullback_rate_mm_s``, ``mm_per_frame``, ``segments`` (per segment: class, frame range,
        max extent, length in mm), ``ics`` (true ICS over the whole pullback), ``lumen_centers``
        ((F, 2) true lumen centres, pixels), ``seed``, ``preset``, ``confounders`` (realistic
        preset: the fibrous-plaque and side-branch runs, not part of the truth).
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    real = preset == "realistic"
    if n_calcium is None:
        n_calcium = 5 if real else 3
    if n_attenuation is None:
        n_attenuation = 3 if real else 2
    rng = np.random.default_rng(seed)
    # the realistic preset's extra parameters: a second stream, so the default stays the same
    rng2 = np.random.default_rng([int(seed), 1]) if real else None
    px = field_of_view_mm / size
    mm_per_frame = frame_time_s * pullback_rate_mm_s
    cy = cx = (size - 1) / 2.0
    rr, cc = np.indices((size, size), dtype=np.float32)
    dy = (rr - cy) * px
    dx = (cc - cx) * px
    r_mm = np.hypot(dy, dx)
    theta = np.mod(np.degrees(np.arctan2(dy, dx)), 360.0).astype(np.float32)
    ux = np.cos(np.radians(theta))
    uy = np.sin(np.radians(theta))

    # lumen geometry: centre offset from the catheter and radius, smooth along the pullback
    corr = max(5.0, 3.0 / mm_per_frame)
    lum_oy = _smooth_walk(rng, n_frames, 0.25, corr) + rng.uniform(-0.2, 0.2)
    lum_ox = _smooth_walk(rng, n_frames, 0.25, corr) + rng.uniform(-0.2, 0.2)
    lum_r = np.clip(
        1.55 + _smooth_walk(rng, n_frames, 0.2, corr) + rng.uniform(-0.2, 0.2), 1.0, 2.3
    )
    wall_mm = np.clip(0.25 + _smooth_walk(rng, n_frames, 0.06, corr), 0.12, 0.5)
    adv_mm = 0.3
    gain = 1.0 + _smooth_walk(rng, n_frames, 0.14 if real else 0.08, corr)
    cath_r = 0.45
    gw_angle = np.mod(rng.uniform(0, 360) + _smooth_walk(rng, n_frames, 25.0, corr), 360.0)
    gw_r = cath_r + 0.25

    if real:
        segs = _realistic_segments(rng, rng2, n_frames, mm_per_frame, n_calcium, n_attenuation)
        conf, conf_list = _confounders(rng2, n_frames, mm_per_frame, 3, 3)
        gw_half = float(rng2.uniform(4.0, 7.0))
        noise = noise * 1.3
    else:
        segs = _segments(rng, n_frames, mm_per_frame, n_calcium, n_attenuation)
        conf, conf_list, gw_half = None, [], 4.0
    f_class = np.zeros(n_frames, np.int8)  # 0 none, 1 calcium, 2 attenuation
    f_start = np.zeros(n_frames)
    f_ext = np.zeros(n_frames)
    f_edge = np.zeros(n_frames)
    # calcium appearance per frame (the default's constants unless the preset varies them)
    f_bright = np.full(n_frames, 240.0)
    f_thick = np.full(n_frames, 0.14)
    f_shadow = np.full(n_frames, 0.07)
    f_taper = np.zeros(n_frames)
    arcs: list[dict[str, Any]] = []
    for s in segs:
        f0, f1 = s["frame_start"], s["frame_stop"]
        n = f1 - f0
        t = (np.arange(n) + 0.5) / n
        ext = 20.0 + (s["max_extent_deg"] - 20.0) * np.sin(np.pi * t) ** s["profile_power"]
        cen = s["center_deg"] + s["drift_deg"] * (t - 0.5)
        start = np.mod(np.round(cen - ext / 2, 2), 360.0)
        ext = np.round(ext, 2)
        f_class[f0:f1] = 1 if s["class"] == "calcium" else 2
        f_start[f0:f1] = start
        f_ext[f0:f1] = ext
        f_edge[f0:f1] = s["edge_depth_mm"]
        if "edge_brightness" in s:
            f_bright[f0:f1] = s["edge_brightness"]
            f_thick[f0:f1] = s["edge_thickness_mm"]
            f_shadow[f0:f1] = s["shadow"]
            f_taper[f0:f1] = s["taper"]
        s["length_mm"] = float(n * mm_per_frame)
        s["max_extent_deg"] = float(ext.max())
        for i in range(n):
            arcs.append(
                {
                    "frame": int(f0 + i),
                    "class": s["class"],
                    "start_deg": float(start[i]),
                    "end_deg": float(np.mod(start[i] + ext[i], 360.0)),
                }
            )

    if real:
        # a confounder never lies on a calcium or attenuated-plaque arc of its frame (a bright
        # fibrous cap drawn over attenuated plaque would be an edge + shadow: calcium): it is
        # centred opposite the frame's plaque arc
        both = (conf[0] > 0) & (f_class > 0)
        opp = np.mod(f_start + f_ext / 2 + 180.0 - conf[2] / 2, 360.0)
        conf[1][both] = opp[both]
        room = np.maximum(360.0 - f_ext - 20.0, 0.0)
        conf[2][both] = np.minimum(conf[2][both], room[both])

    frames = np.empty((n_frames, size, size), np.uint8)
    from scipy.ndimage import uniform_filter

    batch = 16
    for b0 in range(0, n_frames, batch):
        b1 = min(n_frames, b0 + batch)
        sl = slice(b0, b1)
        oy = lum_oy[sl, None, None]
        ox = lum_ox[sl, None, None]
        rl = lum_r[sl, None, None]
        # distance from the catheter to the lumen border along each pixel's ray
        proj = ox * ux + oy * uy
        disc = np.maximum(rl**2 - (ox**2 + oy**2) + proj**2, 0.0)
        t_lumen = proj + np.sqrt(disc)
        depth = r_mm[None] - t_lumen  # > 0 behind the lumen border
        w = wall_mm[sl, None, None]
        e = np.where(depth < 0, 14.0, 0.0)
        e = np.where((depth >= 0) & (depth < w), 85.0, e)
        e = np.where((depth >= w) & (depth < w + adv_mm), 150.0, e)
        far = depth >= w + adv_mm
        e = np.where(far, 25.0 + 60.0 * np.exp(-(depth - w - adv_mm) / 0.8), e)

        if real:
            # confounders first (calcium and attenuation are drawn over them)
            ccls = conf[0][sl, None, None]
            cin = np.mod(theta[None] - conf[1][sl, None, None], 360.0) < conf[2][sl, None, None]
            fib = cin & (ccls == 1) & (depth >= 0)
            band = fib & (depth < conf[4][sl, None, None])
            e = np.where(band, conf[3][sl, None, None], e)
            e = np.where(fib & ~band, e * 0.75, e)
            branch = cin & (ccls == 2) & (depth >= 0)
            e = np.where(branch, np.where(depth < 1.6, 14.0, 22.0), e)
        cls = f_class[sl, None, None]
        pos = np.mod(theta[None] - f_start[sl, None, None], 360.0)
        inarc = pos < f_ext[sl, None, None]
        edge0 = f_edge[sl, None, None]
        # calcium: bright leading edge, then acoustic shadow
        ca = inarc & (cls == 1)
        if real:
            thick = f_thick[sl, None, None]
            # the edge fades and the shadow lifts towards both ends of the arc
            fade = f_taper[sl, None, None] * (
                1.0 - np.sin(np.pi * np.clip(pos / np.maximum(f_ext[sl, None, None], 1e-6), 0, 1))
            )
            bright = f_bright[sl, None, None] * (1.0 - fade)
            shade = f_shadow[sl, None, None] + (1.0 - f_shadow[sl, None, None]) * fade
            edge = ca & (depth >= edge0) & (depth < edge0 + thick)
            shadow = ca & (depth >= edge0 + thick)
            e = np.where(edge, np.maximum(bright, e), e)
            e = np.where(shadow, e * shade, e)
        else:
            edge = ca & (depth >= edge0) & (depth < edge0 + 0.14)
            shadow = ca & (depth >= edge0 + 0.14)
            e = np.where(edge, 240.0, e)
            e = np.where(shadow, e * 0.07, e)
        # attenuated plaque: hypoechoic plaque, steep attenuation, no bright edge
        att = inarc & (cls == 2)
        plaque = att & (depth >= 0)
        e = np.where(plaque, np.where(depth < edge0 + 0.1, 70.0, e), e)
        e = np.where(plaque, e * np.exp(-np.maximum(depth - edge0 - 0.1, 0) / 0.18), e)

        # guide wire: a narrow bright reflector in the lumen with a shadow behind it (not calcium)
        gw = np.mod(theta[None] - gw_angle[sl, None, None] + 180.0, 360.0) - 180.0
        wire = np.abs(gw) < gw_half
        e = np.where(wire & (r_mm[None] >= gw_r) & (r_mm[None] < gw_r + 0.1), 230.0, e)
        e = np.where(wire & (r_mm[None] >= gw_r + 0.1), e * 0.1, e)
        # catheter core and ring (drawn last: they are in front of everything)
        e = np.where(r_mm[None] < cath_r, 4.0, e)
        ring = (r_mm >= cath_r) & (r_mm < cath_r + 0.1)
        e = np.where(ring[None], 210.0, e)
        # depth attenuation of the beam and time-gain
        e = e * np.exp(-0.12 * r_mm)[None] * gain[sl, None, None]
        if noise > 0:
            speck = rng.rayleigh(1.0, size=e.shape).astype(np.float32) / np.sqrt(np.pi / 2)
            speck = 1.0 + noise * (speck - 1.0)
            e = e * speck
            e = uniform_filter(e, size=(1, 2, 2))
        frames[sl] = np.clip(np.rint(e), 0, 255).astype(np.uint8)

    classes = list(DEFAULT_CLASSES)
    cidx = {c: i for i, c in enumerate(classes)}
    labels = arcs_to_labels(
        np.array([a["frame"] for a in arcs], np.int64),
        np.array([cidx[a["class"]] for a in arcs], np.int64),
        np.array([a["start_deg"] for a in arcs]),
        np.array([a["end_deg"] for a in arcs]),
        n_frames,
        len(classes),
        N_ALINES,
    )
    truth = {
        "arcs": arcs,
        "classes": classes,
        "labels": labels,
        "n_alines": N_ALINES,
        "center": (float(cy), float(cx)),
        "frame_shape": (size, size),
        "pixel_spacing_mm": (float(px), float(px)),
        "frame_time_s": float(frame_time_s),
        "pullback_rate_mm_s": float(pullback_rate_mm_s),
        "mm_per_frame": float(mm_per_frame),
        "segments": segs,
        "ics": float(1000.0 * labels[:, :, 0].mean()),
        "lumen_centers": np.stack([cy + lum_oy / px, cx + lum_ox / px], axis=1),
        "seed": int(seed),
        "preset": preset,
        "confounders": conf_list,
    }
    return frames, truth


def truth_arcset(truth: dict[str, Any]):
    """The ground truth as an :class:`~napari_plaque.ivus.arcs.ArcSet`."""
    from ..ivus.arcs import ArcSet

    n_frames = truth["labels"].shape[0]
    shape, classes, center = truth["frame_shape"], truth["classes"], truth["center"]
    return ArcSet.from_dicts(truth["arcs"], n_frames, shape, classes, CenterMode.CATHETER, center)


def make_ivus_sample(path: str | Path, n_frames: int = 160, seed: int = 0, **kwargs: Any):
    """Write a synthetic pullback as a real US multi-frame DICOM and read it back.

    Returns
    -------
    (Pullback, truth) : the pullback as the reader returns it, and the ground truth of
    :func:`make_pullback_frames`.
    """
    from ..io import read_pullback
    from ..io.ivus_dicom import write_pullback_dicom

    frames, truth = make_pullback_frames(n_frames=n_frames, seed=seed, **kwargs)
    write_pullback_dicom(
        frames,
        path,
        frame_time_s=truth["frame_time_s"],
        pullback_rate_mm_s=truth["pullback_rate_mm_s"],
        pixel_spacing_mm=truth["pixel_spacing_mm"],
        series_description=f"Synthetic IVUS pullback (seed {seed})",
    )
    pb = read_pullback(path)
    return pb, truth


def ivus_layers(pullback, truth: dict[str, Any] | None = None) -> list:
    """Layer data tuples: the pullback image plus the ground-truth arcs as sector labels.

    The arcs show as a labels layer (1 = calcium, 2 = attenuation) with the pullback's scale,
    named ``truth arcs`` (the annotator widget shows user arcs the same way).
    """
    from ..ivus.render import arc_sector_labels
    from ..layers import labels_layer_data, pullback_layer_data

    layers = [pullback_layer_data(pullback)]
    if truth is not None:
        arcset = truth_arcset(truth)
        lab = arc_sector_labels(arcset, pullback.frame_shape)
        layers.append(
            labels_layer_data(
                lab,
                like=pullback,
                name="truth arcs",
                opacity=0.5,
                colormap={None: "transparent", 0: "transparent", 1: "yellow", 2: "magenta"},
            )
        )
    return layers
