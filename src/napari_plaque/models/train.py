"""The training engine: seeded, grouped validation split, early stopping, resume.

:func:`fit_model` is the one training loop of every task: a task hands it a :class:`FitTask`
(batches, loss, validation, checkpoint metadata) and :class:`FitSettings`. The tasks live with
their data: the IVUS A-line detector in :mod:`napari_plaque.ivus.deep`, the chest-radiograph
model in :mod:`napari_plaque.cxr.train`; the CT U-Net is built in here
(:func:`iter_train_ctseg`, from a patch folder, an nnU-Net v2 raw folder, or image + label
arrays). Trainers are step generators (yield optimiser steps done, return a
:class:`TrainResult`), append one dict of metrics per epoch to ``history`` (a list the caller
may pass in and watch), save the best checkpoint (lowest validation loss) to ``out`` and a
resumable training state beside it (``<out>.state.pt``, tensors + JSON only).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import run_steps
from ..io.atomic import atomic_path
from ..io.errors import FormatError
from . import TRAIN_OPTION_DEFAULTS, TRAIN_TASKS, require_torch
from .checkpoint import make_metadata, save_model
from .data import (
    AIR_HU,
    CTTrainingSet,
    _pad_to,
    hu_normalise,
    read_ct_training_set,
    sample_patch_corners,
    split_groups,
)
from .inference import select_device
from .nets import UNet

torch = require_torch()

#: default settings of each task (one home: models.TRAIN_TASKS, read by the CLI and widget)
_ctseg = TRAIN_TASKS["ct-seg"].settings
_opt = TRAIN_OPTION_DEFAULTS
F = torch.nn.functional

STATE_FORMAT = "napari-plaque/train-state"


@dataclass
class TrainResult:
    """What a training run produced."""

    path: str
    history: list[dict[str, Any]]
    best_epoch: int
    metrics: dict[str, Any]
    stopped_early: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


def state_path(out: str | Path) -> Path:
    """The resumable training state saved beside a model file."""
    out = Path(out)
    return out.with_name(out.name + ".state.pt")


def _save_state(out: Path, model, opt, info: dict[str, Any]) -> None:
    payload = {
        "metadata": json.dumps({"format": STATE_FORMAT, "version": 1, **info}),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optim": opt.state_dict(),
    }
    with atomic_path(state_path(out)) as tmp:
        torch.save(payload, tmp)


def _load_state(out: Path) -> dict[str, Any] | None:
    p = state_path(out)
    if not p.is_file():
        return None
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
        info = json.loads(raw["metadata"])
    except Exception as exc:  # noqa: BLE001
        raise FormatError(p, f"cannot resume: unreadable training state ({exc})") from None
    if info.get("format") != STATE_FORMAT:
        raise FormatError(p, "cannot resume: not a napari-plaque training state")
    return {"info": info, "model": raw["model"], "optim": raw["optim"]}


def binary_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of boolean predictions (NaN where undefined)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    tp = float(np.count_nonzero(pred & truth))
    fp = float(np.count_nonzero(pred & ~truth))
    fn = float(np.count_nonzero(~pred & truth))
    n = float(pred.size)
    # undefined where nothing is predicted / positive (NaN, null in JSON), never a vacuous
    # 1.0: a validation set without calcium would otherwise report a perfect F1
    nan = float("nan")
    prec = tp / (tp + fp) if tp + fp else nan
    rec = tp / (tp + fn) if tp + fn else nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else nan
    return {
        "accuracy": (n - fp - fn) / n if n else 0.0,
        "precision": prec,
        "recall": rec,
        "f1": f1,
    }


def _dice_or_nan(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice of one class, rounded; NaN when the class is absent from both prediction and truth.

    An absent class has no overlap to measure: counting it as Dice 1 inflates a mean over
    classes. NaN, excluded from :func:`_nan_mean`, is MONAI's convention
    (``DiceMetric(ignore_empty=True)``)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if not pred.any() and not truth.any():
        return float("nan")
    return round(binary_metrics(pred, truth)["f1"], 4)


def _nan_mean(values: list[float]) -> float:
    """Mean of the finite values (4 decimals); NaN when there is none."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return round(float(v.mean()), 4) if v.size else float("nan")


