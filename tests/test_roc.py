"""qc.roc: curve, AUC, DeLong CI (published pROC example + definition), Youden, bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from napari_plaque.qc.roc import (
    auc,
    bootstrap_auc_ci,
    delong_auc_ci,
    delong_covariance,
    delong_test,
    roc_curve,
    youden_cutoff,
)

# aSAH data set shipped with R's pROC package (Turck et al. 2010, Intensive Care Med 36:107;
# Robin et al. 2011, BMC Bioinformatics 12:77): 113 patients, outcome "Poor" = 1 (41 cases).
# Columns in the data set's row order.
ASAH_Y = [
    0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0,
    0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0,
    0,
]  # fmt: skip
ASAH_S100B = [
    0.13, 0.14, 0.1, 0.04, 0.13, 0.1, 0.47, 0.16, 0.18, 0.1, 0.12, 0.1, 0.44, 0.71,
    0.04, 0.08, 0.49, 0.04, 0.07, 0.33, 0.09, 0.09, 0.07, 0.11, 0.07, 0.17, 0.07, 0.11,
    0.13, 0.19, 0.05, 0.16, 0.41, 0.14, 0.34, 0.35, 0.48, 0.09, 0.96, 0.25, 0.5, 0.46,
    0.16, 0.07, 0.43, 0.45, 0.11, 0.08, 0.09, 0.86, 0.52, 0.08, 0.06, 0.13, 2.07, 0.1,
    0.14, 0.15, 0.07, 0.06, 0.77, 0.05, 0.09, 0.3, 0.03, 0.09, 0.04, 0.23, 0.7, 0.09,
    0.27, 0.71, 0.08, 0.26, 0.08, 0.16, 0.09, 0.13, 0.1, 0.08, 0.11, 0.33, 0.11, 0.28,
    0.07, 0.1, 0.32, 0.22, 0.07, 0.05, 0.24, 0.38, 0.1, 0.15, 0.08, 0.14, 0.1, 0.07,
    0.04, 0.19, 0.56, 0.14, 0.58, 0.32, 0.82, 0.74, 0.15, 0.47, 0.17, 0.44, 0.15, 0.5,
    0.48,
]  # fmt: skip
ASAH_WFNS = [
    1, 1, 1, 1, 3, 2, 5, 4, 1, 2, 5, 2, 5, 5, 1, 2, 5, 2, 2, 5, 2, 1, 1, 1, 1, 2, 1, 2,
    1, 1, 3, 4, 2, 1, 4, 5, 4, 1, 4, 2, 5, 5, 1, 1, 2, 4, 1, 1, 2, 5, 5, 2, 1, 2, 5, 1,
    2, 2, 2, 1, 5, 1, 1, 2, 5, 2, 1, 4, 5, 2, 4, 4, 1, 4, 1, 2, 1, 4, 2, 1, 2, 3, 2, 4,
    2, 1, 4, 5, 1, 1, 5, 4, 2, 2, 1, 1, 1, 3, 1, 2, 5, 2, 2, 5, 5, 5, 2, 4, 4, 5, 1, 1,
    1,
]  # fmt: skip
ASAH_NDKA = [
    3.01, 8.54, 8.09, 10.42, 17.4, 12.75, 6.0, 13.2, 15.54, 6.01, 15.96, 17.86, 5.18,
    8.9, 13.41, 20.75, 11.6, 16.11, 32.37, 54.82, 32.41, 49.94, 40.34, 9.47, 6.29,
    12.53, 6.54, 6.3, 80.3, 12.8, 9.8, 9.81, 9.85, 18.21, 5.03, 14.04, 21.93, 8.02,
    7.42, 8.38, 6.59, 9.63, 13.12, 7.96, 14.34, 41.43, 7.63, 7.06, 12.59, 13.56, 3.87,
    9.44, 7.66, 12.98, 419.19, 27.19, 22.27, 9.95, 21.22, 11.73, 10.4, 58.83, 6.39,
    11.09, 12.22, 13.67, 17.21, 22.63, 12.9, 9.7, 21.57, 8.23, 72.57, 15.54, 10.51,
    10.6, 14.57, 5.19, 9.63, 4.61, 21.48, 17.3, 12.71, 9.44, 11.07, 19.46, 10.83, 5.37,
    11.97, 7.75, 9.83, 10.55, 28.49, 8.53, 12.57, 12.9, 46.83, 11.68, 12.67, 9.01, 9.57,
    34.06, 11.72, 14.26, 47.61, 11.67, 24.58, 10.33, 13.87, 15.89, 22.43, 6.79, 13.45,
]  # fmt: skip


def _delong_by_definition(y, s):
    """DeLong et al. (1988) structural components written from their definition (m x n psi)."""
    y = np.asarray(y, bool)
    x, z = s[y], s[~y]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    a = psi.mean()
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    var = v10.var(ddof=1) / x.size + v01.var(ddof=1) / z.size
    return a, var


def _sim(n=120, d=1.0, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    y[:2], y[2:4] = True, False
    s = rng.normal(size=n) + d * y
    if ties:
        s = np.round(s * 2) / 2
    return y.astype(int), s


def test_asah_published_pROC_example():
    """pROC's documented example: roc(aSAH$outcome, aSAH$s100b) prints "Area under the curve:
    0.7314" and ci() "95% CI: 0.6301-0.8326 (DeLong)"; roc.test of wfns vs s100b (DeLong,
    paired) "Z = 2.209, p-value = 0.02718" (Robin et al. 2011; pROC reference manual)."""
    y = np.array(ASAH_Y)
    assert (y.size, int(y.sum())) == (113, 41)
    r = delong_auc_ci(y, ASAH_S100B)
    assert round(r.auc, 4) == 0.7314
    assert (round(r.ci_low, 4), round(r.ci_high, 4)) == (0.6301, 0.8326)
    assert (r.n_pos, r.n_neg, r.method) == (41, 72, "DeLong")
    t = delong_test(y, ASAH_WFNS, ASAH_S100B)
    assert round(t["z"], 3) == 2.209
    assert round(t["p"], 5) == 0.02718
    assert round(t["auc_a"], 4) == 0.8237


@pytest.mark.parametrize("marker", [ASAH_S100B, ASAH_WFNS, ASAH_NDKA])
def test_asah_against_sklearn_and_definition(marker):
    y = np.array(ASAH_Y)
    s = np.asarray(marker, float)
    a, var = _delong_by_definition(y, s)
    r = delong_auc_ci(y, s)
    assert r.auc == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert r.auc == pytest.approx(a, abs=1e-12)
    assert r.se**2 == pytest.approx(var, rel=1e-10)
    assert auc(y, s) == pytest.approx(a, abs=1e-12)


def test_delong_covariance_matches_definition_and_lower_direction():
    y, s = _sim(ties=True, seed=3)
    s2 = s + np.random.default_rng(4).normal(size=s.size)
    aucs, cov = delong_covariance(y, np.vstack([s, s2]))
    for i, row in enumerate((s, s2)):
        a, var = _delong_by_definition(y, row)
        assert aucs[i] == pytest.approx(a, abs=1e-12)
        assert cov[i, i] == pytest.approx(var, rel=1e-10)
    # covariance from the definition: cov(V10a, V10b)/m + cov(V01a, V01b)/n
    yb = y.astype(bool)

    def comps(row):
        psi = (row[yb][:, None] > row[~yb][None, :]) + 0.5 * (row[yb][:, None] == row[~yb][None])
        return psi.mean(axis=1), psi.mean(axis=0)

    (a10, a01), (b10, b01) = comps(s), comps(s2)
    want = np.cov(a10, b10)[0, 1] / yb.sum() + np.cov(a01, b01)[0, 1] / (~yb).sum()
    assert cov[0, 1] == pytest.approx(want, rel=1e-10)
    # "lower" is the analysis of -score: AUC flips, SE unchanged
    hi, lo = delong_auc_ci(y, s), delong_auc_ci(y, s, direction="lower")
    assert lo.auc == pytest.approx(1 - hi.auc, abs=1e-12)
    assert lo.se == pytest.approx(hi.se, rel=1e-12)


def test_roc_curve_matches_sklearn():
    y, s = _sim(ties=True, seed=5)
    fpr, tpr, thr = roc_curve(y, s)
    f2, t2, th2 = sk_roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])
    assert np.isinf(thr[0])
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fl, tl, thl = roc_curve(y, s, direction="lower")
    assert np.all(np.diff(thl[1:]) > 0)  # ascending: strictest "lower" cut-off first
    assert np.trapezoid(tl, fl) == pytest.approx(1 - roc_auc_score(y, s), abs=1e-12)


def test_youden_cutoff_exact():
    # negatives 1..6, positives 5..9: best split "score >= 7" -> sens 3/5, spec 6/6 ... check all
    neg = [1, 2, 3, 4, 5, 6]
    pos = [5, 7, 8, 9, 6.5]
    y = [0] * len(neg) + [1] * len(pos)
    s = neg + pos
    r = youden_cutoff(y, s)
    # thresholds: >=6.5 gives sens 4/5, spec 6/6 -> J = 0.8 (the maximum)
    assert r["threshold"] == 6.5
    assert r["cutoff"] == pytest.approx((6.5 + 6) / 2)
    assert (r["sensitivity"], r["specificity"]) == (pytest.approx(0.8), pytest.approx(1.0))
    # brute force over midpoints agrees
    s_arr, y_arr = np.asarray(s, float), np.asarray(y, bool)
    u = np.unique(s_arr)
    cuts = (u[1:] + u[:-1]) / 2
    js = [(s_arr[y_arr] > c).mean() + (s_arr[~y_arr] <= c).mean() - 1 for c in cuts]
    assert r["youden_j"] == pytest.approx(max(js))
    # lower direction: positives are the small values
    rl = youden_cutoff(y, [-v for v in s], direction="lower")
    assert rl["cutoff"] == pytest.approx(-r["cutoff"])
    assert rl["sensitivity"] == pytest.approx(r["sensitivity"])


def test_bad_inputs():
    with pytest.raises(ValueError, match="one-class"):
        delong_auc_ci([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        auc([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="3 values but y_true has 4"):
        auc([0, 1, 1, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="direction"):
        auc([0, 1], [0.1, 0.2], direction="up")


def test_bootstrap_matches_sklearn_per_resample_and_clusters():
    y, s = _sim(n=60, seed=7)
    r = bootstrap_auc_ci(y, s, n_boot=200, seed=1)
    assert r.auc == pytest.approx(roc_auc_score(y, s))
    assert r.ci_low < r.auc < r.ci_high
    assert r.n_boot + r.n_skipped == 200
    # the vectorised weighted AUC equals sklearn on the explicitly resampled rows
    from napari_plaque.qc.roc import _weighted_aucs

    rng = np.random.default_rng(2)
    idx = rng.integers(0, y.size, size=(20, y.size))
    w = np.stack([np.bincount(i, minlength=y.size) for i in idx]).astype(float)
    got = _weighted_aucs(y.astype(bool), s, w)
    want = [roc_auc_score(y[i], s[i]) for i in idx]
    np.testing.assert_allclose(got, want, atol=1e-12)
    # clusters: 15 patients x 4 lesions with a shared patient effect -> the clustered interval
    # is wider than the row interval
    rng = np.random.default_rng(9)
    patient = np.repeat(np.arange(15), 4)
    effect = rng.normal(scale=2.0, size=15)[patient]
    yc = (rng.random(60) < 1 / (1 + np.exp(-effect))).astype(int)
    sc = effect + rng.normal(scale=0.5, size=60)
    rows = bootstrap_auc_ci(yc, sc, n_boot=400, seed=0)
    clus = bootstrap_auc_ci(yc, sc, n_boot=400, seed=0, clusters=patient)
    assert clus.n_clusters == 15 and "clustered" in clus.method
    assert clus.ci_high - clus.ci_low > rows.ci_high - rows.ci_low


def test_delong_coverage_simulation():
    """Binormal simulation with known AUC = Phi(d / sqrt 2): the 95 % DeLong interval covers it
    in 90-99 % of 300 data sets of 80 cases (Monte-Carlo SE about 1.3 %)."""
    d = 1.0
    truth = stats.norm.cdf(d / np.sqrt(2))
    cover = 0
    for k in range(300):
        y, s = _sim(n=80, d=d, seed=100 + k)
        r = delong_auc_ci(y, s)
        cover += r.ci_low <= truth <= r.ci_high
    assert 0.90 <= cover / 300 <= 0.99
