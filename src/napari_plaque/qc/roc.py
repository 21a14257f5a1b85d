"""ROC analysis: curve, AUC, DeLong confidence interval, Youden cut-off, bootstrap CI.

Qt-free, numpy/scipy only. Shared by the paired-study statistics (``fusion.stats``) and the
chest-radiograph evaluation.

Conventions (pinned by ``tests/test_roc.py``)
---------------------------------------------
- ``y_true`` is binary: booleans, or two distinct values of which the larger (1, True) is the
  positive class. Both classes must be present; scores must be finite.
- Direction ``"higher"`` (default): larger scores predict the positive class, a case is called
  positive when ``score >= threshold``. ``"lower"``: smaller scores predict it, positive when
  ``score <= threshold``. A ``"lower"`` analysis is the ``"higher"`` one on ``-score``.
- AUC = P(score_pos > score_neg) + 0.5 P(tie), the Mann-Whitney statistic (equals the
  trapezoidal area under the empirical ROC curve; sklearn's ``roc_auc_score``).
- DeLong, DeLong & Clarke-Pearson (1988) variance of the AUC, computed with the fast midrank
  algorithm of Sun & Xu (2014, IEEE Signal Process Lett 21:1389): with ``Tz`` the midranks in the
  pooled sample and ``Tx``/``Ty`` the midranks within positives/negatives,
  ``V10_i = (Tz_i - Tx_i) / n``, ``V01_j = 1 - (Tz_j - Ty_j) / m`` and
  ``var = S10 / m + S01 / n`` (``S`` = sample variances, ddof=1). The interval is the normal
  (Wald) interval ``auc -+ z_{1-alpha/2} se`` clipped to [0, 1], as R's pROC ``ci.auc`` does.
  Checked in the tests against pROC's documented aSAH example (AUC 0.7314, 95 % CI
  0.6301-0.8326, DeLong) and against the DeLong structural components written from their
  definition.
- Youden cut-off: the threshold maximising J = sensitivity + specificity - 1 over the empirical
  ROC; the reported ``cutoff`` is the midpoint between that observed score and the next one on the
  negative side (SPSS and pROC report cut-offs this way, e.g. 461.5 HU in Zhao 2026); ties in J
  go to the more specific threshold.
- Bootstrap CI: percentile interval of the AUC over resamples of rows, or of whole clusters
  (patients) when ``clusters`` is given (the rows of a drawn cluster all come along; a cluster
  drawn k times counts k times). Resamples with one class only are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

DIRECTIONS = ("higher", "lower")

#: defaults shared by the callers (CLI help reads them)
DEFAULTS: dict[str, Any] = {
    "alpha": 0.05,
    "n_boot": 2000,
    "seed": 0,
}


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------


def _binary(y_true: Sequence | np.ndarray) -> np.ndarray:
    y = np.asarray(y_true).ravel()
    if y.size == 0:
        raise ValueError("y_true is empty")
    if y.dtype == bool:
        out = y
    else:
        if y.dtype.kind == "f" and np.any(~np.isfinite(y)):
            raise ValueError("y_true contains NaN or infinite values")
        values = np.unique(y)
        if values.size > 2:
            raise ValueError(
                f"y_true must be binary (two classes), got {values.size} distinct values"
            )
        out = y == values.max()
        if values.size == 1:
            out = np.zeros(y.shape, bool) if values[0] in (0, False) else np.ones(y.shape, bool)
    n_pos = int(out.sum())
    if n_pos == 0 or n_pos == out.size:
        cls = "positive" if n_pos == out.size else "negative"
        raise ValueError(
            f"ROC analysis needs both classes; all {out.size} cases are {cls} (one-class outcome)"
        )
    return out


def _scores(score: Sequence | np.ndarray, n: int, name: str = "score") -> np.ndarray:
    s = np.asarray(score, dtype=float).ravel()
    if s.size != n:
        raise ValueError(f"{name} has {s.size} values but y_true has {n}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains NaN or infinite values ({int((~np.isfinite(s)).sum())})")
    return s


def _direction(direction: str) -> float:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return 1.0 if direction == "higher" else -1.0


def _prepare(y_true, score, direction: str = "higher") -> tuple[np.ndarray, np.ndarray]:
    y = _binary(y_true)
    s = _scores(score, y.size) * _direction(direction)
    return y, s


# ---------------------------------------------------------------------------------------------
# curve and AUC
# ---------------------------------------------------------------------------------------------


def roc_curve(
    y_true: Sequence | np.ndarray, score: Sequence | np.ndarray, direction: str = "higher"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empirical ROC curve at every distinct score.

    Returns ``(fpr, tpr, thresholds)``: ``thresholds`` are the distinct scores ordered from the
    strictest to the most lenient cut-off (descending for ``"higher"``, ascending for
    ``"lower"``), preceded by ``+inf`` (``-inf`` for ``"lower"``) where nothing is called
    positive, so ``fpr[0] = tpr[0] = 0`` and ``fpr[-1] = tpr[-1] = 1``.
    """
    y, s = _prepare(y_true, score, direction)
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    y_sorted = y[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / y.sum()]
    fpr = np.r_[0.0, fps / (~y).sum()]
    sign = _direction(direction)
    thresholds = np.r_[np.inf, s_sorted[last]] * sign
    return fpr, tpr, thresholds


