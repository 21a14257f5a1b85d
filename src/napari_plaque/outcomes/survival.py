"""Time-to-event statistics on lifelines: Kaplan-Meier, log-rank, Cox, C-index, competing risks.

No estimator is written here; every curve and model is lifelines' (``KaplanMeierFitter``,
``multivariate_logrank_test``, ``CoxPHFitter``, ``proportional_hazard_test``,
``AalenJohansenFitter``, ``utils.concordance_index``). The tests check them against statsmodels
(``SurvfuncRight``, ``PHReg``) and against published examples.

Conventions
-----------
- Time is in the units of the time column (days in the source studies); an event column is
  0 = censored, 1 = the event. With a competing event, either a 0/1 column (1 = the competing
  event ended follow-up) or a code in the event column (``0`` censored, ``1`` event, ``CODE``
  competing).
- ``horizon``: administrative censoring at N time units: a time beyond it becomes N, censored
  (the IVUS calcium score study: 2191 days = 6 years).
- Kaplan-Meier CIs: lifelines' exponential Greenwood ("log-log") interval; the median
  survival CI from that band.
- Cox: Efron ties, Wald 95 % CI of the HR, Wald p. ``per``: HR per ``per`` units (the column
  is divided by ``per`` before the fit, so CI and p are exact). ``cut``: the predictor
  dichotomised as ``x >= cut`` (``median``: the median of the analysed rows).
- Schoenfeld: the Grambsch & Therneau test per covariate from lifelines'
  ``proportional_hazard_test`` (``rank`` time transform by default), and the global test from
  the same unscaled Schoenfeld residuals (the ``GLOBAL`` row of R's ``cox.zph`` before survival
  3.0): ``T = (g'R) V (R'g) d / (g'g)`` on p degrees of freedom, g the centred transformed event
  times, R the residuals, V the covariance of the coefficients, d the number of events.
- Harrell's C: risk = the predictor (or a model's linear predictor), higher = earlier event;
  tied risks count 1/2; percentile bootstrap CI over patients (the fitted model is not refitted
  in each resample: the interval is that of the apparent C of a fixed score).
- Competing risks: Aalen-Johansen cumulative incidence (lifelines' delta-method variance,
  ties broken by a seeded jitter of 1e-4 time units, as lifelines does); the cause-specific HR
  is the Cox model with the competing events censored.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: defaults of the survival statistics (the CLI reads them)
SURVIVAL_DEFAULTS: dict[str, Any] = {
    "alpha": 0.05,
    "n_boot": 500,
    "seed": 0,
    "time_transform": "rank",
}


# ---------------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------------


@dataclass
class SurvivalInput:
    """Validated follow-up: time, status (0 censored, 1 event, 2 competing) and the rows kept."""

    time: np.ndarray
    status: np.ndarray
    rows: np.ndarray  # indices into the table
    time_col: str
    event_col: str
    competing: str | None = None
    horizon: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def event(self) -> np.ndarray:
        return (self.status == 1).astype(int)


def _raw(t, name: str) -> list[str]:
    if name not in t.columns:
        raise ValueError(f"{t._where()}no column {name!r}; the table has {', '.join(t.names)}")
    return [str(v).strip() for v in t.columns[name]]


def _codes(t, name: str, allowed: set[int], what: str) -> np.ndarray:
    """An integer-coded column (NaN where missing); ValueError naming the column otherwise."""
    from .table import FALSE, MISSING, TRUE

    out = np.full(t.n_rows, np.nan)
    bad: list[str] = []
    for i, v in enumerate(_raw(t, name)):
        low = v.lower()
        if low in MISSING:
            continue
        if low in TRUE and low not in ("1", "1.0"):
            out[i] = 1.0
            continue
        if low in FALSE and low not in ("0", "0.0"):
            out[i] = 0.0
            continue
        try:
            f = float(v)
        except ValueError:
            f = math.nan
        if not math.isfinite(f) or f != int(f) or int(f) not in allowed:
            if v not in bad:
                bad.append(v)
            continue
        out[i] = f
    if bad:
        codes = "/".join(str(c) for c in sorted(allowed))
        raise ValueError(
            f"{t._where()}{what} column {name!r} must be coded {codes}, found "
            f"{', '.join(repr(b) for b in bad[:6])}"
        )
    return out


def survival_input(
    table,
    time: str,
    event: str,
    competing: str | int | None = None,
    horizon: float | None = None,
) -> SurvivalInput:
    """Check and read the follow-up columns (see the module docstring for the coding).

    Refuses (ValueError naming the column) text or negative times, an event column that is not
    0/1 (or 0/1/CODE with a competing code), a row with both the event and the competing event,
    a competing-event code or column never used, and a table without events. Rows with a
    missing time or event are dropped and said in ``warnings``.
    """
    from .table import as_table

    t = as_table(table)
    _raw(t, time)
    tt = t.numeric(time)  # names the column and row of a text cell
    neg = np.flatnonzero(tt < 0)
    if neg.size:
        raise ValueError(
            f"{t._where()}time column {time!r} has {neg.size} negative value(s) "
            f"(first at row {neg[0] + 1}: {tt[neg[0]]:g}); follow-up time must be >= 0"
        )
    comp_code: int | None = None
    comp_col: str | None = None
    if competing is not None:
        text = str(competing).strip()
        if text in t.columns:
            comp_col = text
        else:
            try:
                comp_code = int(text)
            except ValueError:
                raise ValueError(
                    f"{t._where()}--competing-event {text!r} is neither a column nor an integer "
                    f"code of the event column {event!r}"
                ) from None
            if comp_code in (0, 1):
                raise ValueError(
                    f"the competing-event code must differ from 0 (censored) and 1 (event of "
                    f"interest) in column {event!r}, got {comp_code}"
                )
    allowed = {0, 1} | ({comp_code} if comp_code is not None else set())
    ev = _codes(t, event, allowed, "event")
    status = ev.copy()
    if comp_code is not None:
        status[ev == comp_code] = 2
        if not np.any(ev == comp_code):
            raise ValueError(
                f"{t._where()}competing-event code {comp_code} is never used in the event column "
                f"{event!r}"
            )
    if comp_col is not None:
        if comp_col == event:
            raise ValueError(f"the competing-event column cannot be the event column {event!r}")
        cc = _codes(t, comp_col, {0, 1}, "competing-event")
        both = np.flatnonzero((cc == 1) & (ev == 1))
        if both.size:
            raise ValueError(
                f"{t._where()}row {both[0] + 1}: both the event {event!r} and the competing event "
                f"{comp_col!r} are 1; one event ends follow-up"
            )
        if not np.any(cc == 1):
            raise ValueError(
                f"{t._where()}competing-event column {comp_col!r} has no competing event (no 1)"
            )
        status[(cc == 1) & np.isfinite(ev)] = 2
        status[np.isnan(cc) & (ev == 0)] = np.nan  # unknown whether censored or competing
    ok = np.isfinite(tt) & np.isfinite(status)
    warn: list[str] = []
    if not ok.all():
        warn.append(
            f"{int((~ok).sum())} row(s) without a time ({time!r}) or event status dropped"
        )
    rows = np.flatnonzero(ok)
    tt, status = tt[ok], status[ok].astype(int)
    if horizon is not None:
        if not horizon > 0:
            raise ValueError(f"the horizon must be > 0, got {horizon:g}")
        late = tt > horizon
        status[late] = 0
        tt = np.minimum(tt, horizon)
    if not np.any(status == 1):
        raise ValueError(
            f"{t._where()}event column {event!r} has no event (no 1)"
            + (f" up to the horizon {horizon:g}" if horizon is not None else "")
        )
    return SurvivalInput(
        time=tt.astype(float),
        status=status,
        rows=rows,
        time_col=time,
        event_col=event,
        competing=None if competing is None else str(competing),
        horizon=None if horizon is None else float(horizon),
        warnings=warn,
    )


# ---------------------------------------------------------------------------------------------
# Kaplan-Meier and log-rank
# ---------------------------------------------------------------------------------------------


def _step_at(index: np.ndarray, values: np.ndarray, t: float) -> float:
    """Value of a right-continuous step function (lifelines' timeline) at time t."""
    i = int(np.searchsorted(index, t, side="right")) - 1
    return float(values[max(i, 0)])


def kaplan_meier(
    time: np.ndarray,
    event: np.ndarray,
    alpha: float = SURVIVAL_DEFAULTS["alpha"],
    at: Sequence[float] = (),
    label: str = "all",
) -> dict[str, Any]:
    """Kaplan-Meier of one group: median survival with CI and survival / event rate at ``at``.

    Returns ``n``, ``events``, ``median`` (None when survival stays above 0.5),
    ``median_ci``, ``at`` (list of {time, survival, ci, cumulative_event, at_risk}) and the
    curve (``timeline``, ``survival``, ``ci_low``, ``ci_high``) for plots.
    """
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    kmf = KaplanMeierFitter(alpha=alpha, label=label)
    kmf.fit(np.asarray(time, float), np.asarray(event, int))
    tl = kmf.survival_function_.index.to_numpy(float)
    s = kmf.survival_function_.iloc[:, 0].to_numpy(float)
    ci = kmf.confidence_interval_survival_function_.to_numpy(float)
    med = float(kmf.median_survival_time_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mci = median_survival_times(kmf.confidence_interval_).to_numpy(float).ravel()
    rows = []
    for a in at:
        sv = _step_at(tl, s, a)
        lo, hi = _step_at(tl, ci[:, 0], a), _step_at(tl, ci[:, 1], a)
        rows.append(
            {
                "time": float(a),
                "survival": sv,
                "survival_ci": [lo, hi],
                "cumulative_event": 1.0 - sv,
                "cumulative_event_ci": [1.0 - hi, 1.0 - lo],
                "at_risk": int(np.sum(np.asarray(time) >= a)),
            }
        )
    fin = [float(v) if math.isfinite(v) else None for v in mci]
    return {
        "label": label,
        "n": int(len(time)),
        "events": int(np.sum(event)),
        "median": med if math.isfinite(med) else None,
        "median_ci": fin,
        "at": rows,
        "timeline": tl,
        "survival": s,
        "ci_low": ci[:, 0],
        "ci_high": ci[:, 1],
        "_times": np.asarray(time, float),
    }


def logrank(time: np.ndarray, event: np.ndarray, groups: Sequence[Any]) -> dict[str, Any]:
    """Log-rank test of k >= 2 groups (lifelines ``multivariate_logrank_test``)."""
    from lifelines.statistics import multivariate_logrank_test

    g = np.asarray([str(v) for v in groups])
    levels = sorted(set(g))
    if len(levels) < 2:
        raise ValueError(f"the log-rank test needs >= 2 groups, got {levels}")
    r = multivariate_logrank_test(np.asarray(time, float), g, np.asarray(event, int))
    return {
        "chi2": float(r.test_statistic),
        "df": int(r.degrees_of_freedom),
        "p": float(r.p_value),
        "groups": levels,
    }


# ---------------------------------------------------------------------------------------------
# Cox
# ---------------------------------------------------------------------------------------------


def _cox_fit(df, alpha: float):
    """lifelines' Cox fit; a fit that does not converge is retried with shorter Newton steps,
    then refused (ValueError naming the covariates) -- never returned as a number."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    names = [c for c in df.columns if c not in ("_time", "_event")]
    for options in (None, {"step_size": 0.2, "max_steps": 1000}):
        cph = CoxPHFitter(alpha=alpha)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                cph.fit(df, duration_col="_time", event_col="_event", fit_options=options)
            except ConvergenceError:
                continue
        if not any(issubclass(w.category, ConvergenceWarning) for w in caught):
            return cph
    raise ValueError(
        f"the Cox model on {', '.join(names)} did not converge (lifelines Newton-Raphson): "
        "either the likelihood is monotone (a covariate orders the events perfectly: "
        "separation, no finite hazard ratio) or a covariate is heavily skewed (try its "
        "logarithm, or --per / --cut)"
    )


def schoenfeld_tests(
    cph, df, time_transform: str = SURVIVAL_DEFAULTS["time_transform"]
) -> dict[str, Any]:
    """Per-covariate Grambsch-Therneau tests (lifelines) and the global test (module doc)."""
    from lifelines.statistics import proportional_hazard_test
    from scipy import stats as sps

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaled = cph.compute_residuals(df, "scaled_schoenfeld")
        res = proportional_hazard_test(
            cph, df, time_transform=time_transform, precomputed_residuals=scaled
        )
        resid = cph.compute_residuals(df, "schoenfeld")
    summ = res.summary
    per = {
        str(name): {"chi2": float(summ.loc[name, "test_statistic"]), "p": float(summ.loc[name, "p"])}
        for name in summ.index
    }
    # global: the same residuals and transform (lifelines' TimeTransformers on the model's
    # sorted durations, as its per-covariate test), all covariates at once
    from lifelines.statistics import TimeTransformers

    events = cph.event_observed
    times = TimeTransformers().get(time_transform)(cph.durations, events, cph.weights)
    g = np.asarray(times, float)[np.asarray(events, bool)]
    g = g - g.mean()
    r = resid[list(cph.params_.index)].to_numpy(float)
    v = cph.variance_matrix_.to_numpy(float)
    d = r.shape[0]
    u = g @ r
    chi2 = float(u @ v @ u * d / float(g @ g))
    k = r.shape[1]
    return {
        "time_transform": time_transform,
        "covariates": per,
        "global": {"chi2": chi2, "df": int(k), "p": float(sps.chi2.sf(chi2, k))},
    }


def cox_model(
    time: np.ndarray,
    event: np.ndarray,
    covariates: Mapping[str, np.ndarray],
    alpha: float = SURVIVAL_DEFAULTS["alpha"],
    time_transform: str = SURVIVAL_DEFAULTS["time_transform"],
) -> dict[str, Any]:
    """Cox PH of ``time``/``event`` on the named covariates (complete rows).

    Returns ``n``, ``events``, ``terms`` ({name: hr, hr_ci, p, coef, se}), ``concordance``
    (apparent Harrell's C of the fitted model), ``log_likelihood``, ``schoenfeld`` and, for
    :func:`c_index`, the linear predictor ``_lp`` with its rows ``_rows`` (not for JSON).
    Refuses (ValueError naming the columns) fewer events than covariates.
    """
    import pandas as pd

    names = list(covariates)
    X = np.column_stack([np.asarray(covariates[n], float) for n in names])
    ok = np.all(np.isfinite(X), axis=1)
    df = pd.DataFrame(X[ok], columns=names)
    df["_time"] = np.asarray(time, float)[ok]
    df["_event"] = np.asarray(event, int)[ok]
    n_ev = int(df["_event"].sum())
    if n_ev < len(names):
        raise ValueError(
            f"{n_ev} event(s) in the {int(ok.sum())} complete rows but {len(names)} covariates "
            f"({', '.join(names)}): fewer events than covariates, the model is not estimable"
        )
    for n in names:
        if np.ptp(df[n].to_numpy()) == 0:
            raise ValueError(f"covariate {n!r} is constant in the complete rows")
    cph = _cox_fit(df, alpha)
    ci = np.exp(cph.confidence_intervals_.to_numpy(float))
    terms = {}
    for i, n in enumerate(names):
        terms[n] = {
            "hr": float(np.exp(cph.params_[n])),
            "hr_ci": [float(ci[i, 0]), float(ci[i, 1])],
            "p": float(cph.summary.loc[n, "p"]),
            "coef": float(cph.params_[n]),
            "se": float(cph.standard_errors_[n]),
        }
    sch = schoenfeld_tests(cph, df, time_transform)
    lp = cph.predict_log_partial_hazard(df[names]).to_numpy(float)
    out = {
        "n": int(ok.sum()),
        "events": n_ev,
        "terms": terms,
        "concordance": float(cph.concordance_index_),
        "log_likelihood": float(cph.log_likelihood_),
        "schoenfeld": sch,
        "_lp": lp,
        "_rows": np.flatnonzero(ok),
    }
    if n_ev < 10 * len(names):
        out["warning"] = (
            f"{n_ev} events for {len(names)} covariates (fewer than 10 per covariate): "
            "the estimates may be unstable"
        )
    return out


# ---------------------------------------------------------------------------------------------
# concordance
# ---------------------------------------------------------------------------------------------


def c_index(
    time: np.ndarray,
    event: np.ndarray,
    risk: np.ndarray,
    n_boot: int = SURVIVAL_DEFAULTS["n_boot"],
    alpha: float = SURVIVAL_DEFAULTS["alpha"],
    seed: int | None = SURVIVAL_DEFAULTS["seed"],
) -> dict[str, Any]:
    """Harrell's C of a risk score (higher = earlier event) with a percentile bootstrap CI."""
    from lifelines.utils import concordance_index

    t = np.asarray(time, float)
    e = np.asarray(event, int)
    r = np.asarray(risk, float)
    ok = np.isfinite(t) & np.isfinite(r)
    t, e, r = t[ok], e[ok], r[ok]
    if e.sum() < 1:
        raise ValueError("the C-index needs at least one event")
    c = float(concordance_index(t, -r, e))
    lo = hi = None
    done = 0
    if n_boot:
        rng = np.random.default_rng(seed)
        vals = []
        n = t.size
        for _ in range(int(n_boot)):
            i = rng.integers(0, n, n)
            if e[i].sum() == 0:
                continue
            try:
                vals.append(concordance_index(t[i], -r[i], e[i]))
            except ZeroDivisionError:  # no admissible pair in this resample
                continue
        done = len(vals)
        if vals:
            lo, hi = (float(v) for v in np.quantile(vals, [alpha / 2, 1 - alpha / 2]))
    return {
        "c_index": c,
        "ci": [lo, hi] if lo is not None else None,
        "n": int(t.size),
        "events": int(e.sum()),
        "bootstrap_resamples": done,
        "ci_method": "percentile bootstrap over rows, score fixed",
    }


# ---------------------------------------------------------------------------------------------
# competing risks
# ---------------------------------------------------------------------------------------------


def cumulative_incidence(
    time: np.ndarray,
    status: np.ndarray,
    cause: int = 1,
    alpha: float = SURVIVAL_DEFAULTS["alpha"],
    at: Sequence[float] = (),
    seed: int = SURVIVAL_DEFAULTS["seed"],
    label: str = "all",
) -> dict[str, Any]:
    """Aalen-Johansen cumulative incidence of ``cause`` (status 0 censored, 1, 2 ...)."""
    from lifelines import AalenJohansenFitter

    st = np.asarray(status, int)
    if not np.any(st == cause):
        return {"label": label, "cause": int(cause), "events": 0, "at": [],
                "timeline": np.array([0.0]), "cif": np.array([0.0])}  # fmt: skip
    ajf = AalenJohansenFitter(alpha=alpha, seed=seed, calculate_variance=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ajf.fit(np.asarray(time, float), st, event_of_interest=int(cause))
    tl = ajf.cumulative_density_.index.to_numpy(float)
    cif = ajf.cumulative_density_.iloc[:, 0].to_numpy(float)
    ci = ajf.confidence_interval_.to_numpy(float)
    rows = []
    for a in at:
        rows.append(
            {
                "time": float(a),
                "cumulative_incidence": _step_at(tl, cif, a),
                "ci": [_step_at(tl, ci[:, 0], a), _step_at(tl, ci[:, 1], a)],
            }
        )
    return {"label": label, "cause": int(cause), "events": int(np.sum(st == cause)), "at": rows,
            "timeline": tl, "cif": cif}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the study
# ---------------------------------------------------------------------------------------------


def parse_assignments(items: Sequence[str] | None, what: str) -> dict[str, str]:
    """``["ics=100", "age=10"]`` (or one comma-separated string) -> {"ics": "100", ...}."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise ValueError(f"{what} {part!r}: write COLUMN=VALUE")
            k, v = (s.strip() for s in part.split("=", 1))
            if not k or not v:
                raise ValueError(f"{what} {part!r}: write COLUMN=VALUE")
            out[k] = v
    return out


@dataclass
class Term:
    """One predictor as it enters a model: a column, maybe per k units or dichotomised."""

    name: str  # term name in the model and the output
    column: str
    values: np.ndarray  # over the analysed rows
    per: float | None = None
    cut: float | None = None
    cut_rule: str | None = None

    def describe(self) -> str:
        if self.cut is not None:
            return f"{self.column} >= {self.cut:g}" + (
                f" ({self.cut_rule})" if self.cut_rule else ""
            )
        return f"{self.column} per {self.per:g}" if self.per else f"{self.column} per unit"


def _terms(t, rows, predictors, per, cut) -> list[Term]:
    terms: list[Term] = []
    for col in predictors:
        if col not in t.columns:
            raise ValueError(
                f"{t._where()}no predictor column {col!r}; the table has {', '.join(t.names)}"
            )
        x = t.numeric(col)[rows]
        if not np.any(np.isfinite(x)):
            raise ValueError(f"{t._where()}predictor column {col!r} has no values")
        if col in cut:
            spec = cut[col]
            rule = None
            if spec.lower() == "median":
                c = float(np.nanmedian(x))
                rule = "median"
            else:
                try:
                    c = float(spec)
                except ValueError:
                    raise ValueError(f"--cut {col}={spec}: give a number or 'median'") from None
            xb = np.where(np.isfinite(x), (x >= c).astype(float), np.nan)
            terms.append(Term(f"{col}>={c:g}", col, xb, cut=c, cut_rule=rule))
        if col in per or col not in cut:
            k = None
            if col in per:
                try:
                    k = float(per[col])
                except ValueError:
                    raise ValueError(f"--per {col}={per[col]}: give a number") from None
                if not k > 0:
                    raise ValueError(f"--per {col}={per[col]}: must be > 0")
            terms.append(Term(col, col, x / k if k else x, per=k))
    for col in set(per) | set(cut):
        if col not in predictors:
            raise ValueError(f"--per/--cut name {col!r}, which is not among the predictors")
    return terms


def _check_groups(labels: np.ndarray, event: np.ndarray, what: str) -> list[str]:
    ok = np.array([v is not None and v == v and str(v) != "" for v in labels])
    levels = sorted({str(v) for v in labels[ok]})
    if len(levels) < 2:
        raise ValueError(
            f"{what} has a single group ({levels[0] if levels else 'none'}): "
            "a comparison needs two or more"
        )
    for lv in levels:
        sel = ok & (np.array([str(v) for v in labels]) == lv)
        if event[sel].sum() == 0:
            raise ValueError(f"{what}: no events in group {lv} ({int(sel.sum())} rows)")
    return levels


@dataclass
class SurvivalStudy:
    """Result of :func:`survival_study`; ``to_dict`` is the JSON (curves left out)."""

    input: dict[str, Any]
    groups: dict[str, Any] | None
    kaplan_meier: list[dict[str, Any]]
    logrank: dict[str, Any] | None
    cox: dict[str, dict[str, Any]]
    competing: dict[str, Any] | None
    parameters: dict[str, Any]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        def strip(d):
            if isinstance(d, dict):
                return {
                    k: strip(v)
                    for k, v in d.items()
                    if not k.startswith("_") and not isinstance(v, np.ndarray)
                }
            if isinstance(d, list):
                return [strip(v) for v in d]
            return d

        return strip(
            {
                "input": self.input,
                "groups": self.groups,
                "kaplan_meier": self.kaplan_meier,
                "logrank": self.logrank,
                "cox": self.cox,
                "competing": self.competing,
                "parameters": self.parameters,
                "warnings": self.warnings,
            }
        )

    def cox_rows(self) -> list[dict[str, Any]]:
        """One row per predictor term: univariable and adjusted HR (CI, p), C-index, PH test."""
        rows = []
        for name, r in self.cox.items():
            u = r["univariable"]
            row: dict[str, Any] = {
                "predictor": name,
                "describes": r["describes"],
                "n": u["n"],
                "events": u["events"],
                "hr": u["hr"],
                "hr_low": u["hr_ci"][0],
                "hr_high": u["hr_ci"][1],
                "p": u["p"],
                "HR (95% CI)": _fmt_hr(u["hr"], u["hr_ci"]),
                "schoenfeld_p": u["schoenfeld_p"],
            }
            c = r.get("c_index")
            if c:
                row["c_index"] = c["c_index"]
                row["c_index_low"], row["c_index_high"] = c["ci"] or (None, None)
            a = r.get("adjusted")
            if a:
                row.update(
                    {
                        "adjusted_hr": a["hr"],
                        "adjusted_hr_low": a["hr_ci"][0],
                        "adjusted_hr_high": a["hr_ci"][1],
                        "adjusted_p": a["p"],
                        "adjusted HR (95% CI)": _fmt_hr(a["hr"], a["hr_ci"]),
                        "adjusted_n": a["n"],
                        "adjusted_schoenfeld_global_p": a["schoenfeld"]["global"]["p"],
                    }
                )
                if a.get("c_index"):
                    row["adjusted_c_index"] = a["c_index"]["c_index"]
            rows.append(row)
        return rows

    def km_rows(self) -> list[dict[str, Any]]:
        rows = []
        for g in self.kaplan_meier:
            base = {"group": g["label"], "n": g["n"], "events": g["events"],
                    "median": g["median"], "median_low": g["median_ci"][0],
                    "median_high": g["median_ci"][1]}  # fmt: skip
            if not g["at"]:
                rows.append(base)
            for a in g["at"]:
                rows.append(
                    {
                        **base,
                        "time": a["time"],
                        "at_risk": a["at_risk"],
                        "survival": a["survival"],
                        "survival_low": a["survival_ci"][0],
                        "survival_high": a["survival_ci"][1],
                        "cumulative_event": a["cumulative_event"],
                    }
                )
        return rows


def _fmt_hr(v: float, ci: Sequence[float]) -> str:
    return f"{v:.2f} ({ci[0]:.2f}-{ci[1]:.2f})"


def survival_study(
    table,
    time: str,
    event: str,
    *,
    predictors: Sequence[str] = (),
    group: str | None = None,
    adjust: Sequence[str] = (),
    per: Mapping[str, str] | None = None,
    cut: Mapping[str, str] | None = None,
    horizon: float | None = None,
    competing: str | int | None = None,
    at: Sequence[float] = (),
    c_index_boot: int = SURVIVAL_DEFAULTS["n_boot"],
    alpha: float = SURVIVAL_DEFAULTS["alpha"],
    seed: int | None = SURVIVAL_DEFAULTS["seed"],
    time_transform: str = SURVIVAL_DEFAULTS["time_transform"],
) -> SurvivalStudy:
    """Kaplan-Meier (per group), log-rank, Cox per predictor (univariable and adjusted),
    Schoenfeld tests, C-index and, with ``competing``, cumulative incidence.

    KM groups: ``group`` (a column), else the first dichotomised predictor, else one curve.
    Every check runs before anything is computed (see :func:`survival_input`); a group without
    events, a single group, a non-numeric covariate or fewer events than covariates is refused.
    """
    from .table import as_table

    t = as_table(table)
    per = dict(per or {})
    cut = dict(cut or {})
    si = survival_input(t, time, event, competing, horizon)
    ev = si.event
    predictors = list(predictors)
    adjust = list(adjust)
    for c in [*predictors, *adjust]:
        if c in (time, event, si.competing):
            raise ValueError(f"column {c!r} is the follow-up itself; it cannot be a covariate")
    terms = _terms(t, si.rows, predictors, per, cut)
    adj_vals = {}
    for c in adjust:
        if c not in t.columns:
            raise ValueError(f"{t._where()}no covariate column {c!r}; the table has "
                             f"{', '.join(t.names)}")  # fmt: skip
        adj_vals[c] = t.numeric(c)[si.rows]
    # groups for KM / log-rank
    glabels = None
    gname = None
    if group:
        gname = group
        glabels = np.asarray(_raw(t, group), dtype=object)[si.rows]
        glabels = np.where(np.isin(glabels, ["", "NA", "nan"]), None, glabels)
    else:
        for term in terms:
            if term.cut is not None:
                gname = term.name
                glabels = np.array(
                    [None if not np.isfinite(v) else (f"{term.column}>={term.cut:g}" if v else
                     f"{term.column}<{term.cut:g}") for v in term.values], dtype=object
                )  # fmt: skip
                break
    # checks before any computation
    levels = None
    if glabels is not None:
        levels = _check_groups(glabels, ev, f"group {gname!r}")
    for term in terms:
        if term.cut is not None:
            lab = np.array([None if not np.isfinite(v) else str(int(v)) for v in term.values],
                           dtype=object)  # fmt: skip
            _check_groups(lab, ev, f"predictor {term.describe()}")
        n_terms = 1 + len(adjust)
        ok = np.isfinite(term.values)
        for c in adjust:
            ok &= np.isfinite(adj_vals[c])
        if ev[ok].sum() < n_terms:
            names = ", ".join([term.name, *adjust])
            raise ValueError(
                f"{int(ev[ok].sum())} event(s) in the complete rows of {names}: fewer events "
                f"than covariates ({n_terms})"
            )
    if not terms and glabels is None and not at:
        pass  # a single KM curve is still a result
    warn = list(si.warnings)
    # Kaplan-Meier
    at = list(at) or ([si.horizon] if si.horizon else [])
    km = []
    if glabels is not None:
        for lv in levels:
            sel = np.array([str(v) == lv for v in glabels])
            km.append(kaplan_meier(si.time[sel], ev[sel], alpha, at, label=lv))
        ok = np.array([v is not None for v in glabels])
        lr = logrank(si.time[ok], ev[ok], [str(v) for v in glabels[ok]])
    else:
        km.append(kaplan_meier(si.time, ev, alpha, at, label="all"))
        lr = None
    # Cox per term
    cox: dict[str, dict[str, Any]] = {}
    for term in terms:
        uni = cox_model(si.time, ev, {term.name: term.values}, alpha, time_transform)
        entry: dict[str, Any] = {
            "describes": term.describe(),
            "column": term.column,
            "per": term.per,
            "cut": term.cut,
            "cut_rule": term.cut_rule,
            "univariable": {
                **uni["terms"][term.name],
                "n": uni["n"],
                "events": uni["events"],
                "schoenfeld_p": uni["schoenfeld"]["covariates"][term.name]["p"],
                "schoenfeld": uni["schoenfeld"],
            },
        }
        if "warning" in uni:
            warn.append(f"{term.name}: {uni['warning']}")
        risk = term.values
        entry["c_index"] = c_index(si.time, ev, risk, c_index_boot, alpha, seed)
        if adjust:
            covs = {term.name: term.values, **adj_vals}
            adj = cox_model(si.time, ev, covs, alpha, time_transform)
            rows = adj.pop("_rows")
            lp = adj.pop("_lp")
            entry["adjusted"] = {
                **adj["terms"][term.name],
                "n": adj["n"],
                "events": adj["events"],
                "covariates": adj["terms"],
                "schoenfeld": adj["schoenfeld"],
                "c_index": c_index(si.time[rows], ev[rows], lp, c_index_boot, alpha, seed),
            }
            if "warning" in adj:
                warn.append(f"{term.name} adjusted: {adj['warning']}")
        cox[term.name] = entry
    # competing risks
    comp = None
    if si.competing is not None:
        comp = {"cause_specific": True, "groups": []}
        if glabels is not None:
            for lv in levels:
                sel = np.array([str(v) == lv for v in glabels])
                comp["groups"].append(
                    {
                        "event": cumulative_incidence(si.time[sel], si.status[sel], 1, alpha, at,
                                                      seed or 0, lv),  # fmt: skip
                        "competing": cumulative_incidence(si.time[sel], si.status[sel], 2, alpha,
                                                          at, seed or 0, lv),  # fmt: skip
                    }
                )
        else:
            comp["groups"].append(
                {
                    "event": cumulative_incidence(si.time, si.status, 1, alpha, at, seed or 0),
                    "competing": cumulative_incidence(si.time, si.status, 2, alpha, at, seed or 0),
                }
            )
        comp["n_competing"] = int(np.sum(si.status == 2))
        comp["note"] = (
            "Cox hazard ratios are cause-specific (competing events censored); 1 - Kaplan-Meier "
            "overstates the event risk when competing events occur, read the cumulative incidence"
        )
    return SurvivalStudy(
        input={
            "time": time,
            "event": event,
            "competing": si.competing,
            "horizon": si.horizon,
            "n": int(si.time.size),
            "events": int(ev.sum()),
            "competing_events": int(np.sum(si.status == 2)),
            "censored": int(np.sum(si.status == 0)),
            "follow_up_max": float(si.time.max()),
            "follow_up_median_reverse_km": _reverse_km_median(si.time, ev),
        },
        groups={"name": gname, "levels": levels} if levels else None,
        kaplan_meier=km,
        logrank=lr,
        cox=cox,
        competing=comp,
        parameters={"alpha": alpha, "n_boot": c_index_boot, "seed": seed, "adjust": adjust,
                    "time_transform": time_transform, "at": at},  # fmt: skip
        warnings=warn,
    )


def _reverse_km_median(time: np.ndarray, event: np.ndarray) -> float | None:
    """Median follow-up by the reverse Kaplan-Meier (censoring as the event)."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(time, 1 - np.asarray(event))
    m = float(kmf.median_survival_time_)
    return m if math.isfinite(m) else None


# ---------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------


def plot_km(
    study: SurvivalStudy,
    path: str | Path,
    title: str | None = None,
    n_ticks: int = 6,
    cumulative: bool = False,
) -> Path:
    """Kaplan-Meier curves (with CI bands), the log-rank p and the numbers at risk, as PNG.

    With competing risks, the Aalen-Johansen cumulative incidence of the event (solid) and of
    the competing event (dashed) per group instead (1 - KM would overstate the risk)."""
    import io

    from matplotlib.figure import Figure  # no pyplot: no backend switch in a napari session

    from ..io.atomic import atomic_write_bytes

    fig = Figure(figsize=(6.4, 5.2), dpi=120)
    ax = fig.add_axes([0.2, 0.34, 0.76, 0.58])
    tmax = max(float(g["timeline"].max()) for g in study.kaplan_meier)
    if study.input.get("horizon"):
        tmax = min(tmax, study.input["horizon"]) if tmax > 0 else study.input["horizon"]
    comp = study.competing
    if comp:  # competing risks: Aalen-Johansen cumulative incidence, not 1 - KM
        cumulative = True
        for g in comp["groups"]:
            ev, cp = g["event"], g["competing"]
            (line,) = ax.step(ev["timeline"], ev["cif"], where="post", lw=1.6,
                              label=f"{ev['label']}: {study.input['event']} "
                                    f"({ev['events']} events)")  # fmt: skip
            ax.step(cp["timeline"], cp["cif"], where="post", lw=1.2, ls="--",
                    color=line.get_color(), label=f"{cp['label']}: competing "
                                                  f"({cp['events']})")  # fmt: skip
    else:
        for g in study.kaplan_meier:
            s, lo, hi = g["survival"], g["ci_low"], g["ci_high"]
            if cumulative:
                s, lo, hi = 1 - s, 1 - hi, 1 - lo
            (line,) = ax.step(g["timeline"], s, where="post", lw=1.6,
                              label=f"{g['label']} (n={g['n']}, {g['events']} events)")  # fmt: skip
            ax.fill_between(g["timeline"], lo, hi, step="post", alpha=0.15,
                            color=line.get_color())  # fmt: skip
    ax.set_xlim(0, tmax * 1.01 if tmax > 0 else 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel(
        "cumulative incidence (Aalen-Johansen)" if comp
        else "cumulative incidence" if cumulative else "event-free survival"
    )  # fmt: skip
    lr = study.logrank
    text = f"{'cause-specific ' if comp else ''}log-rank p = {lr['p']:.3g}" if lr else ""
    kind = "Cumulative incidence" if comp else "Kaplan-Meier"
    ax.set_title(title or f"{kind}: {study.input['event']} {text}".strip(), fontsize=10)
    ax.legend(loc="lower left" if not cumulative else "upper left", fontsize=8)
    from matplotlib.ticker import MaxNLocator

    ticks = [v for v in MaxNLocator(n_ticks).tick_values(0, tmax) if 0 <= v <= tmax * 1.001]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{v:g}" for v in ticks])
    ax.set_xlabel(study.input["time"])
    # numbers at risk
    tab = fig.add_axes([0.2, 0.04, 0.76, 0.16])
    tab.set_xlim(ax.get_xlim())
    tab.set_ylim(-0.5, len(study.kaplan_meier) - 0.5)
    tab.axis("off")
    tab.set_title("number at risk", fontsize=8, loc="left")
    for k, g in enumerate(study.kaplan_meier):
        y = len(study.kaplan_meier) - 1 - k
        # at risk at t = subjects with time >= t; recovered from the KM input sizes per tick
        times = g["_times"] if "_times" in g else None
        for tk in ticks:
            n = int(np.sum(times >= tk)) if times is not None else None
            tab.text(tk, y, "" if n is None else str(n), ha="center", va="center", fontsize=7.5)
        from matplotlib.transforms import blended_transform_factory

        where = blended_transform_factory(tab.transAxes, tab.transData)
        tab.text(-0.04, y, g["label"], ha="right", va="center", fontsize=7.5, transform=where)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())