@dataclass(frozen=True)
class FitTask:
    """What a task gives the training engine (:func:`fit_model`).

    ``batches(rng)`` one epoch's (input, target) pairs (anything with ``.to(device)``);
    ``loss(output, target)`` the training loss; ``evaluate(module)`` the validation metrics,
    ``val_loss`` among them (run in inference mode); ``metadata(metrics, epoch)`` the
    checkpoint metadata of the best epoch; ``key`` what must match to resume (settings, data);
    ``n_batches`` batches per epoch (progress lines).
    """

    metadata: Callable[[dict[str, Any], int], dict[str, Any]]
    batches: Callable[[np.random.Generator], Any]
    loss: Callable[[Any, Any], Any]
    evaluate: Callable[[Any], dict[str, Any]]
    key: dict[str, Any]
    n_batches: int = 0


@dataclass(frozen=True)
class FitSettings:
    """How :func:`fit_model` runs: AdamW at ``lr``, at most ``epochs``, early stopping after
    ``patience`` epochs without a better validation loss; ``precision`` see
    :data:`PRECISIONS`; ``threads`` CPU intra-op threads (0: :func:`training_threads`)."""

    epochs: int
    lr: float
    seed: int
    patience: int
    device: str = "auto"
    resume: bool = False
    precision: str = "fp32"
    threads: int = 0


def fit_model(
    model,
    out: Path,
    task: FitTask,
    settings: FitSettings,
    history: list[dict[str, Any]] | None = None,
    live: dict[str, Any] | None = None,
) -> Generator[int, None, TrainResult]:
    """The training engine shared by every task (A-lines, CT U-Net, the CXR model): AdamW,
    per-epoch validation by ``task.evaluate``, best checkpoint (lowest ``val_loss``) written to
    ``out`` with ``task.metadata(metrics, epoch)``, resumable state beside it, early stopping
    after ``settings.patience`` epochs. A step generator (one step per batch); returns
    TrainResult. ``history`` (a list the caller may watch) gets one dict per epoch; ``live`` is
    kept up to date within an epoch (``epoch``, ``epochs``, ``batch``, ``batches``, ``loss``,
    ``phase``, ``seconds``)."""
    epochs, lr, seed, patience = settings.epochs, settings.lr, settings.seed, settings.patience
    device, resume, precision, threads = (
        settings.device, settings.resume, settings.precision, settings.threads
    )
    metadata_fn, train_batches, loss_fn, evaluate = (
        task.metadata, task.batches, task.loss, task.evaluate
    )
    hparams_key, n_batches = task.key, task.n_batches
    dev = select_device(device)
    n_threads = training_threads(threads)
    model.to(dev)
    amp = _autocast(dev, precision)
    if amp is not None and dev.type == "cpu":
        model.to(memory_format=torch.channels_last)  # oneDNN's fast layout for bf16 convs
    live = {} if live is None else live
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    history = [] if history is None else history
    start_epoch, best_loss, best_epoch, bad = 0, float("inf"), -1, 0
    best_metrics: dict[str, Any] = {}
    if resume:
        st = _load_state(out)
        if st is not None:
            info = st["info"]
            if info.get("hparams_key") != json.loads(json.dumps(hparams_key)):
                raise FormatError(
                    state_path(out), "cannot resume: the saved run used other settings or data"
                )
            model.load_state_dict(st["model"])
            opt.load_state_dict(st["optim"])
            history.extend(info["history"])
            start_epoch = int(info["epoch"]) + 1
            best_loss, best_epoch, bad = (
                float(info["best_loss"]),
                int(info["best_epoch"]),
                int(info["bad_epochs"]),
            )
            best_metrics = info.get("best_metrics", {})
    rng = np.random.default_rng([seed, start_epoch])
    torch.manual_seed(seed * 1000 + start_epoch)
    step = 0
    stopped = False
    try:
        for epoch in range(start_epoch, epochs):
            if bad >= patience:
                stopped = True
                break
            t0 = time.perf_counter()
            model.train()
            losses = []
            live.update(epoch=epoch + 1, epochs=epochs, batch=0, batches=n_batches,
                        loss=float("nan"), phase="train", seconds=0.0)  # fmt: skip
            for xb, yb in train_batches(rng):
                # grad mode is thread-local: set it per step, never rely on the thread's state
                with torch.enable_grad(), _threads(dev, n_threads):
                    x, y = to_device(xb, dev, amp), yb.to(dev)
                    opt.zero_grad(set_to_none=True)
                    with _amp_context(amp):
                        out_b = model(x)
                    loss = loss_fn(out_b.float(), y)
                    loss.backward()
                    opt.step()
                losses.append(float(loss.detach()))
                step += 1
                live.update(batch=len(losses), loss=float(np.mean(losses)),
                            seconds=round(time.perf_counter() - t0, 3))  # fmt: skip
                yield step
            model.eval()
            live["phase"] = "validate"
            with torch.inference_mode(), _amp_context(amp), _threads(dev, n_threads):
                val = evaluate(model)
            rec = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                **val,
                "batches": len(losses),
                "threads": n_threads if dev.type == "cpu" else None,
                "seconds": round(time.perf_counter() - t0, 3),
            }
            history.append(rec)
            if val["val_loss"] < best_loss - 1e-6:
                best_loss, best_epoch, bad = val["val_loss"], epoch + 1, 0
                best_metrics = dict(rec)
                save_model(out, model, metadata_fn(best_metrics, epoch + 1))
            else:
                bad += 1
            _save_state(
                out,
                model,
                opt,
                {
                    "epoch": epoch,
                    "history": history,
                    "best_loss": best_loss,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad,
                    "best_metrics": best_metrics,
                    "hparams_key": hparams_key,
                },
            )
    finally:
        model.to(memory_format=torch.contiguous_format)
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    if best_epoch < 0:
        if history:
            raise ValueError(
                "no epoch gave a finite validation loss (diverged?); nothing was saved - "
                "try a lower learning rate"
            )
        raise ValueError("training ran no epoch (nothing to save)")
    return TrainResult(str(out), history, best_epoch, best_metrics, stopped)


