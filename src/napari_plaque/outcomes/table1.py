"""Table 1: baseline characteristics per group, with the test each kind of variable calls for.

Rules (each a parameter in :data:`TABLE1_DEFAULTS`):

- Kind: a numeric column with more than ``max_levels`` distinct values is continuous; a column
  with text values, or with at most ``max_levels`` distinct numbers (0/1 flags, classes), is
  categorical. ``categorical=[...]`` / ``continuous=[...]`` force the kind.
- Continuous: normal when the Shapiro-Wilk test does not reject (p >= ``normality_alpha``) in
  every group (groups of fewer than 3 values are not tested). Normal: mean +- SD (ddof 1), and
  Welch's t-test for two groups (unequal variances, the safer default) or one-way ANOVA for
  more. Otherwise: median (IQR, numpy's linear quartiles), and the Mann-Whitney U test (two
  groups, scipy's default method) or Kruskal-Wallis (more).
- Categorical: n (%) per level, percentages of the group's non-missing values. Pearson's
  chi-square (scipy ``chi2_contingency``, with Yates' correction for 2 x 2 tables, as R's
  ``chisq.test``), unless an expected count is below ``min_expected``: then Fisher's exact test
  (2 x 2: scipy ``fisher_exact``, two-sided; larger tables: the Fisher-Freeman-Halton test by a
  seeded Monte-Carlo of ``n_permutations`` label permutations, ``test`` says so).
- Missing values are left out and counted per variable (``missing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps
from scipy.special import gammaln

#: Table 1 rules (documented in the module docstring and docs/fusion.md)
TABLE1_DEFAULTS: dict[str, Any] = {
    "normality_alpha": 0.05,
    "min_expected": 5.0,
    "max_levels": 10,
    "n_permutations": 10000,
    "seed": 0,
}


def _is_missing(v: str) -> bool:
    from .table import MISSING

    return v.strip().lower() in MISSING


def _fmt_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fisher_freeman_halton(
    table: np.ndarray, n_permutations: int = 10000, seed: int = 0
) -> float:
    """Monte-Carlo p of Fisher's exact test for an r x c table (labels permuted, margins kept).

    p = (1 + #{tables at most as probable as the observed}) / (1 + n_permutations).
    """
    t = np.asarray(table, dtype=np.int64)
    rows = np.repeat(np.arange(t.shape[0]), t.sum(axis=1))
    cols = np.concatenate([np.repeat(np.arange(t.shape[1]), t[i]) for i in range(t.shape[0])])

    def logp(tab: np.ndarray) -> float:
        return float(-gammaln(tab + 1).sum())  # the margins' terms are constant

    obs = logp(t)
    rng = np.random.default_rng(seed)
    r, c = t.shape
    hits = 0
    for _ in range(int(n_permutations)):
        perm = rng.permutation(cols)
        tab = np.bincount(rows * c + perm, minlength=r * c).reshape(r, c)
        hits += logp(tab) <= obs + 1e-7
    return (1 + hits) / (1 + int(n_permutations))


@dataclass
class Table1:
    """Result of :func:`table1`; ``rows`` one per variable or category level."""

    group: str
    groups: list[str]
    n: dict[str, int]
    variables: list[dict[str, Any]]
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "groups": self.groups, "n": self.n,
                "variables": self.variables, "parameters": self.parameters}  # fmt: skip

    def rows(self) -> list[dict[str, Any]]:
        """Formatted CSV rows: variable, level, summary kind, one cell per group, p, test."""
        out = []
        head = {"variable": "n", "level": "", "summary": ""}
        out.append({**head, **{g: str(self.n[g]) for g in self.groups},
                    "all": str(sum(self.n.values())), "p": "", "test": "", "missing": ""})  # fmt: skip
        for v in self.variables:
            if v["kind"] == "continuous":
                out.append({"variable": v["name"], "level": "", "summary": v["summary"],
                            **{g: v["cells"][g] for g in self.groups}, "all": v["cells"]["all"],
                            "p": _fmt_p(v["p"]), "test": v["test"],
                            "missing": str(v["missing"])})  # fmt: skip
            else:
                for k, lv in enumerate(v["levels"]):
                    out.append({"variable": v["name"] if k == 0 else "", "level": lv,
                                "summary": "n (%)" if k == 0 else "",
                                **{g: v["cells"][g][k] for g in self.groups},
                                "all": v["cells"]["all"][k],
                                "p": _fmt_p(v["p"]) if k == 0 else "",
                                "test": v["test"] if k == 0 else "",
                                "missing": str(v["missing"]) if k == 0 else ""})  # fmt: skip
        return out

    def text(self) -> str:
        """The table as aligned plain text."""
        rows = self.rows()
        cols = ["variable", "level", "summary", *self.groups, "all", "p", "test"]
        hdr = {c: c for c in cols}
        hdr.update({g: f"{self.group}={g}" for g in self.groups})
        widths = {c: max(len(str(hdr[c])), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
        lines = ["  ".join(str(hdr[c]).ljust(widths[c]) for c in cols).rstrip()]
        lines.append("  ".join("-" * widths[c] for c in cols))
        for r in rows:
            lines.append("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols).rstrip())
        return "\n".join(lines)


def table1(
    table,
    group: str,
    variables: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    continuous: Sequence[str] = (),
    normality_alpha: float = TABLE1_DEFAULTS["normality_alpha"],
    min_expected: float = TABLE1_DEFAULTS["min_expected"],
    max_levels: int = TABLE1_DEFAULTS["max_levels"],
    n_permutations: int = TABLE1_DEFAULTS["n_permutations"],
    seed: int = TABLE1_DEFAULTS["seed"],
    digits: int = 1,
) -> Table1:
    """Baseline table of ``variables`` (default: every other column) per ``group``."""
    from .table import as_table

    t = as_table(table)
    if group not in t.columns:
        raise ValueError(f"{t._where()}no group column {group!r}; the table has "
                         f"{', '.join(t.names)}")  # fmt: skip
    graw = [str(v).strip() for v in t.columns[group]]
    gok = np.array([not _is_missing(v) for v in graw])
    groups = sorted({v for v, ok in zip(graw, gok, strict=True) if ok}, key=_natural)
    if len(groups) < 2:
        raise ValueError(
            f"{t._where()}group column {group!r} has a single group "
            f"({groups[0] if groups else 'none'}): Table 1 compares two or more"
        )
    if variables is None:
        variables = [c for c in t.names if c != group]
    for c in [*variables, *categorical, *continuous]:
        if c not in t.columns:
            raise ValueError(f"{t._where()}no column {c!r}; the table has {', '.join(t.names)}")
    both = set(categorical) & set(continuous)
    if both:
        raise ValueError(f"{', '.join(sorted(both))}: both categorical and continuous")
    garr = np.array(graw, dtype=object)
    n = {g: int(np.sum(gok & (garr == g))) for g in groups}
    out = []
    for name in variables:
        if name == group:
            continue
        raw = [str(v).strip() for v in t.columns[name]]
        present = [not _is_missing(v) for v in raw]
        kind = _kind(t, name, raw, present, categorical, continuous, max_levels)
        miss = int(np.sum(gok & ~np.array(present)))
        if kind == "continuous":
            x = t.numeric(name)
            out.append(_continuous(name, x, garr, gok, groups, normality_alpha, digits, miss))
        else:
            out.append(_categorical(name, raw, present, garr, gok, groups, min_expected,
                                    n_permutations, seed, miss))  # fmt: skip
    return Table1(
        group=group,
        groups=groups,
        n=n,
        variables=out,
        parameters={"normality_alpha": normality_alpha, "min_expected": min_expected,
                    "max_levels": max_levels, "n_permutations": n_permutations, "seed": seed},
    )  # fmt: skip


def _natural(v: str):
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def _kind(t, name, raw, present, categorical, continuous, max_levels) -> str:
    if name in categorical:
        return "categorical"
    values = {v for v, p in zip(raw, present, strict=True) if p}
    numeric = t.is_numeric(name)
    if name in continuous:
        if not numeric:
            raise ValueError(f"{t._where()}column {name!r} is not numeric; it cannot be continuous")
        return "continuous"
    if not numeric or len(values) <= max_levels:
        return "categorical"
    return "continuous"


def _continuous(name, x, garr, gok, groups, alpha, digits, miss) -> dict[str, Any]:
    samples = [x[gok & (garr == g) & np.isfinite(x)] for g in groups]
    if any(s.size == 0 for s in samples):
        empty = [g for g, s in zip(groups, samples, strict=True) if s.size == 0]
        raise ValueError(f"column {name!r} has no values in group(s) {', '.join(empty)}")
    normal_p = []
    for s in samples:
        if s.size >= 3 and np.ptp(s) > 0:
            normal_p.append(float(sps.shapiro(s[:5000]).pvalue))
    normal = all(p >= alpha for p in normal_p)
    allx = np.concatenate(samples)
    f = f"{{:.{digits}f}}"

    def cell(s):
        if normal:
            return f"{f.format(s.mean())} +- {f.format(s.std(ddof=1) if s.size > 1 else 0.0)}"
        q1, m, q3 = np.percentile(s, [25, 50, 75])
        return f"{f.format(m)} ({f.format(q1)}-{f.format(q3)})"

    p: float | None
    if normal:
        if len(groups) == 2:
            r = sps.ttest_ind(samples[0], samples[1], equal_var=False)
            test = "Welch t-test"
        else:
            r = sps.f_oneway(*samples)
            test = "one-way ANOVA"
    else:
        if len(groups) == 2:
            r = sps.mannwhitneyu(samples[0], samples[1], alternative="two-sided")
            test = "Mann-Whitney U"
        else:
            r = sps.kruskal(*samples)
            test = "Kruskal-Wallis"
    p = float(r.pvalue) if np.isfinite(r.pvalue) else None
    stats = {
        g: {"n": int(s.size), "mean": float(s.mean()),
            "sd": float(s.std(ddof=1)) if s.size > 1 else None,
            "median": float(np.median(s)), "q1": float(np.percentile(s, 25)),
            "q3": float(np.percentile(s, 75))}
        for g, s in zip(groups, samples, strict=True)
    }  # fmt: skip
    return {
        "name": name,
        "kind": "continuous",
        "normal": normal,
        "normality_p": normal_p,
        "summary": "mean +- SD" if normal else "median (IQR)",
        "cells": {**{g: cell(s) for g, s in zip(groups, samples, strict=True)},
                  "all": cell(allx)},  # fmt: skip
        "stats": stats,
        "p": p,
        "statistic": float(r.statistic),
        "test": test,
        "missing": miss,
    }


def _categorical(name, raw, present, garr, gok, groups, min_expected, n_perm, seed, miss):
    ok = gok & np.array(present)
    vals = np.array(raw, dtype=object)
    levels = sorted({v for v, k in zip(raw, ok, strict=True) if k}, key=_natural)
    if len(levels) < 2:
        return {"name": name, "kind": "categorical", "levels": levels,
                "cells": {**{g: [str(int(np.sum(ok & (garr == g))))] for g in groups},
                          "all": [str(int(ok.sum()))]},
                "counts": [[int(np.sum(ok & (garr == g))) for g in groups]],
                "p": None, "test": "one level only", "missing": miss}  # fmt: skip
    counts = np.array([[int(np.sum(ok & (garr == g) & (vals == lv))) for g in groups]
                       for lv in levels])  # fmt: skip
    colsum = counts.sum(axis=0)
    cells = {}
    for j, g in enumerate(groups):
        cells[g] = [f"{counts[i, j]} ({100 * counts[i, j] / colsum[j]:.1f})" if colsum[j] else
                    "0 (-)" for i in range(len(levels))]  # fmt: skip
    tot = counts.sum(axis=1)
    cells["all"] = [f"{tot[i]} ({100 * tot[i] / tot.sum():.1f})" for i in range(len(levels))]
    keep = colsum > 0
    c2 = counts[:, keep]
    expected = np.outer(c2.sum(axis=1), c2.sum(axis=0)) / c2.sum()
    small = bool((expected < min_expected).any())
    stat = None
    if c2.shape[1] < 2:
        p, test = None, "one group with values"
    elif not small:
        r = sps.chi2_contingency(c2, correction=True)
        p, stat = float(r.pvalue), float(r.statistic)
        test = "chi-square" + (" (Yates)" if c2.shape == (2, 2) else "")
    elif c2.shape == (2, 2):
        r = sps.fisher_exact(c2)
        p, test = float(r.pvalue), "Fisher's exact"
    else:
        p = fisher_freeman_halton(c2, n_perm, seed)
        test = f"Fisher-Freeman-Halton (Monte-Carlo, {n_perm} permutations)"
    return {
        "name": name,
        "kind": "categorical",
        "levels": levels,
        "cells": cells,
        "counts": counts.tolist(),
        "min_expected": float(expected.min()),
        "p": p,
        "statistic": stat,
        "test": test,
        "missing": miss,
    }
