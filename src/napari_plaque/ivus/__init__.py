"""IVUS core: polar transforms, arc annotations and their file format, the IVUS calcium score,
A-line features, training-set export and the SVM calcium detector. No napari or Qt import."""

from __future__ import annotations

from .arcs import (
    ARCS_FORMAT,
    ARCS_VERSION,
    DEFAULT_CLASSES,
    Arc,
    ArcSet,
    arc_extent,
    arcs_to_labels,
    labels_to_arcs,
    load_arcs,
    merge_arcs,
    normalise_arc,
    save_arcs,
)
from .dataset import export_training_set, iter_export_training_set, load_training_set
from .features import FEATURE_NAMES, FEATURE_VERSION, aline_features, iter_pullback_features
from .lumen import estimate_lumen_centers
from .measure import arc_measurements, ics, parse_frame_range
from .polar import aline_angles_deg, default_center, from_polar, iter_to_polar, to_polar
from .svm import (
    SVMModel,
    iter_predict_pullback,
    load_model,
    predict_pullback,
    save_model,
    train_svm,
)

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
