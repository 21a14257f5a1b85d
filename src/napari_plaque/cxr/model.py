"""The chest-radiograph CAC-category model: a ResNet-18 backbone with an ordinal head.

Three outputs, one per cut-point of the CAC score: CAC > 0, CAC >= 100, CAC >= 400. They are
consistent by construction (cumulative logits with non-negative decrements)::

    z_gt0   = a_0
    z_ge100 = z_gt0   - softplus(a_1)
    z_ge400 = z_ge100 - softplus(a_2)

so p(>0) >= p(>=100) >= p(>=400) for every input. ``a`` is a linear head on the image features
plus, when the model is trained with them, a linear term of the standardised clinical inputs
(age, sex, BMI): late fusion, as the study's integration models.

Backbone: ``torchvision.models.resnet18(weights=None)`` when torchvision imports and the width
is 64 (its only width); otherwise an in-project ResNet-18 with the same layer names, so the
state-dict keys are identical and checkpoints interoperate. No weights are ever downloaded.

Preprocessing (recorded in the checkpoint's ``input`` / ``normalisation``): the image with bone
bright (MONOCHROME1 inverted), long side resized to ``image_size`` (area-averaging), values mapped
from their 1st-99th percentile to [0, 1], then centred on a square canvas padded with 0 (air).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import FormatError
from ..models import require_torch, resolve_model  # noqa: F401 - resolve_model re-exported

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

from .spec import (  # noqa: E402 - torch-free definitions, re-exported here
    CATEGORIES,
    CLASSES,
    CLINICAL,
    CUTS,  # noqa: F401 - re-exported
    DEFAULTS,
    PROB_KEYS,
    TASK,
    category_index,
)

MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 1024


# --------------------------------------------------------------------------- backbone


def torchvision_available() -> bool:
    """Whether torchvision imports next to this torch (it often does not: a version mismatch)."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - ImportError, or RuntimeError "operator ... does not exist"
        return False
    return True


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (same attribute names)."""

    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class ResNet18(nn.Module):
    """ResNet-18 (torchvision layout and state-dict keys) with a chosen width and input channels.

    ``fc`` is an identity: the output is the pooled feature vector (``8 * width`` values).
    """

    def __init__(self, in_channels: int = 1, width: int = 64) -> None:
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(in_channels, w, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._layer(w, w, 1)
        self.layer2 = self._layer(w, 2 * w, 2)
        self.layer3 = self._layer(2 * w, 4 * w, 2)
        self.layer4 = self._layer(4 * w, 8 * w, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _layer(c_in: int, c_out: int, stride: int):
        return nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_backbone(in_channels: int = 1, width: int = 64, prefer_torchvision: bool = True):
    """(module, source): torchvision's resnet18 (weights=None) when it imports and ``width`` is
    64, else the in-project :class:`ResNet18`; both have the same state-dict keys."""
    if prefer_torchvision and width == 64 and torchvision_available():
        import torchvision

        net = torchvision.models.resnet18(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        net.fc = nn.Identity()
        return net, "torchvision"
    return ResNet18(in_channels, width), "napari-plaque"


class CXRNet(nn.Module):
    """ResNet-18 backbone + ordinal head for CAC > 0, >= 100, >= 400 (+ optional clinical).

    ``forward(x, clinical=None)``: ``x`` (B, in_channels, S, S) normalised images (or a
    ``(x, clinical)`` pair), ``clinical`` (B, n_clinical) standardised values. Returns the
    cumulative logits (B, 3), non-increasing along the last axis.
    """

    def __init__(
        self, in_channels: int = 1, width: int = 64, n_classes: int = 3, n_clinical: int = 0
    ) -> None:
        super().__init__()
        if n_classes != 3:
            raise ValueError("the CXR model has 3 outputs (CAC > 0, >= 100, >= 400)")
        self.hparams = {
            "in_channels": in_channels,
            "width": width,
            "n_classes": n_classes,
            "n_clinical": n_clinical,
        }
        self.backbone, self.backbone_source = build_backbone(in_channels, width)
        self.head = nn.Linear(8 * width, n_classes)
        self.clinical = nn.Linear(n_clinical, n_classes) if n_clinical else None

    @staticmethod
    def cumulative(a):
        """Raw head outputs (B, 3) -> ordered cumulative logits (B, 3)."""
        d = F.softplus(a[:, 1:])
        return torch.cat([a[:, :1], a[:, :1] - torch.cumsum(d, dim=1)], dim=1)

    def forward(self, x, clinical=None):
        if isinstance(x, tuple | list):
            x, clinical = x
        a = self.head(self.backbone(x))
        if self.clinical is not None:
            if clinical is None:
                raise ValueError("this model needs the clinical inputs (age, sex, BMI)")
            a = a + self.clinical(clinical)
        return self.cumulative(a)


class CXRBatch(tuple):
    """An (images, clinical) pair that moves to a device like a tensor (for the trainer)."""

    def __new__(cls, image, clinical=None):
        return super().__new__(cls, (image, clinical))

    def to(self, dev):
        img, cl = self
        return CXRBatch(img.to(dev), None if cl is None else cl.to(dev))


# --------------------------------------------------------------------------- preprocessing


def _resize(x: np.ndarray, shape: tuple[int, int]):
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None, None]
    if shape[0] < x.shape[0] or shape[1] < x.shape[1]:
        t = F.interpolate(t, size=shape, mode="area")
    else:
        t = F.interpolate(t, size=shape, mode="bilinear", align_corners=False)
    return t[0, 0].numpy()


def content_box(shape: tuple[int, int], size: int) -> tuple[int, int, int, int]:
    """(y0, x0, h, w): where an image of ``shape`` lies on the ``size`` x ``size`` canvas."""
    r, c = shape
    s = size / max(r, c)
    h, w = max(1, int(round(r * s))), max(1, int(round(c * s)))
    return ((size - h) // 2, (size - w) // 2, h, w)


def preprocess(
    image: Any, size: int = DEFAULTS["image_size"], percentiles=DEFAULTS["percentiles"]
) -> np.ndarray:
    """A radiograph (:class:`~napari_plaque.cxr.io.Radiograph` or 2D array, bone bright) ->
    float32 (size, size) model input in [0, 1] (see the module docstring)."""
    from .io import Radiograph

    x = image.bone_bright() if isinstance(image, Radiograph) else np.asarray(image, np.float32)
    if x.ndim != 2:
        raise ValueError(f"a radiograph is one 2D image, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("the radiograph holds NaN or infinite values")
    y0, x0, h, w = content_box(x.shape, size)
    small = _resize(x, (h, w))
    lo, hi = np.percentile(small, percentiles)
    if hi <= lo:
        hi = lo + 1.0
    small = np.clip((small - lo) / (hi - lo), 0.0, 1.0)
    out = np.zeros((size, size), np.float32)
    out[y0 : y0 + h, x0 : x0 + w] = small
    return out


def input_spec(size: int) -> dict[str, Any]:
    return {
        "image_size": [int(size), int(size)],
        "photometric": "bone bright (MONOCHROME1 inverted)",
        "crop": "none: long side resized to image_size, centred on a square canvas padded with 0",
        "resize": "area average (down), bilinear (up)",
    }


def normalisation_spec(percentiles, clin_mean=None, clin_std=None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "percentile",
        "percentiles": [float(percentiles[0]), float(percentiles[1])],
        "range": [0.0, 1.0],
    }
    if clin_mean is not None:
        out["clinical"] = list(CLINICAL)
        out["clinical_mean"] = [float(v) for v in clin_mean]
        out["clinical_std"] = [float(v) for v in clin_std]
    return out


# --------------------------------------------------------------------------- loading


def check_cxr_metadata(path: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The CXR-specific checks of a checkpoint's metadata (FormatError naming the field)."""
    if meta.get("task") != TASK:
        raise FormatError(path, f"a {meta.get('task')!r} model, not a chest-radiograph model")
    if list(meta.get("classes", [])) != CLASSES:
        raise FormatError(path, f"model metadata: classes must be {CLASSES}")
    for key in ("input", "normalisation", "hparams"):
        if not isinstance(meta.get(key, {}), dict):
            raise FormatError(path, f"model metadata: {key} must be a mapping")
    size = meta.get("input", {}).get("image_size")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or size[0] != size[1]
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and MIN_IMAGE_SIZE <= v <= MAX_IMAGE_SIZE
            for v in size
        )
    ):
        raise FormatError(
            path,
            f"model metadata: input.image_size must be [S, S] with S in "
            f"{MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}, got {size!r}",
        )
    norm = meta.get("normalisation", {})
    pct = norm.get("percentiles")
    if (
        not isinstance(pct, list)
        or len(pct) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pct)
        or not 0 <= pct[0] < pct[1] <= 100
    ):
        raise FormatError(path, f"model metadata: normalisation.percentiles is {pct!r}")
    n_clin = int(meta["hparams"].get("n_clinical", 0))
    if n_clin:
        if n_clin != len(CLINICAL):
            raise FormatError(path, f"model metadata: n_clinical must be 0 or {len(CLINICAL)}")
        for key in ("clinical_mean", "clinical_std"):
            v = norm.get(key)
            if not isinstance(v, list) or len(v) != n_clin:
                raise FormatError(
                    path, f"model metadata: normalisation.{key} needs {n_clin} values"
                )
            for x in v:
                if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
                    raise FormatError(path, f"model metadata: normalisation.{key} is {v!r}")
            if key == "clinical_std" and any(x <= 0 for x in v):
                raise FormatError(path, "model metadata: clinical_std must be > 0")
    thr = meta.get("input", {}).get("thresholds", list(DEFAULTS["thresholds"]))
    if (
        not isinstance(thr, list)
        or len(thr) != 3
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1 for v in thr
        )
    ):
        raise FormatError(path, "model metadata: input.thresholds must be 3 values in (0, 1)")
    return meta


