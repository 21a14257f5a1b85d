"""The napari-plaque model checkpoint: weights plus JSON metadata, loaded without running code.

A checkpoint is a ``.pt`` file written by ``torch.save`` of a dict holding only tensors and
strings::

    {"metadata": "<JSON text>", "state_dict": {"param.name": tensor, ...}}

It is loaded with ``torch.load(weights_only=True)``: a file holding arbitrary Python objects
(a pickle whose loading would execute code) is refused with :class:`FormatError`.

The metadata (JSON object) holds at least: ``format`` (:data:`CHECKPOINT_FORMAT`), ``version``,
``task`` (``alines`` or ``ct-seg``), ``architecture`` and ``hparams``, ``classes``,
``normalisation`` (e.g. the HU window), ``input`` (polar sampling or spacing/patch size),
``training`` (data summary with hashed ids, seed, epochs, ``synthetic`` flag), ``metrics`` and
``software`` (napari-plaque, torch and Python versions).
"""

from __future__ import annotations

import datetime as _dt
import json
import pickle
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_path
from ..io.errors import FormatError
from . import require_torch
from .nets import build_model

torch = require_torch()

CHECKPOINT_FORMAT = "napari-plaque/model"
CHECKPOINT_VERSION = 1
TASKS = ("alines", "ct-seg")
_REQUIRED = ("format", "version", "task", "architecture", "hparams", "classes", "normalisation")


def software_versions() -> dict[str, str]:
    """Versions recorded in every checkpoint."""
    from .. import __version__

    return {
        "napari_plaque": __version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }


def make_metadata(
    model: Any,
    task: str,
    classes: list[str],
    normalisation: dict[str, Any],
    input_spec: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Metadata for a built-in model (architecture and hparams read from the model)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "task": task,
        "architecture": type(model).__name__,
        "hparams": dict(model.hparams),
        "classes": list(classes),
        "normalisation": dict(normalisation),
        "input": dict(input_spec or {}),
        "training": dict(training or {}),
        "metrics": dict(metrics or {}),
        "software": software_versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def save_model(path: str | Path, model: Any, metadata: dict[str, Any]) -> Path:
    """Write ``model``'s weights and ``metadata`` atomically to ``path`` (a ``.pt`` file)."""
    text = json.dumps(metadata, default=_json_default)  # fails before anything is written
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"metadata": text, "state_dict": state}, tmp)
    return Path(path)


def _json_default(o: Any) -> Any:
    from ..io.atomic import _json_default as base

    return base(o)


def _load_raw(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise FormatError(p, "model file not found")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise FormatError(
            p,
            "refused: the file holds Python objects that would run code when loaded; a "
            f"napari-plaque model holds only tensors and JSON metadata ({_first_line(exc)})",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise FormatError(p, f"not a readable PyTorch checkpoint ({_first_line(exc)})") from None
    if not isinstance(raw, dict) or "metadata" not in raw or "state_dict" not in raw:
        raise FormatError(p, "not a napari-plaque model (no metadata/state_dict)")
    return raw


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _parse_metadata(path: str | Path, text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        raise FormatError(path, "model metadata is not a JSON string")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(path, f"model metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise FormatError(path, "model metadata is not a JSON object")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise FormatError(path, f"model metadata lacks {missing}")
    if meta["format"] != CHECKPOINT_FORMAT:
        raise FormatError(path, f"format is {meta['format']!r}, expected {CHECKPOINT_FORMAT!r}")
    if int(meta["version"]) > CHECKPOINT_VERSION:
        raise FormatError(
            path,
            f"model format version {meta['version']} is newer than this napari-plaque "
            f"understands ({CHECKPOINT_VERSION}); upgrade napari-plaque",
        )
    if meta["task"] not in TASKS:
        raise FormatError(path, f"unknown task {meta['task']!r}")
    return meta


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint (weights are read but not used)."""
    raw = _load_raw(path)
    return _parse_metadata(path, raw["metadata"])


@dataclass
class LoadedModel:
    """A model ready for inference: the torch module (eval mode, CPU) and its metadata."""

    module: Any
    metadata: dict[str, Any]
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return str(self.metadata["task"])

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])

    @property
    def synthetic(self) -> bool:
        return bool(self.metadata.get("training", {}).get("synthetic", False))


def load_model(path: str | Path) -> LoadedModel:
    """Load a checkpoint safely (``weights_only=True``) and build its model in eval mode.

    Raises
    ------
    FormatError
        The file is missing, is not a napari-plaque model, would execute code when unpickled,
        or its weights do not fit its architecture. The message names the file.
    """
    raw = _load_raw(path)
    meta = _parse_metadata(path, raw["metadata"])
    try:
        module = build_model(meta["architecture"], meta["hparams"])
    except (ValueError, TypeError) as exc:
        raise FormatError(path, f"cannot build the model ({exc})") from None
    state = raw["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise FormatError(path, "state_dict must map names to tensors")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FormatError(
            path, f"weights do not fit the architecture ({_first_line(exc)})"
        ) from None
    module.eval()
    return LoadedModel(module=module, metadata=meta, path=str(path))


def example_input(loaded: LoadedModel, batch: int = 1) -> Any:
    """A zero input tensor of the shape the model expects (for tracing/export)."""
    meta = loaded.metadata
    if meta["task"] == "alines":
        polar = meta["input"]["polar"]
        c = 2 * int(meta["hparams"]["context"]) + 1
        return torch.zeros(batch, c, int(polar["n_alines"]), int(polar["depth_samples"]))
    dims = int(meta["hparams"]["dims"])
    n = loaded.module.divisor * 4
    shape = (batch, 1) + (n,) * dims
    return torch.zeros(shape)


def export_torchscript(loaded: LoadedModel, out: str | Path) -> Path:
    """Trace the model to TorchScript (for use outside napari-plaque); written atomically.

    The metadata JSON is stored in the archive's extra files as ``metadata.json``.
    """
    module = loaded.module.eval()
    with torch.no_grad():
        traced = torch.jit.trace(module, example_input(loaded))
    extra = {"metadata.json": json.dumps(loaded.metadata)}
    with atomic_path(out) as tmp:
        torch.jit.save(traced, str(tmp), _extra_files=extra)
    return Path(out)


def export_onnx(loaded: LoadedModel, out: str | Path) -> Path:
    """Export to ONNX (needs the ``onnx`` package); dynamic batch and spatial axes."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ImportError("ONNX export needs the onnx package: pip install onnx") from exc
    x = example_input(loaded)
    axes = {0: "batch"}
    if loaded.task == "ct-seg":
        axes.update({i: f"s{i}" for i in range(2, x.ndim)})
    with atomic_path(out) as tmp:
        torch.onnx.export(
            loaded.module.eval(),
            (x,),
            str(tmp),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": axes, "logits": axes},
            dynamo=False,
        )
    return Path(out)
