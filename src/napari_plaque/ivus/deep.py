"""The IVUS A-line detector as a deep-learning task: training set -> model, pullback -> arcs.

The A-line task lives here, with its data; :mod:`napari_plaque.models` is the generic engine it
runs on (the :class:`~napari_plaque.models.nets.ALineNet` architecture, the checkpoint format,
:func:`~napari_plaque.models.train.fit_model` and the device / batch / autocast helpers of
:mod:`napari_plaque.models.inference`).

- :func:`iter_train_alines`: train the detector on an A-line dataset
  (:mod:`napari_plaque.ivus.dataset`, the training-set export);
- :func:`iter_predict_pullback`: stream a pullback's frames in batches, convert them to polar
  images with the model's polar sampling (:func:`~napari_plaque.ivus.polar.to_polar`) and run
  the model with the neighbouring frames as context; :func:`iter_predict_polar` on polar frames;
- :func:`alines_to_arcset`: the per-A-line prediction as an
  :class:`~napari_plaque.ivus.arcs.ArcSet`.

Every entry point is a step generator ``iter_xxx`` (see :mod:`napari_plaque._progress`) with a
plain wrapper ``xxx``. Needs PyTorch (imported with this module).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import run_steps
from ..models import TRAIN_OPTION_DEFAULTS, TRAIN_TASKS, require_torch
from ..models.checkpoint import LoadedModel, make_metadata
from ..models.data import context_stack, split_groups
from ..models.inference import (
    as_loaded,
    autocast,
    check_task,
    prediction_meta,
    release_device,
    resolve_batch_size,
    select_device,
)
from ..models.nets import ALineNet
from ..models.train import (
    FitSettings,
    FitTask,
    TrainResult,
    binary_metrics,
    data_summary,
    fit_model,
    resolve_precision,
    run_summary,
    to_device,
)
from ..types import Pullback
from .arcs import ArcSet, CenterMode
from .dataset import ALineDataset, read_aline_dataset
from .measure import ics
from .polar import default_center, to_polar

torch = require_torch()
F = torch.nn.functional

#: the checkpoint task of the A-line detector
TASK = "alines"
#: default training settings (one home: models.TRAIN_TASKS, read by the CLI and widget)
_SETTINGS = TRAIN_TASKS[TASK].settings
_OPT = TRAIN_OPTION_DEFAULTS

__all__ = [
    "TASK",
    "ALinePrediction",
    "alines_steps_per_epoch",
    "alines_to_arcset",
    "iter_predict_polar",
    "iter_predict_pullback",
    "iter_train_alines",
    "predict_polar",
    "predict_pullback",
    "train_alines",
]


# --------------------------------------------------------------------------- inference


@dataclass
class ALinePrediction:
    """Per-A-line output of an A-line model for a pullback."""

    probs: np.ndarray  # float32 (F, A, C)
    classes: list[str]
    threshold: float = 0.5
    frame_shape: tuple[int, int] | None = None
    center: tuple[float, float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """bool (F, A, C)."""
        return self.probs >= self.threshold

    def class_labels(self, cls: str = "calcium") -> np.ndarray:
        """bool (F, A) of one class."""
        return self.labels[:, :, self.classes.index(cls)]

    def ics(self, cls: str = "calcium") -> float:
        """IVUS calcium score of ``cls`` (:func:`napari_plaque.ivus.measure.ics`)."""
        return ics(self.class_labels(cls))


def _forward_alines(module: Any, stack: np.ndarray, device: Any, amp: bool) -> np.ndarray:
    # inference mode is entered per batch, never held across a yield: grad mode is
    # thread-local, and a generator stopped at a yield (Cancel) would leak it to the thread
    with torch.inference_mode(), autocast(device, amp):
        x = torch.from_numpy(np.ascontiguousarray(stack)).to(device).float().div_(255.0)
        logits = module(x)
        return torch.sigmoid(logits.float()).permute(0, 2, 1).cpu().numpy()  # (B, A, C)


def iter_predict_polar(
    model: LoadedModel | str | Path,
    polar: np.ndarray,
    batch_size: int | None = None,
    device: str = "auto",
    amp: bool = True,
) -> Generator[int, None, ALinePrediction]:
    """Run an A-line model on polar frames uint8 (F, A, D); yields frames done."""
    lm = as_loaded(model)
    check_task(lm, TASK)
    polar = np.asarray(polar)
    spec = lm.metadata["input"]["polar"]
    if polar.ndim != 3 or polar.shape[1:] != (spec["n_alines"], spec["depth_samples"]):
        raise ValueError(
            f"polar frames {polar.shape} do not match the model's "
            f"(F, {spec['n_alines']}, {spec['depth_samples']})"
        )
    ctx = int(lm.metadata["hparams"]["context"])
    dev = select_device(device)
    module = lm.module.to(dev).eval()
    n = len(polar)
    out = np.empty((n, polar.shape[1], len(lm.classes)), np.float32)
    bs = resolve_batch_size(batch_size, dev, TASK)
    try:
        for i0 in range(0, n, bs):
            i1 = min(i0 + bs, n)
            offs = np.arange(-ctx, ctx + 1)
            idx = np.clip(np.arange(i0, i1)[:, None] + offs, 0, n - 1)
            out[i0:i1] = _forward_alines(module, polar[idx], dev, amp)
            yield i1
    finally:
        release_device(dev)
    return ALinePrediction(out, lm.classes, _threshold(lm), meta=prediction_meta(lm, dev))


def predict_polar(model, polar, **kw) -> ALinePrediction:
    """Plain form of :func:`iter_predict_polar`."""
    return run_steps(iter_predict_polar(model, polar, **kw))


def _threshold(lm: LoadedModel) -> float:
    return float(lm.metadata.get("input", {}).get("threshold", 0.5))


def iter_predict_pullback(
    model: LoadedModel | str | Path,
    pullback: Pullback | np.ndarray,
    batch_size: int | None = None,
    device: str = "auto",
    amp: bool = True,
    center: tuple[float, float] | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
) -> Generator[int, None, ALinePrediction]:
    """Run an A-line model over a pullback, streaming frames from the lazy reader in batches.

    Each batch reads ``batch_size`` frames plus the context frames around them, converts them
    to polar images about ``center`` (default: the catheter = image centre) with the model's
    polar sampling (A-lines, depth samples, depth in mm), and runs the model. Yields frames done.
    """
    lm = as_loaded(model)
    check_task(lm, TASK)
    frames = pullback.frames if isinstance(pullback, Pullback) else pullback
    if pixel_spacing_mm is None:
        if not isinstance(pullback, Pullback):
            raise ValueError("pixel_spacing_mm is needed for a bare frame array")
        pixel_spacing_mm = pullback.pixel_spacing_mm
    n = int(frames.shape[0])
    frame_shape = (int(frames.shape[1]), int(frames.shape[2]))
    center = tuple(center) if center is not None else default_center(frame_shape)
    spec = lm.metadata["input"]["polar"]
    ctx = int(lm.metadata["hparams"]["context"])
    dev = select_device(device)
    module = lm.module.to(dev).eval()
    out = np.empty((n, int(spec["n_alines"]), len(lm.classes)), np.float32)
    bs = resolve_batch_size(batch_size, dev, TASK)
    try:
        for i0 in range(0, n, bs):
            i1 = min(i0 + bs, n)
            r0, r1 = max(0, i0 - ctx), min(n, i1 + ctx)
            block = np.asarray(frames[r0:r1])
            pol = to_polar(
                block,
                center,
                n_alines=int(spec["n_alines"]),
                depth_samples=int(spec["depth_samples"]),
                depth_mm=float(spec["depth_mm"]),
                pixel_spacing_mm=tuple(pixel_spacing_mm),
                batch=max(len(block), 1),
                dtype=np.uint8,
            )
            offs = np.arange(-ctx, ctx + 1)
            idx = np.clip(np.arange(i0, i1)[:, None] + offs, 0, n - 1) - r0
            out[i0:i1] = _forward_alines(module, pol[idx], dev, amp)
            yield i1
    finally:
        release_device(dev)
    return ALinePrediction(
        out, lm.classes, _threshold(lm), frame_shape, center, meta=prediction_meta(lm, dev)
    )


def predict_pullback(model, pullback, **kw) -> ALinePrediction:
    """Plain form of :func:`iter_predict_pullback`."""
    return run_steps(iter_predict_pullback(model, pullback, **kw))


def alines_to_arcset(pred: ALinePrediction, annotator: str = "model") -> ArcSet:
    """The prediction as an IVUS :class:`~napari_plaque.ivus.arcs.ArcSet` (arcs per class)."""
    if pred.frame_shape is None:
        raise ValueError("the prediction has no frame shape (made from polar frames)")
    return ArcSet.from_labels(
        pred.labels,
        pred.classes,
        pred.frame_shape,
        center_mode=CenterMode.CATHETER.value,
        centers=list(pred.center) if pred.center is not None else None,
        annotator=annotator,
    )


# --------------------------------------------------------------------------- training


def iter_train_alines(
    data: str | Path | ALineDataset,
    out: str | Path,
    epochs: int = _SETTINGS.epochs,
    batch_size: int = _SETTINGS.batch_size,
    lr: float = _SETTINGS.lr,
    seed: int = _SETTINGS.seed,
    val_fraction: float = _SETTINGS.val_fraction,
    patience: int = _SETTINGS.patience,
    context: int = _OPT["context"],
    width: int = _OPT["width"],
    n_blocks: int = 3,
    k_smooth: int = 9,
    device: str = _SETTINGS.device,
    resume: bool = False,
    history: list[dict[str, Any]] | None = None,
    synthetic: bool | None = None,
    notes: str = "",
    precision: str = _OPT["precision"],
    live: dict[str, Any] | None = None,
    threads: int = _OPT["threads"],
) -> Generator[int, None, TrainResult]:
    """Train the A-line detector on an A-line dataset; yields optimiser steps done.

    The validation split is grouped by pullback (seeded); with a single pullback the last
    ``val_fraction`` of its frames (one contiguous block) is held out instead.

    ``precision``: see :data:`napari_plaque.models.train.PRECISIONS` ("auto": bfloat16 mixed
    precision on CPUs with AVX512-BF16/AMX and on bf16 GPUs, about twice as fast per epoch; fp32
    elsewhere).
    ``live``: a dict the trainer keeps up to date within an epoch (``epoch``, ``epochs``,
    ``batch``, ``batches``, ``loss`` (running mean), ``phase``, ``seconds``) for progress lines.
    ``threads``: CPU intra-op threads (0: :func:`napari_plaque.models.train.training_threads`
    decides).
    """
    ds = data if isinstance(data, ALineDataset) else read_aline_dataset(data, features=False)
    resolve_precision(select_device(device), precision)  # an unknown one is refused first
    if any(p.polar is None for p in ds.pullbacks):
        raise ValueError(f"{ds.path}: the training set was read without its polar frames")
    out = Path(out)
    torch.manual_seed(seed)
    ids = [p.id for p in ds.pullbacks]
    train_ids, val_ids = split_groups(ids, val_fraction, seed)
    tr_idx: list[tuple[int, int]] = []
    va_idx: list[tuple[int, int]] = []
    split = "pullback"
    for pi, p in enumerate(ds.pullbacks):
        fr = [(pi, f) for f in range(len(p.polar))]
        if val_ids:
            (va_idx if p.id in val_ids else tr_idx).extend(fr)
        else:
            split = "frames (single pullback)"
            cut = max(1, int(round(len(fr) * (1 - val_fraction))))
            tr_idx.extend(fr[:cut])
            va_idx.extend(fr[cut:])
    if not tr_idx or not va_idx:
        raise ValueError(f"{ds.path}: too few frames for a training/validation split")
    n_cls = len(ds.classes)
    pos = np.zeros(n_cls)
    tot = 0
    for p in ds.pullbacks:
        if not val_ids or p.id in train_ids:
            pos += p.labels.reshape(-1, n_cls).sum(axis=0)
            tot += p.labels.shape[0] * p.labels.shape[1]
    if not np.any(pos):
        raise ValueError(f"{ds.path}: the training pullbacks hold no positive A-line")
    pos_weight = torch.tensor(
        np.clip(np.sqrt((tot - pos) / np.maximum(pos, 1)), 1, 5), dtype=torch.float32
    )
    majority = pos / max(tot, 1) >= 0.5  # trivial baseline: the majority label per class

    model = ALineNet(
        n_classes=n_cls, context=context, width=width, n_blocks=n_blocks, k_smooth=k_smooth
    )

    def stack_u8(index: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Frames with their context (uint8 (N, 2c+1, A, D)) and labels (bool (N, A, C))."""
        xs = np.empty((len(index), 2 * context + 1, ds.n_alines, ds.depth_samples), np.uint8)
        ys = np.empty((len(index), ds.n_alines, n_cls), bool)
        for k, (pi, f) in enumerate(index):
            p = ds.pullbacks[pi]
            xs[k] = context_stack(p.polar, np.array([f]), context)[0]
            ys[k] = p.labels[f]
        return xs, ys

    def to_x(xs: np.ndarray) -> Any:
        return torch.from_numpy(xs).float().div_(255.0)

    def to_y(ys: np.ndarray) -> Any:
        return torch.from_numpy(ys.astype(np.float32)).permute(0, 2, 1)  # (B, C, A)

    # the training frames with their context, stacked once (uint8): each batch is a gather
    tr_x, tr_y = stack_u8(tr_idx)
    n_batches = -(-len(tr_idx) // batch_size)

    def batches(rng: np.random.Generator):
        """One epoch's batches, made one at a time (the first step starts at once)."""
        order = rng.permutation(len(tr_idx))
        shifts = [int(rng.integers(0, ds.n_alines)) for _ in range(n_batches)]
        for b, b0 in enumerate(range(0, len(order), batch_size)):
            sel = order[b0 : b0 + batch_size]
            x, y = to_x(tr_x[sel]), to_y(tr_y[sel])
            shift = shifts[b]  # rotate about the catheter: same physics
            yield torch.roll(x, shift, dims=2), torch.roll(y, shift, dims=2)

    val_xu8, val_yb = stack_u8(va_idx)
    val_y = to_y(val_yb)

    def loss_fn(logits, y):
        pw = pos_weight.to(logits.device)[None, :, None]
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)

    def evaluate(m) -> dict[str, Any]:
        dev = next(m.parameters()).device
        amp = "cpu" if dev.type == "cpu" and resolve_precision(dev, precision) == "bf16" else None
        chunks = []
        for i in range(0, len(val_xu8), 64):
            x = to_x(val_xu8[i : i + 64])
            chunks.append(m(to_device(x, dev, amp)).float().cpu())
        logits = torch.cat(chunks)
        loss = float(loss_fn(logits, val_y))
        pred = (torch.sigmoid(logits) >= 0.5).numpy()
        truth = val_y.numpy() >= 0.5
        res: dict[str, Any] = {"val_loss": loss}
        for c, name in enumerate(ds.classes):
            mm = binary_metrics(pred[:, c], truth[:, c])
            base = binary_metrics(np.full(truth[:, c].shape, majority[c]), truth[:, c])
            res.update({f"{name}_{k}": round(v, 4) for k, v in mm.items()})
            res[f"{name}_baseline_accuracy"] = round(base["accuracy"], 4)
            res[f"{name}_baseline_f1"] = round(base["f1"], 4)
            res[f"{name}_val_positives"] = int(np.count_nonzero(truth[:, c]))
        return res

    synthetic = bool(ds.manifest.get("synthetic", False)) if synthetic is None else synthetic
    run = FitSettings(epochs, lr, seed, patience, device, resume, precision, threads)

    def metadata_fn(metrics: dict[str, Any], epoch: int) -> dict[str, Any]:
        return make_metadata(
            model,
            TASK,
            ds.classes,
            {"kind": "uint8_scale", "scale": 1 / 255.0},
            {
                "polar": {
                    "n_alines": ds.n_alines,
                    "depth_samples": ds.depth_samples,
                    "depth_mm": ds.depth_mm,
                    "center": CenterMode.CATHETER.value,
                },
                "threshold": 0.5,
            },
            data_summary(
                train_ids if val_ids else ids,
                val_ids,
                data_format=ds.manifest.get("format"),
                n_pullbacks=len(ids),
                n_train_frames=len(tr_idx),
                n_val_frames=len(va_idx),
                split=split,
                **run_summary(run, epoch, batch_size),
                precision=resolve_precision(select_device(device), precision),
                synthetic=synthetic,
                notes=notes,
            ),
            metrics,
        )

    key = {
        "task": TASK,
        "hparams": model.hparams,
        "ids": sorted(ids),
        "seed": seed,
        "lr": lr,
        "batch_size": batch_size,
    }
    fit = FitTask(metadata_fn, batches, loss_fn, evaluate, key, n_batches)
    return (yield from fit_model(model, out, fit, run, history, live))


def alines_steps_per_epoch(
    data: ALineDataset, batch_size: int, val_fraction: float = 0.25, seed: int = 0
) -> int:
    """Optimiser steps per epoch of :func:`iter_train_alines` (for a progress bar)."""
    ids = [p.id for p in data.pullbacks]
    tr, va = split_groups(ids, val_fraction, seed)
    if va:
        n = sum(p.n_frames for p in data.pullbacks if p.id in tr)
    else:
        n = max(1, int(round(data.n_frames * (1 - val_fraction))))
    return -(-n // batch_size)


def train_alines(data, out, **kw) -> TrainResult:
    """Plain form of :func:`iter_train_alines`."""
    return run_steps(iter_train_alines(data, out, **kw))
