"""Synthetic IVUS frames with known lumen and EEM borders (for tests and benchmarks).

Each frame is scan-converted with the catheter at the image centre: a dark catheter core and
bright ring, a dark lumen (an off-centre ellipse), an echo-moderate plaque, a thin hypoechoic
media ending at the external elastic membrane (EEM, a second ellipse), a bright adventitia and
perivascular tissue fading with depth, Rayleigh speckle. Optionally a shadowed sector (a
bright reflector at the lumen border and no signal behind it, as behind calcium) and a
cardiac motion (the vessel dilates and shifts with a known period).

Ground truth: the lumen and EEM ellipses per frame (centre, semi-axes, rotation, in mm), their
exact areas (pi a b) and the radii along every A-line about the catheter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ellipse_ray_radius", "make_vessel_frames"]


def ellipse_ray_radius(theta, cy, cx, a, b, phi):
    """Distance from the origin along direction ``theta`` (rad) to the ellipse border.

    The ellipse has centre (cy, cx), semi-axes a (along angle phi) and b; the origin must lie
    inside. All arguments broadcast.
    """
    ux, uy = np.cos(theta), np.sin(theta)
    cp, sp = np.cos(phi), np.sin(phi)
    # rotate into the ellipse frame
    du = ux * cp + uy * sp
    dv = -ux * sp + uy * cp
    ou = -(cx * cp + cy * sp)
    ov = -(-cx * sp + cy * cp)
    qa = (du / a) ** 2 + (dv / b) ** 2
    qb = 2 * (ou * du / a**2 + ov * dv / b**2)
    qc = (ou / a) ** 2 + (ov / b) ** 2 - 1.0
    disc = np.maximum(qb**2 - 4 * qa * qc, 0.0)
    return (-qb + np.sqrt(disc)) / (2 * qa)


def _cardiac(phase: np.ndarray) -> np.ndarray:
    """Displacement over one cycle: a quiet end-diastolic plateau, then systole and refilling.

    Zero on phase [0, 0.25) (the quiet plateau, end-diastole at its end), a smooth rise and
    fall over [0.25, 1).
    """
    p = np.mod(phase, 1.0)
    s = np.where(p < 0.25, 0.0, 0.5 * (1 - np.cos(2 * np.pi * (p - 0.25) / 0.75)))
    return s


def make_vessel_frames(
    n_frames: int = 24,
    size: int = 192,
    seed: int = 0,
    field_of_view_mm: float = 8.0,
    noise: float = 1.0,
    shadow_deg: float = 0.0,
    cardiac_period_frames: float | None = None,
    frame_time_s: float = 1 / 30,
    pullback_rate_mm_s: float = 0.5,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Synthetic frames (uint8 (F, size, size)) and their ground truth.

    Parameters
    ----------
    shadow_deg : float
        Width of a sector shadowed from the lumen border outwards (0: none). Its centre drifts
        slowly along the pullback.
    cardiac_period_frames : float, optional
        With a value, the vessel dilates by up to 8 % and shifts by up to 0.5 mm (in-plane cardiac motion of the catheter is 1-5 mm in vivo) with this
        period; ``truth["quiet_phase"]`` is the quiet (end-diastolic) phase interval and
        ``truth["phase"]`` the phase of every frame.

    Returns
    -------
    frames, truth : truth has ``lumen`` and ``eem`` (dicts of per-frame arrays ``cy, cx, a, b,
    phi`` in mm relative to the catheter), ``lumen_area_mm2``, ``eem_area_mm2``,
    ``pixel_spacing_mm``, ``center`` (catheter, pixels), ``shadow`` ((F, 2) start/end degrees
    or None), ``frame_time_s``, ``pullback_rate_mm_s``.
    """
    rng = np.random.default_rng(seed)
    px = field_of_view_mm / size
    t = np.arange(n_frames)
    slow = 2 * np.pi * t / max(n_frames, 40)
    ph0 = rng.uniform(0, 2 * np.pi, 6)
    lum = {
        "cy": 0.35 * np.sin(slow + ph0[0]) + rng.uniform(-0.15, 0.15),
        "cx": 0.35 * np.cos(slow + ph0[1]) + rng.uniform(-0.15, 0.15),
        "a": 1.35 + 0.25 * np.sin(slow + ph0[2]),
        "b": 1.05 + 0.15 * np.cos(slow + ph0[3]),
        "phi": np.full(n_frames, rng.uniform(0, np.pi)),
    }
    eem = {
        "cy": 0.5 * lum["cy"],
        "cx": 0.5 * lum["cx"],
        "a": 2.45 + 0.2 * np.sin(slow + ph0[4]),
        "b": 2.15 + 0.15 * np.cos(slow + ph0[5]),
        "phi": lum["phi"] + 0.4,
    }
    phase = None
    if cardiac_period_frames:
        phase = np.mod(t / float(cardiac_period_frames), 1.0)
        s = _cardiac(phase)
        for d in (lum, eem):
            d["a"] = d["a"] * (1 - 0.08 * s)
            d["b"] = d["b"] * (1 - 0.08 * s)
            d["cy"] = d["cy"] + 0.5 * s
    cy = cx = (size - 1) / 2.0
    rr, cc = np.indices((size, size), dtype=np.float64)
    dy = (rr - cy) * px
    dx = (cc - cx) * px
    r_mm = np.hypot(dy, dx)
    theta = np.arctan2(dy, dx)
    theta_deg = np.mod(np.degrees(theta), 360.0)
    shadow = None
    if shadow_deg > 0:
        c0 = rng.uniform(0, 360)
        cen = np.mod(c0 + 20 * np.sin(slow), 360.0)
        shadow = np.stack([np.mod(cen - shadow_deg / 2, 360), np.mod(cen + shadow_deg / 2, 360)], 1)
    frames = np.empty((n_frames, size, size), np.uint8)
    cath_r = 0.45
    media = 0.12
    for f in range(n_frames):
        rl = ellipse_ray_radius(theta, lum["cy"][f], lum["cx"][f], lum["a"][f], lum["b"][f],
                                lum["phi"][f])
        re = ellipse_ray_radius(theta, eem["cy"][f], eem["cx"][f], eem["a"][f], eem["b"][f],
                                eem["phi"][f])
        e = np.full(r_mm.shape, 14.0)
        e = np.where(r_mm >= rl, 80.0, e)  # plaque
        e = np.where(r_mm >= re - media, 35.0, e)  # media (hypoechoic)
        e = np.where(r_mm >= re, 170.0, e)  # adventitia
        far = r_mm >= re + 0.35
        e = np.where(far, 40.0 + 80.0 * np.exp(-(r_mm - re - 0.35) / 0.7), e)
        if shadow is not None:
            insec = np.mod(theta_deg - shadow[f, 0], 360.0) < shadow_deg
            e = np.where(insec & (r_mm >= rl) & (r_mm < rl + 0.12), 240.0, e)
            e = np.where(insec & (r_mm >= rl + 0.12), e * 0.06, e)
        e = np.where(r_mm < cath_r, 4.0, e)
        e = np.where((r_mm >= cath_r) & (r_mm < cath_r + 0.1), 200.0, e)
        e = e * np.exp(-0.08 * r_mm)
        if noise > 0:
            speck = rng.rayleigh(1.0, size=e.shape) / np.sqrt(np.pi / 2)
            e = e * (1.0 + noise * (speck - 1.0))
        frames[f] = np.clip(np.rint(e), 0, 255).astype(np.uint8)
    truth: dict[str, Any] = {
        "lumen": lum,
        "eem": eem,
        "lumen_area_mm2": np.pi * lum["a"] * lum["b"],
        "eem_area_mm2": np.pi * eem["a"] * eem["b"],
        "pixel_spacing_mm": (px, px),
        "center": (cy, cx),
        "shadow": shadow,
        "shadow_deg": shadow_deg,
        "frame_time_s": frame_time_s,
        "pullback_rate_mm_s": pullback_rate_mm_s,
        "phase": phase,
        "quiet_phase": (0.0, 0.25),
        "cardiac_period_frames": cardiac_period_frames,
    }
    return frames, truth


def truth_radii_mm(truth: dict[str, Any], which: str, n_alines: int = 360) -> np.ndarray:
    """True border radius (mm) about the catheter along each A-line centre angle, (F, N)."""
    from .polar import aline_angles_deg

    d = truth[which]
    th = np.radians(aline_angles_deg(n_alines))[None, :]
    return ellipse_ray_radius(
        th, d["cy"][:, None], d["cx"][:, None], d["a"][:, None], d["b"][:, None], d["phi"][:, None]
    )
