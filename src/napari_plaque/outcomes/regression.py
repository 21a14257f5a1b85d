"""Design checks for the regression models, and lesion -> patient aggregation.

Why a model cannot be fitted is said as what it is:

- **collinear**: the design columns (with the intercept) are linearly dependent, or nearly so
  (the standardised columns' condition number above ``COLLINEAR_CONDITION``, or a VIF above
  ``COLLINEAR_VIF``: percentages rounded one by one no longer sum to exactly 100). The dependency is
  named from the singular vector of the smallest singular value, e.g.
  ``lipid_pct + fibrous_pct + calcium_pct = 100: drop one`` (the plaque percentages of the Zhao
  2026 model sum to 100);
- **constant**: a column that does not vary;
- **complete separation**: a linear combination of the columns splits the outcome groups
  exactly (a linear-programming feasibility check, scipy ``linprog``), so no finite maximum
  likelihood exists;
- **quasi-complete separation**: the fit drives some fitted probabilities to 0 or 1.

Near-collinearity short of that is a warning with the variance inflation factors (VIF > 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: condition number of the centred, scaled design above which it counts as collinear
COLLINEAR_CONDITION = 1e4
#: VIF (R^2 of a column on the others > 0.999) that counts as collinear (rounded percentages)
COLLINEAR_VIF = 1000.0
#: VIF above which a covariate is reported as near-collinear (warning only)
VIF_WARN = 10.0


def _relation(
    w: np.ndarray, names: Sequence[str], means: np.ndarray, X: np.ndarray
) -> tuple[str, float, float]:
    """Human-readable linear relation sum(w_j x_j) = c from raw-scale weights ``w``, with the
    largest deviation of the rows from it and the constant."""
    keep = w != 0
    wk = w[keep]
    scale = np.abs(wk).min()
    if wk[np.argmax(np.abs(wk))] < 0:
        scale = -scale
    wk = wk / scale
    const = float(np.sum(wk * means[keep]))
    terms = []
    for coef, name in zip(wk, np.asarray(names, dtype=object)[keep], strict=True):
        c = float(coef)
        mag = "" if abs(abs(c) - 1) < 0.01 else f"{abs(c):.3g} "
        sign = "-" if c < 0 else "+"
        terms.append((sign, f"{mag}{name}"))
    text = ("- " if terms[0][0] == "-" else "") + terms[0][1]
    for sign, term in terms[1:]:
        text += f" {sign} {term}"
    full = np.zeros_like(w)
    full[keep] = wk
    resid = float(np.max(np.abs(X @ full - const)))
    return f"{text} = {const:.4g}", resid, const


def collinearity(X: np.ndarray, names: Sequence[str]) -> dict[str, Any] | None:
    """None when the design ``X`` (rows x columns, no intercept) is of full rank, else a dict
    with ``kind`` ("constant" or "collinear"), ``columns`` and the ``message``."""
    X = np.asarray(X, float)
    names = list(names)
    sd = X.std(axis=0)
    const = [n for n, s in zip(names, sd, strict=True) if s <= 1e-12 * (1 + np.abs(X).max())]
    if const:
        return {"kind": "constant", "columns": const,
                "message": f"{', '.join(const)} constant in the analysed rows: drop it"}  # fmt: skip
    if X.shape[1] < 2:
        return None
    if X.shape[0] <= X.shape[1]:
        return {"kind": "collinear", "columns": names,
                "message": f"{X.shape[0]} rows for {X.shape[1]} columns: too few rows"}  # fmt: skip
    mu = X.mean(axis=0)
    Z = (X - mu) / sd
    _, s, vt = np.linalg.svd(Z, full_matrices=False)
    cond = float(s[0] / s[-1]) if s[-1] > 0 else float("inf")
    if cond < COLLINEAR_CONDITION and max(vif(X, names).values()) < COLLINEAR_VIF:
        return None
    v = vt[-1]
    keep = np.abs(v) > 0.1 * np.abs(v).max()
    w = np.where(keep, v / sd, 0.0)  # raw-scale weights: sum w_j (x_j - mu_j) ~ 0
    cols = [n for n, k in zip(names, keep, strict=True) if k]
    rel, resid, const = _relation(w, names, mu, X)
    tail = ""
    if resid > 1e-9 * (1 + abs(const)):  # near, not exact: say how near
        if resid > 1e-3 * (1 + abs(const)):
            rel = rel.replace(" = ", " ~ ", 1)
        tail = f" (the relation holds to within {resid:.3g}; condition number {cond:.3g})"
    return {
        "kind": "collinear",
        "columns": cols,
        "condition_number": cond,
        "relation": rel,
        "message": f"collinear design: {rel}: drop one of {', '.join(cols)}{tail}",
    }


def vif(X: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Variance inflation factor of each column (1 / (1 - R^2) on the others)."""
    X = np.asarray(X, float)
    out = {}
    for j, n in enumerate(names):
        others = np.delete(X, j, axis=1)
        if others.shape[1] == 0:
            out[n] = 1.0
            continue
        A = np.column_stack([np.ones(len(X)), others])
        beta, *_ = np.linalg.lstsq(A, X[:, j], rcond=None)
        resid = X[:, j] - A @ beta
        tss = float(np.sum((X[:, j] - X[:, j].mean()) ** 2))
        r2 = 1 - float(resid @ resid) / tss if tss > 0 else 1.0
        out[n] = float("inf") if r2 >= 1 else 1.0 / (1.0 - r2)
    return out


