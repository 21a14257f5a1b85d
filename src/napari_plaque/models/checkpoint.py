"""The napari-plaque model checkpoint: weights plus JSON metadata, loaded without running code.

A checkpoint is a ``.pt`` file written by ``torch.save`` of a dict holding only tensors and
strings::

    {"metadata": "<JSON text>", "state_dict": {"param.name": tensor, ...}}

It is loaded with ``torch.load(weights_only=True)``: a file holding arbitrary Python objects
(a pickle whose loading would execute code) is refused with :class:`FormatError`.

The metadata (JSON object) holds at least: ``format`` (:data:`CHECKPOINT_FORMAT`), ``version``,
``task`` (``alines``, ``ct-seg`` or a registered one), ``architecture`` and ``hparams``,
``classes``, ``normalisation`` (e.g. the HU window), ``input`` (polar sampling or spacing /
patch size), ``training`` (data summary with hashed ids, seed, epochs, ``synthetic`` flag),
``metrics`` and ``software`` (napari-plaque, torch and Python versions).
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
from .registry import find_task, registered_tasks

torch = require_torch()

CHECKPOINT_FORMAT = "napari-plaque/model"
CHECKPOINT_VERSION = 1
#: the tasks built into models; others register in :mod:`napari_plaque.models.registry`
TASKS = ("alines", "ct-seg")
_REQUIRED = ("format", "version", "task", "architecture", "hparams", "classes", "normalisation")


def known_task(task: Any) -> bool:
    """Whether ``task`` is built in or provided by a registered package."""
    return task in TASKS or find_task(task) is not None


def all_tasks() -> tuple[str, ...]:
    """The built-in tasks and those registered so far."""
    return TASKS + tuple(t for t in registered_tasks() if t not in TASKS)


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
    if not known_task(task):
        raise ValueError(f"task must be one of {all_tasks()}, got {task!r}")
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
    from ..report import json_safe

    # fails before anything is written; NaN metrics become null (standard JSON)
    text = json.dumps(json_safe(metadata), default=_json_default, allow_nan=False)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            try:
                torch.save({"metadata": text, "state_dict": state}, tmp)
            except RuntimeError as exc:  # PytorchStreamWriter: "file write failed" (full disk)
                raise _write_failed(path, exc) from None
    except OSError as exc:
        if exc.filename is None:
            raise OSError(
                exc.errno or 0, f"could not write the model file ({exc})", str(path)
            ) from exc
        raise
    return path


def _write_failed(path: Path, exc: Exception) -> OSError:
    import errno
    import shutil

    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = -1
    why = "the disk is full" if 0 <= free < 64 * 2**20 else "the file could not be written"
    return OSError(
        errno.ENOSPC if why.startswith("the disk") else errno.EIO,
        f"could not save the model: {why} ({_first_line(exc)}); nothing was written",
        str(path),
    )


def _json_default(o: Any) -> Any:
    from ..io.atomic import json_default

    return json_default(o)


def _load_raw(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise FormatError(p, "model file not found")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise FormatError(
            p,
            "refused: the file holds Python objects that would run code when loaded; a "
            "napari-plaque model holds only tensors and JSON metadata",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError):
        raise FormatError(
            p, "not a readable PyTorch checkpoint (truncated, or not written by torch.save)"
        ) from None
    if not isinstance(raw, dict) or "metadata" not in raw or "state_dict" not in raw:
        raise FormatError(p, "not a napari-plaque model (no metadata/state_dict)")
    return raw


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


#: bounds on every hyper-parameter of the built-in architectures (an edited file must not make
#: us allocate tens of GB or build a network that cannot exist)
HPARAM_LIMITS: dict[str, tuple[int, int]] = {
    "n_classes": (1, 64),
    "context": (0, 16),
    "width": (1, 512),
    "n_blocks": (1, 16),
    "k_smooth": (1, 101),
    "dims": (2, 3),
    "in_channels": (1, 16),
    "base_channels": (1, 256),
    "levels": (1, 6),
}
#: built-in architectures: their task and the hyper-parameters inference reads
_ARCH_TASK: dict[str, tuple[str, tuple[str, ...]]] = {
    "ALineNet": ("alines", ("n_classes", "context")),
    "UNet": ("ct-seg", ("n_classes", "dims")),
}
#: largest metadata JSON accepted (characters)
MAX_METADATA_CHARS = 1_000_000
#: polar sampling bounds (A-lines per frame, samples per A-line)
MAX_POLAR = 4096


def _int_in(path, what: str, v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise FormatError(
            path, f"model metadata: {what} must be an integer in {lo}..{hi}, got {v!r}"
        )
    return v


def _finite(path, what: str, v: Any, positive: bool = False, nonzero: bool = False) -> float:
    import math

    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise FormatError(path, f"model metadata: {what} must be a finite number, got {v!r}")
    if positive and v <= 0:
        raise FormatError(path, f"model metadata: {what} must be > 0, got {v!r}")
    if nonzero and v == 0:
        raise FormatError(path, f"model metadata: {what} must not be 0")
    return float(v)


def _dict(path, meta: dict, key: str) -> dict:
    v = meta.get(key, {})
    if not isinstance(v, dict):
        raise FormatError(
            path, f"model metadata: {key!r} must be an object, got {type(v).__name__}"
        )
    return v


def validate_metadata(path: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Check types and bounds of a checkpoint's metadata before anything is built from it;
    FormatError naming the file and the field otherwise."""
    hp = _dict(path, meta, "hparams")
    plugin = find_task(meta.get("task")) if meta.get("task") not in TASKS else None
    limits = {**HPARAM_LIMITS, **(plugin.hparam_limits if plugin is not None else {})}
    for k, v in hp.items():
        if k not in limits:
            raise FormatError(path, f"model metadata: unknown hyper-parameter {k!r}")
        _int_in(path, f"hparams.{k}", v, *limits[k])
    if not isinstance(meta["architecture"], str):
        raise FormatError(path, "model metadata: architecture must be a name")
    arch_task = dict(_ARCH_TASK)
    for t in registered_tasks().values():
        arch_task[t.architecture] = (t.name, t.required_hparams)
    needs = arch_task.get(meta["architecture"])
    if needs is None:
        raise FormatError(
            path, f"unknown architecture {meta['architecture']!r}; known: {sorted(arch_task)}"
        )
    task, required = needs
    if meta["task"] != task:
        raise FormatError(
            path, f"a {meta['architecture']} is a {task!r} model, not {meta['task']!r}"
        )
    missing = [k for k in required if k not in hp]
    if missing:
        raise FormatError(path, f"model metadata: hparams lack {missing}")
    classes = meta["classes"]
    if (
        not isinstance(classes, list)
        or not 1 <= len(classes) <= 64
        or not all(isinstance(c, str) and 0 < len(c) <= 100 for c in classes)
    ):
        raise FormatError(path, "model metadata: classes must be a list of 1..64 names")
    if "n_classes" in hp and hp["n_classes"] != len(classes):
        raise FormatError(
            path, f"model metadata: {len(classes)} classes named for n_classes {hp['n_classes']}"
        )
    norm = _dict(path, meta, "normalisation")
    if "scale" in norm:
        _finite(path, "normalisation.scale", norm["scale"], nonzero=True)
    if "window_hu" in norm:
        w = norm["window_hu"]
        if not isinstance(w, list) or len(w) != 2:
            raise FormatError(path, "model metadata: normalisation.window_hu must be [low, high]")
        lo = _finite(path, "normalisation.window_hu[0]", w[0])
        hi = _finite(path, "normalisation.window_hu[1]", w[1])
        if hi <= lo:
            raise FormatError(path, f"model metadata: empty HU window {w}")
    if meta["task"] == "ct-seg" and "window_hu" not in norm:
        raise FormatError(path, "model metadata: a CT model needs normalisation.window_hu")
    inp = _dict(path, meta, "input")
    if meta["task"] == "alines":
        polar = inp.get("polar")
        if not isinstance(polar, dict):
            raise FormatError(path, "model metadata: an A-line model needs input.polar")
        _int_in(path, "input.polar.n_alines", polar.get("n_alines"), 8, MAX_POLAR)
        _int_in(path, "input.polar.depth_samples", polar.get("depth_samples"), 8, MAX_POLAR)
        _finite(path, "input.polar.depth_mm", polar.get("depth_mm"), positive=True)
        if "threshold" in inp:
            _finite(path, "input.threshold", inp["threshold"])
    else:
        for key in ("spacing_mm", "patch_size"):
            v = inp.get(key)
            if v is None:
                continue
            if not isinstance(v, list) or len(v) != 3:
                raise FormatError(path, f"model metadata: input.{key} must hold 3 values")
            for i, x in enumerate(v):
                if key == "spacing_mm":
                    _finite(path, f"input.spacing_mm[{i}]", x, positive=True)
                else:
                    _int_in(path, f"input.patch_size[{i}]", x, 1, 1024)
    for key in ("training", "metrics", "software"):
        _dict(path, meta, key)
    if plugin is not None and plugin.check_metadata is not None:
        plugin.check_metadata(path, meta)  # the task's own rules live with its package
    return meta


