"""The chest-radiograph model's fixed vocabulary and defaults, without torch.

Read by the model (:mod:`napari_plaque.cxr.model`), training, the CLI (whose help shows the
defaults without importing torch) and the dock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ccta.calcium import CAC_CATEGORIES, CAC_CATEGORY_CUTS

TASK = "cxr"
#: the three outputs, in order
CLASSES = ["cac_gt0", "cac_ge100", "cac_ge400"]
#: CAC-score cut-points of the outputs: score > 0, >= 100, >= 400 (the guideline categories of
#: :func:`napari_plaque.ccta.calcium.cac_category`, one home there)
CUTS: tuple[float, ...] = (0.0, *CAC_CATEGORY_CUTS)
#: the four categories (index = how many cut-points are passed): ccta's CAC categories
CATEGORIES: tuple[str, ...] = CAC_CATEGORIES
#: clinical inputs fused late, in order
CLINICAL = ("age", "sex", "bmi")
#: JSON keys of the three probabilities (CLI, widget, reports)
PROB_KEYS = ("p_cac_gt0", "p_cac_ge100", "p_cac_ge400")

#: defaults shared by the model, training, CLI and widget
DEFAULTS: dict[str, Any] = {
    "image_size": 256,
    "width": 16,
    "percentiles": (1.0, 99.0),
    "thresholds": (0.5, 0.5, 0.5),
    "saliency_target": "auto",
}


def category_index(probs: Sequence[float], thresholds: Sequence[float]) -> int:
    """How many cut-points are passed in order (0 = CAC 0 ... 3 = CAC >= 400)."""
    k = 0
    for p, t in zip(probs, thresholds, strict=True):
        if p >= t:
            k += 1
        else:
            break
    return k
