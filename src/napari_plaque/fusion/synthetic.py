"""A synthetic paired CT + IVUS cohort with known truth (registration, arcs, outcome).

Each case is one vessel of one patient: a centreline of known length, CT lesions (the fields the
vessel analysis reports, with values drawn around the Zhao 2026 group medians: calcium density
about 321 HU in attenuated and 499 HU in non-attenuated plaques) and an IVUS pullback of that
vessel recorded distal -> proximal with a known true start (s of frame 0), a known true speed
(nominal x ``speed_factor``) and a known rotation between IVUS and CT angles. The IVUS calcium and
attenuation arcs of every frame are drawn from the lesion truth; two side branches give two
landmarks that lie exactly on the true line.

Truth kept per case: ``s_frame0_mm``, ``speed_factor``, ``rotation_deg``, the frames of every
lesion (``truth_frames``) and whether it is attenuated (``truth_attenuated``). Small attenuation
specks (< 30 deg) in some non-attenuated lesions test the rule's arc threshold.

:func:`render_frames` makes simple grey IVUS frames from a case (for the widget and the docs);
:func:`make_ct_volume` a straight-vessel CT with the lesions painted in, and its centreline
points (for the ``fuse`` command).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..ivus.arcs import Arc, ArcSet
from .mapping import FrameMapping, Landmark

#: cohort defaults (documented in docs/fusion.md)
COHORT_DEFAULTS: dict[str, Any] = {
    "n_patients": 40,
    "lesions_per_patient": (1, 3),
    "prevalence": 0.2,
    "mm_per_frame": 0.5 / 30.0,  # 30 frames/s at 0.5 mm/s
    "speed_sd": 0.05,  # true speed / nominal: N(1, 0.05)
    "seed": 0,
}

DENSITY_ATTENUATED = (321.0, 170.0)  # mean, SD of calcium density (HU), attenuated lesions
DENSITY_OTHER = (499.0, 190.0)


@dataclass
class SyntheticCase:
    """One vessel: CT lesions, pullback geometry, IVUS arcs and the truth."""

    patient: str
    vessel: str
    centreline_length_mm: float
    lesions: list[dict[str, Any]]
    n_frames: int
    mm_per_frame: float  # nominal
    speed_factor: float
    s_frame0_mm: float
    rotation_deg: float
    arcs: ArcSet
    landmarks: list[Landmark]
    truth_frames: list[tuple[int, int]]
    truth_attenuated: list[bool]
    truth_ct_calcium_deg: list[float] = field(default_factory=list)
    covariates: dict[str, float] = field(default_factory=dict)

    def true_s(self, frame) -> np.ndarray:
        """The true centreline s of a frame."""
        f = np.asarray(frame, float)
        return self.s_frame0_mm - f * self.mm_per_frame * self.speed_factor

    def mapping(self, landmarks: list[Landmark] | None = None, **kw) -> FrameMapping:
        return FrameMapping.uniform(
            self.n_frames,
            self.mm_per_frame,
            self.landmarks if landmarks is None else landmarks,
            self.centreline_length_mm,
            **kw,
        )


def _arc_centred(centre: float, extent: float) -> tuple[float, float]:
    return (float(np.mod(centre - extent / 2, 360.0)), float(np.mod(centre + extent / 2, 360.0)))


def make_case(
    rng: np.random.Generator,
    patient: str = "P001",
    vessel: str = "LAD",
    n_lesions: int = 2,
    prevalence: float = COHORT_DEFAULTS["prevalence"],
    mm_per_frame: float = COHORT_DEFAULTS["mm_per_frame"],
    speed_sd: float = COHORT_DEFAULTS["speed_sd"],
    attenuated: list[bool] | None = None,
) -> SyntheticCase:
    """One synthetic vessel with its pullback (see the module docstring)."""
    length = float(rng.uniform(70.0, 110.0))
    speed = float(np.clip(rng.normal(1.0, speed_sd), 0.8, 1.2))
    s0 = float(length - rng.uniform(2.0, 10.0))  # pullback starts distal, inside the vessel
    end_s = float(-rng.uniform(0.0, 3.0))  # and ends at or just past the ostium
    n_frames = int(np.floor((s0 - end_s) / (mm_per_frame * speed))) + 1
    rotation = float(rng.uniform(0.0, 360.0))
    # lesions: non-overlapping, inside [6, s0 - 4]
    lo, hi = 6.0, s0 - 4.0
    slots = np.linspace(lo, hi, n_lesions + 1)
    lesions, frames_truth, att_truth, ca_angles = [], [], [], []
    arcs: list[Arc] = []
    mmpf_true = mm_per_frame * speed
    for k in range(n_lesions):
        a, b = slots[k], slots[k + 1]
        les_len = float(min(rng.uniform(5.0, 18.0), 0.8 * (b - a)))
        start = round(float(rng.uniform(a, b - les_len)), 3)
        end = round(start + les_len, 3)
        les_len = round(end - start, 3)
        att = bool(rng.random() < prevalence) if attenuated is None else bool(attenuated[k])
        mu, sd = DENSITY_ATTENUATED if att else DENSITY_OTHER
        density = float(np.clip(rng.normal(mu, sd), 160.0, 1100.0))
        ca_mm3 = float(rng.gamma(2.0, 8.0) + 2.0)
        lipid_mm3 = float(rng.gamma(2.0, 6.0) + (12.0 if att else 0.0))
        fibrous_mm3 = float(rng.gamma(3.0, 8.0))
        plaque = ca_mm3 + lipid_mm3 + fibrous_mm3
        lesions.append(
            {
                "start_mm": start,
                "end_mm": end,
                "length_mm": les_len,
                "plaque_volume_mm3": round(plaque, 2),
                "lipid_mm3": round(lipid_mm3, 2),
                "fibrous_mm3": round(fibrous_mm3, 2),
                "calcium_mm3": round(ca_mm3, 2),
                "lipid_pct": round(100 * lipid_mm3 / plaque, 2),
                "calcium_pct": round(100 * ca_mm3 / plaque, 2),
                "calcium_density_hu": round(density, 1),
                "diameter_stenosis_pct": round(float(rng.uniform(20, 70)), 1),
                "remodeling_index": round(float(rng.normal(1.12 if att else 1.0, 0.08)), 3),
            }
        )
        # frames whose true s lies in [start, end]: s = s0 - f * mmpf_true
        f_first = int(np.ceil((s0 - end) / mmpf_true - 1e-9))
        f_last = int(np.floor((s0 - start) / mmpf_true + 1e-9))
        frames_truth.append((f_first, f_last))
        att_truth.append(att)
        n = f_last - f_first + 1
        # calcium arcs over the middle 70 % of the lesion, extent rising with calcium volume
        ca_c = float(rng.uniform(0, 360))
        ca_angles.append(ca_c)
        ca_ext = float(np.clip(40 + 4 * ca_mm3, 40, 300))
        for f in range(f_first + int(0.15 * n), f_last - int(0.15 * n) + 1):
            t = (f - f_first) / max(n - 1, 1)
            ext = ca_ext * (0.6 + 0.4 * np.sin(np.pi * t))
            arcs.append(Arc(f, "calcium", *_arc_centred(ca_c - rotation, ext)))
        at_c = np.mod(ca_c + 180.0, 360.0)  # attenuation opposite the calcium
        if att:
            at_ext = float(rng.uniform(60, 200))
            run = max(3, int(rng.uniform(0.3, 0.6) * n))
            f0 = f_first + int(rng.uniform(0, n - run))
            for f in range(f0, f0 + run):
                arcs.append(Arc(f, "attenuation", *_arc_centred(at_c - rotation, at_ext)))
        elif rng.random() < 0.3:  # a speck below the 30 deg rule
            f0 = f_first + n // 2
            for f in range(f0, min(f0 + 5, f_last + 1)):
                arcs.append(Arc(f, "attenuation", *_arc_centred(at_c - rotation, 20.0)))
    arcset = ArcSet(n_frames, (128, 128), ["calcium", "attenuation"], "catheter")
    arcset.add_many(arcs)
    # two side branches at exact frames (distal one first)
    fb = sorted(int(v) for v in rng.uniform(0.1, 0.9, 2) * (n_frames - 1))
    if fb[0] == fb[1]:
        fb[1] += 1
    lms = [Landmark(round(s0 - f * mmpf_true, 9), f) for f in fb]
    return SyntheticCase(
        patient=patient,
        vessel=vessel,
        centreline_length_mm=length,
        lesions=lesions,
        n_frames=n_frames,
        mm_per_frame=mm_per_frame,
        speed_factor=speed,
        s_frame0_mm=s0,
        rotation_deg=rotation,
        arcs=arcset,
        landmarks=lms,
        truth_frames=frames_truth,
        truth_attenuated=att_truth,
        truth_ct_calcium_deg=ca_angles,
    )


def make_cohort(
    n_patients: int = COHORT_DEFAULTS["n_patients"],
    seed: int = COHORT_DEFAULTS["seed"],
    lesions_per_patient: tuple[int, int] = COHORT_DEFAULTS["lesions_per_patient"],
    **kw: Any,
) -> list[SyntheticCase]:
    """A cohort: one vessel per patient, 1-3 lesions each, patient covariates (age, male)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_patients):
        k = int(rng.integers(lesions_per_patient[0], lesions_per_patient[1] + 1))
        case = make_case(rng, f"P{i + 1:03d}", str(rng.choice(["LAD", "LCX", "RCA"])), k, **kw)
        case.covariates = {
            "age": float(np.round(rng.normal(62, 9))),
            "male": float(rng.random() < 0.7),
        }
        out.append(case)
    return out


