"""Agreement statistics: ICC, Bland-Altman, Cohen's and Fleiss' kappa, correlations.

Pure numpy / scipy, no domain vocabulary: a leaf module that :mod:`napari_plaque.qc` (cohort
agreement, CAC categories) and :mod:`napari_plaque.ivus` (reader studies) both import.

Conventions
-----------
- ICC: two-way random effects, absolute agreement, single measure -- ICC(2,1) of Shrout &
  Fleiss (1979), ICC(A,1) of McGraw & Wong (1996) -- from the two-way ANOVA mean squares, with
  the McGraw & Wong (1996, case 2A) 95 % confidence interval (Satterthwaite degrees of freedom).
- Bland-Altman: differences ``a - b``; bias = mean difference; limits of agreement
  bias +- 1.96 SD (SD with ddof=1); approximate 95 % CIs of the bias (t-based, SE = SD/sqrt(n))
  and of each limit (SE = SD sqrt(3/n)), as in Bland & Altman (1986, 1999).
- Kappa: Cohen's kappa with linear weights ``w_ij = 1 - |i - j| / (k - 1)`` over the ordered
  categories (also reported unweighted), with the Fleiss, Cohen & Everitt (1969) asymptotic SE
  and 95 % CI ``kappa +- 1.96 SE`` (checked against statsmodels ``cohens_kappa``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def _pair(a: Any, b: Any, dtype: Any, at_least_2: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` flattened as ``dtype``; ValueError when their lengths differ, or (with
    ``at_least_2`` naming what needs them, e.g. "kappa needs at least 2 rated items") under 2."""
    x = np.asarray(a, dtype=dtype).ravel()
    y = np.asarray(b, dtype=dtype).ravel()
    if x.shape != y.shape:
        raise ValueError(f"a and b must have the same length, got {x.size} and {y.size}")
    if at_least_2 and x.size < 2:
        raise ValueError(f"{at_least_2}, got {x.size}")
    return x, y


