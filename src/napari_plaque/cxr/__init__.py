"""Chest radiographs: reading (CR / DX DICOM, PNG / JPEG) and the CAC-category model.

- :mod:`napari_plaque.cxr.io`: :func:`read_radiograph` and its layer conversion (the napari
  reader entry is :func:`napari_plaque._napari.reader.radiograph_layers`);
- :mod:`napari_plaque.cxr.model`: the ordinal CNN (p(CAC > 0) >= p(>= 100) >= p(>= 400) by
  construction), preprocessing, prediction and Grad-CAM (torch, imported lazily);
- :mod:`napari_plaque.cxr.train`: training with patient-grouped k-fold cross-validation, the
  evaluation report (AUC with DeLong CI, calibration, confusion) and external evaluation;
- :mod:`napari_plaque.cxr.synthetic`: chest-like synthetic radiographs with a known CAC score.

The io and synthetic modules need numpy only; model and train need PyTorch.
"""

from __future__ import annotations

from typing import Any

from .io import Radiograph, read_radiograph

__all__ = ["Radiograph", "read_radiograph"]


def _network() -> type:
    from .model import CXRNet

    return CXRNet


def _check_metadata(path: Any, meta: dict[str, Any]) -> Any:
    from .model import check_cxr_metadata

    return check_cxr_metadata(path, meta)


def _example_input(loaded: Any, batch: int) -> Any:
    from .model import example_input

    return example_input(loaded, batch)


def _register() -> None:
    """The CXR model as a task of the model registry (checkpoints, loading, export)."""
    from ..models.registry import ModelTask, register_task
    from .spec import TASK

    register_task(
        ModelTask(
            TASK,
            input="radiograph",
            architecture="CXRNet",
            required_hparams=("n_classes",),
            network=_network,
            check_metadata=_check_metadata,
            example_input=_example_input,
            hparam_limits={"n_clinical": (0, 16)},  # clinical inputs fused late
        )
    )


_register()