def example_input(loaded: Any, batch: int = 1) -> Any:
    """A zero input of the shape a CXR model takes (tracing / export; registered with
    :mod:`napari_plaque.models.registry`)."""
    meta = loaded.metadata
    hp = meta["hparams"]
    size = meta["input"]["image_size"]
    size = (int(size), int(size)) if isinstance(size, (int, float)) else tuple(map(int, size))
    x = torch.zeros((batch, int(hp.get("in_channels", 1))) + size)
    n_clin = int(hp.get("n_clinical", 0) or 0)
    return (x, torch.zeros(batch, n_clin)) if n_clin else x


def load_cxr_model(model: Any):
    """A :class:`~napari_plaque.models.checkpoint.LoadedModel` of task ``cxr`` (checked)."""
    from ..models.checkpoint import LoadedModel, load_checkpoint

    lm = model if isinstance(model, LoadedModel) else load_checkpoint(resolve_model(model))
    check_cxr_metadata(lm.path or "model", lm.metadata)
    return lm




# --------------------------------------------------------------------------- prediction


def clinical_vector(
    lm: Any, age: float | None = None, sex: Any = None, bmi: float | None = None
) -> np.ndarray | None:
    """Standardised clinical inputs for a model trained with them (None for an image model)."""
    n = int(lm.metadata["hparams"].get("n_clinical", 0))
    if not n:
        return None
    from .train import parse_sex

    vals = {"age": age, "sex": parse_sex(sex) if sex is not None else None, "bmi": bmi}
    missing = [k for k, v in vals.items() if v is None]
    if missing:
        raise ValueError(
            f"this model was trained with age, sex and BMI; give {', '.join(missing)} "
            "(--age, --sex, --bmi)"
        )
    x = np.array([float(vals[k]) for k in CLINICAL], np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"clinical inputs must be finite numbers, got {x.tolist()}")
    norm = lm.metadata["normalisation"]
    return ((x - np.array(norm["clinical_mean"])) / np.array(norm["clinical_std"])).astype(
        np.float32
    )