def auc(
    y_true: Sequence | np.ndarray, score: Sequence | np.ndarray, direction: str = "higher"
) -> float:
    """Area under the ROC curve from labels and scores (the Mann-Whitney statistic).

    Note: takes ``(y_true, score)`` like sklearn's ``roc_auc_score``, not ``(fpr, tpr)``.
    """
    y, s = _prepare(y_true, score, direction)
    m, n = int(y.sum()), int((~y).sum())
    ranks = stats.rankdata(s)
    return float((ranks[y].sum() - m * (m + 1) / 2.0) / (m * n))


# ---------------------------------------------------------------------------------------------
# DeLong
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AUCInterval:
    """An AUC with its standard error and confidence interval."""

    auc: float
    se: float
    ci_low: float
    ci_high: float
    alpha: float
    method: str
    n_pos: int
    n_neg: int
    n_boot: int | None = None  # bootstrap: resamples used
    n_skipped: int | None = None  # bootstrap: one-class resamples skipped
    n_clusters: int | None = None

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _structural_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sun & Xu (2014) fast DeLong: AUCs and the V10 / V01 components for k score rows."""
    pos, neg = scores[:, y], scores[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    tx = stats.rankdata(pos, axis=1)
    ty = stats.rankdata(neg, axis=1)
    tz = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def delong_covariance(
    y_true: Sequence | np.ndarray, scores: Sequence | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of k correlated scores (rows of a (k, N) array, direction "higher") and their
    DeLong covariance matrix (k, k)."""
    y = _binary(y_true)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    if s.shape[1] != y.size:
        raise ValueError(f"scores have shape {s.shape}; expected (k, {y.size})")
    for i, row in enumerate(s):
        _scores(row, y.size, name=f"score {i}")
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong variance needs at least 2 positives and 2 negatives, got {m} and {n}"
        )
    aucs, v10, v01 = _structural_components(y, s)
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aucs, s10 / m + s01 / n


def delong_auc_ci(
    y_true: Sequence | np.ndarray,
    score: Sequence | np.ndarray,
    alpha: float = DEFAULTS["alpha"],
    direction: str = "higher",
) -> AUCInterval:
    """AUC with DeLong's standard error and (1 - alpha) Wald interval clipped to [0, 1]."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    y, s = _prepare(y_true, score, direction)
    aucs, cov = delong_covariance(y, s[None, :])
    a = float(aucs[0])
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    z = float(stats.norm.ppf(1.0 - alpha / 2.0))
    return AUCInterval(
        auc=a,
        se=se,
        ci_low=max(0.0, a - z * se),
        ci_high=min(1.0, a + z * se),
        alpha=alpha,
        method="DeLong",
        n_pos=int(y.sum()),
        n_neg=int((~y).sum()),
    )


def delong_test(
    y_true: Sequence | np.ndarray, score_a: Sequence | np.ndarray, score_b: Sequence | np.ndarray
) -> dict[str, float]:
    """DeLong's test of two correlated AUCs (same cases): z, two-sided p, both AUCs."""
    y = _binary(y_true)
    s = np.vstack([_scores(score_a, y.size, "score_a"), _scores(score_b, y.size, "score_b")])
    aucs, cov = delong_covariance(y, s)
    var = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    diff = float(aucs[0] - aucs[1])
    if var <= 0:
        z, p = (0.0, 1.0) if diff == 0 else (float(np.sign(diff) * np.inf), 0.0)
    else:
        z = diff / float(np.sqrt(var))
        p = float(2.0 * stats.norm.sf(abs(z)))
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "z": float(z), "p": p}


# ---------------------------------------------------------------------------------------------
# Youden
# ---------------------------------------------------------------------------------------------


