"""IVUS core: polar transforms, arc annotations and their file format, the IVUS calcium score,
A-line features, training-set export and the SVM calcium detector. No napari or Qt import.

The names below are imported on first use (PEP 562), so ``import napari_plaque.ivus.defaults``
(or any one submodule: what the command line reads at start-up) does not import the others,
nor scipy (:mod:`.features`, :mod:`.svm`, :mod:`.lumen`, :mod:`.borders` use it).
"""

from __future__ import annotations

from .._lazy import lazy_names

#: public name -> submodule that defines it
_NAMES: dict[str, str] = {
    "ARCS_FORMAT": "arcs",
    "ARCS_VERSION": "arcs",
    "DEFAULT_CLASSES": "arcs",
    "Arc": "arcs",
    "ArcSet": "arcs",
    "arc_extent": "arcs",
    "arcs_to_labels": "arcs",
    "labels_to_arcs": "arcs",
    "load_arcs": "arcs",
    "merge_arcs": "arcs",
    "normalise_arc": "arcs",
    "save_arcs": "arcs",
    "export_training_set": "dataset",
    "iter_export_training_set": "dataset",
    "load_training_set": "dataset",
    "FEATURE_NAMES": "features",
    "FEATURE_VERSION": "features",
    "aline_features": "features",
    "iter_pullback_features": "features",
    "estimate_lumen_centers": "lumen",
    "arc_measurements": "measure",
    "ics": "measure",
    "parse_frame_range": "measure",
    "aline_angles_deg": "polar",
    "default_center": "polar",
    "from_polar": "polar",
    "iter_to_polar": "polar",
    "to_polar": "polar",
    "SVMModel": "svm",
    "iter_predict_pullback": "svm",
    "load_model": "svm",
    "predict_pullback": "svm",
    "save_model": "svm",
    "train_svm": "svm",
}

__all__ = [
    "ARCS_FORMAT",
    "ARCS_VERSION",
    "DEFAULT_CLASSES",
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "Arc",
    "ArcSet",
    "SVMModel",
    "aline_angles_deg",
    "aline_features",
    "arc_extent",
    "arc_measurements",
    "arcs_to_labels",
    "default_center",
    "estimate_lumen_centers",
    "export_training_set",
    "from_polar",
    "ics",
    "iter_export_training_set",
    "iter_predict_pullback",
    "iter_pullback_features",
    "iter_to_polar",
    "labels_to_arcs",
    "load_arcs",
    "load_model",
    "load_training_set",
    "merge_arcs",
    "normalise_arc",
    "parse_frame_range",
    "predict_pullback",
    "save_arcs",
    "save_model",
    "to_polar",
    "train_svm",
]


__getattr__, __dir__ = lazy_names(__name__, _NAMES)
