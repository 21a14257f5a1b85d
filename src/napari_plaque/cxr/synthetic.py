"""Synthetic chest radiographs with a known CAC score (for tests, the demo model and the sample).

SYNTHETIC: these images are drawn, not acquired. A model trained on them learns the drawing rule
below and says nothing about real patients.

Each image (bone bright, MONOCHROME2 convention, values 0..4095) shows a chest-like anatomy:
a soft-tissue body, two dark lungs, the mediastinum and spine, clavicles and ribs, the
diaphragm domes and a heart shadow on the image right (the patient's left in a PA view), with
smooth exposure variation and noise. The **cardiac signal** depends on the CAC score: bright
calcified specks along coronary-like arcs inside the heart shadow, their number and contrast
growing with log(1 + CAC), plus a slightly denser heart. Patient-to-patient anatomy varies
(size, position, heart size, rib spacing, exposure), so the signal must be found, not read off.

The CAC score of a case is 0 with probability ``p_zero`` (default 0.4), else log-normal
(median about 90), so the 0 / 100 / 400 cut-points are all populated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: physical width of the synthetic field of view (mm): the spacing is FOV / size
FOV_MM = 400.0


@dataclass
class SyntheticCase:
    """One synthetic radiograph and its truth."""

    image: np.ndarray  # uint16 (size, size), bone bright
    cac_score: float
    age: float
    sex: str
    bmi: float
    patient_id: str
    spacing_mm: tuple[float, float]
    meta: dict[str, Any] = field(default_factory=dict)


def sample_cac(rng: np.random.Generator, p_zero: float = 0.4) -> float:
    """A CAC score: 0 with probability ``p_zero``, else log-normal (median ~90, wide)."""
    if rng.random() < p_zero:
        return 0.0
    return float(np.round(np.exp(rng.normal(4.5, 1.6)), 1))


def _ellipse(yy, xx, cy, cx, ry, rx, soft: float) -> np.ndarray:
    r = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    return 1.0 / (1.0 + np.exp((r - 1.0) / soft))


def _smooth_noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    k = max(2, size // scale)
    coarse = rng.normal(size=(k, k))
    reps = -(-size // k)
    big = np.kron(coarse, np.ones((reps, reps)))[:size, :size]
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(big, sigma=reps / 1.5)


def make_radiograph(
    cac_score: float,
    size: int = 256,
    seed: int | np.random.Generator = 0,
    signal: float = 1.0,
) -> np.ndarray:
    """One synthetic chest radiograph (uint16, bone bright) whose cardiac signal reflects
    ``cac_score``; ``signal`` scales the calcification contrast (0: no signal)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size  # 0..1
    jit = lambda s: rng.normal(0.0, s)  # noqa: E731
    cx = 0.5 + jit(0.02)
    cy = 0.5 + jit(0.02)
    body = _ellipse(yy, xx, cy + 0.05, cx, 0.52 + jit(0.02), 0.44 + jit(0.03), 0.03)
    img = 0.08 + 0.30 * body
    lung_ry, lung_rx = 0.30 + jit(0.02), 0.15 + jit(0.01)
    lung_y = cy - 0.02 + jit(0.01)
    for side in (-1, 1):
        lung = _ellipse(yy, xx, lung_y, cx + side * (0.19 + jit(0.01)), lung_ry, lung_rx, 0.05)
        img -= 0.30 * lung
    # ribs: bright bands across each lung, curving down laterally
    gap = 0.055 + jit(0.004)
    phase = rng.uniform(0, gap)
    for side in (-1, 1):
        dx = (xx - cx) * side
        curve = yy - 0.45 * np.clip(dx, 0, None) ** 1.6
        band = 0.5 + 0.5 * np.cos(2 * np.pi * (curve - phase) / gap)
        mask = (dx > 0.03) & (dx < 0.40) & (yy > 0.12) & (yy < 0.78)
        img += 0.06 * band**4 * mask * body
    # clavicles
    clav = np.exp(-(((yy - (0.16 + 0.1 * np.abs(xx - cx))) / 0.012) ** 2))
    img += 0.24 * clav * (np.abs(xx - cx) < 0.28) * (np.abs(xx - cx) > 0.03)
    # mediastinum + spine
    img += 0.22 * _ellipse(yy, xx, cy - 0.05, cx, 0.35, 0.07, 0.04)
    img += 0.10 * np.exp(-(((xx - cx) / 0.03) ** 2)) * (yy > 0.08)
    # heart: an ellipse on the image right, larger with age-like variation
    hr = 0.15 + jit(0.012)
    hy, hx = cy + 0.12 + jit(0.01), cx + 0.06 + jit(0.01)
    heart = _ellipse(yy, xx, hy, hx, hr * 0.85, hr * 1.15, 0.06)
    log_cac = np.log1p(max(float(cac_score), 0.0))
    img += (0.22 + 0.012 * log_cac * signal) * heart
    # diaphragm domes
    for side in (-1, 1):
        dome = _ellipse(yy, xx, 0.93 + jit(0.01), cx + side * 0.2, 0.13, 0.2, 0.03)
        img += 0.12 * dome
    # calcification: bright specks along two coronary-like arcs in the heart shadow
    n_spots = int(np.ceil(signal * (1.0 + 2.0 * log_cac))) if cac_score > 0 else 0
    if n_spots:
        t = rng.uniform(0, 1, n_spots)
        arc = rng.integers(0, 2, n_spots)
        ang = np.where(arc == 0, -2.4 + 1.6 * t, 0.5 + 1.4 * t)
        rad = hr * (0.55 + 0.25 * rng.random(n_spots))
        sy = hy + rad * np.sin(ang) * 0.85
        sx = hx + rad * np.cos(ang) * 1.15
        amp = signal * (0.05 + 0.012 * log_cac) * (0.7 + 0.6 * rng.random(n_spots))
        sig = max(1.2, size / 128.0) / size
        for y0, x0, a in zip(sy, sx, amp, strict=True):
            img += a * np.exp(-(((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * sig**2)))
    # exposure variation and noise
    img *= 1.0 + 0.08 * _smooth_noise(rng, size, 4)
    img *= rng.uniform(0.85, 1.15)
    img += rng.normal(0, 0.012, img.shape)
    return np.clip(img * 4095.0, 0, 4095).astype(np.uint16)


def make_cases(
    n: int, size: int = 256, seed: int = 0, p_zero: float = 0.4, signal: float = 1.0
) -> list[SyntheticCase]:
    """``n`` synthetic cases with CAC scores, age, sex and BMI (age and BMI loosely tied to CAC)."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        cac = sample_cac(rng, p_zero)
        lc = np.log1p(cac)
        age = float(np.clip(rng.normal(52 + 2.0 * lc, 9), 30, 90))
        sex = "M" if rng.random() < 0.35 + 0.04 * lc else "F"
        bmi = float(np.clip(rng.normal(26 + 0.3 * lc, 4), 16, 45))
        img = make_radiograph(cac, size, rng, signal)
        cases.append(
            SyntheticCase(
                image=img,
                cac_score=cac,
                age=round(age, 1),
                sex=sex,
                bmi=round(bmi, 1),
                patient_id=f"synth{seed}-{i:05d}",
                spacing_mm=(FOV_MM / size, FOV_MM / size),
                meta={"synthetic": True, "seed": seed, "index": i},
            )
        )
    return cases


def write_manifest(
    out_dir: str | Path,
    n: int,
    size: int = 256,
    seed: int = 0,
    images_per_patient: int = 1,
    p_zero: float = 0.4,
    signal: float = 1.0,
) -> Path:
    """Write ``n`` synthetic PNG radiographs and a training manifest (``manifest.csv``:
    path, cac_score, age, sex, bmi, patient_id). With ``images_per_patient`` > 1 consecutive
    cases share a patient id (repeat radiographs: the grouped split must keep them together)."""
    from PIL import Image

    from ..report import write_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, c in enumerate(make_cases(n, size, seed, p_zero, signal)):
        name = f"cxr_{seed}_{i:05d}.png"
        Image.fromarray(c.image).save(out / name, format="PNG")  # regenerable: not atomic
        rows.append(
            {
                "path": name,
                "cac_score": c.cac_score,
                "age": c.age,
                "sex": c.sex,
                "bmi": c.bmi,
                "patient_id": f"synth{seed}-p{i // max(1, images_per_patient):05d}",
            }
        )
    path = out / "manifest.csv"
    write_csv(path, rows)
    return path
