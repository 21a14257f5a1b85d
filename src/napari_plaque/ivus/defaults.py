"""The defaults of the IVUS core that the command line shows (light: plain Python, no numpy or
scipy, so building ``napari-plaque --help`` does not import the IVUS code; issue 25).

One home each: the modules that use them import them from here (:mod:`.active`,
:mod:`.borders`, :mod:`.vessel_measure`); the A-line count is :data:`.polar.N_ALINES`. The defaults of
:func:`~napari_plaque.ivus.svm.train_svm` and
:func:`~napari_plaque.ivus.dataset.export_training_set` stay in their signatures;
:data:`TRAIN_DEFAULTS` and :data:`EXPORT_DEFAULTS` repeat them for the CLI and
``tests/test_ivus_defaults.py`` checks that they are equal.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACTIVE_DEFAULTS",
    "BORDER_DEFAULTS",
    "EXPORT_DEFAULTS",
    "MEASURE_DEFAULTS",
    "TRAIN_DEFAULTS",
]

#: the active-learning defaults (loop, CLI, benchmark read them)
ACTIVE_DEFAULTS: dict[str, Any] = {
    "n": 10,
    "spread": None,
    "pullback_power": 0.0,
    "strategy": "diverse",
}

#: border detection (:func:`~napari_plaque.ivus.borders.detect_borders`; function, CLI help
#: and widget read it)
BORDER_DEFAULTS: dict[str, Any] = {
    "n_alines": 180,  # A-lines per frame (2 deg)
    "depth_samples": 128,  # samples per A-line over half the short side of the frame
    "catheter_mm": 0.6,  # catheter zone ignored (radius, mm)
    "min_wall_mm": 0.2,  # smallest lumen-to-EEM distance
    "max_step": 2,  # depth samples of change between neighbouring A-lines
    "step_penalty": 0.05,  # cost per sample of change (edge strengths are ~0..1)
    "frame_window": 3,  # cost volumes averaged over this many neighbouring frames
    "shadow_level": 0.3,  # shadowed: outer-half mean < this x the frame's median A-line
    "max_shadow_fraction": 0.5,  # frames with more shadow are flagged
    "bridge_order": 3,  # Fourier harmonics of the fit that bridges shadowed A-lines
    "batch": 32,
}

#: vessel measurements (:func:`~napari_plaque.ivus.vessel_measure.measure_vessel`)
MEASURE_DEFAULTS: dict[str, Any] = {
    "burden_threshold_pct": 40.0,  # segments with plaque burden >= this are reported
    "min_segment_frames": 1,  # shortest run of frames counted as a segment
}

#: :func:`~napari_plaque.ivus.svm.train_svm`'s defaults (parameter name -> default)
TRAIN_DEFAULTS: dict[str, Any] = {
    "cls": "calcium",
    "C": 0.1,
    "n_folds": 5,
    "max_samples": 300_000,
}

#: :func:`~napari_plaque.ivus.dataset.export_training_set`'s defaults (parameter -> default;
#: ``n_alines`` is :data:`.polar.N_ALINES`)
EXPORT_DEFAULTS: dict[str, Any] = {
    "depth_samples": 256,
}
