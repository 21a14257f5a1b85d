"""Synthetic cohorts drawn from the published summary figures of the source studies.

Each generator makes one table (a list of row dicts) whose columns are the ones the paper
analysed, with distributions and effects set so that the paper's headline figures come out
within sampling error when the recipe in ``docs/reproduce/`` is run on it. What a paper
published is marked ``published`` in :data:`STUDIES`; everything else a generator needs (the
event rate, the covariates' distributions, the censoring) is an **assumption of this
generator**, listed there as ``assumed``. The tables are for checking the pipeline and for
teaching the analysis; they are not patient data and say nothing clinical.

The effect sizes are set on the generating model (a proportional-hazards model with Weibull
or exponential baseline, a logistic model, additive / multiplicative measurement error); the
constants were calibrated once on large samples (``calibrate`` in the tests), so a table of
the paper's size scatters around the paper's figures by sampling error only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: what each generator reproduces: the source, its size, the published figures and the
#: assumptions (documented per recipe in docs/reproduce/)
STUDIES: dict[str, dict[str, Any]] = {
    "ics": {
        "title": "IVUS calcium score and the patient-oriented composite endpoint",
        "source": "Neleman et al., J Cardiovasc Transl Res 2021;14:992-1000",
        "n": 408,
        "published": {
            "patients": 408,
            "median_ics": 85,
            "follow_up_days": 2191,
            "adjusted_hr_ics_ge_85": (1.51, 1.05, 2.17),
            "adjusted_hr_per_100_ics": (1.21, 1.04, 1.41),
        },
        "assumed": {
            "events": "about 120 POCE events within 6 years",
            "covariates": "age, male, diabetes, acute coronary syndrome (the generator's choice)",
            "censoring": "uniform loss to follow-up between 3 and 12 years, then 2191 days",
            "ics": "lognormal around the median 85, clipped to 0-1000",
        },
    },
    "zhao": {
        "title": "CCTA calcification of IVUS-attenuated plaque (Zhao 2026)",
        "source": "Zhao et al. 2026 (domain.md)",
        "n": 67,
        "published": {
            "attenuated": 11,
            "not_attenuated": 56,
            "calcium_density_hu_attenuated": 321,
            "calcium_density_hu_other": 499,
            "cutoff_hu": 461.5,
            "sensitivity": 0.818,
            "specificity": 0.661,
            "auc": (0.735, 0.603, 0.868),
        },
        "assumed": {
            "spread": "calcium density SD 170 / 190 HU (fusion.synthetic)",
            "composition": "lipid / fibrous / calcium % of the plaque volume (sum 100)",
            "patients": "1-3 lesions per patient",
        },
    },
    "plaquesegnet-ctffr2": {
        "title": "PlaqueSegNet plaque volume and MACE: CT-FFR-CHINA study 2",
        "source": "Chen et al., Radiology 2026 (PlaqueSegNet)",
        "n": 1500,
        "published": {"c_index": (0.64, 0.62, 0.67), "median_follow_up_years": 2.3},
        "assumed": {"n": "1500 patients", "events": "about 12 % MACE"},
    },
    "plaquesegnet-ctffr11": {
        "title": "PlaqueSegNet plaque volume and MACE: CT-FFR-CHINA study 1.1",
        "source": "Chen et al., Radiology 2026 (PlaqueSegNet)",
        "n": 600,
        "published": {"c_index": (0.65, 0.60, 0.69), "median_follow_up_years": 5.3},
        "assumed": {"n": "600 patients", "events": "about 20 % MACE"},
    },
    "plaquesegnet-serial": {
        "title": "PlaqueSegNet plaque volume and MACE: serial CCTA cohort",
        "source": "Chen et al., Radiology 2026 (PlaqueSegNet)",
        "n": 250,
        "published": {"c_index": (0.74, 0.66, 0.84)},
        "assumed": {"n": "250 patients", "events": "about 15 % MACE", "follow_up": "4 years"},
    },
    "plaquesegnet-agreement": {
        "title": "PlaqueSegNet plaque volume against IVUS and expert readers",
        "source": "Chen et al., Radiology 2026 (PlaqueSegNet)",
        "n": 120,
        "published": {"icc_vs_ivus": 0.93, "icc_vs_readers": 0.94, "icc": "> 0.90"},
        "assumed": {
            "n": "120 paired vessels",
            "error": "multiplicative reading error (log-normal), so differences grow with size",
        },
    },
    "cxr": {
        "title": "CAC category predicted from chest radiographs, and MACE",
        "source": "Hong et al., J Cardiovasc Comput Tomogr 2025;19:331-339",
        "n": 2000,
        "published": {
            "patients": 10230,
            "auc_cac_gt0": 0.74,
            "auc_cac_ge100": 0.75,
            "auc_cac_ge400": 0.79,
        },
        "assumed": {
            "n": "2000 of the 10,230 (a faster table; --n 10230 for the full size)",
            "cac": "40 % zero, log-normal above",
            "mace": "hazard ratio 1.6 per CAC category step (not a published figure), 5 years",
            "prediction": "a radiograph score = latent log CAC + noise, cut into categories",
        },
    },
}


def _censor(rng, t_event, low, high, horizon=None):
    c = rng.uniform(low, high, t_event.size)
    if horizon is not None:
        c = np.minimum(c, horizon)
    time = np.minimum(t_event, c)
    return time, (t_event <= c).astype(int)


def _weibull_times(rng, lin_pred, scale, shape=1.0):
    """Event times of a PH model with Weibull baseline: S(t) = exp(-(t/scale)^shape e^lp)."""
    u = rng.random(lin_pred.size)
    return scale * (-np.log(u) / np.exp(lin_pred)) ** (1.0 / shape)


# calibrated constants (see the module docstring)
ICS_SIGMA = 0.85  # lognormal spread of ICS around its median 85
ICS_BETA_PER_100 = np.log(1.21)  # log hazard per 100 ICS units
ICS_BETA_CUT = 0.07  # extra log hazard for ICS >= 85 (the threshold effect)
ICS_SCALE_DAYS = 11000.0


def ics_cohort(n: int = 408, seed: int = 0) -> list[dict[str, Any]]:
    """The IVUS calcium score cohort: ``ics``, ``days``, ``poce`` and covariates."""
    rng = np.random.default_rng(seed)
    age = rng.normal(64, 11, n).clip(30, 90)
    male = (rng.random(n) < 0.75).astype(int)
    diabetes = (rng.random(n) < 0.22).astype(int)
    acs = (rng.random(n) < 0.45).astype(int)
    z = rng.normal(0, 1, n) + 0.02 * (age - 64)
    ics = np.clip(85 * np.exp(ICS_SIGMA * z), 0, 1000)
    lp = (ICS_BETA_PER_100 * ics / 100 + ICS_BETA_CUT * (ics >= 85) + 0.02 * (age - 64)
          + 0.35 * diabetes + 0.25 * acs)  # fmt: skip
    t = _weibull_times(rng, lp, ICS_SCALE_DAYS, 0.9)
    time, event = _censor(rng, t, 3 * 365.25, 12 * 365.25)
    return [
        {"patient": f"P{i + 1:04d}", "age": round(float(age[i]), 1), "male": int(male[i]),
         "diabetes": int(diabetes[i]), "acs": int(acs[i]), "ics": round(float(ics[i]), 1),
         "days": int(np.ceil(time[i])), "poce": int(event[i])}
        for i in range(n)
    ]  # fmt: skip


def zhao_lesions(n: int = 67, seed: int = 0, attenuated: int = 11) -> list[dict[str, Any]]:
    """Zhao 2026-shaped lesions: 11 of 67 attenuated at n=67 (the ratio kept for other n)."""
    rng = np.random.default_rng(seed)
    n_att = int(round(attenuated * n / 67))
    y = np.r_[np.ones(n_att, int), np.zeros(n - n_att, int)]
    rng.shuffle(y)
    dens = np.where(y == 1, rng.normal(321, 170, n), rng.normal(499, 190, n)).clip(160, 1300)
    tpv = rng.lognormal(np.log(45) + 0.25 * y, 0.5, n)
    lipid = np.clip(rng.normal(14 + 12 * y, 7, n), 1, 60)
    calcium = np.clip(rng.normal(32 - 8 * y, 12, n), 2, 80)
    calcium = np.minimum(calcium, 97 - lipid)
    fibrous = 100 - lipid - calcium
    patients = []
    k = 0
    while len(patients) < n:
        k += 1
        patients += [f"Z{k:03d}"] * int(rng.integers(1, 4))
    age = {p: round(float(rng.normal(62, 10)), 1) for p in set(patients)}
    male = {p: int(rng.random() < 0.7) for p in set(patients)}
    rows = []
    for i in range(n):
        p = patients[i]
        rows.append(
            {"patient": p, "lesion": i + 1, "age": age[p], "male": male[p],
             "attenuated": int(y[i]), "calcium_density_hu": round(float(dens[i]), 1),
             "plaque_volume_mm3": round(float(tpv[i]), 1),
             "lipid_pct": round(float(lipid[i]), 2), "fibrous_pct": round(float(fibrous[i]), 2),
             "calcium_pct": round(float(calcium[i]), 2)}
        )  # fmt: skip
    return rows


# PlaqueSegNet: log hazard per SD of log plaque volume, and the cohorts' time scales
PSN_COHORTS = {
    "plaquesegnet-ctffr2": {"beta": 0.47, "scale": 7000.0, "follow": (1.0, 3.6)},
    "plaquesegnet-ctffr11": {"beta": 0.53, "scale": 9000.0, "follow": (3.5, 7.0)},
    "plaquesegnet-serial": {"beta": 0.96, "scale": 12000.0, "follow": (4.0, 4.0)},
}


def plaquesegnet_outcomes(name: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """One PlaqueSegNet outcome cohort: total plaque volume (mm^3), ``days``, ``mace``."""
    cfg = PSN_COHORTS[name]
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, n)
    pv = np.exp(np.log(120) + 0.9 * z)
    age = rng.normal(63, 10, n)
    t = _weibull_times(rng, cfg["beta"] * z, cfg["scale"], 1.0)
    lo, hi = (v * 365.25 for v in cfg["follow"])
    time, event = _censor(rng, t, lo, hi) if hi > lo else (np.minimum(t, hi), (t <= hi).astype(int))
    return [
        {"patient": f"S{i + 1:05d}", "age": round(float(age[i]), 1),
         "plaque_volume_mm3": round(float(pv[i]), 1), "days": int(np.ceil(time[i])),
         "mace": int(event[i])}
        for i in range(n)
    ]  # fmt: skip


PSN_READ_SD = 0.105  # log-scale SD of one reading (PlaqueSegNet or a reader)
PSN_IVUS_SD = 0.12  # log-scale SD of an IVUS plaque volume


def plaquesegnet_agreement(n: int = 120, seed: int = 0) -> list[dict[str, Any]]:
    """Paired plaque volumes: PlaqueSegNet, IVUS and three expert readers of the same vessels."""
    rng = np.random.default_rng(seed)
    truth = rng.lognormal(np.log(150), 0.45, n)

    def read(bias=1.0, sd=PSN_READ_SD):
        return truth * bias * np.exp(rng.normal(0, sd, n))

    cols = {"plaquesegnet_mm3": read(), "ivus_mm3": read(1.02, PSN_IVUS_SD), "reader1_mm3": read(),
            "reader2_mm3": read(0.98), "reader3_mm3": read(1.01)}  # fmt: skip
    return [{"vessel": f"V{i + 1:03d}", **{k: round(float(v[i]), 1) for k, v in cols.items()}}
            for i in range(n)]  # fmt: skip


CXR_NOISE = 1.8  # SD of the radiograph score around the latent log CAC (AUCs ~0.74-0.79)
CXR_HR_PER_CATEGORY = 1.6
CXR_SCALE_DAYS = 25000.0


def cxr_cohort(n: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """Actual CT CAC, the radiograph score and predicted category, and MACE over 5 years."""
    from ..ccta.calcium import CAC_CATEGORIES
    from ..qc.agreement import categorize

    rng = np.random.default_rng(seed)
    age = rng.normal(58, 11, n)
    male = (rng.random(n) < 0.55).astype(int)
    latent = rng.normal(0, 1, n) + 0.03 * (age - 58) + 0.3 * male
    zero = latent < np.quantile(latent, 0.40)
    cac = np.where(zero, 0.0, np.exp(2.2 + 1.9 * (latent - np.quantile(latent, 0.40))))
    cat = categorize(cac, "cac3")
    score = latent + rng.normal(0, CXR_NOISE, n)
    # predicted category: the score cut at the quantiles that reproduce the actual shares
    cuts = np.quantile(score, np.cumsum(np.bincount(cat, minlength=4) / n)[:-1])
    pred = np.searchsorted(cuts, score, side="right")
    lp = np.log(CXR_HR_PER_CATEGORY) * cat + 0.02 * (age - 58)
    t = _weibull_times(rng, lp, CXR_SCALE_DAYS, 1.0)
    time, event = _censor(rng, t, 2 * 365.25, 7 * 365.25, horizon=5 * 365.25)
    names = list(CAC_CATEGORIES)
    return [
        {"patient": f"X{i + 1:05d}", "age": round(float(age[i]), 1), "male": int(male[i]),
         "cac_agatston": round(float(cac[i]), 1), "cac_category": names[cat[i]],
         "cac_category_code": int(cat[i]), "cxr_score": round(float(score[i]), 3),
         "predicted_category": names[pred[i]], "predicted_category_code": int(pred[i]),
         "cac_gt0": int(cat[i] >= 1), "cac_ge100": int(cat[i] >= 2), "cac_ge400": int(cat[i] >= 3),
         "days": int(np.ceil(time[i])), "mace": int(event[i])}
        for i in range(n)
    ]  # fmt: skip


GENERATORS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "ics": ics_cohort,
    "zhao": zhao_lesions,
    "plaquesegnet-agreement": plaquesegnet_agreement,
    "cxr": cxr_cohort,
    **{k: (lambda n, seed=0, _k=k: plaquesegnet_outcomes(_k, n, seed)) for k in PSN_COHORTS},
}


def make_study(name: str, n: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The synthetic table of study ``name`` (one of :data:`STUDIES`) of ``n`` rows."""
    if name not in GENERATORS:
        raise ValueError(f"unknown study {name!r}; use one of {', '.join(sorted(GENERATORS))}")
    n = int(n or STUDIES[name]["n"])
    if n < 10:
        raise ValueError(f"a synthetic cohort needs at least 10 rows, got {n}")
    return GENERATORS[name](n, seed=seed)