def youden_cutoff(
    y_true: Sequence | np.ndarray, score: Sequence | np.ndarray, direction: str = "higher"
) -> dict[str, Any]:
    """The Youden-optimal cut-off with its sensitivity and specificity.

    Returns ``cutoff`` (midpoint convention, see the module docstring), ``threshold`` (the
    observed score at which the optimum is reached), ``sensitivity``, ``specificity``,
    ``youden_j`` and ``direction``. With ``"higher"`` a case is positive when
    ``score > cutoff`` (equivalently ``score >= threshold``); with ``"lower"`` when
    ``score < cutoff``.
    """
    fpr, tpr, thr = roc_curve(y_true, score, direction)
    j = tpr - fpr
    j[0] = -np.inf  # nothing called positive: not a cut-off
    best = int(np.argmax(j))  # first maximum: the strictest (most specific) threshold
    threshold = float(thr[best])
    if best + 1 < thr.size:
        cutoff = 0.5 * (threshold + float(thr[best + 1]))
    else:  # every case called positive: no lower neighbour
        cutoff = threshold
    return {
        "cutoff": cutoff,
        "threshold": threshold,
        "sensitivity": float(tpr[best]),
        "specificity": float(1.0 - fpr[best]),
        "youden_j": float(j[best]),
        "direction": direction,
    }


# ---------------------------------------------------------------------------------------------
# bootstrap
# ---------------------------------------------------------------------------------------------


def _weighted_aucs(y: np.ndarray, s: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC for each row of case weights (B, N): sum w_i w_j [s_i > s_j + ties/2] / (Wp Wn)."""
    uniq, inv = np.unique(s, return_inverse=True)
    k = uniq.size
    wp = np.zeros((weights.shape[0], k))
    wn = np.zeros((weights.shape[0], k))
    np.add.at(wp.T, inv[y], weights[:, y].T)
    np.add.at(wn.T, inv[~y], weights[:, ~y].T)
    below = np.cumsum(wn, axis=1) - wn  # negative weight strictly below each value
    num = (wp * (below + 0.5 * wn)).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def bootstrap_auc_ci(
    y_true: Sequence | np.ndarray,
    score: Sequence | np.ndarray,
    n_boot: int = DEFAULTS["n_boot"],
    alpha: float = DEFAULTS["alpha"],
    clusters: Sequence | np.ndarray | None = None,
    seed: int | None = DEFAULTS["seed"],
    direction: str = "higher",
) -> AUCInterval:
    """Percentile bootstrap CI of the AUC, resampling rows or whole clusters (patients)."""
    if n_boot < 100:
        raise ValueError(f"n_boot must be at least 100, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    y, s = _prepare(y_true, score, direction)
    rng = np.random.default_rng(seed)
    if clusters is None:
        ids = np.arange(y.size)
        n_clusters = None
    else:
        c = np.asarray(clusters).ravel()
        if c.size != y.size:
            raise ValueError(f"clusters has {c.size} values but y_true has {y.size}")
        _, ids = np.unique(c, return_inverse=True)
        n_clusters = int(ids.max()) + 1
    k = int(ids.max()) + 1
    estimate = auc(y, s)
    kept: list[np.ndarray] = []
    chunk = max(1, min(n_boot, 4_000_000 // max(y.size, 1)))
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        draws = rng.integers(0, k, size=(b, k))
        flat = (np.arange(b)[:, None] * k + draws).ravel()
        counts = np.bincount(flat, minlength=b * k).reshape(b, k).astype(float)
        kept.append(_weighted_aucs(y, s, counts[:, ids]))
        done += b
    aucs = np.concatenate(kept)
    ok = np.isfinite(aucs)
    used = int(ok.sum())
    if used < 0.5 * n_boot:
        raise ValueError(
            f"only {used} of {n_boot} bootstrap resamples contain both classes; "
            "too few cases (or clusters) for a bootstrap interval"
        )
    lo, hi = np.quantile(aucs[ok], [alpha / 2.0, 1.0 - alpha / 2.0])
    return AUCInterval(
        auc=estimate,
        se=float(np.std(aucs[ok], ddof=1)),
        ci_low=float(lo),
        ci_high=float(hi),
        alpha=alpha,
        method="bootstrap (percentile)" + (", clustered" if clusters is not None else ""),
        n_pos=int(y.sum()),
        n_neg=int((~y).sum()),
        n_boot=used,
        n_skipped=int(n_boot - used),
        n_clusters=n_clusters,
    )


__all__ = [
    "AUCInterval",
    "DEFAULTS",
    "DIRECTIONS",
    "auc",
    "bootstrap_auc_ci",
    "delong_auc_ci",
    "delong_covariance",
    "delong_test",
    "roc_curve",
    "youden_cutoff",
]