@dataclass
class CXRPrediction:
    """The model's output for one radiograph."""

    probs: np.ndarray  # (3,) p(>0), p(>=100), p(>=400)
    thresholds: tuple[float, float, float]
    saliency: np.ndarray | None = None  # float32 (rows, cols) in [0, 1], the image's geometry
    saliency_target: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def category_index(self) -> int:
        return category_index(self.probs, self.thresholds)

    @property
    def category(self) -> str:
        return CATEGORIES[self.category_index]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: float(p) for k, p in zip(PROB_KEYS, self.probs, strict=True)}
        out["category"] = self.category
        out["thresholds"] = [float(t) for t in self.thresholds]
        if self.saliency_target is not None:
            out["saliency_target"] = self.saliency_target
        out.update(self.meta)
        out["warnings"] = list(self.warnings)
        return out


def _target_index(target: str | int, probs: np.ndarray, thresholds) -> int:
    if isinstance(target, int) or str(target).isdigit():
        k = int(target)
    elif target in CLASSES:
        k = CLASSES.index(target)
    elif target == "auto":  # the highest cut-point passed (CAC > 0 when none is)
        k = max(0, category_index(probs, thresholds) - 1)
    else:
        raise ValueError(f"saliency target must be auto, 0..2 or one of {CLASSES}, got {target!r}")
    if not 0 <= k < 3:
        raise ValueError(f"saliency target {k} is not 0..2")
    return k


def grad_cam(module: Any, x: Any, clinical: Any, k: int) -> np.ndarray:
    """Grad-CAM of cumulative logit ``k`` over the last residual stage: float32 (S, S) in
    [0, 1] (Selvaraju et al. 2017: ReLU of the gradient-weighted feature maps)."""
    feats: dict[str, Any] = {}

    def hook(_m, _inp, out):
        out.retain_grad()
        feats["a"] = out

    h = module.backbone.layer4.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            xx = x.detach().clone().requires_grad_(False)
            logits = module(xx, clinical)
            module.zero_grad(set_to_none=True)
            logits[0, k].backward()
            a = feats["a"]
            w = a.grad.mean(dim=(2, 3), keepdim=True)
            cam = F.relu((w * a).sum(dim=1, keepdim=True))
            cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
    finally:
        h.remove()
        module.zero_grad(set_to_none=True)
    cam = cam[0, 0].detach().cpu().numpy().astype(np.float32)
    top = float(cam.max())
    return cam / top if top > 0 else cam


