"""CT-IVUS fusion (no napari or Qt import).

- :mod:`.mapping`: IVUS frame <-> CT centreline arc length s (landmarks, pullback speed and
  direction) and IVUS <-> CT cross-section angles.
- :mod:`.join`: CT lesions joined to the IVUS frames and arc metrics that image them, and the
  attenuated-plaque rule.
- :mod:`.stats`: paired-study statistics over a per-lesion table (imported on use: statsmodels).
- :mod:`.synthetic`: a synthetic paired CT + pullback cohort with known truth.
"""

from .join import (
    IVUS_FIELDS,
    JOIN_DEFAULTS,
    JoinResult,
    attenuated_rule,
    attenuation_run_mm,
    join_lesions,
    load_vessel_json,
)
from .mapping import DEFAULTS, FrameMapping, Landmark, build_mapping, parse_landmark

__all__ = [
    "DEFAULTS",
    "IVUS_FIELDS",
    "JOIN_DEFAULTS",
    "FrameMapping",
    "JoinResult",
    "Landmark",
    "attenuated_rule",
    "attenuation_run_mm",
    "build_mapping",
    "join_lesions",
    "load_vessel_json",
    "parse_landmark",
]