def cohort_table(cases: list[SyntheticCase], **join_params: Any) -> list[dict[str, Any]]:
    """The per-lesion table a study analyses: CT metrics joined to IVUS over the mapped frames
    (two landmarks each), with patient covariates; ``attenuated`` as 0/1."""
    from .join import join_lesions

    rows = []
    for case in cases:
        res = join_lesions(case.lesions, case.mapping(), case.arcs, **join_params)
        for j, les in enumerate(res.lesions):
            row = {"patient": case.patient, "vessel": case.vessel, "lesion": j + 1}
            row.update(case.covariates)
            row.update({k: v for k, v in les.items() if not isinstance(v, (list, dict))})
            row["ivus_first_frame"], row["ivus_last_frame"] = les["ivus_frames"]
            row["attenuated"] = int(bool(les["attenuated"]))
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# images (widget, docs, the fuse command)
# ---------------------------------------------------------------------------------------------


def render_frames(case: SyntheticCase, size: int = 128, seed: int = 0) -> np.ndarray:
    """Simple grey IVUS frames (F, size, size) uint8 showing the case's arcs: dark lumen, speckled
    wall, calcium as a bright edge with a shadow behind, attenuation as a dark sector."""
    rng = np.random.default_rng(seed)
    c = (size - 1) / 2.0
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - c, xx - c) / (size / 2.0)  # 0 centre .. 1 edge
    theta = np.mod(np.degrees(np.arctan2(yy - c, xx - c)), 360.0)
    bins = np.minimum((theta).astype(int), 359)
    lab = case.arcs.labels(360, ["calcium", "attenuation"])  # (F, 360, 2)
    base = 60 + 80 * np.exp(-((r - 0.45) ** 2) / 0.01) + 40 * (r > 0.5) * np.exp(-(r - 0.5) * 3)
    base = np.where(r < 0.3, 15.0, base)
    base = np.where(r < 0.06, 200.0, base)  # catheter
    out = np.empty((case.n_frames, size, size), np.uint8)
    for f in range(case.n_frames):
        img = base.copy()
        ca = lab[f, :, 0][bins]
        at = lab[f, :, 1][bins]
        img = np.where(ca & (r >= 0.33) & (r < 0.40), 250.0, img)
        img = np.where(ca & (r >= 0.40), 8.0, img)
        img = np.where(at & (r >= 0.36), img * np.exp(-(r - 0.36) * 8), img)
        img = img * rng.rayleigh(0.8, img.shape)
        out[f] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def make_ct_volume(
    case: SyntheticCase,
    spacing_mm: tuple[float, float, float] = (0.5, 0.4, 0.4),
    seed: int = 0,
):
    """A straight-vessel CT (vessel along the slice axis, ostium at slice 0) with the case's
    lesions painted in (eccentric plaque with calcium of the lesion's density), and the
    centreline points (world z, y, x mm) from ostium to distal.

    Returns ``(CTVolume, points_mm)``.
    """
    from ..types import CTVolume

    rng = np.random.default_rng(seed)
    nz = int(np.ceil((case.centreline_length_mm + 6.0) / spacing_mm[0]))
    ny = nx = int(np.ceil(16.0 / spacing_mm[1]))
    hu = rng.normal(-60.0, 12.0, (nz, ny, nx)).astype(np.float32)  # epicardial fat
    zc = (np.arange(nz) * spacing_mm[0] - 3.0)[:, None, None]  # s of each slice (ostium at 3 mm)
    cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
    yy = (np.arange(ny) - cy)[None, :, None] * spacing_mm[1]
    xx = (np.arange(nx) - cx)[None, None, :] * spacing_mm[2]
    rad = np.hypot(yy, xx)
    s = np.append(np.arange(0.0, case.centreline_length_mm - 0.5, 2.0), case.centreline_length_mm)
    pts = np.column_stack([s + 3.0, np.full_like(s, cy * spacing_mm[1]),
                           np.full_like(s, cx * spacing_mm[2])])  # fmt: skip
    u, v = _section_axes(pts)
    # cross-section angle atan2(row, col): rows run along v, columns along u (world z, y, x)
    ang = np.mod(np.degrees(np.arctan2(yy * v[1] + xx * v[2], yy * u[1] + xx * u[2])), 360.0)
    in_vessel = (zc >= 0) & (zc <= case.centreline_length_mm)
    wall = in_vessel & (rad <= 2.4)
    hu = np.where(wall, 60.0, hu)
    hu = np.where(in_vessel & (rad <= 1.6), 420.0, hu)
    for les, centre in zip(case.lesions, case.truth_ct_calcium_deg, strict=True):
        seg = (zc >= les["start_mm"]) & (zc <= les["end_mm"])
        d = np.abs(np.mod(ang - centre + 180.0, 360.0) - 180.0)
        plaque = seg & (rad > 1.0) & (rad <= 2.6) & (d < 80)
        hu = np.where(plaque, 70.0, hu)
        calc = seg & (rad > 1.8) & (rad <= 2.5) & (d < 35)
        hu = np.where(calc, les["calcium_density_hu"], hu)
        hu = np.where(seg & (rad <= 1.6) & ~plaque, 420.0, hu)
    hu = hu + rng.normal(0.0, 8.0, hu.shape).astype(np.float32)
    ct = CTVolume(np.round(hu).astype(np.int16), spacing_mm, (0.0, 0.0, 0.0), name="synthetic")
    return ct, pts