#: arithmetic of the training step: "auto" (bfloat16 mixed precision where the device does it
#: natively, else fp32), "bf16" or "fp32"; master weights, loss and optimiser stay fp32 always
PRECISIONS = ("auto", "bf16", "fp32")


def bf16_native(dev: Any) -> bool:
    """Whether ``dev`` runs bfloat16 convolutions natively (AVX512-BF16/AMX CPUs via oneDNN,
    CUDA GPUs that support bf16)."""
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # pragma: no cover - older torch builds
            return False
    return False


def resolve_precision(dev: Any, precision: str = "auto") -> str:
    """``"bf16"`` or ``"fp32"`` for ``precision`` on ``dev`` (ValueError for an unknown one)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return "bf16" if bf16_native(dev) else "fp32"
    return precision


def training_threads(threads: int = 0) -> int:
    """Intra-op threads for a CPU training run: ``threads`` when given (> 0), else torch's
    setting, cut to 1 while the machine is oversubscribed (1-minute load average above the
    CPU count). Measured on a shared 2-core machine at load 6-8
    (``benchmarks/bench_aline_train.py``): a 2-thread step waits on whichever thread was
    descheduled, so 1 thread is 1.5-2x faster there; on an idle machine torch's setting stays."""
    if threads and threads > 0:
        return int(threads)
    n = int(torch.get_num_threads())
    try:
        busy = os.getloadavg()[0] > (os.cpu_count() or 1)
    except (AttributeError, OSError):  # pragma: no cover - no load average (Windows)
        busy = False
    return 1 if busy else n


@contextlib.contextmanager
def _threads(dev: Any, threads: int):
    """Run with ``threads`` intra-op threads on a CPU (restored afterwards)."""
    if dev.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _autocast(dev: Any, precision: str) -> Any:
    """The autocast device type for bf16 training, or None for fp32."""
    return dev.type if resolve_precision(dev, precision) == "bf16" else None


def _amp_context(amp: Any):
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(amp, dtype=torch.bfloat16)


