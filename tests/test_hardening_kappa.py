"""Linear weighted kappa confidence interval, checked against statsmodels."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.qc.agreement import agreement, kappa_ci, kappa_from_table


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("weights", ["linear", None])
def test_kappa_ci_matches_statsmodels(seed, weights):
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    table = rng.integers(0, 30, (k, k)) + np.diag(rng.integers(5, 60, k))
    ours = kappa_ci(table, weights)
    ref = (
        inter_rater.cohens_kappa(table, wt="linear" if weights else None)
        if weights
        else (inter_rater.cohens_kappa(table))
    )
    assert ours["kappa"] == pytest.approx(ref.kappa, abs=1e-12)
    assert ours["kappa"] == pytest.approx(kappa_from_table(table, weights), abs=1e-12)
    assert ours["se"] == pytest.approx(ref.std_kappa, rel=1e-9)
    assert ours["ci_low"] == pytest.approx(ref.kappa_low, rel=1e-9, abs=1e-12)
    assert ours["ci_high"] == pytest.approx(ref.kappa_upp, rel=1e-9, abs=1e-12)


def test_agreement_reports_the_linear_kappa_ci():
    rng = np.random.default_rng(3)
    a = rng.gamma(1.0, 150.0, 80)
    b = a * rng.normal(1.0, 0.2, 80)
    cat = agreement(a, b, "cacdrs")["categories"]
    lo, hi = cat["kappa_linear_ci"]
    assert lo < cat["kappa_linear"] < hi and cat["kappa_linear_se"] > 0
    assert hi - lo == pytest.approx(2 * 1.959964 * cat["kappa_linear_se"], rel=1e-5)


def test_kappa_ci_degenerate_table_is_nan_not_error():
    out = kappa_ci(np.array([[10, 0], [0, 0]]), "linear")
    assert out["kappa"] == 1.0 and np.isnan(out["se"])
