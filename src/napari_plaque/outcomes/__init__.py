"""Outcome statistics of the source studies (no napari or Qt import).

- :mod:`.survival`: Kaplan-Meier with CIs, log-rank for k groups, Cox proportional hazards
  (univariable and adjusted, ``per`` units, dichotomised predictors), Schoenfeld tests,
  Harrell's C-index with a bootstrap CI, Aalen-Johansen cumulative incidence and cause-specific
  hazard ratios; on lifelines (cross-checked against statsmodels in the tests).
- :mod:`.table1`: the baseline table per group (mean +- SD or median (IQR) by a normality test;
  n (%) with chi-square or Fisher's exact test).
- :mod:`.regression`: design checks shared by the logistic and linear models (collinear
  columns named, separation named).
- :mod:`.synthetic`: cohorts drawn from the published summary figures of the source studies,
  for the reproduction recipes in ``docs/reproduce/``.
"""
