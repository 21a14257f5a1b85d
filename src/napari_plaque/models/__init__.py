"""Deep models: architectures, one checkpoint format, an inference engine and training.

The generic engine: networks (:mod:`.nets`), the checkpoint format (:mod:`.checkpoint`), the
training loop (:func:`napari_plaque.models.train.fit_model`), the inference helpers
(:mod:`.inference`) and a task registry (:mod:`.registry`). Tasks live with their data:

- ``alines``: the IVUS A-line detector (:mod:`napari_plaque.ivus.deep`: training on an A-line
  dataset, pullback -> predictions -> arcs; network :class:`~napari_plaque.models.nets.ALineNet`);
- ``cxr``: the chest-radiograph model (:mod:`napari_plaque.cxr`, registered in the registry);
- ``ct-seg``: a 2D/3D U-Net for CT segmentation on HU arrays with an HU-window normalisation
  (:class:`~napari_plaque.models.nets.UNet`), built in.

PyTorch is an optional dependency (``pip install 'napari-plaque[torch]'``). ``import
napari_plaque.models`` works without it; the functions that need it raise an ImportError saying
how to install it. The numpy-only parts (CT dataset readers and exporters) live in
:mod:`napari_plaque.models.data`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

TORCH_HINT = (
    "the deep-model features of napari-plaque need PyTorch; install it with "
    "pip install 'napari-plaque[torch]'"
)

#: public names and the submodule that defines them (imported on first use)
_LAZY = {
    "ALineNet": "nets",
    "UNet": "nets",
    "build_model": "nets",
    "CHECKPOINT_FORMAT": "checkpoint",
    "LoadedModel": "checkpoint",
    "load_checkpoint": "checkpoint",
    "save_model": "checkpoint",
    "read_metadata": "checkpoint",
    "export_torchscript": "checkpoint",
    "export_onnx": "checkpoint",
    "select_device": "inference",
    "iter_predict_volume": "inference",
    "predict_volume": "inference",
    "iter_train_ctseg": "train",
    "train_ctseg": "train",
}


@dataclass(frozen=True)
class TrainSettings:
    """Training settings shared by :mod:`napari_plaque.models.train`, the CLI and the widget."""

    epochs: int = 20
    batch_size: int = 16
    lr: float = 3e-3
    seed: int = 0
    val_fraction: float = 0.25
    patience: int = 5
    device: str = "auto"


@dataclass(frozen=True)
class TrainTask:
    """One trainable task: what its model takes and its default settings."""

    name: str
    input: str  # the ``napari_plaque`` kind of the data: "ivus" or "ct"
    description: str
    trainer: str  # name of its step generator (``iter_train_<task>``)
    settings: TrainSettings


class Device(str, Enum):
    """Where a model runs ("auto": cuda, then mps, then cpu); a ``str``, so options, JSON and
    metadata keep the plain names."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"

    def __str__(self) -> str:
        return self.value


#: the device names, in order (argparse choices, the docks' combo boxes)
DEVICES = tuple(d.value for d in Device)
#: weights of overlapping CT tiles
BLENDS = ("gaussian", "linear", "constant")
#: inference defaults read by ``models.inference``, the ``predict`` command and the inference
#: dock (torch-free, so the CLI can show them without importing torch)
PREDICT_DEFAULTS: dict[str, Any] = {"device": "auto", "overlap": 0.25, "blend": "gaussian"}

#: per-task training options beyond :class:`TrainSettings` (read by ``models.train``, the
#: ``train`` command and ``api.train``; torch-free)
TRAIN_OPTION_DEFAULTS: dict[str, Any] = {
    "context": 1,  # alines: neighbour frames each side
    "width": 16,  # alines: channels of the first block
    "precision": "auto",  # alines: step arithmetic
    "threads": 0,  # alines: CPU threads (0: torch's)
    "dims": 2,  # ct-seg: 2D or 3D U-Net
    "window_hu": (-300.0, 1300.0),  # ct-seg: HU window
    "base_channels": 8,  # ct-seg: U-Net width
    "levels": 3,  # ct-seg: U-Net resolution levels
}

#: the registry of training tasks (CLI choices, widget choices, defaults)
TRAIN_TASKS: dict[str, TrainTask] = {
    "alines": TrainTask(
        "alines",
        "ivus",
        "IVUS A-line detector (calcium, attenuation) on polar frames",
        "iter_train_alines",
        TrainSettings(batch_size=16),
    ),
    "ct-seg": TrainTask(
        "ct-seg",
        "ct",
        "CT U-Net segmentation on HU arrays",
        "iter_train_ctseg",
        TrainSettings(batch_size=8),
    ),
}

#: what each task's model takes: the ``napari_plaque`` kind of the input layer / data
#: (tasks other packages register, e.g. the chest-radiograph model, are added by
#: :func:`napari_plaque.models.registry.register_task`)
TASK_INPUT = {name: t.input for name, t in TRAIN_TASKS.items()}
_KIND_WORDS = {"ivus": "an IVUS pullback", "ct": "a CT volume", "radiograph": "a radiograph"}

__all__ = [
    "BLENDS",
    "DEVICES",
    "Device",
    "TASK_INPUT",
    "TORCH_HINT",
    "TRAIN_OPTION_DEFAULTS",
    "TRAIN_TASKS",
    "TrainSettings",
    "TrainTask",
    "input_mismatch",
    "pretrained_dir",
    "pretrained_models",
    "require_torch",
    "resolve_model",
    "torch_available",
]
__all__ += sorted(_LAZY)


def require_torch() -> Any:
    """Import and return ``torch``, or raise ImportError with the install hint."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is installed in the test env
        raise ImportError(TORCH_HINT) from exc
    return torch


def torch_available() -> bool:
    """Whether PyTorch can be imported."""
    try:
        require_torch()
    except ImportError:  # pragma: no cover
        return False
    return True


def input_mismatch(task: str, kind: str | None) -> str | None:
    """Why a model of ``task`` must not run on data of ``kind`` ("ivus", "ct"), or None.

    Unknown kinds (a layer napari-plaque did not make) are allowed: the caller chose them.
    """
    want = TASK_INPUT.get(task)
    if want is None or kind not in _KIND_WORDS or kind == want:
        return None
    return (
        f"a {task!r} model takes {_KIND_WORDS[want]}, and this is {_KIND_WORDS[kind]}: "
        "choose a matching model or input"
    )


def pretrained_dir() -> Path:
    """The folder holding the demo checkpoints shipped with the package."""
    return Path(__file__).parent / "pretrained"


def pretrained_models() -> dict[str, Path]:
    """Shipped demo checkpoints by name (file stem), e.g. ``{"demo_alines": Path(...)}``."""
    return {p.stem: p for p in sorted(pretrained_dir().glob("*.pt"))}


def resolve_model(name: str | Path) -> str:
    """A model file, or the name of a shipped demo model (``demo_alines``, ``demo_cxr``...):
    its path. Anything else is returned as given (the loader names the missing file)."""
    if not Path(name).exists():
        shipped = pretrained_models()
        if str(name) in shipped:
            return str(shipped[str(name)])
    return str(name)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
