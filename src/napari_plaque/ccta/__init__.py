"""CCTA core: plaque composition by HU ranges and coronary calcium scoring (no napari/Qt).

Vessel label convention: 1=LM, 2=LAD, 3=LCX, 4=RCA (:data:`VESSEL_NAMES`); any other value is
reported as ``"label N"``. See ``docs/ccta.md`` and ``docs/conventions.md`` for the rules.
"""

from __future__ import annotations

from .calcium import (
    CAC_CATEGORIES,
    CAC_DRS_CATEGORIES,
    CALCIUM_DEFAULTS,
    LESION_DTYPE,
    VESSEL_NAMES,
    CalciumResult,
    MassCalibration,
    cac_category,
    cac_drs,
    calcium_score,
    calibrate_mass,
    density_weight,
    iter_calcium_score,
    vessel_name,
)
from .composition import (
    COMPONENT_COLORS,
    COMPONENTS,
    DEFAULT_RANGES,
    PlaqueComposition,
    check_ranges,
    classify,
    composition,
    composition_overlay,
    iter_composition,
    roi_bbox,
)

__all__ = [
    "CAC_CATEGORIES",
    "CAC_DRS_CATEGORIES",
    "CALCIUM_DEFAULTS",
    "COMPONENTS",
    "COMPONENT_COLORS",
    "DEFAULT_RANGES",
    "LESION_DTYPE",
    "VESSEL_NAMES",
    "CalciumResult",
    "MassCalibration",
    "PlaqueComposition",
    "cac_category",
    "cac_drs",
    "calcium_score",
    "calibrate_mass",
    "check_ranges",
    "classify",
    "composition",
    "composition_overlay",
    "density_weight",
    "iter_calcium_score",
    "iter_composition",
    "roi_bbox",
    "vessel_name",
]