def _section_axes(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cross-section column (u) and row (v) axes of a straight centreline, as the vessel
    analysis' rotation-minimising frames give them (world z, y, x)."""
    from ..ccta.centreline import Centreline

    _, u, v = Centreline(points_mm=pts).frames()
    return np.asarray(u[0], float), np.asarray(v[0], float)


def write_case_files(case: SyntheticCase, folder, frame_size: int = 96) -> dict[str, Any]:
    """Write one case as the files the ``fuse`` command reads: ``ct.nii.gz`` (straight-vessel
    CT, 1 x 0.5 x 0.5 mm), ``centreline.json``, ``pullback.dcm`` (frame time and nominal pullback
    rate in the header) and ``arcs.json``. Returns the paths and the ``--landmark`` values (the
    two side branches)."""
    from pathlib import Path

    from ..io.ivus_dicom import write_pullback_dicom
    from ..io.nifti import write_nifti
    from ..ivus.arcs import save_arcs

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    ct, pts = make_ct_volume(case, spacing_mm=(1.0, 0.5, 0.5))
    write_nifti(d / "ct.nii.gz", ct.hu, ct.spacing_mm, ct.origin_mm)
    from ..ccta.centreline import Centreline

    Centreline(points_mm=pts, name=case.vessel).resampled(0.5).save(d / "centreline.json")
    frames = render_frames(case, size=frame_size)
    rate = 0.5
    write_pullback_dicom(
        frames,
        d / "pullback.dcm",
        frame_time_s=case.mm_per_frame / rate,
        pullback_rate_mm_s=rate,
        pixel_spacing_mm=(10.0 / frame_size, 10.0 / frame_size),
        series_description=f"synthetic pullback {case.patient}",
    )
    arcs = case.arcs.copy()
    arcs.frame_shape = (frame_size, frame_size)
    arcs.centers = [(frame_size - 1) / 2.0, (frame_size - 1) / 2.0]
    save_arcs(arcs, d / "arcs.json", on_conflict="overwrite")  # a regenerated sample
    return {
        "ct": d / "ct.nii.gz",
        "centreline": d / "centreline.json",
        "pullback": d / "pullback.dcm",
        "arcs": d / "arcs.json",
        "landmarks": [f"{m.s_mm:.3f}:{int(m.frame)}" for m in case.landmarks],
    }