def paired_values(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Two paired samples as float arrays (ValueError: lengths differ, fewer than 2, not finite)."""
    x, y = _pair(a, b, float, "agreement needs at least 2 paired values")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("agreement values must be finite numbers")
    return x, y


def icc_a1(ratings: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """ICC(2,1): two-way random, absolute agreement, single measure, with its CI.

    Parameters
    ----------
    ratings : ndarray, shape (n_subjects, k_raters)
        One row per case, one column per rater/method; no missing values.
    confidence : float
        Confidence level of the interval.

    Returns
    -------
    dict
        ``icc``, ``ci_low``, ``ci_high``, ``f`` (MSR/MSE), ``df1``, ``df2``, ``p`` (H0: ICC = 0),
        ``n``, ``k``, and the mean squares ``msr`` (subjects), ``msc`` (raters), ``mse``.
    """
    y = np.asarray(ratings, dtype=float)
    if y.ndim != 2 or y.shape[0] < 2 or y.shape[1] < 2:
        raise ValueError(f"ratings must be (n >= 2 subjects, k >= 2 raters), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("ratings must be finite numbers")
    n, k = y.shape
    grand = y.mean()
    ss_r = k * np.sum((y.mean(axis=1) - grand) ** 2)
    ss_c = n * np.sum((y.mean(axis=0) - grand) ** 2)
    ss_t = np.sum((y - grand) ** 2)
    ss_e = ss_t - ss_r - ss_c
    msr = ss_r / (n - 1)
    msc = ss_c / (k - 1)
    mse = ss_e / ((n - 1) * (k - 1))
    den = msr + (k - 1) * mse + k * (msc - mse) / n
    icc = (msr - mse) / den if den > 0 else float("nan")
    df1, df2 = n - 1, (n - 1) * (k - 1)
    f = msr / mse if mse > 0 else float("inf")
    lo, hi = _icc_a1_ci(icc, msr, msc, mse, n, k, confidence)
    return {
        **_icc_result(icc, lo, hi, f, df1, df2, n, k),
        "msr": float(msr),
        "msc": float(msc),
        "mse": float(mse),
    }


def _icc_result(icc, lo, hi, f, df1: int, df2: int, n: int, k: int) -> dict[str, Any]:
    """An ICC's fields, in order, with the F test's p (H0: ICC = 0)."""
    p = float(stats.f.sf(f, df1, df2)) if np.isfinite(f) else 0.0
    return {
        "icc": float(icc),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "f": float(f),
        "df1": int(df1),
        "df2": int(df2),
        "p": p,
        "n": int(n),
        "k": int(k),
    }


def _icc_a1_ci(
    icc: float, msr: float, msc: float, mse: float, n: int, k: int, confidence: float
) -> tuple[float, float]:
    """McGraw & Wong (1996) case 2A interval for ICC(A,1)."""
    if not np.isfinite(icc) or icc >= 1:
        return (float("nan"), float("nan"))
    alpha = 1.0 - confidence
    a = k * icc / (n * (1.0 - icc))
    b = 1.0 + k * icc * (n - 1) / (n * (1.0 - icc))
    v_num = (a * msc + b * mse) ** 2
    v_den = (a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1))
    if v_den <= 0:
        return (float("nan"), float("nan"))
    v = v_num / v_den
    f_up = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f_lo = stats.f.ppf(1 - alpha / 2, v, n - 1)
    c = k * msc + (k * n - k - n) * mse
    lower = n * (msr - f_up * mse) / (f_up * c + n * msr)
    upper = n * (f_lo * msr - mse) / (c + n * f_lo * msr)
    return float(lower), float(upper)


#: Bland-Altman difference scales
BA_SCALES = ("absolute", "log", "percent")


def bland_altman(
    a: Sequence[float],
    b: Sequence[float],
    loa_sd: float = 1.96,
    confidence: float = 0.95,
    scale: str = "absolute",
) -> dict[str, Any]:
    """Bland-Altman bias (mean of the differences), SD and limits of agreement, with CIs.

    ``scale``: "absolute" (``a - b``); "log" (``ln a - ln b``, both > 0; the bias and limits
    are also given back-transformed as ratios a / b: ``ratio_bias``, ``ratio_loa_low`` /
    ``ratio_loa_high``, for differences that grow with size, as plaque volume and CAC do);
    "percent" (``100 (a - b) / ((a + b) / 2)``, the mean of the pair nonzero).
    """
    x, y = paired_values(a, b)
    if scale == "absolute":
        d = x - y
    elif scale == "log":
        bad = int(np.sum((x <= 0) | (y <= 0)))
        if bad:
            raise ValueError(
                f"log Bland-Altman needs positive values; {bad} pair(s) hold a value <= 0 "
                "(use --ba-scale percent, or absolute)"
            )
        d = np.log(x) - np.log(y)
    elif scale == "percent":
        m = (x + y) / 2
        bad = int(np.sum(m == 0))
        if bad:
            raise ValueError(f"percentage Bland-Altman: {bad} pair(s) with a mean of 0")
        d = 100.0 * (x - y) / m
    else:
        raise ValueError(f"unknown Bland-Altman scale {scale!r}; use one of {BA_SCALES}")
    n = d.size
    bias = float(d.mean())
    sd = float(d.std(ddof=1))
    t = float(stats.t.ppf(0.5 + confidence / 2, n - 1))
    se_bias = sd / np.sqrt(n)
    se_loa = sd * np.sqrt(3.0 / n)
    lo, hi = bias - loa_sd * sd, bias + loa_sd * sd
    out: dict[str, Any] = {
        "n": int(n),
        "scale": scale,
        "bias": bias,
        "sd": sd,
        "loa_low": lo,
        "loa_high": hi,
        "bias_ci": [bias - t * se_bias, bias + t * se_bias],
        "loa_low_ci": [lo - t * se_loa, lo + t * se_loa],
        "loa_high_ci": [hi - t * se_loa, hi + t * se_loa],
        "loa_sd": float(loa_sd),
    }
    if scale == "log":
        out.update(
            ratio_bias=float(np.exp(bias)),
            ratio_bias_ci=[float(np.exp(v)) for v in out["bias_ci"]],
            ratio_loa_low=float(np.exp(lo)),
            ratio_loa_high=float(np.exp(hi)),
        )
    if scale == "absolute" and n >= 3 and np.ptp(x + y) > 0 and np.ptp(d) > 0:
        # proportional bias: do the differences grow with the size? (slope of d on the mean)
        r = stats.linregress((x + y) / 2, d)
        out["proportional_bias_slope"] = float(r.slope)
        out["proportional_bias_p"] = float(r.pvalue)
    return out


#: ICC forms of Shrout & Fleiss (1979): (model, unit)
ICC_FORMS = ("1,1", "2,1", "3,1", "1,k", "2,k", "3,k")


def icc(ratings: np.ndarray, form: str = "2,1", confidence: float = 0.95) -> dict[str, Any]:
    """Shrout & Fleiss (1979) intraclass correlation of one form, with its CI and F test.

    Forms: "1,1" one-way random; "2,1" two-way random, absolute agreement (= McGraw & Wong
    ICC(A,1), :func:`icc_a1`); "3,1" two-way mixed, consistency (ICC(C,1)); "1,k", "2,k",
    "3,k" the same for the mean of the k raters. CIs: the F-based intervals of Shrout & Fleiss
    / McGraw & Wong (ICC(2,1) with the Satterthwaite df; ICC(2,k) from the ICC(2,1) bounds by
    Spearman-Brown), as R ``psych::ICC`` prints them.
    """
    if form not in ICC_FORMS:
        raise ValueError(f"unknown ICC form {form!r}; use one of {', '.join(ICC_FORMS)}")
    base = icc_a1(ratings, confidence)  # validates; two-way mean squares
    y = np.asarray(ratings, dtype=float)
    n, k = y.shape
    msr, msc, mse = base["msr"], base["msc"], base["mse"]
    ss_w = float(np.sum((y - y.mean(axis=1, keepdims=True)) ** 2))
    msw = ss_w / (n * (k - 1))
    alpha = 1.0 - confidence
    nan = float("nan")
    model, unit = form.split(",")
    if model == "1":
        f = msr / msw if msw > 0 else float("inf")
        df1, df2 = n - 1, n * (k - 1)
        single = (msr - msw) / (msr + (k - 1) * msw)
        average = (msr - msw) / msr
        fl = f / stats.f.ppf(1 - alpha / 2, df1, df2)
        fu = f * stats.f.ppf(1 - alpha / 2, df2, df1)
        if unit == "1":
            value, lo, hi = single, (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
        else:
            value, lo, hi = average, 1 - 1 / fl, 1 - 1 / fu
    elif model == "3":
        f = base["f"]
        df1, df2 = n - 1, (n - 1) * (k - 1)
        fl = f / stats.f.ppf(1 - alpha / 2, df1, df2)
        fu = f * stats.f.ppf(1 - alpha / 2, df2, df1)
        if unit == "1":
            value = (msr - mse) / (msr + (k - 1) * mse)
            lo, hi = (fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1)
        else:
            value = (msr - mse) / msr
            lo, hi = 1 - 1 / fl, 1 - 1 / fu
    else:
        f = base["f"]
        df1, df2 = n - 1, (n - 1) * (k - 1)
        if unit == "1":
            value, lo, hi = base["icc"], base["ci_low"], base["ci_high"]
        else:
            value = (msr - mse) / (msr + (msc - mse) / n)
            l1, h1 = base["ci_low"], base["ci_high"]
            lo = k * l1 / (1 + (k - 1) * l1) if np.isfinite(l1) else nan
            hi = k * h1 / (1 + (k - 1) * h1) if np.isfinite(h1) else nan
    return {"form": f"ICC({form})", **_icc_result(value, lo, hi, f, df1, df2, n, k)}


def confusion(a_codes: np.ndarray, b_codes: np.ndarray, n_categories: int) -> np.ndarray:
    """Confusion matrix (rows: a, columns: b) of integer codes 0..n_categories-1."""
    a, b = _pair(a_codes, b_codes, np.int64)
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_categories):
        raise ValueError(f"category codes must lie in 0..{n_categories - 1}")
    return np.bincount(a * n_categories + b, minlength=n_categories**2).reshape(
        n_categories, n_categories
    )


def kappa_from_table(table: np.ndarray, weights: str | None = "linear") -> float:
    """Cohen's kappa from a k x k contingency table; ``weights`` None, "linear" or "quadratic"."""
    t = np.asarray(table, dtype=float)
    k = t.shape[0]
    if t.ndim != 2 or t.shape != (k, k) or k < 2:
        raise ValueError(f"kappa needs a square table with >= 2 categories, got {t.shape}")
    total = t.sum()
    if total <= 0:
        raise ValueError("kappa needs at least one rated case")
    p = t / total
    expected = np.outer(p.sum(axis=1), p.sum(axis=0))
    i, j = np.indices((k, k))
    if weights is None:
        disagree = (i != j).astype(float)
    elif weights == "linear":
        disagree = np.abs(i - j) / (k - 1)
    elif weights == "quadratic":
        disagree = ((i - j) / (k - 1)) ** 2
    else:
        raise ValueError(f"unknown kappa weights {weights!r}")
    exp_dis = float((disagree * expected).sum())
    obs_dis = float((disagree * p).sum())
    if exp_dis == 0:
        return 1.0 if obs_dis == 0 else float("nan")
    return 1.0 - obs_dis / exp_dis


def weighted_kappa(
    a_codes: Sequence[int],
    b_codes: Sequence[int],
    n_categories: int | None = None,
    weights: str | None = "linear",
) -> float:
    """Cohen's kappa of two ratings given as ordinal integer codes 0..k-1."""
    a = np.asarray(a_codes, dtype=np.int64)
    b = np.asarray(b_codes, dtype=np.int64)
    k = int(n_categories or max(int(a.max(initial=0)), int(b.max(initial=0))) + 1)
    return kappa_from_table(confusion(a, b, max(k, 2)), weights=weights)


def kappa_ci(
    table: np.ndarray, weights: str | None = "linear", confidence: float = 0.95
) -> dict[str, float]:
    """Kappa with its asymptotic standard error and confidence interval.

    Fleiss, Cohen & Everitt (1969) large-sample variance (the non-null one, as SAS PROC FREQ
    and statsmodels ``cohens_kappa`` report it); the interval is ``kappa +- z * SE``. NaN when
    the table has a single category in use (kappa undefined or the SE degenerate).
    """
    t = np.asarray(table, dtype=float)
    kappa = kappa_from_table(t, weights)
    k = t.shape[0]
    n = t.sum()
    p = t / n
    i, j = np.indices((k, k))
    if weights is None:
        w = (i == j).astype(float)
    elif weights == "linear":
        w = 1.0 - np.abs(i - j) / (k - 1)
    else:
        w = 1.0 - ((i - j) / (k - 1)) ** 2
    row, col = p.sum(axis=1), p.sum(axis=0)
    pe = float((w * np.outer(row, col)).sum())
    w_row = (w * col[None, :]).sum(axis=1)  # mean weight of row i
    w_col = (w * row[:, None]).sum(axis=0)  # mean weight of column j
    nan = float("nan")
    if not np.isfinite(kappa) or pe >= 1.0:
        return {"kappa": kappa, "se": nan, "ci_low": nan, "ci_high": nan}
    term = (p * (w - (w_row[:, None] + w_col[None, :]) * (1 - kappa)) ** 2).sum()
    var = (term - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    return {"kappa": kappa, "se": se, "ci_low": kappa - z * se, "ci_high": kappa + z * se}


def cohen_kappa(
    a: Sequence[Any],
    b: Sequence[Any],
    weights: str | None = None,
    categories: Sequence[Any] | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Cohen's kappa of two raters over the same items, with SE and CI (:func:`kappa_ci`).

    ``a`` and ``b`` may hold any labels (ints or strings). ``categories`` fixes the category
    order (needed for weighted kappa on non-integer labels); by default the sorted union of the
    labels seen. ``weights``: None (unweighted), "linear" or "quadratic".
    """
    x, y = _pair(a, b, object, "kappa needs at least 2 rated items")
    codes = _label_codes(x, y, categories)
    cats, ca, cb = codes
    k = max(len(cats), 2)
    table = confusion(ca, cb, k)
    out: dict[str, Any] = dict(kappa_ci(table, weights=weights, confidence=confidence))
    out.update(
        {"n": int(x.size), "weights": weights, "categories": [str(c) for c in cats]}
    )
    return out


def _label_codes(x: np.ndarray, y: np.ndarray, categories: Sequence[Any] | None):
    """(categories, codes of x, codes of y); vectorised when the labels sort together."""
    both = np.concatenate([x, y])
    try:
        xs, ys, b = (np.asarray(v.tolist()) for v in (x, y, both))
        if b.dtype.kind == "O":
            raise TypeError
        cats = np.unique(b) if categories is None else np.asarray(list(categories))
        order = np.argsort(cats, kind="stable")
        srt = cats[order]

        def code(v):
            pos = np.clip(np.searchsorted(srt, v), 0, len(srt) - 1)
            ok = srt[pos] == v
            return order[pos], ok

        (ca, oka), (cb, okb) = code(xs), code(ys)
        if not (oka.all() and okb.all()):
            bad = np.unique(np.concatenate([xs[~oka], ys[~okb]]))
            raise ValueError(f"labels not among the categories: {', '.join(map(str, bad))}")
        return [c.item() if hasattr(c, "item") else c for c in cats], ca, cb
    except TypeError:  # mixed label types: one dict lookup per label
        cats = list(categories) if categories is not None else sorted(set(both), key=str)
        index = {c: i for i, c in enumerate(cats)}
        unknown = sorted({str(v) for v in both if v not in index})
        if unknown:
            raise ValueError(f"labels not among the categories: {', '.join(unknown)}") from None
        return cats, np.array([index[v] for v in x]), np.array([index[v] for v in y])


def fleiss_counts(labels: np.ndarray | Sequence[Sequence[Any]]) -> tuple[np.ndarray, list[Any]]:
    """Items x categories count table from an items x raters label array (sorted categories)."""
    y = np.asarray(labels)
    if y.ndim != 2:
        raise ValueError(f"labels must be (n_items, n_raters), got shape {y.shape}")
    if y.dtype.kind not in "biuU":  # mixed objects: compare as text
        y = y.astype(str)
    lo = int(y.min()) if y.dtype.kind in "biu" and y.size else 0
    if y.dtype.kind in "biu" and y.size and int(y.max()) - lo < 1_000_000:
        present = np.bincount((y.astype(np.int64) - lo).ravel())  # no sort: small int codes
        cats = np.flatnonzero(present) + lo
        lookup = np.full(present.size, -1, dtype=np.int64)
        lookup[cats - lo] = np.arange(cats.size)
        inv = lookup[y.astype(np.int64) - lo]
    else:
        cats, inv = np.unique(y, return_inverse=True)
        inv = inv.reshape(y.shape)
    k = len(cats)
    rows = np.repeat(np.arange(y.shape[0]), y.shape[1])
    counts = np.bincount(rows * k + inv.ravel(), minlength=y.shape[0] * k).reshape(-1, k)
    return counts.astype(np.int64), [c.item() if hasattr(c, "item") else c for c in cats]


def fleiss_kappa(
    labels: np.ndarray | Sequence[Sequence[Any]] | None = None,
    *,
    counts: np.ndarray | None = None,
    confidence: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Fleiss' (1971) kappa for m raters assigning each of n items to one of k categories.

    Give either ``labels`` (shape (n_items, n_raters), any labels) or ``counts`` (shape
    (n_items, n_categories): how many raters put item i in category j; the same number of
    raters per item).

    Returns ``kappa``, ``p_observed`` (mean per-item agreement), ``p_expected``, the
    per-category kappas ``category_kappa``, the SE under H0 (kappa = 0) of Fleiss, Nee & Landis
    (1979) with its ``z`` and two-sided ``p`` (as R ``irr::kappam.fleiss``), and a percentile
    bootstrap CI over items (``ci_low``, ``ci_high``; ``n_boot`` resamples, seeded; NaN with
    ``n_boot=0``) with the bootstrap SE ``se_boot``, since the null SE does not give a
    confidence interval.
    """
    if (labels is None) == (counts is None):
        raise ValueError("give either labels (items x raters) or counts (items x categories)")
    if counts is None:
        c, cats = fleiss_counts(labels)
    else:
        c = np.asarray(counts)
        if c.ndim != 2 or np.any(c < 0) or not np.all(np.equal(np.mod(c, 1), 0)):
            raise ValueError("counts must be a non-negative integer (items x categories) table")
        c = c.astype(np.int64)
        cats = list(range(c.shape[1]))
    n, k = c.shape
    m_per = c.sum(axis=1)
    if n < 2:
        raise ValueError(f"Fleiss' kappa needs at least 2 items, got {n}")
    if np.any(m_per != m_per[0]) or m_per[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of raters for every item")
    m = int(m_per[0])
    kap, po, pe = _fleiss(c, m)
    pj = c.sum(axis=0) / (n * m)
    qj = 1.0 - pj
    pq = float(np.sum(pj * qj))
    nan = float("nan")
    if pq > 0:
        se0 = float(
            np.sqrt(2.0 / (n * m * (m - 1)))
            * np.sqrt(pq**2 - np.sum(pj * qj * (qj - pj)))
            / pq
        )
        z = kap / se0 if se0 > 0 else nan
        p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else nan
    else:
        se0 = z = p = nan
    with np.errstate(invalid="ignore", divide="ignore"):
        cat_k = 1.0 - np.sum(c * (m - c), axis=0) / (n * m * (m - 1) * pj * qj)
    lo = hi = se_boot = nan
    if n_boot and np.isfinite(kap):
        # resampling items = resampling their count patterns (items with the same pattern are
        # exchangeable for kappa): a multinomial draw over the distinct patterns, vectorised,
        # so A-line-level tables of millions of items stay fast
        base = m + 1
        if base ** c.shape[1] < 5_000_000:  # patterns as integer keys: a bincount, no sort
            key = c @ (base ** np.arange(c.shape[1], dtype=np.int64))
            freq_all = np.bincount(key)
            keys = np.flatnonzero(freq_all)
            freq = freq_all[keys]
            patterns = (keys[:, None] // base ** np.arange(c.shape[1])) % base
        else:
            patterns, freq = np.unique(c, axis=0, return_counts=True)
        rng = np.random.default_rng(seed)
        w = rng.multinomial(n, freq / n, size=int(n_boot)).astype(float)  # (B, patterns)
        pj_b = (w @ patterns) / (n * m)
        pi_pat = (np.sum(patterns.astype(float) ** 2, axis=1) - m) / (m * (m - 1))
        po_b = (w @ pi_pat) / n
        pe_b = np.sum(pj_b**2, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            kb = (po_b - pe_b) / (1.0 - pe_b)
        boots = kb[np.isfinite(kb) & (pe_b < 1.0)]
        if boots.size:
            alpha = 1.0 - confidence
            lo, hi = (float(v) for v in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
            se_boot = float(np.std(boots, ddof=1)) if boots.size > 1 else nan
    return {
        "kappa": kap,
        "p_observed": po,
        "p_expected": pe,
        "n": int(n),
        "raters": m,
        "categories": [str(v) for v in cats],
        "category_kappa": [float(v) for v in cat_k],
        "se0": se0,
        "se_boot": se_boot,
        "z": float(z),
        "p": p,
        "ci_low": lo,
        "ci_high": hi,
        "ci_method": f"percentile bootstrap over items ({int(n_boot)} resamples)",
    }


def _fleiss(c: np.ndarray, m: int) -> tuple[float, float, float]:
    n = c.shape[0]
    pj = c.sum(axis=0) / (n * m)
    pi = (np.sum(c * c, axis=1) - m) / (m * (m - 1))
    po = float(pi.mean())
    pe = float(np.sum(pj**2))
    if pe >= 1.0:
        return (1.0 if po >= 1.0 else float("nan")), po, pe
    return (po - pe) / (1.0 - pe), po, pe


def correlations(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Pearson r and Spearman rho with their p-values (NaN when a variable is constant)."""
    x, y = paired_values(a, b)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        nan = float("nan")
        return {"pearson_r": nan, "pearson_p": nan, "spearman_rho": nan, "spearman_p": nan}
    pr = stats.pearsonr(x, y)
    sr = stats.spearmanr(x, y)
    return {
        "pearson_r": float(pr[0]),
        "pearson_p": float(pr[1]),
        "spearman_rho": float(sr[0]),
        "spearman_p": float(sr[1]),
    }


__all__ = [
    "BA_SCALES",
    "ICC_FORMS",
    "bland_altman",
    "cohen_kappa",
    "confusion",
    "correlations",
    "fleiss_counts",
    "fleiss_kappa",
    "icc",
    "icc_a1",
    "kappa_ci",
    "kappa_from_table",
    "paired_values",
    "weighted_kappa",
]
