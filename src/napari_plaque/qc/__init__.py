"""Segmentation QC and cohort agreement (no napari or Qt import).

- :mod:`.metrics`: Dice, Jaccard, volumes, sensitivity/precision, HD95/ASSD in mm, lesion
  detection, per-slice disagreement and the disagreement map.
- :mod:`.agreement`: ICC(2,1) with CI, Bland-Altman, weighted kappa on CAC categories,
  Pearson/Spearman, IVUS per-A-line agreement and ICS agreement.
- :mod:`.review`: the accept/reject/fix review file.
- :mod:`.cohort`: reading paired values from a cohort CSV.
"""

from .agreement import (
    CATEGORY_SCHEMES,
    agreement,
    aline_agreement,
    bland_altman,
    categorize,
    correlations,
    icc_a1,
    ics,
    ics_agreement,
    kappa_from_table,
    weighted_kappa,
)
from .cohort import read_pairs
from .metrics import (
    disagreement_map,
    iter_qc_metrics,
    label_metrics,
    qc_metrics,
    qc_steps,
    slice_disagreement,
    surface_distances,
    worst_slices,
)
from .review import FLAGS, ReviewFile

__all__ = [
    "CATEGORY_SCHEMES",
    "FLAGS",
    "ReviewFile",
    "agreement",
    "aline_agreement",
    "bland_altman",
    "categorize",
    "correlations",
    "disagreement_map",
    "icc_a1",
    "ics",
    "ics_agreement",
    "iter_qc_metrics",
    "kappa_from_table",
    "label_metrics",
    "qc_metrics",
    "qc_steps",
    "read_pairs",
    "slice_disagreement",
    "surface_distances",
    "weighted_kappa",
    "worst_slices",
]
