"""Cohort agreement: two methods or k readers scoring the same cases, CAC categories, IVUS.

:func:`agreement` (two methods) and :func:`reader_agreement` (k readers) combine the statistics
of the leaf module :mod:`napari_plaque.stats.agreement` (ICC, Bland-Altman, kappa,
correlations, re-exported here; its docstring gives their conventions) with the CAC category
schemes. Also the IVUS per-A-line comparison of two annotations (annotator vs annotator or
annotator vs model) and the agreement of their IVUS calcium scores (ICS) over a cohort of
pullbacks.

Categories: ``cacdrs``: A0 = 0, A1 = (0, 100), A2 = [100, 300), A3 >= 300; ``cac3``: "0",
"1-99" = (0, 100), "100-399" = [100, 400), ">=400". A score <= 0 is category 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..ccta.calcium import (
    CAC_CATEGORIES,
    CAC_CATEGORY_CUTS,
    CAC_DRS_CATEGORIES,
    CAC_DRS_CUTS,
)
from ..ivus.measure import ics
from ..stats.agreement import (  # noqa: F401 - the statistics, re-exported for importers
    BA_SCALES,
    ICC_FORMS,
    bland_altman,
    cohen_kappa,
    confusion,
    correlations,
    fleiss_counts,
    fleiss_kappa,
    icc,
    icc_a1,
    kappa_ci,
    kappa_from_table,
    paired_values,
    weighted_kappa,
)

#: category schemes: (upper-exclusive cut-points above 0, names), defined in ccta.calcium
CATEGORY_SCHEMES: dict[str, tuple[tuple[float, ...], tuple[str, ...]]] = {
    "cacdrs": (CAC_DRS_CUTS, CAC_DRS_CATEGORIES),
    "cac3": (CAC_CATEGORY_CUTS, CAC_CATEGORIES),
}


def categorize(scores: Sequence[float] | np.ndarray, scheme: str = "cacdrs") -> np.ndarray:
    """Ordinal category codes 0..3 for calcium scores (see module docstring for the bins)."""
    if scheme not in CATEGORY_SCHEMES:
        raise ValueError(
            f"unknown category scheme {scheme!r}; use one of {sorted(CATEGORY_SCHEMES)}"
        )
    s = np.asarray(scores, dtype=float)
    if np.any(np.isnan(s)):
        raise ValueError("cannot categorise NaN scores")
    cuts, _ = CATEGORY_SCHEMES[scheme]
    codes = np.where(s > 0, 1 + np.searchsorted(np.asarray(cuts), s, side="right"), 0)
    return codes.astype(np.int64)


def category_names(scheme: str) -> tuple[str, ...]:
    return CATEGORY_SCHEMES[scheme][1]


def reader_agreement(
    ratings: np.ndarray,
    names: Sequence[str],
    categories: str | None = None,
    reference: str | None = None,
    ba_scale: str = "absolute",
    n_boot: int = 1000,
) -> dict[str, Any]:
    """Agreement of k >= 2 readers / methods scoring the same cases (columns of ``ratings``).

    Returns ``icc`` (ICC(2,1), ICC(3,1) and ICC(2,k), each with CI, F and p), ``bland_altman``:
    each reader against ``reference`` (default: the first column) on ``ba_scale``, the
    per-reader means, and with ``categories`` the Fleiss kappa of the k readers' categories
    and each reader's linearly weighted Cohen kappa against the reference.
    """
    y = np.asarray(ratings, dtype=float)
    names = list(names)
    if y.ndim != 2 or y.shape[1] != len(names):
        raise ValueError(f"ratings must be (cases, {len(names)} readers), got {y.shape}")
    if len(set(names)) != len(names):
        raise ValueError(f"reader columns must differ, got {', '.join(names)}")
    ref = reference or names[0]
    if ref not in names:
        raise ValueError(f"reference {ref!r} is not among the readers {', '.join(names)}")
    r = names.index(ref)
    out: dict[str, Any] = {
        "n": int(y.shape[0]),
        "readers": names,
        "reference": ref,
        "means": {n: float(y[:, j].mean()) for j, n in enumerate(names)},
        "icc": {f: icc(y, f) for f in ("2,1", "3,1", "2,k")},
        "bland_altman": {
            n: bland_altman(y[:, j], y[:, r], scale=ba_scale)
            for j, n in enumerate(names)
            if j != r
        },
    }
    if categories:
        codes = np.column_stack([categorize(y[:, j], categories) for j in range(len(names))])
        cat_names = category_names(categories)
        fk = fleiss_kappa(codes, n_boot=n_boot)
        fk["categories"] = [cat_names[int(c)] for c in fk["categories"]]
        out["categories"] = {
            "scheme": categories,
            "fleiss_kappa": fk,
            "kappa_linear_vs_reference": {
                n: kappa_ci(confusion(codes[:, j], codes[:, r], len(cat_names)), "linear")
                for j, n in enumerate(names)
                if j != r
            },
        }
    return out


def agreement(
    a: Sequence[float],
    b: Sequence[float],
    categories: str | None = None,
    ba_scale: str = "absolute",
) -> dict[str, Any]:
    """Everything a paper reports for two methods scoring the same cases.

    Returns ``n``, ``mean_a``, ``mean_b``, ``icc`` (see :func:`icc_a1`), ``bland_altman``,
    correlations, and with ``categories`` ("cacdrs" or "cac3") a ``categories`` block with the
    names, the confusion matrix (rows a, columns b), the linearly weighted and unweighted kappa,
    the fraction of cases in the same category and the fraction reclassified.
    """
    x, y = paired_values(a, b)
    out: dict[str, Any] = {
        "n": int(x.size),
        "mean_a": float(x.mean()),
        "mean_b": float(y.mean()),
        "icc": icc_a1(np.column_stack([x, y])),
        "bland_altman": bland_altman(x, y, scale=ba_scale),
        **correlations(x, y),
    }
    if categories:
        ca, cb = categorize(x, categories), categorize(y, categories)
        names = category_names(categories)
        table = confusion(ca, cb, len(names))
        same = float(np.trace(table) / x.size)
        out["categories"] = {
            "scheme": categories,
            "names": list(names),
            "confusion": table.tolist(),
            "kappa_linear": kappa_from_table(table, "linear"),
            "kappa_linear_se": (kci := kappa_ci(table, "linear"))["se"],
            "kappa_linear_ci": [kci["ci_low"], kci["ci_high"]],
            "kappa": kappa_from_table(table, None),
            "agreement": same,
            "reclassified": 1.0 - same,
        }
    return out


# --------------------------------------------------------------------------- IVUS A-lines


def _aline_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a)
    y = np.asarray(b)
    if x.shape != y.shape:
        raise ValueError(f"A-line label arrays differ in shape: {x.shape} vs {y.shape}")
    if x.ndim != 2:
        raise ValueError(f"A-line labels must be (frames, A-lines), got shape {x.shape}")
    return x.astype(bool), y.astype(bool)


def aline_agreement(reference: np.ndarray, other: np.ndarray, n_worst: int = 10) -> dict[str, Any]:
    """Per-A-line comparison of two calcium annotations of one pullback.

    Parameters
    ----------
    reference, other : ndarray of bool, shape (frames, A-lines)
        Calcium-positive A-lines (e.g. annotator 1 and annotator 2 or the model); ``reference``
        is the truth for precision and recall.
    n_worst : int
        Number of frames listed in ``worst_frames``.

    Returns
    -------
    dict
        ``accuracy``, ``precision``, ``recall``, ``specificity``, ``dice``, ``kappa``
        (unweighted, A-line level), ``ics_reference``, ``ics_other``, ``per_frame_disagree``
        (A-lines per frame that differ), ``per_frame_disagree_deg`` (the same in degrees of
        arc) and ``worst_frames`` (list of dicts with ``index``, ``disagree_alines``,
        ``disagree_deg``, ``fp_alines``, ``fn_alines``).
    """
    r, o = _aline_pair(reference, other)
    n_alines = r.shape[1]
    tp = int(np.count_nonzero(r & o))
    fp = int(np.count_nonzero(~r & o))
    fn = int(np.count_nonzero(r & ~o))
    tn = int(r.size - tp - fp - fn)
    fp_f = np.count_nonzero(~r & o, axis=1)
    fn_f = np.count_nonzero(r & ~o, axis=1)
    dis = fp_f + fn_f
    deg = dis * (360.0 / n_alines)
    order = np.lexsort((np.arange(dis.size), -dis))
    order = order[dis[order] > 0][: max(int(n_worst), 0)]
    table = np.array([[tn, fp], [fn, tp]])
    return {
        "frames": int(r.shape[0]),
        "alines_per_frame": int(n_alines),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "accuracy": (tp + tn) / r.size,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "dice": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0,
        "kappa": kappa_from_table(table, None),
        "ics_reference": ics(r),
        "ics_other": ics(o),
        "per_frame_disagree": dis,
        "per_frame_disagree_deg": deg,
        "worst_frames": [
            {
                "index": int(i),
                "disagree_alines": int(dis[i]),
                "disagree_deg": float(deg[i]),
                "fp_alines": int(fp_f[i]),
                "fn_alines": int(fn_f[i]),
            }
            for i in order
        ],
    }


def ics_agreement(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], ics_cutoff: float = 85.0
) -> dict[str, Any]:
    """ICS agreement over a cohort of pullbacks, each given as (reference, other) A-line labels.

    Returns the per-pullback ICS values (``ics_reference``, ``ics_other``), the
    :func:`agreement` block on them (ICC, Bland-Altman, correlations), the pooled A-line
    accuracy/precision/recall over all pullbacks and the agreement on ICS >= ``ics_cutoff``
    (default 85, the median of the Erasmus MC cohort) as a 2x2 table with its kappa.
    """
    if len(pairs) < 2:
        raise ValueError(f"ICS agreement needs at least 2 pullbacks, got {len(pairs)}")
    ra, ob = [], []
    tp = fp = fn = tn = 0
    for ref, oth in pairs:
        r, o = _aline_pair(ref, oth)
        ra.append(ics(r))
        ob.append(ics(o))
        tp += int(np.count_nonzero(r & o))
        fp += int(np.count_nonzero(~r & o))
        fn += int(np.count_nonzero(r & ~o))
        tn += int(np.count_nonzero(~r & ~o))
    a, b = np.asarray(ra), np.asarray(ob)
    high = confusion((a >= ics_cutoff).astype(int), (b >= ics_cutoff).astype(int), 2)
    total = tp + fp + fn + tn
    return {
        "ics_reference": a.tolist(),
        "ics_other": b.tolist(),
        **agreement(a, b),
        "aline_accuracy": (tp + tn) / total,
        "aline_precision": tp / (tp + fp) if tp + fp else float("nan"),
        "aline_recall": tp / (tp + fn) if tp + fn else float("nan"),
        "ics_cutoff": float(ics_cutoff),
        "high_ics_confusion": high.tolist(),
        "high_ics_kappa": kappa_from_table(high, None),
    }
