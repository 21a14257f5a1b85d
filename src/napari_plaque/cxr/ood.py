"""Is this a frontal chest radiograph like the ones the model was trained on? (numpy only)

A CAC category from an image the model never saw the like of (a tibia, an IVUS frame saved as
PNG, an all-black image) is a plausible number nobody should trust. Three checks, each a line
in the prediction's ``warnings`` (never silent):

1. **Header** (DICOM): ``BodyPartExamined`` present and not the chest; ``ViewPosition``
   present and not frontal (PA / AP).
2. **Image content**: a uniform image (no contrast after the model's normalisation).
3. **Training distribution**: the image's *signature* (computed on the model's own input, see
   :func:`signature`: content aspect, intensity histogram, an 8 x 8 layout of mean intensity,
   contrast) against the reference of the training images stored in the checkpoint
   (``metadata["ood"]``, written by :mod:`napari_plaque.cxr.train`): the score is the mean
   squared z-score over the signature's features; above the reference's ``threshold`` (twice
   the 99th percentile of the training images' own scores, at least 4) the image is flagged as
   outside the training distribution. A checkpoint without a reference (made before it was
   stored, as the shipped ``demo_cxr.pt``) gives the warning ``no OOD reference`` instead: the
   image could not be checked against what the model knows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

OOD_FORMAT = "napari-plaque/cxr-ood-reference"
OOD_VERSION = 1
#: ``BodyPartExamined`` values (upper case, DICOM CS) that are the chest
CHEST_PARTS = frozenset({"CHEST", "THORAX", "LUNG", "HEART", "CHEST_TO_PELVIS", "CHESTABDOMEN"})
#: frontal ``ViewPosition`` values
FRONTAL_VIEWS = frozenset({"PA", "AP"})
HIST_BINS = 16
LAYOUT = 8
#: per-feature floor of the reference's standard deviation (features are fractions in [0, 1])
STD_FLOOR = 0.02
MIN_THRESHOLD = 4.0
NO_REFERENCE = (
    "no OOD reference in this model: the image could not be checked against the model's "
    "training distribution (retrain with this napari-plaque to store one)"
)


def header_warnings(meta: dict[str, Any] | None) -> list[str]:
    """Warnings from a radiograph's DICOM header facts (``body_part``, ``view_position``)."""
    meta = meta or {}
    out = []
    part = str(meta.get("body_part") or "").strip().upper()
    if part and part not in CHEST_PARTS:
        out.append(
            f"BodyPartExamined is {part!r}: not a chest radiograph; the CAC category is "
            "meaningless here"
        )
    view = str(meta.get("view_position") or "").strip().upper()
    if view and view not in FRONTAL_VIEWS:
        out.append(
            f"ViewPosition is {view!r}: the model reads frontal (PA / AP) chest radiographs"
        )
    return out


def _content(x: np.ndarray) -> np.ndarray:
    """The image part of a model input (the canvas padding of exact 0 rows/cols cut away)."""
    x = np.asarray(x, np.float32)
    rows = np.flatnonzero(x.any(axis=1))
    cols = np.flatnonzero(x.any(axis=0))
    if not rows.size or not cols.size:
        return x
    return x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _block_means(c: np.ndarray, n: int) -> np.ndarray:
    r = np.linspace(0, c.shape[0], n + 1).astype(int)
    k = np.linspace(0, c.shape[1], n + 1).astype(int)
    out = np.zeros((n, n), np.float32)
    for i in range(n):
        for j in range(n):
            blk = c[r[i] : max(r[i + 1], r[i] + 1), k[j] : max(k[j + 1], k[j] + 1)]
            out[i, j] = float(blk.mean()) if blk.size else 0.0
    return out.ravel()


def signature(x: np.ndarray) -> np.ndarray:
    """Features (float64) of one model input (S, S) in [0, 1] (see the module docstring)."""
    c = _content(x)
    h, w = c.shape
    hist = np.histogram(c, bins=HIST_BINS, range=(0.0, 1.0))[0] / max(c.size, 1)
    return np.concatenate(
        [
            [np.log(h / max(w, 1)) / 2.0 + 0.5],
            hist,
            _block_means(c, LAYOUT),
            [float(c.std()), float((c <= 0.02).mean()), float((c >= 0.98).mean())],
        ]
    ).astype(np.float64)


def _score(sig: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float:
    z = (sig - mean) / np.maximum(std, STD_FLOOR)
    return float(np.mean(z * z))


def ood_reference(inputs: np.ndarray) -> dict[str, Any]:
    """The reference of the training images (model inputs (N, S, S) or (N, 1, S, S))."""
    x = np.asarray(inputs, np.float32)
    if x.ndim == 4:
        x = x[:, 0]
    if x.ndim != 3 or len(x) < 2:
        raise ValueError("an OOD reference needs two or more model inputs (N, S, S)")
    sigs = np.stack([signature(im) for im in x])
    mean, std = sigs.mean(axis=0), sigs.std(axis=0)
    scores = np.array([_score(s, mean, std) for s in sigs])
    q99 = float(np.quantile(scores, 0.99))
    return {
        "format": OOD_FORMAT,
        "version": OOD_VERSION,
        "features": f"aspect, {HIST_BINS}-bin histogram, {LAYOUT}x{LAYOUT} layout, contrast",
        "n_images": int(len(x)),
        "mean": [round(float(v), 6) for v in mean],
        "std": [round(float(v), 6) for v in std],
        "train_score_q99": round(q99, 4),
        "threshold": round(max(MIN_THRESHOLD, 2.0 * q99), 4),
    }


def _reference(meta: dict[str, Any]) -> dict[str, Any] | None:
    ref = meta.get("ood")
    if not isinstance(ref, dict) or ref.get("format") != OOD_FORMAT:
        return None
    n = 1 + HIST_BINS + LAYOUT * LAYOUT + 3
    try:
        mean = np.asarray(ref["mean"], float)
        std = np.asarray(ref["std"], float)
        thr = float(ref["threshold"])
    except (KeyError, TypeError, ValueError):
        return None
    if mean.shape != (n,) or std.shape != (n,) or not np.isfinite([*mean, *std, thr]).all():
        return None
    return {"mean": mean, "std": std, "threshold": thr}


def check_input(x: np.ndarray, model_meta: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``(facts, warnings)`` for one model input against the checkpoint's reference.

    ``facts``: ``{"score", "threshold", "in_distribution"}`` (None where there is no reference)
    plus ``"uniform"``."""
    c = _content(x)
    facts: dict[str, Any] = {"uniform": bool(c.std() < 1e-3), "score": None, "threshold": None}
    warns = []
    if facts["uniform"]:
        warns.append("the image is uniform (no contrast): not a radiograph the model can read")
    ref = _reference(model_meta)
    if ref is None:
        warns.append(NO_REFERENCE)
        facts["in_distribution"] = None
        return facts, warns
    score = _score(signature(x), ref["mean"], ref["std"])
    facts.update(score=round(score, 3), threshold=ref["threshold"])
    facts["in_distribution"] = bool(score <= ref["threshold"]) and not facts["uniform"]
    if score > ref["threshold"]:
        warns.append(
            f"outside the model's training distribution (OOD score {score:.1f} > "
            f"{ref['threshold']:.1f}): probably not a frontal chest radiograph like those "
            "it was trained on; do not use this category"
        )
    return facts, warns
