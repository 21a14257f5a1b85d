"""Table 1 (outcomes.table1) against scipy and published exact-test examples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from napari_plaque.outcomes.table1 import fisher_freeman_halton, table1


def _cohort(n=200, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2, n)
    return {
        "attenuated": g.tolist(),
        "age": rng.normal(63 + 2 * g, 10).round(1).tolist(),  # normal
        "plaque_volume": rng.lognormal(4 + 0.3 * g, 0.6).round(1).tolist(),  # skewed
        "male": (rng.random(n) < 0.6 + 0.1 * g).astype(int).tolist(),
        "site": rng.choice(["A", "B", "C"], n).tolist(),
        "rare": (["x"] * 4 + ["y"] * (n - 4)),
    }


def test_continuous_rules_match_scipy():
    tab = _cohort()
    t = table1(tab, "attenuated", ["age", "plaque_volume"])
    age, pv = t.variables
    g = np.array(tab["attenuated"])
    a = np.array(tab["age"])
    assert age["normal"] and age["summary"] == "mean +- SD" and age["test"] == "Welch t-test"
    assert age["p"] == pytest.approx(stats.ttest_ind(a[g == 1], a[g == 0], equal_var=False).pvalue)
    assert age["cells"]["0"] == f"{a[g == 0].mean():.1f} +- {a[g == 0].std(ddof=1):.1f}"
    v = np.array(tab["plaque_volume"])
    assert not pv["normal"] and pv["summary"] == "median (IQR)" and pv["test"] == "Mann-Whitney U"
    assert pv["p"] == pytest.approx(stats.mannwhitneyu(v[g == 0], v[g == 1]).pvalue)
    q1, m, q3 = np.percentile(v[g == 1], [25, 50, 75])
    assert pv["cells"]["1"] == f"{m:.1f} ({q1:.1f}-{q3:.1f})"


def test_categorical_rules():
    tab = _cohort()
    t = table1(tab, "attenuated", ["male", "site", "rare"])
    male, site, rare = t.variables
    g = np.array(tab["attenuated"])
    m = np.array(tab["male"])
    table = np.array([[np.sum((m == a) & (g == b)) for b in (0, 1)] for a in (0, 1)])
    assert male["test"] == "chi-square (Yates)"
    assert male["p"] == pytest.approx(stats.chi2_contingency(table).pvalue)
    n1 = int(np.sum(g == 1))
    assert male["cells"]["1"][1] == f"{table[1, 1]} ({100 * table[1, 1] / n1:.1f})"
    assert site["test"] == "chi-square" and len(site["levels"]) == 3
    assert rare["test"] == "Fisher's exact"  # 4 "x" in 200: expected counts < 5
    # the CSV rows and the text
    rows = t.rows()
    assert rows[0]["variable"] == "n" and rows[0]["all"] == "200"
    assert any(r["level"] == "B" for r in rows)
    assert "attenuated=1" in t.text()


def test_fisher_tea_tasting():
    # Fisher (1935), The Design of Experiments: the lady tasting tea, 3 of 4 cups right:
    # two-sided p = 0.4857 (R fisher.test(matrix(c(3, 1, 1, 3), 2)))
    tab = {"poured": ["milk"] * 4 + ["tea"] * 4,
           "guess": ["milk"] * 3 + ["tea"] + ["milk"] + ["tea"] * 3}  # fmt: skip
    v = table1(tab, "poured", ["guess"]).variables[0]
    assert v["test"] == "Fisher's exact"
    assert v["p"] == pytest.approx(0.4857, abs=5e-5)


def test_fisher_freeman_halton_job_satisfaction():
    # Agresti (2002) job satisfaction by income, as in R's ?fisher.test: p-value = 0.7827
    job = np.array([[1, 2, 1, 0], [3, 3, 6, 1], [10, 10, 14, 9], [6, 7, 12, 11]]).T
    p = fisher_freeman_halton(job, n_permutations=10000, seed=1)
    assert p == pytest.approx(0.7827, abs=0.015)


def test_table1_refuses_a_single_group():
    with pytest.raises(ValueError, match="single group"):
        table1({"g": [1, 1, 1], "x": [1, 2, 3]}, "g")
    with pytest.raises(ValueError, match="no group column"):
        table1({"g": [1, 2], "x": [1, 2]}, "nope")


def test_table1_cli(tmp_path, capsys):
    import csv
    import json

    from napari_plaque.cli import main
    from napari_plaque.report import write_csv

    tab = _cohort()
    src = tmp_path / "c.csv"
    write_csv(src, [dict(zip(tab, v, strict=True)) for v in zip(*tab.values(), strict=True)])
    out = tmp_path / "t1.csv"
    assert main(["study-stats", str(src), "--table1", str(out), "--group", "attenuated",
                 "--variables", "age,plaque_volume,male,site"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "Welch t-test" in text and "Mann-Whitney U" in text and "attenuated=1" in text
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["variable"] == "n" and {"0", "1", "all", "p", "test"} <= set(rows[0])
    assert main(["study-stats", str(src), "--table1", str(out), "--group", "attenuated",
                 "--variables", "age", "--json"]) == 0  # fmt: skip
    d = json.loads(capsys.readouterr().out)
    assert d["table1"]["variables"][0]["test"] == "Welch t-test"
    # with the binary analysis: grouped by the outcome
    assert main(["study-stats", str(src), "--outcome", "attenuated", "--predictors", "age",
                 "--table1", str(out), "--variables", "male", "--n-boot", "50"]) == 0  # fmt: skip
    assert "OR (95% CI)" in capsys.readouterr().out
    assert main(["study-stats", str(src), "--table1", str(out)]) == 2
    assert "--table1 needs --group" in capsys.readouterr().err
    assert main(["study-stats", str(src), "--table1", str(out), "--group", "rare",
                 "--variables", "age"]) == 0  # fmt: skip
