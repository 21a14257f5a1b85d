"""Chest radiographs: reading (CR / DX DICOM, PNG / JPEG) and the CAC-category model.

- :mod:`napari_plaque.cxr.io`: :func:`read_radiograph` and the napari reader entry;
- :mod:`napari_plaque.cxr.model`: the ordinal CNN (p(CAC > 0) >= p(>= 100) >= p(>= 400) by
  construction), preprocessing, prediction and Grad-CAM (torch, imported lazily);
- :mod:`napari_plaque.cxr.train`: training with patient-grouped k-fold cross-validation, the
  evaluation report (AUC with DeLong CI, calibration, confusion) and external evaluation;
- :mod:`napari_plaque.cxr.synthetic`: chest-like synthetic radiographs with a known CAC score.

The io and synthetic modules need numpy only; model and train need PyTorch.
"""

from __future__ import annotations

from .io import Radiograph, radiograph_layers, read_radiograph

__all__ = ["Radiograph", "radiograph_layers", "read_radiograph"]
