"""Inference engine: devices, mixed precision, tiled volumes.

Every entry point comes as a step generator ``iter_xxx`` (yields work done, returns the result;
see :mod:`napari_plaque._progress`) and a plain wrapper ``xxx``. Work runs under
``torch.inference_mode``, with autocast (bf16 where supported, else fp16) on CUDA, and the CUDA
cache is emptied afterwards, also when the caller stops the generator early (Cancel).

The engine is task-neutral: devices, batch sizes, autocast, the loaded model's task check and
the provenance of a prediction are public here for the tasks that live with their data (the
IVUS A-line detector in :mod:`napari_plaque.ivus.deep`, the chest-radiograph model in
:mod:`napari_plaque.cxr.model`). The CT U-Net is built in: volumes are cut into overlapping
tiles; each tile is fed with a context margin (at least the U-Net's receptive-field radius) that
is discarded, and the kept centres are blended (Gaussian, linear or constant weights). Because
the kept centres do not see the tile border and tile origins stay on the pooling grid, the
result does not depend on the tile or batch size (within float tolerance).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import run_steps
from ..types import CTVolume
from . import require_torch
from .checkpoint import LoadedModel, load_checkpoint
from .data import hu_normalise

torch = require_torch()

from . import BLENDS, DEVICES, PREDICT_DEFAULTS  # noqa: E402, F401 - torch-free, re-exported


def select_device(device: str = "auto") -> Any:
    """``auto`` picks cuda, then mps, then cpu; otherwise the named device (checked)."""
    name = str(device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' requested but MPS is not available")
    return dev


def default_batch_size(device: Any, task: str = "alines") -> int:
    """Batch size when the user gives none: small on a CPU (cache-friendly), large on a GPU.

    Measured on a 2-core CPU (``benchmarks/bench_inference.py``): the A-line model runs fastest
    at batch 4 and the 2D U-Net (one 568 x 568 tile per 512 x 512 slice) at batch 1; larger
    batches are slower there. GPUs want large batches.
    """
    if getattr(device, "type", str(device)) == "cpu":
        return 4 if task == "alines" else 1
    return 64 if task == "alines" else 16


def resolve_batch_size(batch_size: int | None, device: Any, task: str) -> int:
    """``batch_size`` when given (at least 1), else :func:`default_batch_size`."""
    return max(1, int(batch_size)) if batch_size else default_batch_size(device, task)


def autocast(device: Any, amp: bool) -> Any:
    """Mixed precision for inference on CUDA (bf16 where supported, else fp16); a no-op
    context elsewhere or when ``amp`` is False."""
    if amp and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def release_device(device: Any) -> None:
    """Give cached accelerator memory back after a run (CUDA; a no-op elsewhere)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()


def as_loaded(model: LoadedModel | str | Path) -> LoadedModel:
    """``model`` if already loaded, else the checkpoint at that path."""
    return model if isinstance(model, LoadedModel) else load_checkpoint(model)


def check_task(lm: LoadedModel, task: str) -> None:
    """ValueError unless ``lm`` is a model of ``task``."""
    if lm.task != task:
        raise ValueError(f"{lm.path or 'model'} is a {lm.task!r} model, not {task!r}")


def prediction_meta(lm: LoadedModel, dev: Any) -> dict[str, Any]:
    """The provenance every prediction summary carries: model file name, task, device,
    whether the model was trained on synthetic data."""
    return {
        "model": Path(lm.path).name if lm.path else "",
        "task": lm.task,
        "device": str(dev),
        "synthetic_training": lm.synthetic,
    }


# --------------------------------------------------------------------------- volumes


@dataclass
class VolumePrediction:
    """Output of a segmentation model on a volume."""

    labels: np.ndarray  # uint8 (z, y, x), argmax class
    classes: list[str]
    probs: np.ndarray | None = None  # float32 (C, z, y, x) when asked for
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _blend_weights(core: tuple[int, ...], blend: str) -> np.ndarray:
    """Weights over a tile's kept core, never zero."""
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
    w = np.ones(core, np.float32)
    if blend == "constant":
        return w
    for ax, n in enumerate(core):
        pos = (np.arange(n) + 0.5) / n - 0.5  # -0.5 .. 0.5
        if blend == "gaussian":
            prof = np.exp(-0.5 * (pos / 0.25) ** 2)
        else:
            prof = 1.0 - np.abs(pos) * 2.0
        prof = np.maximum(prof, 1e-3).astype(np.float32)
        shape = [1] * len(core)
        shape[ax] = n
        w = w * prof.reshape(shape)
    return w


