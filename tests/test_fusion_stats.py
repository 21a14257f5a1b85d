"""fusion.stats: study statistics checked against sklearn, scipy and statsmodels."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats
from sklearn.metrics import roc_auc_score

from napari_plaque.fusion.stats import Table, plot_roc, study_statistics
from napari_plaque.qc.roc import delong_auc_ci, youden_cutoff


def _cohort(n_pat=40, per=3, seed=0):
    rng = np.random.default_rng(seed)
    n = n_pat * per
    patient = np.repeat(np.arange(n_pat), per)
    y = (rng.random(n) < 0.3).astype(int)
    y[:2], y[2:4] = 1, 0
    dens = np.where(y == 1, rng.normal(330, 90, n), rng.normal(500, 120, n)).round(1)
    vol = (rng.gamma(2, 20, n) + 10 * y).round(2)
    age = rng.normal(60, 8, n).round(0)
    rows = [
        {
            "patient": f"P{p:03d}",
            "attenuated": int(a),
            "calcium_density_hu": d,
            "plaque_volume_mm3": v,
            "age": g,
        }
        for p, a, d, v, g in zip(patient, y, dens, vol, age, strict=True)
    ]
    return rows, y, dens, vol, age, patient


def test_against_scipy_sklearn_statsmodels():
    rows, y, dens, vol, age, patient = _cohort()
    r = study_statistics(rows, "attenuated", adjust=["age"], n_boot=200)
    d = r.predictors["calcium_density_hu"]
    assert (d["n"], d["n_pos"], d["n_neg"]) == (y.size, y.sum(), (1 - y).sum())
    pos, neg = dens[y == 1], dens[y == 0]
    assert d["median_pos"] == pytest.approx(np.median(pos))
    assert d["iqr_neg"] == pytest.approx(list(np.percentile(neg, [25, 75])))
    mw = stats.mannwhitneyu(pos, neg, alternative="two-sided")
    assert d["mannwhitney_p"] == pytest.approx(mw.pvalue, rel=1e-12)
    assert d["mannwhitney_u"] == mw.statistic
    # lower density predicts attenuation: AUC in that direction = 1 - AUC(raw)
    assert d["direction"] == "lower"
    assert d["auc"] == pytest.approx(1 - roc_auc_score(y, dens), abs=1e-12)
    ci = delong_auc_ci(y, -dens)
    assert d["auc_ci95"] == pytest.approx([ci.ci_low, ci.ci_high])
    yd = youden_cutoff(y, dens, direction="lower")
    assert d["cutoff"] == pytest.approx(yd["cutoff"])
    # the reported sensitivity / specificity are those of the rule "density < cutoff"
    assert d["sensitivity"] == pytest.approx((pos < d["cutoff"]).mean())
    assert d["specificity"] == pytest.approx((neg >= d["cutoff"]).mean())
    # logistic ORs as statsmodels fits them
    uni = sm.Logit(y, sm.add_constant(dens)).fit(disp=0)
    assert d["or"] == pytest.approx(np.exp(uni.params[1]), rel=1e-6)
    assert d["or_ci95"] == pytest.approx(list(np.exp(uni.conf_int()[1])), rel=1e-6)
    assert d["or_p"] == pytest.approx(uni.pvalues[1], rel=1e-4)
    assert d["or_per_sd"] == pytest.approx(np.exp(uni.params[1] * dens.std(ddof=1)), rel=1e-6)
    adj = sm.Logit(y, sm.add_constant(np.column_stack([dens, age]))).fit(disp=0)
    assert d["or_adjusted"] == pytest.approx(np.exp(adj.params[1]), rel=1e-6)
    assert d["or_adjusted_ci95"] == pytest.approx(list(np.exp(adj.conf_int()[1])), rel=1e-6)
    # Spearman
    rho = stats.spearmanr(dens, vol)
    assert r.correlation["names"] == ["calcium_density_hu", "plaque_volume_mm3"]
    assert r.correlation["rho"][0][1] == pytest.approx(rho.statistic)
    assert r.correlation["p"][1][0] == pytest.approx(rho.pvalue)
    v = r.predictors["plaque_volume_mm3"]
    assert v["direction"] == "higher"
    assert v["auc"] == pytest.approx(roc_auc_score(y, vol))
    json.dumps(json.loads(__import__("napari_plaque.report").report.dumps_json(r)))


def test_cluster_options_and_missing_rows(tmp_path):
    rows, y, dens, *_, patient = _cohort(seed=3)
    rows[5]["calcium_density_hu"] = ""  # a missing value drops that row for that predictor
    r = study_statistics(rows, "attenuated", predictors=["calcium_density_hu"],
                         cluster="patient", n_boot=300)  # fmt: skip
    d = r.predictors["calcium_density_hu"]
    assert d["n"] == y.size - 1
    assert d["n_clusters"] == 40
    lo, hi = d["auc_ci95_cluster_bootstrap"]
    assert lo < d["auc"] < hi
    assert d["or_ci_method"].startswith("cluster-robust")
    keep = np.ones(y.size, bool)
    keep[5] = False
    fit = sm.Logit(y[keep], sm.add_constant(dens[keep])).fit(
        disp=0, cov_type="cluster", cov_kwds={"groups": patient[keep]}
    )
    assert d["or_ci95"] == pytest.approx(list(np.exp(fit.conf_int()[1])), rel=1e-6)


def test_csv_plot_and_table2(tmp_path):
    rows, *_ = _cohort(seed=4)
    path = tmp_path / "lesions.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    r = study_statistics(path, "attenuated", cluster="patient", n_boot=200)
    assert set(r.predictors) == {"calcium_density_hu", "plaque_volume_mm3", "age"}
    png = plot_roc(r, tmp_path / "roc.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    t2 = r.to_rows()
    assert [row["predictor"] for row in t2] == list(r.predictors)
    assert "AUC (95% CI)" in t2[0] and "attenuated=1 median (IQR)" in t2[0]


def test_separation_gives_null_or_not_a_huge_number():
    y = np.array([0] * 10 + [1] * 10)
    x = np.arange(20.0)  # perfectly separates
    r = study_statistics({"y": y.tolist(), "x": x.tolist()}, "y")
    d = r.predictors["x"]
    assert d["auc"] == 1.0
    assert d["or"] is None and "separation" in d["or_note"]


def test_bad_tables(tmp_path):
    rows, *_ = _cohort()
    with pytest.raises(ValueError, match="no outcome column 'missing'"):
        study_statistics(rows, "missing")
    one = [dict(r, attenuated=0) for r in rows]
    with pytest.raises(ValueError, match="one class only"):
        study_statistics(one, "attenuated")
    bad = [dict(r, attenuated="maybe") for r in rows]
    with pytest.raises(ValueError, match="must be binary"):
        study_statistics(bad, "attenuated")
    with pytest.raises(ValueError, match="no predictor column 'nope'"):
        study_statistics(rows, "attenuated", predictors=["nope"])
    p = tmp_path / "ragged.csv"
    p.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ValueError, match="row 3 has 1 cells"):
        Table.read_csv(p)
    with pytest.raises(ValueError, match="not a number"):
        Table.read_csv(_write(tmp_path / "t.csv", "y,x\n1,abc\n0,2\n")).numeric("x")


def _write(p, text):
    p.write_text(text)
    return p


def test_paper_shaped_cutoff_is_printed_as_in_the_paper():
    """Zhao 2026's counts (11 attenuated, 56 not): a table where calcium density < 461.5 HU
    catches 9 of 11 attenuated and spares 37 of 56 others must come out as the paper prints
    it: cut-off 461.5 HU (midpoint of the observed 461 and 462), sensitivity 81.8 %,
    specificity 66.1 %, direction lower."""
    pos = [250, 280, 300, 320, 321, 350, 380, 420, 461, 950, 1000]
    neg = list(np.linspace(100, 200, 19)) + [462] + list(np.linspace(470, 900, 36))
    rows = [{"attenuated": 1, "calcium_density_hu": v} for v in pos]
    rows += [{"attenuated": 0, "calcium_density_hu": v} for v in neg]
    d = study_statistics(rows, "attenuated").predictors["calcium_density_hu"]
    assert (d["n_pos"], d["n_neg"]) == (11, 56)
    assert d["direction"] == "lower"
    assert d["cutoff"] == 461.5
    assert (round(100 * d["sensitivity"], 1), round(100 * d["specificity"], 1)) == (81.8, 66.1)
    y = np.r_[np.ones(11), np.zeros(56)]
    assert d["auc"] == pytest.approx(1 - roc_auc_score(y, pos + neg))


# ---------------------------------------------------------------------------------------------
# regression hygiene: collinear designs, separation, aggregation, linear models
# ---------------------------------------------------------------------------------------------


def _zhao_lesions(n=120, seed=0):
    """Lesions with the Zhao 2026 model's covariates: total plaque volume and the lipid,
    fibrous and calcium percentages of it (which sum to 100)."""
    rng = np.random.default_rng(seed)
    lip = rng.uniform(2, 40, n)
    cal = rng.uniform(5, 50, n)
    fib = 100 - lip - cal
    y = (rng.random(n) < 1 / (1 + np.exp(-(lip - 20) / 8))).astype(int)
    return [{"patient": f"P{i // 2:03d}", "attenuated": int(a), "plaque_volume_mm3": float(v),
             "lipid_pct": round(float(lp), 2), "fibrous_pct": round(float(fp), 2),
             "calcium_pct": round(float(cp), 2), "calcium_density_hu": float(d)}
            for i, (a, v, lp, fp, cp, d) in enumerate(zip(
                y, rng.uniform(20, 120, n), lip, fib, cal, rng.normal(450, 150, n), strict=True))]  # fmt: skip


def test_zhao_collinear_design_names_the_dependency():
    rows = _zhao_lesions()
    r = study_statistics(rows, "attenuated", predictors=["calcium_density_hu"],
                         adjust=["plaque_volume_mm3", "lipid_pct", "fibrous_pct", "calcium_pct"],
                         n_boot=50)  # fmt: skip
    d = r.predictors["calcium_density_hu"]
    note = d["or_adjusted_note"]
    assert "lipid_pct + fibrous_pct + calcium_pct = 100" in note and "drop one" in note
    assert "converge" not in note
    assert d["or_adjusted_problem"] == "collinear" and d["or_adjusted"] is None
    assert d["or"] is not None  # the univariable model is fine
    # dropping one percentage fits
    ok = study_statistics(rows, "attenuated", predictors=["calcium_density_hu"],
                          adjust=["plaque_volume_mm3", "lipid_pct", "calcium_pct"], n_boot=50)  # fmt: skip
    assert ok.predictors["calcium_density_hu"]["or_adjusted"] is not None


def test_separation_is_called_separation():
    from napari_plaque.outcomes.regression import complete_separation

    y = np.array([0] * 10 + [1] * 10)
    x = np.arange(20.0)
    assert complete_separation(x[:, None], y)
    d = study_statistics({"y": y.tolist(), "x": x.tolist()}, "y").predictors["x"]
    assert d["or_problem"] == "separation" and "complete separation" in d["or_note"]
    # quasi-complete: one tied value at the boundary
    xq = np.r_[np.arange(10.0), [9.0], np.arange(11.0, 20.0)]
    dq = study_statistics({"y": y.tolist(), "x": xq.tolist()}, "y").predictors["x"]
    assert dq["or"] is None and "separation" in dq["or_note"]
    assert "converge" not in dq["or_note"]


def test_aggregate_lesions_to_patients():
    from napari_plaque.outcomes.regression import aggregate

    rows = [{"patient": "A", "att": 0, "x": 1.0, "site": "s1"},
            {"patient": "A", "att": 1, "x": 3.0, "site": "s1"},
            {"patient": "B", "att": 0, "x": 5.0, "site": "s2"}]  # fmt: skip
    t, info = aggregate(rows, "patient", "mean", outcomes=["att"])
    assert info["patients"] == 2 and t.columns["patient"] == ["A", "B"]
    assert t.numeric("att").tolist() == [1.0, 0.0]  # any lesion positive
    assert t.numeric("x").tolist() == [2.0, 5.0]
    assert t.columns["site"] == ["s1", "s2"]
    t2, _ = aggregate(rows, "patient", "max", outcomes=["att"])
    assert t2.numeric("x").tolist() == [3.0, 5.0]


def test_linear_model_against_statsmodels_with_transform():
    import statsmodels.api as sm

    from napari_plaque.fusion.stats import linear_statistics

    rows = _zhao_lesions()
    r = linear_statistics(rows, "plaque_volume_mm3", predictors=["lipid_pct"],
                          adjust=["calcium_density_hu"], transform="log")  # fmt: skip
    d = r["predictors"]["lipid_pct"]
    y = np.log([x["plaque_volume_mm3"] for x in rows])
    X = sm.add_constant(np.array([x["lipid_pct"] for x in rows]))
    ref = sm.OLS(y, X).fit()
    assert d["coef"] == pytest.approx(ref.params[1])
    assert d["coef_ci95"] == pytest.approx(list(ref.conf_int()[1]))
    assert d["ratio"] == pytest.approx(np.exp(ref.params[1]))
    col = linear_statistics(rows, "plaque_volume_mm3", predictors=["lipid_pct"],
                            adjust=["fibrous_pct", "calcium_pct"])  # fmt: skip
    assert "lipid_pct + fibrous_pct + calcium_pct = 100" in col["predictors"]["lipid_pct"][
        "adjusted_note"]  # fmt: skip
    with pytest.raises(ValueError, match="value\\(s\\) <= 0, no logarithm"):
        linear_statistics([dict(x, v=0.0) for x in rows], "v", predictors=["lipid_pct"],
                          transform="log")  # fmt: skip
    # cluster-robust CIs differ from OLS ones
    cl = linear_statistics(rows, "plaque_volume_mm3", predictors=["lipid_pct"], cluster="patient")
    assert cl["ci_method"].startswith("cluster")


def test_cli_linear_aggregate_and_collinear(tmp_path, capsys):
    from napari_plaque.cli import main
    from napari_plaque.report import write_csv

    p = tmp_path / "z.csv"
    write_csv(p, _zhao_lesions())
    assert main(["study-stats", str(p), "--outcome", "attenuated",
                 "--predictors", "calcium_density_hu", "--n-boot", "50",
                 "--adjust", "plaque_volume_mm3,lipid_pct,fibrous_pct,calcium_pct"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "lipid_pct + fibrous_pct + calcium_pct = 100: drop one" in out
    assert main(["study-stats", str(p), "--linear", "plaque_volume_mm3", "--transform", "sqrt",
                 "--predictors", "lipid_pct", "--aggregate", "patient:max"]) == 0  # fmt: skip
    cap = capsys.readouterr()
    assert "sqrt(plaque_volume_mm3)" in cap.out and "aggregated 120 rows to 60" in cap.err
    assert main(["study-stats", str(p), "--outcome", "attenuated", "--aggregate", "patient:any",
                 "--predictors", "lipid_pct", "--n-boot", "50"]) == 0  # fmt: skip
    assert main(["study-stats", str(p), "--outcome", "attenuated", "--aggregate", "patient",
                 "--predictors", "lipid_pct"]) == 2  # fmt: skip
    assert "write COLUMN:max|mean|any" in capsys.readouterr().err
    assert main(["study-stats", str(p), "--outcome", "attenuated", "--transform", "log"]) == 2


def test_one_cluster_and_a_constant_predictor_are_not_reported_as_results():
    """Issue 22 item 14: a cluster column with one cluster (a zero-width bootstrap interval) is
    refused naming the column; a constant predictor gets a note, not AUC 0.5 with SE 0."""
    import numpy as np
    import pytest

    from napari_plaque.fusion.stats import study_statistics

    rng = np.random.default_rng(0)
    rows = [{"y": int(k % 3 == 0), "x": float(rng.normal()), "c": 5.0, "pat": "P1"}
            for k in range(60)]
    with pytest.raises(ValueError, match="cluster column 'pat' holds 1 cluster"):
        study_statistics(rows, outcome="y", predictors=["x"], cluster="pat")
    res = study_statistics(rows, outcome="y", predictors=["c"]).to_dict()
    c = res["predictors"]["c"]
    assert "constant predictor" in c["note"] and "auc" not in c and "auc_se" not in c