def complete_separation(X: np.ndarray, y: np.ndarray) -> bool:
    """True when some beta (with intercept) gives s_i * (b0 + x_i . b) >= 1 for all rows, s_i = +-1
    by outcome: the outcome groups are linearly separable (complete separation)."""
    from scipy.optimize import linprog

    X = np.asarray(X, float)
    A = np.column_stack([np.ones(len(X)), X])
    s = np.where(np.asarray(y) > 0.5, 1.0, -1.0)
    # scale columns so the LP is well conditioned
    sc = np.maximum(np.abs(A).max(axis=0), 1e-12)
    res = linprog(
        c=np.zeros(A.shape[1]),
        A_ub=-(s[:, None] * A / sc),
        b_ub=-np.ones(len(A)),
        bounds=[(None, None)] * A.shape[1],
        method="highs",
    )
    return bool(res.status == 0)


# ---------------------------------------------------------------------------------------------
# lesion -> patient
# ---------------------------------------------------------------------------------------------

AGGREGATIONS = ("max", "mean", "any")


def parse_aggregate(text: str) -> tuple[str, str]:
    """``"patient:max"`` -> ("patient", "max")."""
    if ":" not in text:
        raise ValueError(f"--aggregate {text!r}: write COLUMN:{'|'.join(AGGREGATIONS)}")
    col, how = (t.strip() for t in text.rsplit(":", 1))
    if how not in AGGREGATIONS or not col:
        raise ValueError(f"--aggregate {text!r}: write COLUMN:{'|'.join(AGGREGATIONS)}")
    return col, how


def aggregate(table, by: str, how: str, outcomes: Sequence[str] = ()):
    """One row per ``by`` value: numeric columns by ``how`` (``any`` = max, for 0/1 flags);
    ``outcomes`` (binary) are always "any lesion positive" (max). A text column keeps its value
    when it is the same on all the patient's rows, otherwise it is dropped.

    Returns ``(Table, info)`` with ``info`` = {by, how, rows_in, patients, dropped}.
    """
    from .table import MISSING, Table, as_table

    t = as_table(table)
    if by not in t.columns:
        raise ValueError(f"{t._where()}no column {by!r} to aggregate by; the table has "
                         f"{', '.join(t.names)}")  # fmt: skip
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; use one of {', '.join(AGGREGATIONS)}")
    keys = [str(v).strip() for v in t.columns[by]]
    order = list(dict.fromkeys(k for k in keys if k.lower() not in MISSING))
    idx = {k: [i for i, v in enumerate(keys) if v == k] for k in order}
    cols: dict[str, list[str]] = {by: order}
    dropped = []
    for name in t.names:
        if name == by:
            continue
        if t.is_numeric(name):
            x = t.numeric(name)
            f = np.nanmax if (how in ("max", "any") or name in outcomes) else np.nanmean
            vals = []
            for k in order:
                v = x[idx[k]]
                vals.append("" if not np.isfinite(v).any() else repr(float(f(v))))
            cols[name] = vals
        else:
            raw = t.columns[name]
            vals = []
            for k in order:
                seen = {raw[i] for i in idx[k]}
                if len(seen) != 1:
                    vals = None
                    break
                vals.append(next(iter(seen)))
            if vals is None:
                dropped.append(name)
            else:
                cols[name] = vals
    info = {"by": by, "how": how, "rows_in": t.n_rows, "patients": len(order), "dropped": dropped}
    return Table(cols, t.source), info
