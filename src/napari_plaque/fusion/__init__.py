"""CT-IVUS fusion (no napari or Qt import).

- :mod:`.mapping`: IVUS frame <-> CT centreline arc length s (landmarks, pullback speed and
  direction) and IVUS <-> CT cross-section angles.
- :mod:`.join`: CT lesions joined to the IVUS frames and arc metrics that image them, and the
  attenuated-plaque rule.
- :mod:`.stats`: paired-study statistics over a per-lesion table (imported on use: statsmodels).
- :mod:`.synthetic`: a synthetic paired CT + pullback cohort with known truth.
- :mod:`.defaults`: the defaults of the three (light: what the command line reads at start-up).

The names below are imported on first use (PEP 562), so ``import napari_plaque.fusion.defaults``
(or any one submodule) does not import the others.
"""

from __future__ import annotations

from .._lazy import lazy_names

#: public name -> submodule that defines it
_NAMES: dict[str, str] = {
    "DEFAULTS": "defaults",
    "JOIN_DEFAULTS": "defaults",
    "IVUS_FIELDS": "join",
    "JoinResult": "join",
    "attenuated_rule": "join",
    "attenuation_run_mm": "join",
    "join_lesions": "join",
    "load_vessel_json": "join",
    "FrameMapping": "mapping",
    "Landmark": "mapping",
    "build_mapping": "mapping",
    "parse_landmark": "mapping",
}

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


__getattr__, __dir__ = lazy_names(__name__, _NAMES)