def to_device(x: Any, dev: Any, amp: Any) -> Any:
    """A batch on ``dev`` (channels-last for 4D inputs under CPU autocast, ``amp`` ``"cpu"``)."""
    x = x.to(dev)
    if amp == "cpu" and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def run_summary(settings: FitSettings, epoch: int, batch_size: int) -> dict[str, Any]:
    """The run's figures every checkpoint's ``training`` block records: the best ``epoch``,
    seed, learning rate and batch size."""
    return {"epochs": epoch, "seed": settings.seed, "lr": settings.lr, "batch_size": batch_size}


def data_summary(ids: list[str], val_ids: list[str], **kw: Any) -> dict[str, Any]:
    """The ``training`` block of a checkpoint's metadata: sorted train / validation ids, ``kw``."""
    return {"train_ids": sorted(ids), "val_ids": sorted(val_ids), **kw}


# --------------------------------------------------------------------------- CT segmentation


def _crop_patch(hu, lab, corner, size):
    sl = tuple(slice(c, c + s) for c, s in zip(corner, size, strict=True))
    return hu[sl], lab[sl]


def iter_train_ctseg(
    data: str | Path | CTTrainingSet,
    out: str | Path,
    epochs: int = _ctseg.epochs,
    dims: int = _opt["dims"],
    patch_size: tuple[int, int, int] | None = None,
    batch_size: int = _ctseg.batch_size,
    patches_per_epoch: int = 64,
    val_patches: int = 32,
    lr: float = _ctseg.lr,
    seed: int = _ctseg.seed,
    val_fraction: float = _ctseg.val_fraction,
    patience: int = _ctseg.patience,
    window_hu: tuple[float, float] = _opt["window_hu"],
    base_channels: int = _opt["base_channels"],
    levels: int = _opt["levels"],
    device: str = _ctseg.device,
    resume: bool = False,
    history: list[dict[str, Any]] | None = None,
    synthetic: bool = False,
    notes: str = "",
    live: dict[str, Any] | None = None,
) -> Generator[int, None, TrainResult]:
    """Train a 2D/3D U-Net on a CT training set; yields optimiser steps done (``live``: see
    :func:`fit_model`).

    Patches (``patch_size`` = (z, y, x); z = 1 for 2D) are sampled at random each epoch, half of
    them centred on labelled voxels; validation patches come from held-out cases (split grouped
    by case/study id, seeded) and are fixed. Loss: cross-entropy + soft Dice on foreground.
    """
    ts = data if isinstance(data, CTTrainingSet) else read_ct_training_set(data)
    out = Path(out)
    if dims not in (2, 3):
        raise ValueError("dims must be 2 or 3")
    div = 2 ** (levels - 1)
    if patch_size is None:
        patch_size = (1, 64, 64) if dims == 2 else (32, 64, 64)
    patch_size = tuple(int(p) for p in patch_size)
    if dims == 2 and patch_size[0] != 1:
        raise ValueError("a 2D model trains on patches with z size 1")
    if any(p % div for p in patch_size[3 - dims :]):
        raise ValueError(f"patch sizes must be multiples of {div} for a U-Net with {levels} levels")
    classes = list(ts.classes)
    n_cls = len(classes)
    torch.manual_seed(seed)
    ids = [c.id for c in ts.cases]
    train_ids, val_ids = split_groups(ids, val_fraction, seed)
    if not val_ids:
        raise ValueError("CT training needs at least two cases (studies) for a grouped split")
    tr_cases = [c for c in ts.cases if c.id in train_ids]
    va_cases = [c for c in ts.cases if c.id in val_ids]
    prepared = {}
    for c in ts.cases:
        hu = _pad_to(np.asarray(c.hu, np.float32), patch_size, AIR_HU)
        lab = _pad_to(np.asarray(c.labels), patch_size, 0)
        if lab.max(initial=0) >= n_cls:
            raise ValueError(f"case {c.id}: label {int(lab.max())} but only {n_cls} classes")
        prepared[id(c)] = (hu_normalise(hu, window_hu), lab.astype(np.int64))

    def draw(cases, n, rng):
        xs, ys = [], []
        per = np.bincount(rng.integers(0, len(cases), n), minlength=len(cases))
        for c, k in zip(cases, per, strict=True):
            if not k:
                continue
            hu, lab = prepared[id(c)]
            for corner in sample_patch_corners(lab, patch_size, int(k), rng):
                a, b = _crop_patch(hu, lab, corner, patch_size)
                xs.append(a)
                ys.append(b)
        x = torch.from_numpy(np.stack(xs))
        y = torch.from_numpy(np.stack(ys))
        if dims == 2:
            return x[:, 0:1], y[:, 0]  # (B,1,y,x), (B,y,x)
        return x[:, None], y

    vx, vy = draw(va_cases, val_patches, np.random.default_rng([seed, 99]))
    # trivial baseline: every voxel is the training majority class (background)
    counts = np.zeros(n_cls)
    for c in tr_cases:
        counts += np.bincount(prepared[id(c)][1].ravel(), minlength=n_cls)[:n_cls]
    majority = int(np.argmax(counts))
    model = UNet(dims=dims, n_classes=n_cls, base_channels=base_channels, levels=levels)

    def batches(rng):
        x, y = draw(tr_cases, patches_per_epoch, rng)
        if rng.random() < 0.5:  # left-right flip of the in-plane axis
            x, y = torch.flip(x, dims=[-1]), torch.flip(y, dims=[-1])
        order = torch.from_numpy(rng.permutation(len(x)))
        x, y = x[order], y[order]
        return [
            (x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(x), batch_size)
        ]

    def loss_fn(logits, y):
        ce = F.cross_entropy(logits, y)
        prob = torch.softmax(logits, dim=1)
        onehot = F.one_hot(y, n_cls).movedim(-1, 1).float()
        red = (0, *range(2, prob.ndim))
        inter = (prob * onehot).sum(red)
        denom = prob.sum(red) + onehot.sum(red)
        dice = (2 * inter + 1) / (denom + 1)
        return ce + (1 - dice[1:].mean()) if n_cls > 1 else ce

    def evaluate(m) -> dict[str, Any]:
        dev = next(m.parameters()).device
        logits = torch.cat([m(vx[i : i + 8].to(dev)) for i in range(0, len(vx), 8)]).cpu()
        loss = float(loss_fn(logits, vy))
        pred = logits.argmax(1).numpy()
        truth = vy.numpy()
        res: dict[str, Any] = {
            "val_loss": loss,
            "accuracy": round(float((pred == truth).mean()), 4),
        }
        res["baseline_accuracy"] = round(float((truth == majority).mean()), 4)
        dices = []
        for k in range(1, n_cls):
            res[f"{classes[k]}_dice"] = _dice_or_nan(pred == k, truth == k)
            res[f"{classes[k]}_baseline_dice"] = _dice_or_nan(
                np.full(truth.shape, majority == k), truth == k
            )
            dices.append(res[f"{classes[k]}_dice"])
        res["mean_dice"] = _nan_mean(dices)
        res["absent_classes"] = [classes[k] for k, d in enumerate(dices, 1) if np.isnan(d)]
        return res

    spacings = np.array([c.spacing_mm for c in ts.cases], float)
    run = FitSettings(epochs, lr, seed, patience, device, resume)

    def metadata_fn(metrics, epoch):
        return make_metadata(
            model,
            "ct-seg",
            classes,
            {"kind": "hu_window", "window_hu": [float(window_hu[0]), float(window_hu[1])]},
            {
                "spacing_mm": np.median(spacings, axis=0).round(4).tolist(),
                "patch_size": list(patch_size),
            },
            data_summary(
                train_ids,
                val_ids,
                data_format=ts.source_format,
                n_cases=len(ids),
                **run_summary(run, epoch, batch_size),
                patches_per_epoch=patches_per_epoch,
                synthetic=bool(synthetic),
                notes=notes,
            ),
            metrics,
        )

    key = {
        "task": "ct-seg",
        "hparams": model.hparams,
        "ids": sorted(ids),
        "seed": seed,
        "patch_size": list(patch_size),
        "window_hu": list(window_hu),
    }
    fit = FitTask(metadata_fn, batches, loss_fn, evaluate, key, -(-patches_per_epoch // batch_size))
    return (yield from fit_model(model, out, fit, run, history, live))


def train_ctseg(data, out, **kw) -> TrainResult:
    """Plain form of :func:`iter_train_ctseg`."""
    return run_steps(iter_train_ctseg(data, out, **kw))
