"""The defaults of CT-IVUS fusion (the mapping, the lesion join, the study statistics) in a
module without numpy or scipy: the command line builds its options from them at start-up
(``napari-plaque --help``) without importing the fusion code.

Their modules re-export them (``fusion.mapping.DEFAULTS``, ``fusion.join.JOIN_DEFAULTS``,
``fusion.stats.STATS_DEFAULTS``...): the same objects, one home.
"""

from __future__ import annotations

from typing import Any

# ------------------------------------------------------------------------------- mapping
#: pullback directions: the frame index grows towards the ostium, or distally
DIRECTIONS = ("ostium", "distal")

#: defaults of the mapping (CLI and widget read them)
DEFAULTS: dict[str, Any] = {
    "direction": "ostium",
    "rotation_deg": 0.0,
    "mirror": False,
    "speed_tolerance": 0.20,
}

# ---------------------------------------------------------------------------------- join
#: defaults of the lesion join (CLI and widget read them; ``fusion.join`` gives the reasoning)
JOIN_DEFAULTS: dict[str, Any] = {
    "attenuation_min_arc_deg": 30.0,
    "attenuation_min_length_mm": 0.0,
    "exclude_calcium_alines": True,
    "calcium_class": "calcium",
    "attenuation_class": "attenuation",
    "n_alines": 360,
    "allow_partial": False,
}

# ---------------------------------------------------------------------------------- stats
#: defaults of the study statistics (CLI and widget read them)
STATS_DEFAULTS: dict[str, Any] = {
    "alpha": 0.05,
    "n_boot": 2000,
    "seed": 0,
}

#: outcome transforms of the linear model
TRANSFORMS = ("none", "sqrt", "log")

__all__ = ["DEFAULTS", "DIRECTIONS", "JOIN_DEFAULTS", "STATS_DEFAULTS", "TRANSFORMS"]
