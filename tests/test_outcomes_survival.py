"""Survival statistics (outcomes.survival) against statsmodels, a textbook example and simulation.

Textbook example: the Rossi et al. recidivism data (432 released prisoners, arrest within 52
weeks) as analysed by J. Fox, "Cox Proportional-Hazards Regression for Survival Data", Appendix
to An R and S-PLUS Companion to Applied Regression (2002): the printed coefficients and SEs of
``coxph(Surv(week, arrest) ~ fin + age + race + wexp + mar + paro + prio)``. The data ship with
lifelines (``load_rossi``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_plaque.outcomes.survival import (
    c_index,
    cox_model,
    cumulative_incidence,
    kaplan_meier,
    logrank,
    survival_input,
    survival_study,
)

# Fox (2002), Appendix "Cox Proportional-Hazards Regression", printed coxph output:
# covariate: (coef, exp(coef), se(coef))
FOX_ROSSI = {
    "fin": (-0.3794, 0.684, 0.1914),
    "age": (-0.0574, 0.944, 0.0220),
    "race": (0.3139, 1.369, 0.3080),
    "wexp": (-0.1498, 0.861, 0.2122),
    "mar": (-0.4337, 0.648, 0.3819),
    "paro": (-0.0849, 0.919, 0.1958),
    "prio": (0.0915, 1.096, 0.0286),
}


def _cohort(n=600, hr=1.5, seed=0, base=0.0004, censor=(300, 3000)):
    """Exponential event times with a binary exposure of known hazard ratio ``hr``."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    age = rng.normal(65, 10, n)
    lam = base * np.exp(np.log(hr) * x + 0.02 * (age - 65))
    t_ev = rng.exponential(1 / lam)
    t_c = rng.uniform(*censor, n)
    time = np.minimum(t_ev, t_c)
    event = (t_ev <= t_c).astype(int)
    return time, event, x, age


def test_cox_rossi_matches_fox_2002():
    from lifelines.datasets import load_rossi

    r = load_rossi()
    m = cox_model(r["week"].to_numpy(), r["arrest"].to_numpy(), {c: r[c].to_numpy() for c in FOX_ROSSI})
    assert (m["n"], m["events"]) == (432, 114)
    for c, (coef, hr, se) in FOX_ROSSI.items():
        t = m["terms"][c]
        assert t["coef"] == pytest.approx(coef, abs=5e-5), c
        assert t["hr"] == pytest.approx(hr, abs=5e-4), c
        assert t["se"] == pytest.approx(se, abs=5e-5), c
    assert m["terms"]["prio"]["p"] == pytest.approx(0.0014, abs=5e-5)


def test_cox_matches_statsmodels_phreg():
    from statsmodels.duration.hazard_regression import PHReg

    time, event, x, age = _cohort(seed=3)
    m = cox_model(time, event, {"x": x.astype(float), "age": age})
    res = PHReg(time, np.column_stack([x, age]), status=event, ties="efron").fit()
    assert m["terms"]["x"]["coef"] == pytest.approx(res.params[0], rel=1e-5)
    assert m["terms"]["age"]["coef"] == pytest.approx(res.params[1], rel=1e-5)
    assert m["terms"]["x"]["se"] == pytest.approx(res.bse[0], rel=1e-4)
    ci = np.exp(res.conf_int()[0])
    assert m["terms"]["x"]["hr_ci"] == pytest.approx(list(ci), rel=1e-4)
    assert m["terms"]["x"]["p"] == pytest.approx(res.pvalues[0], rel=1e-3)


def test_km_matches_statsmodels_survfuncright():
    from statsmodels.duration.survfunc import SurvfuncRight

    time, event, _, _ = _cohort(n=300, seed=5)
    km = kaplan_meier(time, event, at=[500.0, 1500.0])
    sf = SurvfuncRight(time, event)
    for row in km["at"]:
        i = np.searchsorted(sf.surv_times, row["time"], side="right") - 1
        assert row["survival"] == pytest.approx(sf.surv_prob[i], abs=1e-12)
        assert row["survival_ci"][0] < row["survival"] < row["survival_ci"][1]
    # median survival: statsmodels' quantile
    if km["median"] is not None:
        assert km["median"] == pytest.approx(sf.quantile(0.5), rel=1e-9)
        lo, hi = sf.quantile_ci(0.5, method="cloglog")
        assert km["median_ci"][0] == pytest.approx(lo, rel=0.02)


def test_known_hr_is_covered():
    time, event, x, age = _cohort(n=1500, hr=1.5, seed=11)
    m = cox_model(time, event, {"x": x.astype(float), "age": age})
    lo, hi = m["terms"]["x"]["hr_ci"]
    assert lo < 1.5 < hi
    assert m["terms"]["x"]["p"] < 1e-4


