"""Paired-study statistics over a per-lesion table (Zhao 2026 style: which CT metric predicts the
IVUS finding).

One row per lesion, many patients. For each predictor (a numeric column) and a binary outcome:

- ``n``, ``n_pos``, ``n_neg`` (rows where both the predictor and the outcome are present);
- per outcome group the median and IQR (``median_pos``, ``iqr_pos`` = [q1, q3], ``median_neg``,
  ``iqr_neg``; quartiles by linear interpolation, numpy's default = R type 7);
- ``mannwhitney_u`` and ``mannwhitney_p``: scipy's two-sided Mann-Whitney U test with its default
  method (exact for small samples without ties, otherwise the normal approximation with tie and
  continuity correction); U is the positive group's statistic;
- ``auc``, ``auc_ci95`` (DeLong), ``direction``: ``"higher"`` when larger values predict the
  outcome (AUC of the raw values >= 0.5), else ``"lower"``; the AUC is reported in the predicting
  direction (>= 0.5), as SPSS/pROC users read it;
- ``cutoff``, ``sensitivity``, ``specificity``: the Youden-optimal cut-off (midpoint between
  observed values, as in the 461.5 HU of the paper) in that direction;
- ``or``, ``or_ci95``, ``or_p``: univariable logistic regression (statsmodels ``Logit``, maximum
  likelihood, Wald 95 % CI) per one unit of the predictor, and ``or_per_sd`` per standard
  deviation; with ``adjust`` columns ``or_adjusted``, ``or_adjusted_ci95``, ``or_adjusted_p``
  from the model with the covariates (complete cases of predictor + covariates). A model that
  cannot be fitted gives null ORs with ``or_note`` saying why and ``or_problem`` naming it
  (``collinear`` with the dependency named, ``constant``, ``separation``, ``quasi-separation``,
  ``no convergence``; checks in :mod:`napari_plaque.outcomes.regression`) -- never a huge number
  that looks like a finding;
- with ``cluster`` (a patient column): ``auc_ci95_cluster_bootstrap`` (percentile bootstrap over
  patients) and cluster-robust (sandwich) logistic CIs (``or_ci_method``), since lesions of one
  patient are not independent -- the limitation the Zhao study states.

Also the Spearman correlation matrix between the predictors (pairwise complete rows), a ROC plot
(PNG, matplotlib Agg) and a Table-2-style CSV (``to_rows``); and :func:`linear_statistics` for a
continuous outcome (OLS, optional sqrt / log transform, the same design checks).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from ..outcomes.table import FALSE, MISSING, TRUE, Table, as_table
from ..qc import roc
from .defaults import STATS_DEFAULTS, TRANSFORMS  # (one home, light: the CLI reads them)

#: fewest clusters (patients) a ``cluster`` column may hold: fewer gives no cluster-robust error
MIN_CLUSTERS = 2


def _outcome(t: Table, name: str) -> np.ndarray:
    """Outcome column as 1.0 / 0.0 / NaN; ValueError when not binary."""
    if name not in t.columns:
        raise ValueError(
            f"{t._where()}no outcome column {name!r}; the table has {', '.join(t.names)}"
        )
    raw = [str(v).strip().lower() for v in t.columns[name]]
    present = sorted({v for v in raw if v not in MISSING})
    out = np.full(len(raw), np.nan)
    if set(present) <= TRUE | FALSE:
        for i, v in enumerate(raw):
            if v in TRUE:
                out[i] = 1.0
            elif v in FALSE:
                out[i] = 0.0
    else:
        raise ValueError(
            f"{t._where()}outcome column {name!r} must be binary (0/1, true/false, yes/no), "
            f"found values {present[:6]}"
        )
    n_pos = int(np.nansum(out))
    n_all = int(np.isfinite(out).sum())
    if n_pos == 0 or n_pos == n_all:
        which = "positive (1)" if n_pos == n_all else "negative (0)"
        raise ValueError(
            f"{t._where()}outcome {name!r} has one class only: all {n_all} rows are {which}; "
            "the statistics compare two groups"
        )
    return out


# ---------------------------------------------------------------------------------------------
# one predictor
# ---------------------------------------------------------------------------------------------


def _quartiles(x: np.ndarray) -> tuple[float, float, float]:
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    return float(med), float(q1), float(q3)


def _logit(
    y: np.ndarray,
    X: np.ndarray,
    groups: np.ndarray | None,
    alpha: float,
    names: Sequence[str] | None = None,
) -> dict:
    """Logistic fit: params, CI and p of column 1 (after the constant); notes on failure.

    Before fitting, the design is checked (``outcomes.regression``): a collinear design names
    the dependency ("lipid_pct + fibrous_pct + calcium_pct = 100: drop one"), complete
    separation is found by linear programming; after it, fitted probabilities at 0 or 1 are
    quasi-complete separation. ``problem`` says which ("collinear", "constant", "separation",
    "quasi-separation", "no convergence")."""
    import statsmodels.api as sm

    from ..outcomes.regression import VIF_WARN, collinearity, complete_separation, vif

    names = list(names) if names is not None else [f"x{i + 1}" for i in range(X.shape[1])]
    out: dict[str, Any] = {"coef": None, "ci": None, "p": None, "note": None, "problem": None}
    col = collinearity(X, names)
    if col:
        out.update(note=col["message"], problem=col["kind"])
        return out
    if complete_separation(X, y):
        out.update(
            note=f"complete separation: {' + '.join(names)} separate(s) the outcome groups "
            "exactly, no finite odds ratio",
            problem="separation",
        )
        return out
    if X.shape[1] > 1:
        v = vif(X, names)
        high = {k: round(val, 1) for k, val in v.items() if val > VIF_WARN}
        if high:
            out["vif_warning"] = (
                f"near-collinear covariates (VIF > {VIF_WARN:g}): "
                + ", ".join(f"{k} {val:g}" for k, val in high.items())
            )
    Xc = sm.add_constant(X, has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = sm.Logit(y, Xc)
            kw: dict[str, Any] = {"disp": 0, "method": "newton", "maxiter": 200}
            if groups is not None:
                kw.update(cov_type="cluster", cov_kwds={"groups": groups})
            res = model.fit(**kw)
    except Exception as exc:  # noqa: BLE001  (PerfectSeparationError, LinAlgError, ...)
        name = type(exc).__name__
        if "Separation" in name:
            out.update(note="quasi-complete separation: no finite odds ratio",
                       problem="quasi-separation")  # fmt: skip
        else:
            out.update(note=f"logistic fit failed ({name}: {exc})", problem="failed")
        return out
    params = np.asarray(res.params, float)
    bse = np.asarray(res.bse, float)
    converged = bool(res.mle_retvals.get("converged", True))
    fitted = np.asarray(res.predict(), float)
    quasi = bool(np.any((fitted < 1e-8) | (fitted > 1 - 1e-8)))
    big = abs(params[1]) * float(np.std(X[:, 0])) > 20  # OR per SD beyond e^20
    if quasi or big:
        out.update(
            note="quasi-complete separation: some rows are predicted with probability 0 or 1, "
            "the odds ratio is not estimable",
            problem="quasi-separation",
        )
        return out
    if not converged or not np.all(np.isfinite(params)) or not np.all(np.isfinite(bse)):
        out.update(note="logistic fit did not converge in 200 Newton iterations",
                   problem="no convergence")  # fmt: skip
        return out
    ci = np.asarray(res.conf_int(alpha=alpha), float)[1]
    out.update(coef=float(params[1]), ci=(float(ci[0]), float(ci[1])), p=float(res.pvalues[1]))
    return out


def _exp(v):
    if v is None:
        return None
    if isinstance(v, tuple):
        return [float(math.exp(v[0])), float(math.exp(v[1]))]
    return float(math.exp(v))


def predictor_statistics(
    x: np.ndarray,
    y: np.ndarray,
    covariates: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    alpha: float = STATS_DEFAULTS["alpha"],
    n_boot: int = STATS_DEFAULTS["n_boot"],
    seed: int | None = STATS_DEFAULTS["seed"],
    names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Statistics of one predictor ``x`` against a 0/1 outcome ``y`` (NaN rows dropped).

    ``names``: the predictor's and the covariates' column names (for the design messages)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if clusters is not None:
        ok &= np.array([c is not None and str(c).strip() != "" for c in clusters])
    xs, ys = x[ok], y[ok].astype(int)
    n_pos, n_neg = int(ys.sum()), int((1 - ys).sum())
    res: dict[str, Any] = {"n": int(ok.sum()), "n_pos": n_pos, "n_neg": n_neg}
    if n_pos < 2 or n_neg < 2:
        res["note"] = f"too few rows in a group (positive {n_pos}, negative {n_neg})"
        return res
    if np.ptp(xs) == 0:
        # one value for every row: no ranking, so no ROC, no cut-off and no odds ratio (an
        # AUC of 0.5 with a standard error of 0 would read as a measured result)
        res["note"] = f"constant predictor (every analysed row is {xs[0]:g}): nothing to compare"
        res["or_problem"] = "constant"
        return res
    pos, neg = xs[ys == 1], xs[ys == 0]
    mp, q1p, q3p = _quartiles(pos)
    mn, q1n, q3n = _quartiles(neg)
    res.update(median_pos=mp, iqr_pos=[q1p, q3p], median_neg=mn, iqr_neg=[q1n, q3n])
    mw = sps.mannwhitneyu(pos, neg, alternative="two-sided")
    res.update(mannwhitney_u=float(mw.statistic), mannwhitney_p=float(mw.pvalue))
    a_hi = roc.auc(ys, xs)
    direction = "higher" if a_hi >= 0.5 else "lower"
    ci = roc.delong_auc_ci(ys, xs, alpha=alpha, direction=direction)
    yd = roc.youden_cutoff(ys, xs, direction=direction)
    res.update(
        auc=ci.auc,
        auc_se=ci.se,
        auc_ci95=[ci.ci_low, ci.ci_high],
        direction=direction,
        cutoff=yd["cutoff"],
        sensitivity=yd["sensitivity"],
        specificity=yd["specificity"],
        youden_j=yd["youden_j"],
    )
    groups = None
    if clusters is not None:
        groups_raw = np.asarray(clusters, dtype=object)[ok]
        _, groups = np.unique(groups_raw.astype(str), return_inverse=True)
        b = roc.bootstrap_auc_ci(
            ys, xs, n_boot=n_boot, alpha=alpha, clusters=groups, seed=seed, direction=direction
        )
        res["auc_ci95_cluster_bootstrap"] = [b.ci_low, b.ci_high]
        res["n_clusters"] = int(b.n_clusters or 0)
        res["bootstrap_resamples"] = int(b.n_boot or 0)
    names = list(names) if names is not None else None
    uni = _logit(ys.astype(float), xs[:, None], groups, alpha, names[:1] if names else None)
    sd = float(np.std(xs, ddof=1))
    res.update(
        {
            "or": _exp(uni["coef"]),
            "or_ci95": _exp(uni["ci"]),
            "or_p": uni["p"],
            "or_per_sd": _exp(uni["coef"] * sd) if uni["coef"] is not None else None,
            "or_per_sd_ci95": (
                _exp((uni["ci"][0] * sd, uni["ci"][1] * sd)) if uni["ci"] is not None else None
            ),
            "sd": sd,
            "or_ci_method": "cluster-robust (patients)" if groups is not None else "Wald",
        }
    )
    if uni["note"]:
        res["or_note"] = uni["note"]
        res["or_problem"] = uni["problem"]
    if covariates is not None:
        cv = covariates[ok]
        keep = np.all(np.isfinite(cv), axis=1)
        Xa = np.column_stack([xs[keep], cv[keep]])
        ya = ys[keep].astype(float)
        if ya.sum() < 2 or (1 - ya).sum() < 2:
            res["or_adjusted_note"] = "too few complete rows for the adjusted model"
            res.update(or_adjusted=None, or_adjusted_ci95=None, or_adjusted_p=None)
        else:
            adj = _logit(ya, Xa, groups[keep] if groups is not None else None, alpha, names)
            res.update(
                or_adjusted=_exp(adj["coef"]),
                or_adjusted_ci95=_exp(adj["ci"]),
                or_adjusted_p=adj["p"],
                n_adjusted=int(keep.sum()),
            )
            if adj["note"]:
                res["or_adjusted_note"] = adj["note"]
                res["or_adjusted_problem"] = adj["problem"]
            if adj.get("vif_warning"):
                res["or_adjusted_warning"] = adj["vif_warning"]
    return res


# ---------------------------------------------------------------------------------------------
# the study
# ---------------------------------------------------------------------------------------------


@dataclass
class StudyStatistics:
    """Result of :func:`study_statistics`."""

    outcome: str
    n_rows: int
    n_pos: int
    n_neg: int
    predictors: dict[str, dict[str, Any]]
    correlation: dict[str, Any]
    adjust: list[str] = field(default_factory=list)
    cluster: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "n_rows": self.n_rows,
            "n_pos": self.n_pos,
            "n_neg": self.n_neg,
            "adjust": list(self.adjust),
            "cluster": self.cluster,
            "predictors": self.predictors,
            "correlation": self.correlation,
            "parameters": self.parameters,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """Table-2-style rows: one per predictor, numbers and formatted "median (IQR)" cells."""
        rows = []
        for name, r in self.predictors.items():
            row: dict[str, Any] = {"predictor": name, "n": r.get("n")}
            if "median_pos" in r:
                row[f"{self.outcome}=1 median (IQR)"] = _fmt_med(r["median_pos"], r["iqr_pos"])
                row[f"{self.outcome}=0 median (IQR)"] = _fmt_med(r["median_neg"], r["iqr_neg"])
            for k in (
                "median_pos",
                "median_neg",
                "mannwhitney_p",
                "auc",
                "auc_ci95",
                "auc_ci95_cluster_bootstrap",
                "direction",
                "cutoff",
                "sensitivity",
                "specificity",
                "or",
                "or_ci95",
                "or_p",
                "or_per_sd",
                "or_adjusted",
                "or_adjusted_ci95",
                "or_adjusted_p",
            ):
                if k not in r:
                    continue
                v = r[k]
                if isinstance(v, list):
                    row[f"{k}_low"], row[f"{k}_high"] = v
                else:
                    row[k] = v
            if "auc" in r:
                row["AUC (95% CI)"] = (
                    f"{r['auc']:.3f} ({r['auc_ci95'][0]:.3f}-{r['auc_ci95'][1]:.3f})"
                )
            if r.get("or") is not None:
                row["OR (95% CI)"] = _fmt_or(r["or"], r["or_ci95"])
            if r.get("or_adjusted") is not None:
                row["adjusted OR (95% CI)"] = _fmt_or(r["or_adjusted"], r["or_adjusted_ci95"])
            rows.append(row)
        return rows


def _fmt_med(m: float, iqr: Sequence[float]) -> str:
    return f"{m:.4g} ({iqr[0]:.4g}-{iqr[1]:.4g})"


def _fmt_or(v: float, ci: Sequence[float] | None) -> str:
    return f"{v:.3f} ({ci[0]:.3f}-{ci[1]:.3f})" if ci else f"{v:.3f}"


def _spearman(names: list[str], cols: dict[str, np.ndarray]) -> dict[str, Any]:
    k = len(names)
    rho = np.full((k, k), np.nan)
    p = np.full((k, k), np.nan)
    n = np.zeros((k, k), int)
    for i in range(k):
        for j in range(k):
            a, b = cols[names[i]], cols[names[j]]
            ok = np.isfinite(a) & np.isfinite(b)
            n[i, j] = int(ok.sum())
            if i == j:
                rho[i, j] = 1.0
                continue
            if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
                continue
            r = sps.spearmanr(a[ok], b[ok])
            rho[i, j], p[i, j] = float(r.statistic), float(r.pvalue)
    return {"method": "spearman", "names": names, "rho": rho.tolist(), "p": p.tolist(),
            "n": n.tolist()}  # fmt: skip



def _design_columns(t, outcome: str, predictors, adjust, cluster) -> tuple[list, list]:
    """The adjustment columns (each checked to exist, like the cluster column) and the
    predictors: those given, or every numeric column that is not the outcome, an adjustment
    or the cluster."""
    adjust = list(adjust or [])
    for name in [*adjust, *([cluster] if cluster else [])]:
        if name not in t.columns:
            raise ValueError(f"{t._where()}no column {name!r}; the table has {', '.join(t.names)}")
    if predictors is None:
        skip = {outcome, *adjust, *([cluster] if cluster else [])}
        predictors = [c for c in t.names if c not in skip and t.is_numeric(c)]
    return adjust, predictors

def study_statistics(
    table,
    outcome: str,
    predictors: Sequence[str] | None = None,
    adjust: Sequence[str] | None = None,
    cluster: str | None = None,
    alpha: float = STATS_DEFAULTS["alpha"],
    n_boot: int = STATS_DEFAULTS["n_boot"],
    seed: int | None = STATS_DEFAULTS["seed"],
) -> StudyStatistics:
    """Per-predictor statistics against a binary outcome (see the module docstring).

    ``table``: a CSV path (or a list of them, concatenated), a :class:`Table`, a dict of
    columns or a list of row dicts.
    ``predictors``: column names (default: every numeric column other than the outcome, the
    covariates and the cluster column).
    """
    t = as_table(table)
    y = _outcome(t, outcome)
    given = predictors is not None
    adjust, predictors = _design_columns(t, outcome, predictors, adjust, cluster)
    if not given and not predictors:
        raise ValueError(f"{t._where()}no numeric predictor columns besides {outcome!r}")
    predictors = list(predictors)
    for name in predictors:
        if name not in t.columns:
            raise ValueError(
                f"{t._where()}no predictor column {name!r}; the table has {', '.join(t.names)}"
            )
        if name == outcome:
            raise ValueError(f"the outcome {outcome!r} cannot also be a predictor")
    cols = {name: t.numeric(name) for name in predictors}
    cov = np.column_stack([t.numeric(c) for c in adjust]) if adjust else None
    clusters = np.asarray(t.columns[cluster], dtype=object) if cluster else None
    if clusters is not None:
        n_cl = len({str(c) for c in clusters})
        if n_cl < MIN_CLUSTERS:
            raise ValueError(
                f"{t._where()}cluster column {cluster!r} holds {n_cl} cluster(s): a cluster "
                f"bootstrap and cluster-robust errors need at least {MIN_CLUSTERS} (with one, "
                "every resample is the data and the interval has zero width)"
            )
    per: dict[str, dict[str, Any]] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in predictors:
        cv = cov
        if cov is not None and name in adjust:
            cv = np.delete(cov, adjust.index(name), axis=1) if len(adjust) > 1 else None
        covn = [c for c in adjust if c != name]
        r = predictor_statistics(
            cols[name], y, cv, clusters, alpha, n_boot, seed, names=[name, *covn]
        )
        per[name] = r
        if "auc" in r:
            ok = np.isfinite(cols[name]) & np.isfinite(y)
            fpr, tpr, _ = roc.roc_curve(y[ok], cols[name][ok], direction=r["direction"])
            curves[name] = (fpr, tpr)
    ok_y = np.isfinite(y)
    return StudyStatistics(
        outcome=outcome,
        n_rows=int(ok_y.sum()),
        n_pos=int(np.nansum(y)),
        n_neg=int(ok_y.sum() - np.nansum(y)),
        predictors=per,
        correlation=_spearman(predictors, cols),
        adjust=adjust,
        cluster=cluster,
        parameters={"alpha": alpha, "n_boot": n_boot, "seed": seed},
        curves=curves,
    )


def plot_roc(result: StudyStatistics, path: str | Path, title: str | None = None) -> Path:
    """ROC curves of every predictor with its AUC (DeLong CI) and Youden point, as PNG."""
    from matplotlib.figure import Figure  # no pyplot: no backend switch in a napari session

    from ..io.atomic import atomic_write_bytes

    fig = Figure(figsize=(5.2, 5.0), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
    for name, (fpr, tpr) in result.curves.items():
        r = result.predictors[name]
        lo, hi = r["auc_ci95"]
        arrow = "" if r["direction"] == "higher" else " (lower)"
        (line,) = ax.plot(
            fpr,
            tpr,
            lw=1.6,
            label=f"{name}{arrow}: {r['auc']:.3f} ({lo:.3f}-{hi:.3f})",
        )
        ax.plot(1 - r["specificity"], r["sensitivity"], "o", color=line.get_color(), ms=5)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_title(title or f"ROC for {result.outcome} (AUC, DeLong 95 % CI)", fontsize=10)
    ax.legend(loc="lower right", fontsize=7.5, frameon=True, framealpha=0.9)
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------------------------------
# linear models (a continuous outcome)
# ---------------------------------------------------------------------------------------------


def _transform(t: Table, name: str, y: np.ndarray, how: str) -> np.ndarray:
    if how == "none":
        return y
    ok = np.isfinite(y)
    if how == "sqrt":
        bad = ok & (y < 0)
        if bad.any():
            raise ValueError(f"{t._where()}outcome {name!r}: {int(bad.sum())} negative value(s), "
                             "no square root")  # fmt: skip
        return np.sqrt(y)
    if how == "log":
        bad = ok & (y <= 0)
        if bad.any():
            raise ValueError(f"{t._where()}outcome {name!r}: {int(bad.sum())} value(s) <= 0, "
                             "no logarithm (try --transform sqrt, or log(x + 1) in the table)")  # fmt: skip
        with np.errstate(invalid="ignore"):
            return np.log(y)
    raise ValueError(f"unknown transform {how!r}; use one of {', '.join(TRANSFORMS)}")


def _ols(y, X, groups, alpha, names) -> dict[str, Any]:
    """OLS coefficient of column 0 (after the constant) with CI and p; design checks first."""
    import statsmodels.api as sm

    from ..outcomes.regression import VIF_WARN, collinearity, vif

    out: dict[str, Any] = {"coef": None, "ci": None, "p": None, "note": None, "problem": None}
    col = collinearity(X, names)
    if col:
        out.update(note=col["message"], problem=col["kind"])
        return out
    if len(y) <= X.shape[1] + 1:
        out.update(note=f"{len(y)} rows for {X.shape[1]} predictors and the intercept",
                   problem="too few rows")  # fmt: skip
        return out
    Xc = sm.add_constant(X, has_constant="add")
    kw: dict[str, Any] = {}
    if groups is not None:
        kw = {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
    res = sm.OLS(y, Xc).fit(**kw)
    ci = np.asarray(res.conf_int(alpha=alpha), float)[1]
    out.update(coef=float(res.params[1]), ci=(float(ci[0]), float(ci[1])),
               p=float(res.pvalues[1]), r2=float(res.rsquared), n=int(len(y)))  # fmt: skip
    if X.shape[1] > 1:
        high = {k: v for k, v in vif(X, names).items() if v > VIF_WARN}
        if high:
            out["vif_warning"] = "near-collinear covariates (VIF > 10): " + ", ".join(
                f"{k} {v:.1f}" for k, v in high.items()
            )
    return out


def linear_statistics(
    table,
    outcome: str,
    predictors: Sequence[str] | None = None,
    adjust: Sequence[str] | None = None,
    cluster: str | None = None,
    transform: str = "none",
    alpha: float = STATS_DEFAULTS["alpha"],
) -> dict[str, Any]:
    """Linear regression of a continuous ``outcome`` (optionally sqrt / log transformed) on each
    predictor, univariable and adjusted; cluster-robust (sandwich) CIs with ``cluster``.

    Per predictor: ``coef``, ``coef_ci95``, ``p``, ``r2``, ``n`` and the ``adjusted_*`` fields;
    with ``transform="log"`` also ``ratio`` = exp(coef) (ratio of geometric means per unit).
    A collinear design gives ``note`` naming the dependency instead of numbers.
    """
    t = as_table(table)
    if outcome not in t.columns:
        raise ValueError(f"{t._where()}no outcome column {outcome!r}; the table has "
                         f"{', '.join(t.names)}")  # fmt: skip
    y = _transform(t, outcome, t.numeric(outcome), transform)
    adjust, predictors = _design_columns(t, outcome, predictors, adjust, cluster)
    clusters = np.asarray(t.columns[cluster], dtype=object) if cluster else None
    per: dict[str, dict[str, Any]] = {}
    for name in predictors:
        if name not in t.columns:
            raise ValueError(f"{t._where()}no predictor column {name!r}")
        covn = [c for c in adjust if c != name]
        r: dict[str, Any] = {}
        for label, cols in (("", [name]), ("adjusted_", [name, *covn])):
            if label and not covn:
                continue
            X = np.column_stack([t.numeric(c) for c in cols])
            ok = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
            g = None
            if clusters is not None:
                ok &= np.array([str(c).strip() != "" for c in clusters])
                _, g = np.unique(clusters[ok].astype(str), return_inverse=True)
            fit = _ols(y[ok], X[ok], g, alpha, cols)
            r[f"{label}n"] = int(ok.sum())
            r[f"{label}coef"] = fit["coef"]
            r[f"{label}coef_ci95"] = list(fit["ci"]) if fit["ci"] else None
            r[f"{label}p"] = fit["p"]
            if "r2" in fit:
                r[f"{label}r2"] = fit["r2"]
            if transform == "log" and fit["coef"] is not None:
                r[f"{label}ratio"] = float(math.exp(fit["coef"]))
                r[f"{label}ratio_ci95"] = [float(math.exp(v)) for v in fit["ci"]]
            if fit["note"]:
                r[f"{label}note"] = fit["note"]
                r[f"{label}problem"] = fit["problem"]
            if fit.get("vif_warning"):
                r[f"{label}warning"] = fit["vif_warning"]
        per[name] = r
    return {
        "outcome": outcome,
        "transform": transform,
        "adjust": adjust,
        "cluster": cluster,
        "ci_method": "cluster-robust (patients)" if cluster else "OLS",
        "predictors": per,
        "parameters": {"alpha": alpha},
    }
