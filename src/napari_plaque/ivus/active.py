"""Active learning for arc annotation: which frames to annotate next.

After a train, the detector scores every A-line of the pullback. A frame is *uncertain* when
many of its A-lines lie near the decision boundary:

- SVM (``kind="margin"``): per A-line ``u = max(0, 1 - |d - threshold|)`` of the (smoothed)
  decision value ``d`` (1 on the boundary, 0 outside the SVM margin);
- deep model (``kind="entropy"``): the binary entropy of the A-line probability, in bits
  (1 at p = 0.5).

A frame's uncertainty is the mean over its A-lines. :func:`propose_frames` takes frames most
uncertain first, never an annotated frame and never a frame within ``spread`` frames of one
already proposed (so no two proposals neighbour each other: ``spread >= 1``), which spreads
the proposals along the pullback. With ``spread=None`` the spacing is chosen from the
pullback: at least 1 frame (never neighbours), and about half the mean distance between
``n`` evenly spaced frames, so a batch of proposals covers the pullback instead of piling
up in one uncertain segment.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "ACTIVE_DEFAULTS",
    "STRATEGIES",
    "aline_uncertainty",
    "frame_uncertainty",
    "iter_frame_uncertainty",
    "propose_frames",
    "random_frames",
    "regular_frames",
]

#: the one home of the active-learning defaults (loop, CLI, benchmark read them)
ACTIVE_DEFAULTS = {"n": 10, "spread": None}
#: the frame-choice strategies the benchmark compares (uncertainty = :func:`propose_frames`)
STRATEGIES = ("uncertainty", "random", "every-nth")


def aline_uncertainty(values: np.ndarray, kind: str = "margin", threshold: float = 0.0):
    """Per-A-line uncertainty in [0, 1] from decision values (``margin``) or probabilities
    (``entropy``), same shape as ``values``."""
    v = np.asarray(values, np.float64)
    if kind == "margin":
        return np.clip(1.0 - np.abs(v - threshold), 0.0, 1.0)
    if kind == "entropy":
        p = np.clip(v, 1e-7, 1 - 1e-7)
        return -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    raise ValueError(f"uncertainty kind must be 'margin' or 'entropy', got {kind!r}")


def frame_uncertainty(values: np.ndarray, kind: str = "margin", threshold: float = 0.0):
    """Mean A-line uncertainty per frame (F,) of values (F, N) (or (F, N, C): classes pooled)."""
    u = aline_uncertainty(values, kind, threshold)
    return u.reshape(u.shape[0], -1).mean(axis=1)


def _auto_spread(n_free: int, n: int) -> int:
    if n <= 0:
        return 1
    return max(1, int(n_free / max(n, 1) / 2))


def propose_frames(
    uncertainty: np.ndarray,
    n: int = ACTIVE_DEFAULTS["n"],
    annotated: Iterable[int] = (),
    spread: int | None = ACTIVE_DEFAULTS["spread"],
    exclude: Iterable[int] = (),
) -> list[int]:
    """Up to ``n`` frames to annotate next, most uncertain first (see the module docstring).

    Parameters
    ----------
    uncertainty : (F,) per-frame uncertainty (:func:`frame_uncertainty`); NaN frames are skipped
    n : how many frames
    annotated : frames already annotated (never proposed)
    spread : proposals are more than ``spread`` frames apart (>= 1; None: from the pullback)
    exclude : other frames never proposed (e.g. held-out frames)
    """
    u = np.asarray(uncertainty, float)
    if u.ndim != 1:
        raise ValueError(f"uncertainty must be one value per frame, got shape {u.shape}")
    n_frames = u.size
    blocked = np.zeros(n_frames, bool)
    for f in (*annotated, *exclude):
        if 0 <= int(f) < n_frames:
            blocked[int(f)] = True
    blocked |= ~np.isfinite(u)
    free = int((~blocked).sum())
    gap = _auto_spread(free, n) if spread is None else max(1, int(spread))
    order = np.argsort(-np.where(blocked, -np.inf, u), kind="stable")
    taken = np.zeros(n_frames, bool)  # frames within ``gap`` of a proposal
    out: list[int] = []
    for f in order:
        if len(out) >= n:
            break
        f = int(f)
        if blocked[f] or taken[f]:
            continue
        out.append(f)
        taken[max(0, f - gap) : f + gap + 1] = True
    return out


def random_frames(
    n_frames: int, n: int, annotated: Iterable[int] = (), exclude: Iterable[int] = (), seed=0
) -> list[int]:
    """``n`` random frames not annotated nor excluded (a baseline for :func:`propose_frames`)."""
    rng = np.random.default_rng(seed)
    skip = {int(f) for f in (*annotated, *exclude)}
    free = np.array([f for f in range(n_frames) if f not in skip], int)
    if free.size == 0:
        return []
    return sorted(int(f) for f in rng.choice(free, size=min(n, free.size), replace=False))


def regular_frames(
    n_frames: int, n_total: int, annotated: Iterable[int] = (), exclude: Iterable[int] = ()
) -> list[int]:
    """Every-Nth-frame baseline: ``n_total`` frames evenly spread over the pullback (moved to
    the nearest free frame), minus those already annotated."""
    skip = {int(f) for f in exclude}
    have = {int(f) for f in annotated}
    free = np.array([f for f in range(n_frames) if f not in skip], int)
    if free.size == 0 or n_total <= 0:
        return []
    want = (np.arange(n_total) + 0.5) * n_frames / n_total
    picked: set[int] = set()
    for w in want:
        cand = free[np.argsort(np.abs(free - w), kind="stable")]
        for c in cand:
            if int(c) not in picked:
                picked.add(int(c))
                break
    return sorted(picked - have)


def iter_frame_uncertainty(
    detector: Any, pullback: Any, center: Any = None, cls: str | None = None
):
    """Generator: yields frames done; returns ``(uncertainty (F,), kind)`` of a loaded
    :class:`~napari_plaque.ivus.detector.ALineDetector` (SVM: margin of the smoothed decision
    values; deep model: entropy of the class probability) on every frame of ``pullback``."""
    from .polar import default_center

    c = default_center(pullback.frame_shape) if center is None else np.asarray(center, float)
    if detector.kind == "svm":
        from .features import iter_pullback_features
        from .loop import svm_scores

        m = detector.impl
        feats, _ = yield from iter_pullback_features(
            pullback.frames,
            c,
            int(m.meta["n_alines"]),
            int(m.meta["depth_samples"]),
            float(m.meta["depth_mm"]),
            tuple(pullback.pixel_spacing_mm),
        )
        scores = svm_scores(m, feats)
        return frame_uncertainty(scores, "margin", float(m.meta.get("threshold", 0.0))), "margin"
    from ..models.inference import iter_predict_pullback

    c = np.asarray(c, float)
    if c.ndim == 2:
        if not np.allclose(c, c[0]):
            raise ValueError(
                "the deep A-line model predicts about one centre per pullback; use arcs drawn "
                "about the catheter centre"
            )
        c = c[0]
    pred = yield from iter_predict_pullback(detector.impl, pullback, center=tuple(c))
    k = pred.classes.index(cls) if cls in pred.classes else 0
    return frame_uncertainty(pred.probs[:, :, k], "entropy"), "entropy"