def test_known_hr_coverage_over_repeats():
    cover = 0
    reps = 40
    for s in range(reps):
        time, event, x, _ = _cohort(n=300, hr=1.5, seed=100 + s)
        lo, hi = cox_model(time, event, {"x": x.astype(float)})["terms"]["x"]["hr_ci"]
        cover += lo < 1.5 < hi
    assert cover / reps >= 0.85  # nominal 0.95; 40 repeats


def test_c_index_perfect_and_noise():
    rng = np.random.default_rng(0)
    t = rng.exponential(100, 300)
    e = np.ones(300, int)
    perfect = c_index(t, e, -t, n_boot=50)  # the earlier the event, the higher the risk
    assert perfect["c_index"] == 1.0
    noise = c_index(t, e, rng.normal(size=300), n_boot=200)
    assert 0.45 < noise["c_index"] < 0.55
    assert noise["ci"][0] < 0.5 < noise["ci"][1]
    # against lifelines' own model concordance for a fitted Cox
    time, event, x, age = _cohort(seed=2)
    m = cox_model(time, event, {"x": x.astype(float), "age": age})
    assert c_index(time, event, m["_lp"], n_boot=0)["c_index"] == pytest.approx(
        m["concordance"], abs=1e-12
    )


def test_logrank_k_groups_matches_statsmodels():
    from statsmodels.duration.survfunc import survdiff

    time, event, x, age = _cohort(seed=4)
    g = np.digitize(age, [60, 70])  # three groups
    lr = logrank(time, event, g)
    chi2, p = survdiff(time, event, g)
    assert lr["df"] == 2
    assert lr["chi2"] == pytest.approx(chi2, rel=1e-6)
    assert lr["p"] == pytest.approx(p, rel=1e-5)


def test_schoenfeld_global_equals_single_covariate_and_flags_nonph():
    time, event, x, age = _cohort(seed=6)
    m = cox_model(time, event, {"x": x.astype(float)})
    s = m["schoenfeld"]
    assert s["global"]["chi2"] == pytest.approx(s["covariates"]["x"]["chi2"], rel=1e-9)
    # a hazard ratio that reverses over time breaks proportional hazards
    rng = np.random.default_rng(1)
    n = 800
    z = rng.integers(0, 2, n)
    early = rng.exponential(np.where(z == 1, 50.0, 400.0))
    t2 = np.where(early < 100, early, 100 + rng.exponential(np.where(z == 1, 800.0, 100.0)))
    e2 = (t2 < 1500).astype(int)
    t2 = np.minimum(t2, 1500)
    m2 = cox_model(t2, e2, {"z": z.astype(float)})
    assert m2["schoenfeld"]["covariates"]["z"]["p"] < 0.001


def test_aalen_johansen_matches_statsmodels():
    from statsmodels.duration.survfunc import CumIncidenceRight

    rng = np.random.default_rng(8)
    n = 400
    t1, t2, c = rng.exponential(1000, n), rng.exponential(2000, n), rng.uniform(100, 2500, n)
    time = np.round(np.minimum.reduce([t1, t2, c]), 3)
    status = np.select([t1 <= np.minimum(t2, c), t2 <= np.minimum(t1, c)], [1, 2], 0)
    ci = cumulative_incidence(time, status, 1, at=[800.0])
    sm = CumIncidenceRight(time, status)
    i = np.searchsorted(sm.times, 800.0, side="right") - 1
    assert ci["at"][0]["cumulative_incidence"] == pytest.approx(sm.cinc[0][i], abs=2e-3)
    lo, hi = ci["at"][0]["ci"]
    assert lo < ci["at"][0]["cumulative_incidence"] < hi