def _saliency_to_image(cam: np.ndarray, shape: tuple[int, int], size: int) -> np.ndarray:
    y0, x0, h, w = content_box(shape, size)
    return np.clip(_resize(cam[y0 : y0 + h, x0 : x0 + w], shape), 0.0, 1.0).astype(np.float32)


def iter_predict_radiographs(
    model: Any,
    images: Sequence[Any],
    clinical: Sequence[dict[str, Any] | None] | dict[str, Any] | None = None,
    saliency: bool = False,
    saliency_target: str | int = DEFAULTS["saliency_target"],
    device: str = "auto",
    batch_size: int = 8,
) -> Generator[int, None, list[CXRPrediction]]:
    """Run a CXR model on radiographs (:class:`Radiograph`, 2D arrays or paths); yields
    images done, returns one :class:`CXRPrediction` each (Grad-CAM when ``saliency``)."""
    from ..models.inference import prediction_meta, release_device, select_device
    from .io import Radiograph, read_radiograph
    from .ood import check_input, header_warnings

    lm = load_cxr_model(model)
    size = int(lm.metadata["input"]["image_size"][0])
    pct = lm.metadata["normalisation"]["percentiles"]
    thr = tuple(float(t) for t in lm.metadata["input"].get("thresholds", DEFAULTS["thresholds"]))
    n = len(images)
    if clinical is None or isinstance(clinical, dict):
        clinical = [clinical] * n
    if len(clinical) != n:
        raise ValueError(f"{len(clinical)} clinical records for {n} images")
    clin = [clinical_vector(lm, **(c or {})) for c in clinical]
    dev = select_device(device)
    module = lm.module.to(dev).eval()
    meta = prediction_meta(lm, dev)
    out: list[CXRPrediction] = []
    try:
        for i0 in range(0, n, max(1, int(batch_size))):
            chunk = images[i0 : i0 + max(1, int(batch_size))]
            rgs = [read_radiograph(im) if isinstance(im, str | Path) else im for im in chunk]
            xs = np.stack([preprocess(rg, size, pct) for rg in rgs])[:, None]
            cl = clin[i0 : i0 + len(chunk)]
            ct = None if cl[0] is None else torch.from_numpy(np.stack(cl)).to(dev)
            with torch.inference_mode():
                xt = torch.from_numpy(xs).to(dev)
                probs = torch.sigmoid(module(xt, ct).float()).cpu().numpy()
            for j, (rg, p) in enumerate(zip(rgs, probs, strict=True)):
                warn = header_warnings(rg.meta) if isinstance(rg, Radiograph) else []
                facts, ood_warn = check_input(xs[j, 0], lm.metadata)
                # flagged: the input is not what the model measures (header, uniform, OOD)
                facts["flagged"] = bool(warn) or facts["uniform"] or facts["in_distribution"] is False
                warn += ood_warn
                if isinstance(rg, Radiograph) and not rg.spacing_known:
                    warn.append(f"pixel spacing unknown ({rg.spacing_note})")
                pred = CXRPrediction(
                    p.astype(np.float64), thr, meta={**meta, "ood": facts}, warnings=warn
                )
                if saliency:
                    k = _target_index(saliency_target, p, thr)
                    c1 = None if ct is None else ct[j : j + 1]
                    cam = grad_cam(module, torch.from_numpy(xs[j : j + 1]).to(dev), c1, k)
                    shape = rg.shape if isinstance(rg, Radiograph) else np.asarray(rg).shape
                    pred.saliency = _saliency_to_image(cam, tuple(shape), size)
                    pred.saliency_target = CLASSES[k]
                out.append(pred)
            yield min(i0 + len(chunk), n)
    finally:
        release_device(dev)
    return out


def predict_radiographs(model, images, **kw) -> list[CXRPrediction]:
    """Plain form of :func:`iter_predict_radiographs`."""
    from .._progress import run_steps

    return run_steps(iter_predict_radiographs(model, images, **kw))


def predict_radiograph(model, image, **kw) -> CXRPrediction:
    """One radiograph (see :func:`iter_predict_radiographs`)."""
    clinical = kw.pop("clinical", None)
    return predict_radiographs(model, [image], clinical=[clinical], **kw)[0]
