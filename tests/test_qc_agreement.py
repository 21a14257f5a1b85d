"""Cohort agreement statistics against published worked examples and independent libraries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from napari_plaque.io import ReaderError
from napari_plaque.qc import (
    agreement,
    aline_agreement,
    bland_altman,
    categorize,
    icc_a1,
    ics,
    ics_agreement,
    kappa_from_table,
    read_pairs,
    weighted_kappa,
)

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)

# SAS/STAT PROC FREQ "Agreement Study": two dermatologists, 4 ordered categories
SKIN = np.array([[10, 4, 1, 0], [5, 10, 12, 2], [2, 4, 12, 5], [0, 2, 6, 13]])

# Bland & Altman (1986), Lancet: peak flow (l/min), Wright vs mini Wright, first readings
WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def test_icc21_shrout_fleiss_table2():
    r = icc_a1(SHROUT_FLEISS)
    assert r["icc"] == pytest.approx(0.29, abs=0.005)  # published ICC(2,1) = 0.29
    # F = MSR/MSE = 11.03 on (5, 15) df; CI 0.019 .. 0.76 as printed by R psych::ICC
    assert r["f"] == pytest.approx(11.03, abs=0.01)
    assert (r["df1"], r["df2"]) == (5, 15)
    assert r["ci_low"] == pytest.approx(0.019, abs=0.001)
    assert r["ci_high"] == pytest.approx(0.76, abs=0.005)
    assert r["p"] == pytest.approx(0.00013, abs=0.00001)


def test_icc_properties():
    rng = np.random.default_rng(0)
    truth = rng.normal(100, 30, 40)
    same = np.column_stack([truth, truth + rng.normal(0, 0.1, 40)])
    assert icc_a1(same)["icc"] > 0.999
    # a constant offset lowers absolute-agreement ICC (consistency would not)
    shifted = np.column_stack([truth, truth + 30 + rng.normal(0, 1, 40)])
    r = icc_a1(shifted)
    assert r["icc"] < 0.8
    assert r["ci_low"] < r["icc"] < r["ci_high"]
    with pytest.raises(ValueError, match="subjects"):
        icc_a1(np.ones((1, 2)))


def test_weighted_kappa_worked_example_and_sklearn():
    # the unweighted kappa of the SAS skin-condition example is published as 0.3449
    assert kappa_from_table(SKIN, None) == pytest.approx(0.3449, abs=1e-4)
    a = np.repeat(np.arange(4), SKIN.sum(axis=1))
    b = np.concatenate([np.repeat(np.arange(4), row) for row in SKIN])
    sk = pytest.importorskip("sklearn.metrics")
    assert weighted_kappa(a, b, 4) == pytest.approx(
        sk.cohen_kappa_score(a, b, weights="linear"), abs=1e-12
    )
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, 200)
    y = np.clip(x + rng.integers(-1, 2, 200), 0, 3)
    for w in ("linear", "quadratic", None):
        assert weighted_kappa(x, y, 4, weights=w) == pytest.approx(
            sk.cohen_kappa_score(x, y, weights=w), abs=1e-12
        )


def test_weighted_kappa_hand_computed():
    # 2 categories: linear weights == unweighted; table [[20, 5], [10, 15]]
    # po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5 -> kappa 0.4
    assert kappa_from_table(np.array([[20, 5], [10, 15]]), "linear") == pytest.approx(0.4)
    # 3 categories, perfect agreement -> 1; one-step disagreements weigh half a full miss
    assert kappa_from_table(np.diag([3, 4, 5]), "linear") == pytest.approx(1.0)
    t = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]])  # n = 4
    # observed weighted disagreement: 1 case * 0.5 / 4 = 0.125
    # expected: rows (2,1,1)/4, cols (1,2,1)/4, weights |i-j|/2
    p_row, p_col = np.array([2, 1, 1]) / 4, np.array([1, 2, 1]) / 4
    w = np.abs(np.subtract.outer(range(3), range(3))) / 2
    exp = (w * np.outer(p_row, p_col)).sum()
    assert kappa_from_table(t, "linear") == pytest.approx(1 - 0.125 / exp)


def test_bland_altman_pefr_example():
    ba = bland_altman(WRIGHT, MINI, loa_sd=2.0)
    # published: mean difference -2.1 l/min, SD 38.8, limits -79.7 and 75.5 (2 SD)
    assert ba["bias"] == pytest.approx(-2.1, abs=0.05)
    assert ba["sd"] == pytest.approx(38.8, abs=0.05)
    assert ba["loa_low"] == pytest.approx(-79.7, abs=0.1)
    assert ba["loa_high"] == pytest.approx(75.5, abs=0.1)
    default = bland_altman(WRIGHT, MINI)
    assert default["loa_high"] - default["bias"] == pytest.approx(1.96 * default["sd"])
    lo, hi = default["bias_ci"]
    assert lo < default["bias"] < hi


def test_categories_boundaries():
    s = [0, 0.5, 1, 99, 99.9, 100, 299, 300, 399, 400, 1000]
    np.testing.assert_array_equal(categorize(s, "cacdrs"), [0, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(categorize(s, "cac3"), [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3])
    with pytest.raises(ValueError, match="scheme"):
        categorize(s, "cacx")


def test_agreement_bundle():
    a = [0, 10, 150, 320, 500, 90, 0, 410]
    b = [0, 12, 140, 290, 520, 110, 3, 395]
    r = agreement(a, b, categories="cac3")
    assert r["n"] == 8
    assert r["pearson_r"] == pytest.approx(stats.pearsonr(a, b)[0])
    assert r["spearman_rho"] == pytest.approx(stats.spearmanr(a, b)[0])
    c = r["categories"]
    assert c["names"] == ["0", "1-99", "100-399", ">=400"]
    # categories: a -> 0,1,2,2,3,1,0,3 ; b -> 0,1,2,2,3,2,1,2 : 5 of 8 agree
    assert c["agreement"] == pytest.approx(5 / 8)
    assert np.asarray(c["confusion"]).sum() == 8
    assert -1 <= c["kappa_linear"] <= 1
    assert r["icc"]["icc"] > 0.95
    with pytest.raises(ValueError, match="same length"):
        agreement([1, 2], [1, 2, 3])


def test_aline_agreement_hand_computed():
    ref = np.zeros((3, 8), bool)
    oth = np.zeros((3, 8), bool)
    ref[0, :4] = True
    oth[0, :3] = True  # 3 TP, 1 FN
    oth[2, 6:8] = True  # 2 FP
    r = aline_agreement(ref, oth)
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (3, 2, 1, 18)
    assert r["accuracy"] == pytest.approx(21 / 24)
    assert r["precision"] == pytest.approx(3 / 5)
    assert r["recall"] == pytest.approx(3 / 4)
    np.testing.assert_array_equal(r["per_frame_disagree"], [1, 0, 2])
    np.testing.assert_allclose(r["per_frame_disagree_deg"], [45.0, 0.0, 90.0])
    assert [w["index"] for w in r["worst_frames"]] == [2, 0]
    assert r["ics_reference"] == pytest.approx(4 / 24 * 1000)
    assert ics(oth) == pytest.approx(5 / 24 * 1000)


def test_ics_agreement_cohort():
    rng = np.random.default_rng(1)
    pairs = []
    for frac in (0.02, 0.05, 0.1, 0.2, 0.3):
        ref = rng.random((20, 32)) < frac
        oth = ref.copy()
        flip = rng.random(ref.shape) < 0.01
        oth[flip] = ~oth[flip]
        pairs.append((ref, oth))
    r = ics_agreement(pairs)
    assert len(r["ics_reference"]) == 5
    assert r["icc"]["icc"] > 0.9
    assert 0.95 < r["aline_accuracy"] <= 1.0
    assert np.asarray(r["high_ics_confusion"]).sum() == 5


def test_read_pairs_csv(tmp_path):
    p = tmp_path / "cohort.csv"
    p.write_text("case,auto,manual\nc1,10,12\nc2,,5\nc3,300.5,280\nc4,0,0\n")
    pairs = read_pairs(p, "auto", "manual")
    np.testing.assert_allclose(pairs["a"], [10, 300.5, 0])
    assert pairs["ids"] == ["c1", "c3", "c4"] and pairs["skipped"] == 1
    with pytest.raises(ReaderError, match="cohort.csv.*no column 'x'"):
        read_pairs(p, "auto", "x")
    bad = tmp_path / "bad.csv"
    bad.write_text("case,auto,manual\nc1,ten,12\nc2,1,2\n")
    with pytest.raises(ReaderError, match=r"bad.csv: line 2, column 'auto'"):
        read_pairs(bad, "auto", "manual")
    with pytest.raises(ReaderError, match="not found"):
        read_pairs(tmp_path / "missing.csv", "a", "b")


def test_constant_inputs_do_not_crash():
    r = agreement([5, 5, 5], [5, 5, 5])
    assert math.isnan(r["pearson_r"])
    assert r["bland_altman"]["bias"] == 0.0


# Fleiss (1971), Psychological Bulletin 76:378, Table 1: 30 patients, 6 psychiatrists, 5
# diagnoses (1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other), as the
# `diagnoses` data set of R irr; published kappa 0.430 (irr: 0.4302445, z = 17.65).
FLEISS_1971 = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ]
)  # fmt: skip

# Wikipedia "Fleiss' kappa" worked example: 10 items, 14 raters, counts per category 1..5;
# published kappa 0.210 (P-bar 0.378, P-bar-e 0.213).
WIKIPEDIA_FLEISS_COUNTS = np.array(
    [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
)  # fmt: skip


def test_fleiss_kappa_fleiss_1971_table1():
    from napari_plaque.qc.agreement import fleiss_kappa

    r = fleiss_kappa(FLEISS_1971)
    assert r["kappa"] == pytest.approx(0.430, abs=0.0005)  # Fleiss (1971): 0.430
    assert r["kappa"] == pytest.approx(0.4302445, abs=1e-7)  # R irr::kappam.fleiss
    assert r["z"] == pytest.approx(17.65183, abs=1e-4)  # irr's z (Fleiss, Nee & Landis SE0)
    assert (r["n"], r["raters"]) == (30, 6)
    assert r["ci_low"] < r["kappa"] < r["ci_high"]
    assert 0.25 < r["ci_low"] and r["ci_high"] < 0.6
    assert 0.01 < r["se_boot"] < 0.1
    # against statsmodels
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    assert r["kappa"] == pytest.approx(sm_fleiss(aggregate_raters(FLEISS_1971)[0]), abs=1e-12)


def test_fleiss_kappa_wikipedia_counts():
    from napari_plaque.qc.agreement import fleiss_kappa

    r = fleiss_kappa(counts=WIKIPEDIA_FLEISS_COUNTS, n_boot=0)
    assert r["kappa"] == pytest.approx(0.210, abs=0.0005)
    assert r["p_observed"] == pytest.approx(0.378, abs=0.0005)
    assert r["p_expected"] == pytest.approx(0.213, abs=0.0005)
    assert math.isnan(r["ci_low"])
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa(counts=[[1, 1], [2, 1]])
    with pytest.raises(ValueError, match="either"):
        fleiss_kappa()


def test_cohen_kappa_labels_match_statsmodels():
    from statsmodels.stats.inter_rater import cohens_kappa

    from napari_plaque.qc.agreement import cohen_kappa

    # SAS "Agreement Study" table expanded to labels
    a, b = [], []
    for i in range(4):
        for j in range(4):
            a += [f"c{i}"] * int(SKIN[i, j])
            b += [f"c{j}"] * int(SKIN[i, j])
    r = cohen_kappa(a, b)
    sm = cohens_kappa(SKIN, wt=None)
    assert r["kappa"] == pytest.approx(sm.kappa, abs=1e-12)
    assert r["se"] == pytest.approx(sm.std_kappa, abs=1e-12)
    rw = cohen_kappa(a, b, weights="linear")
    assert rw["kappa"] == pytest.approx(cohens_kappa(SKIN, wt="linear").kappa, abs=1e-12)
    with pytest.raises(ValueError, match="not among"):
        cohen_kappa(["x", "y"], ["x", "z"], categories=["x", "y"])


def test_icc_forms_shrout_fleiss_1979():
    """Shrout & Fleiss (1979) Table 4 on their Table 2 data: ICC(1,1) .17, ICC(2,1) .29,
    ICC(3,1) .71, ICC(1,4) .44, ICC(2,4) .62, ICC(3,4) .91; the CIs as R psych::ICC prints them
    for the same data (ICC3 0.342-0.95, ICC2k 0.071-0.93, ICC3k 0.676-0.99, ICC1 -0.133-0.72)."""
    from napari_plaque.qc.agreement import icc

    published = {"1,1": 0.17, "2,1": 0.29, "3,1": 0.71, "1,k": 0.44, "2,k": 0.62, "3,k": 0.91}
    for form, value in published.items():
        assert icc(SHROUT_FLEISS, form)["icc"] == pytest.approx(value, abs=0.005), form
    assert icc(SHROUT_FLEISS, "2,1")["icc"] == pytest.approx(icc_a1(SHROUT_FLEISS)["icc"])
    i3 = icc(SHROUT_FLEISS, "3,1")
    assert (i3["ci_low"], i3["ci_high"]) == pytest.approx((0.342, 0.946), abs=0.001)
    i2k = icc(SHROUT_FLEISS, "2,k")
    assert (i2k["ci_low"], i2k["ci_high"]) == pytest.approx((0.071, 0.927), abs=0.001)
    i3k = icc(SHROUT_FLEISS, "3,k")
    assert (i3k["ci_low"], i3k["ci_high"]) == pytest.approx((0.676, 0.986), abs=0.001)
    i1 = icc(SHROUT_FLEISS, "1,1")
    assert (i1["ci_low"], i1["ci_high"], i1["df2"]) == pytest.approx((-0.133, 0.723, 18), abs=0.001)
    # k = 2 works too (ICC(2,2) by Spearman-Brown of ICC(2,1)? no: its own formula)
    two = icc(SHROUT_FLEISS[:, :2], "2,k")
    assert two["k"] == 2 and -1 < two["icc"] < 1
    with pytest.raises(ValueError, match="unknown ICC form"):
        icc(SHROUT_FLEISS, "4,1")


def test_bland_altman_log_and_percent():
    x = np.array([10.0, 20, 40, 80, 160, 320])
    y = x * 1.1  # a constant 10 % difference, growing in absolute terms
    log = bland_altman(y, x, scale="log")
    assert log["ratio_bias"] == pytest.approx(1.1)
    assert log["sd"] == pytest.approx(0.0, abs=1e-12)
    pct = bland_altman(y, x, scale="percent")
    assert pct["bias"] == pytest.approx(100 * 0.1 / 1.05)
    ab = bland_altman(y, x)
    assert ab["proportional_bias_slope"] > 0 and ab["proportional_bias_p"] < 0.001
    with pytest.raises(ValueError, match="positive values"):
        bland_altman([0.0, 1.0], [1.0, 2.0], scale="log")


def test_reader_agreement_k_readers():
    from napari_plaque.qc.agreement import reader_agreement

    rng = np.random.default_rng(0)
    truth = rng.lognormal(4, 1, 80)
    r = np.column_stack([truth * rng.lognormal(0, 0.1, 80) for _ in range(3)])
    out = reader_agreement(r, ["auto", "r1", "r2"], categories="cacdrs", ba_scale="log", n_boot=100)
    assert set(out["icc"]) == {"2,1", "3,1", "2,k"}
    assert out["icc"]["2,k"]["icc"] >= out["icc"]["2,1"]["icc"] > 0.8
    assert set(out["bland_altman"]) == {"r1", "r2"}
    assert out["bland_altman"]["r1"]["scale"] == "log"
    fk = out["categories"]["fleiss_kappa"]
    assert 0.5 < fk["kappa"] <= 1 and fk["raters"] == 3
    with pytest.raises(ValueError, match="reference"):
        reader_agreement(r, ["a", "b", "c"], reference="z")


def test_agreement_cli_k_readers(tmp_path, capsys):
    import json

    from napari_plaque.cli import main

    p = tmp_path / "sf.csv"
    lines = ["case,j1,j2,j3,j4"] + [f"c{i},{','.join(str(v) for v in row)}"
                                    for i, row in enumerate(SHROUT_FLEISS)]  # fmt: skip
    lines.append("c9,5,,3,2")  # an empty cell: skipped and counted
    p.write_text("\n".join(lines) + "\n")
    assert main(["agreement", str(p), "--readers", "j1,j2,j3,j4", "--json"]) == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["icc"]["2,1"]["icc"] == pytest.approx(0.29, abs=0.005)
    assert out["icc"]["3,1"]["icc"] == pytest.approx(0.71, abs=0.01)
    assert out["icc"]["2,k"]["icc"] == pytest.approx(0.62, abs=0.005)
    assert out["skipped_rows"] == 1 and "1 row(s)" in cap.err
    assert set(out["bland_altman"]) == {"j2", "j3", "j4"}
    assert main(["agreement", str(p), "--readers", "j1,j2,j3", "--reference", "j2",
                 "--ba-scale", "log", "--categories", "cac3"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "ICC(2,k)" in text and "j1 / j2 (log)" in text and "Fleiss kappa" in text
    assert main(["agreement", str(p), "--readers", "j1"]) == 2
    assert "two or more" in capsys.readouterr().err
    assert main(["agreement", str(p), "--readers", "j1,zz"]) == 2
    assert "no column 'zz'" in capsys.readouterr().err
    assert main(["agreement", str(p)]) == 2
    # two-column mode keeps working, now with a scale
    assert main(["agreement", str(p), "--a", "j1", "--b", "j4", "--ba-scale", "percent"]) == 0
    assert "100 (j1 - j4) / mean" in capsys.readouterr().out