def _table(n=400, seed=0):
    time, event, x, age = _cohort(n=n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    ics = np.where(x == 1, rng.uniform(85, 400, n), rng.uniform(0, 84, n))
    return {"days": time.tolist(), "poce": event.tolist(), "ics": ics.tolist(),
            "age": age.tolist(), "site": rng.choice(["A", "B", "C"], n).tolist()}  # fmt: skip


def test_survival_study_cut_per_adjust_horizon():
    tab = _table()
    r = survival_study(tab, "days", "poce", predictors=["ics"], per={"ics": "100"},
                       cut={"ics": "85"}, adjust=["age"], horizon=2191, c_index_boot=50)  # fmt: skip
    d = r.to_dict()
    assert d["input"]["follow_up_max"] <= 2191
    assert set(d["cox"]) == {"ics>=85", "ics"}
    # per 100 = exp(100 * per-unit coefficient)
    unit = survival_study(tab, "days", "poce", predictors=["ics"], horizon=2191, c_index_boot=0)
    b = unit.cox["ics"]["univariable"]["coef"]
    assert d["cox"]["ics"]["univariable"]["hr"] == pytest.approx(math.exp(100 * b), rel=1e-6)
    # the dichotomised exposure carries the simulated HR 1.5
    lo, hi = d["cox"]["ics>=85"]["adjusted"]["hr_ci"]
    assert lo < 1.5 < hi
    assert [g["label"] for g in d["kaplan_meier"]] == ["ics<85", "ics>=85"]
    assert d["logrank"]["p"] < 0.05
    assert d["cox"]["ics>=85"]["adjusted"]["schoenfeld"]["global"]["df"] == 2
    assert len(r.cox_rows()) == 2 and r.km_rows()[0]["time"] == 2191
    # the median cut
    m = survival_study(tab, "days", "poce", predictors=["ics"], cut={"ics": "median"},
                       c_index_boot=0)  # fmt: skip
    (name,) = m.cox
    assert m.cox[name]["cut"] == pytest.approx(float(np.median(tab["ics"])))


def test_horizon_censors():
    si = survival_input({"t": [10, 3000, 2500], "e": [1, 1, 0]}, "t", "e", horizon=2191)
    assert si.time.tolist() == [10, 2191, 2191]
    assert si.status.tolist() == [1, 0, 0]


def test_competing_code_and_column(tmp_path):
    rng = np.random.default_rng(2)
    n = 300
    t = rng.exponential(1000, n).round(1)
    code = rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2])
    tab = {"t": t.tolist(), "e": code.tolist(), "g": rng.choice(["a", "b"], n).tolist()}
    r = survival_study(tab, "t", "e", competing=2, group="g", at=[500.0], c_index_boot=0)
    d = r.to_dict()
    assert d["input"]["competing_events"] == int((code == 2).sum())
    assert len(d["competing"]["groups"]) == 2
    tab2 = {"t": t.tolist(), "e": (code == 1).astype(int).tolist(),
            "death": (code == 2).astype(int).tolist()}  # fmt: skip
    from napari_plaque.outcomes.survival import plot_km

    png = plot_km(r, tmp_path / "cif.png")  # the Aalen-Johansen curves
    assert png.read_bytes()[:4] == b"\x89PNG"
    r2 = survival_study(tab2, "t", "e", competing="death", at=[500.0], c_index_boot=0)
    a = d["input"]
    assert r2.to_dict()["input"]["events"] == a["events"]


@pytest.mark.parametrize(
    "tab, kw, match",
    [
        ({"t": [1, -2, 3], "e": [1, 0, 1]}, {}, "time column 't' has 1 negative"),
        ({"t": [1, "x", 3], "e": [1, 0, 1]}, {}, "column 't' row 2 is not a number"),
        ({"t": [1, 2, 3], "e": [1, 2, 0]}, {}, "event column 'e' must be coded 0/1"),
        ({"t": [1, 2, 3], "e": [0, 0, 0]}, {}, "no event"),
        ({"t": [1, 2, 3, 4], "e": [1, 0, 1, 0]}, {"competing": 2}, "code 2 is never used"),
        ({"t": [1, 2, 3, 4], "e": [1, 0, 1, 0], "d": [0, 0, 0, 0]}, {"competing": "d"},
         "column 'd' has no competing event"),
        ({"t": [1, 2, 3, 4], "e": [1, 0, 1, 0], "g": ["a"] * 4}, {"group": "g"},
         "single group"),
        ({"t": [1, 2, 3, 4], "e": [1, 1, 0, 0], "g": ["a", "a", "b", "b"]}, {"group": "g"},
         "no events in group b"),
        ({"t": [1, 2, 3, 4], "e": [1, 0, 0, 0], "x": [1, 2, 3, 4], "a": [1, 0, 1, 1]},
         {"predictors": ["x"], "adjust": ["a"]}, "fewer events than covariates"),
    ],
)  # fmt: skip
def test_bad_input_is_refused(tab, kw, match):
    with pytest.raises(ValueError, match=match):
        survival_study(tab, "t", "e", c_index_boot=0, **kw)


def test_km_plot_png(tmp_path):
    from napari_plaque.outcomes.survival import plot_km

    r = survival_study(_table(200), "days", "poce", predictors=["ics"], cut={"ics": "85"},
                       c_index_boot=0)  # fmt: skip
    p = plot_km(r, tmp_path / "km.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