def _forward_tiles(module: Any, xs: np.ndarray, dims: int, device: Any, amp: bool) -> np.ndarray:
    """Class probabilities (B, C, z, y, x) of a batch of tiles (B, z, y, x)."""
    with torch.inference_mode(), autocast(device, amp):
        xt = torch.from_numpy(xs).to(device)
        xt = xt if dims == 2 else xt[:, None]  # 2D: the single z is the channel
        prob = torch.softmax(module(xt).float(), dim=1)
        if dims == 2:
            prob = prob[:, :, None]
        return prob.cpu().numpy()


def _box(start: tuple[int, ...], size: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(a, a + n) for a, n in zip(start, size, strict=True))


def _grid_1d(length: int, core: int, step: int) -> list[int]:
    """Core start positions covering [0, length)."""
    if length <= core:
        return [0]
    k = math.ceil((length - core) / step)
    return [i * step for i in range(k + 1)]


def tile_plan(
    shape: tuple[int, int, int],
    tile: tuple[int, int, int],
    margin: tuple[int, int, int],
    overlap: float,
    divisor: tuple[int, int, int],
) -> tuple[list[tuple[int, int, int]], tuple[int, int, int], tuple[int, int, int]]:
    """Tile core starts, the core size and the padded volume size for a sliding window.

    Tiles are ``tile`` voxels (fed to the net); their kept core is ``tile - 2 * margin``. Core
    starts step by ``core * (1 - overlap)`` rounded down to the pooling period ``divisor``.
    """
    core, steps, padded = [], [], []
    for t, m, d in zip(tile, margin, divisor, strict=True):
        c = t - 2 * m
        if c < 1:
            raise ValueError(f"tile size {t} leaves no core with a context margin of {m}")
        s = max(d, int(c * (1.0 - overlap)) // d * d) if c >= d else c
        core.append(c)
        steps.append(s)
    grids = [_grid_1d(n, c, s) for n, c, s in zip(shape, core, steps, strict=True)]
    for g, t in zip(grids, tile, strict=True):
        padded.append(g[-1] + t)
    starts = [(a, b, c) for a in grids[0] for b in grids[1] for c in grids[2]]
    return starts, tuple(core), tuple(padded)  # type: ignore[return-value]


def default_tile(
    lm: LoadedModel, shape: tuple[int, int, int] | None = None
) -> tuple[int, int, int]:
    """Default tile size (voxels fed to the net, context margin included).

    2D models: a whole slice plus its margin, up to 768 x 768 (one tile per slice for a
    512 x 512 CT). 3D models: cores of up to 32 x 96 x 96 voxels plus the margin. Tiles never
    exceed the volume plus its margin, so small volumes are one tile.
    """
    m = lm.module.context_margin
    if int(lm.metadata["hparams"]["dims"]) == 2:
        cap = (1, 768, 768)
        tile = [1, cap[1], cap[2]]
        if shape is not None:
            tile = [1, min(cap[1], shape[1] + 2 * m), min(cap[2], shape[2] + 2 * m)]
        return tuple(tile)  # type: ignore[return-value]
    core = (32, 96, 96)
    if shape is not None:
        core = tuple(min(c, s) for c, s in zip(core, shape, strict=True))
    return tuple(c + 2 * m for c in core)  # type: ignore[return-value]


def iter_predict_volume(
    model: LoadedModel | str | Path,
    volume: CTVolume | np.ndarray,
    tile_size: tuple[int, int, int] | None = None,
    overlap: float = PREDICT_DEFAULTS["overlap"],
    blend: str = PREDICT_DEFAULTS["blend"],
    batch_size: int | None = None,
    device: str = "auto",
    amp: bool = True,
    return_probs: bool = False,
    margin: int | None = None,
) -> Generator[int, None, VolumePrediction]:
    """Segment a CT volume with a U-Net by sliding-window tiles; yields tiles done.

    Parameters
    ----------
    model : LoadedModel or path
        A ``ct-seg`` model.
    volume : CTVolume or ndarray (z, y, x) in HU
    tile_size : (z, y, x), optional
        Voxels fed to the net per tile (bounds GPU memory); rounded up to the pooling period.
        For a 2D model the z size is 1. Default: :func:`default_tile`.
    overlap : float
        Fraction of a tile's kept core shared with its neighbour.
    blend : {"gaussian", "linear", "constant"}
        Weights of overlapping cores.
    margin : int, optional
        Context (voxels) discarded at each tile border; default the model's
        ``context_margin`` (exact results). A smaller margin is faster but tile-dependent.
    """
    lm = as_loaded(model)
    check_task(lm, "ct-seg")
    hu = volume.hu if isinstance(volume, CTVolume) else np.asarray(volume)
    if hu.ndim != 3:
        raise ValueError(f"a CT volume must be 3D (z, y, x), got shape {hu.shape}")
    warn = _spacing_warning(lm, volume)
    module = lm.module
    dims = int(lm.metadata["hparams"]["dims"])
    div = module.divisor
    m = module.context_margin if margin is None else int(margin)
    m = -(-m // div) * div
    tile = tuple(tile_size) if tile_size is not None else default_tile(lm, hu.shape)
    tile = tuple(int(-(-t // div) * div) for t in tile)
    if dims == 2:
        tile = (1, *tile[1:])
        margins, divs = (0, m, m), (1, div, div)
    else:
        margins, divs = (m, m, m), (div, div, div)
    starts, core, padded = tile_plan(hu.shape, tile, margins, overlap, divs)
    window = lm.metadata["normalisation"]["window_hu"]
    x = np.zeros(padded, np.float32)  # 0 = the window's low end (air)
    z0, y0, x0 = margins
    x[z0 : z0 + hu.shape[0], y0 : y0 + hu.shape[1], x0 : x0 + hu.shape[2]] = hu_normalise(
        hu, window
    )
    n_cls = len(lm.classes)
    # accumulators in original-volume coordinates: a tile fed from padded [s, s + tile) keeps
    # its core padded [s + margin, s + margin + core) = original [s, s + core)
    acc = np.zeros((n_cls, *padded), np.float32)
    wsum = np.zeros(padded, np.float32)
    wts = _blend_weights(core, blend)
    dev = select_device(device)
    module = module.to(dev).eval()
    bs = resolve_batch_size(batch_size, dev, "ct-seg")
    try:
        for b0 in range(0, len(starts), bs):
            batch = starts[b0 : b0 + bs]
            xs = np.stack([x[_box(s, tile)] for s in batch])
            prob = _forward_tiles(module, xs, dims, dev, amp)
            prob = prob[:, :, z0 : z0 + core[0], y0 : y0 + core[1], x0 : x0 + core[2]]
            for p, s in zip(prob, batch, strict=True):
                sl = _box(s, core)
                acc[(slice(None), *sl)] += p * wts
                wsum[sl] += wts
            yield min(b0 + bs, len(starts))
    finally:
        release_device(dev)
    crop = tuple(slice(0, n) for n in hu.shape)
    probs = acc[(slice(None), *crop)] / wsum[crop]
    labels = np.argmax(probs, axis=0).astype(np.uint8)
    meta = prediction_meta(lm, dev)
    meta.update({"tiles": len(starts), "tile_size": list(tile), "margin": m, "blend": blend})
    return VolumePrediction(labels, lm.classes, probs if return_probs else None, meta, warn)


def count_tiles(
    model: LoadedModel,
    shape: tuple[int, int, int],
    tile_size=None,
    overlap=0.25,
    margin: int | None = None,
) -> int:
    """How many tiles :func:`iter_predict_volume` will run (for a progress bar)."""
    dims = int(model.metadata["hparams"]["dims"])
    div = model.module.divisor
    m = model.module.context_margin if margin is None else int(margin)
    m = -(-m // div) * div
    tile = tuple(tile_size) if tile_size is not None else default_tile(model, tuple(shape))
    tile = tuple(int(-(-t // div) * div) for t in tile)
    if dims == 2:
        tile, margins, divs = (1, *tile[1:]), (0, m, m), (1, div, div)
    else:
        margins, divs = (m, m, m), (div, div, div)
    return len(tile_plan(tuple(shape), tile, margins, overlap, divs)[0])


def _spacing_warning(lm: LoadedModel, volume: Any) -> list[str]:
    trained = lm.metadata.get("input", {}).get("spacing_mm")
    if not trained or not isinstance(volume, CTVolume):
        return []
    ratio = np.asarray(volume.spacing_mm, float) / np.asarray(trained, float)
    if int(lm.metadata["hparams"].get("dims", 3)) == 2:
        ratio = ratio[1:]  # a 2D model sees one slice at a time: only in-plane spacing matters
    if np.any(np.abs(ratio - 1.0) > 0.25):
        msg = (
            f"the volume's spacing {tuple(round(s, 3) for s in volume.spacing_mm)} mm differs from "
            f"the model's training spacing {tuple(trained)} mm by more than 25 %; results may be poor"
        )
        warnings.warn(msg, stacklevel=3)
        return [msg]
    return []


def predict_volume(model, volume, **kw) -> VolumePrediction:
    """Plain form of :func:`iter_predict_volume`."""
    return run_steps(iter_predict_volume(model, volume, **kw))