def _parse_metadata(path: str | Path, text: Any) -> dict[str, Any]:
    if not isinstance(text, str):
        raise FormatError(path, "model metadata is not a JSON string")
    if len(text) > MAX_METADATA_CHARS:
        raise FormatError(path, f"model metadata is too large ({len(text)} characters)")
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FormatError(path, f"model metadata is not valid JSON ({_first_line(exc)})") from None
    if not isinstance(meta, dict):
        raise FormatError(path, "model metadata is not a JSON object")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise FormatError(path, f"model metadata lacks {missing}")
    if meta["format"] != CHECKPOINT_FORMAT:
        raise FormatError(path, f"format is {meta['format']!r}, expected {CHECKPOINT_FORMAT!r}")
    if isinstance(meta["version"], bool) or not isinstance(meta["version"], int):
        raise FormatError(
            path, f"model metadata: version must be an integer, got {meta['version']!r}"
        )
    if meta["version"] > CHECKPOINT_VERSION:
        raise FormatError(
            path,
            f"model format version {meta['version']} is newer than this napari-plaque "
            f"understands ({CHECKPOINT_VERSION}); upgrade napari-plaque",
        )
    if not known_task(meta["task"]):
        raise FormatError(path, f"unknown task {meta['task']!r}")
    return validate_metadata(path, meta)


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


def load_checkpoint(path: str | Path) -> LoadedModel:
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
    except (ValueError, TypeError, RuntimeError, MemoryError) as exc:
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
    plugin = find_task(meta["task"]) if meta["task"] not in TASKS else None
    if plugin is not None and plugin.example_input is not None:
        return plugin.example_input(loaded, batch)
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
        raise ImportError(
            "ONNX export needs the onnx package, which is not installed: "
            "pip install 'napari-plaque[onnx]' (or pip install onnx); "
            "TorchScript export (--torchscript) needs nothing more"
        ) from exc
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
