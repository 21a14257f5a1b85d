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

Uncertainty alone looks only where the current detector hesitates: a kind of calcium it has
never seen (a weak edge, a deep edge, a partial shadow) it calls background *confidently*, and
it keeps proposing frames near its own boundary. With ``descriptors`` (per frame, the
fraction of its A-lines in each of a few k-means clusters of the A-line features,
:func:`frame_descriptors`) :func:`propose_frames` weighs each frame's uncertainty by how much
of it is made of A-line kinds that the frames annotated or proposed so far do not cover
(greedy: ``score = 0.5 * u / max u + 0.5 * g / max g`` with the coverage gain
``g = sum_c h_c * exp(-covered_c / 0.5)``, ``covered_c`` the annotated and proposed frames'
fractions in cluster ``c`` added up; both maxima over the frames still free), so a batch covers both
the detector's boundary and the parts of the pullback unlike anything annotated. Before the
first train (no uncertainty yet) the same rule with ``uncertainty=None`` is a coverage cold
start.

With ``pullback_power > 0`` the uncertainty is instead weighed by the distance along the
pullback to the nearest annotated frame: ``(0.1 + u / max u) * (d / max d) ** power``, so a
proposal is both uncertain and in a stretch of the pullback nobody has annotated yet
(neighbouring frames look alike; a detector can be *confidently* wrong over a whole stretch
it has never seen, where uncertainty alone never looks).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "ACTIVE_DEFAULTS",
    "STRATEGIES",
    "aline_uncertainty",
    "frame_descriptors",
    "frame_uncertainty",
    "iter_frame_uncertainty",
    "propose_frames",
    "random_frames",
    "regular_frames",
]

#: the one home of the active-learning defaults (loop, CLI, benchmark read them)
ACTIVE_DEFAULTS = {"n": 10, "spread": None, "pullback_power": 0.0}
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


def frame_descriptors(
    features: np.ndarray, n_clusters: int = 24, seed: int = 0, max_samples: int = 20_000
) -> np.ndarray:
    """Per-frame feature-space content (F, n_clusters): the A-line features (F, N, K),
    standardised, are clustered (k-means on up to ``max_samples`` A-lines); a frame's
    descriptor is the fraction of its A-lines in each cluster (rows sum to 1). Used by
    :func:`propose_frames` to prefer frames whose kinds of A-line no annotated frame covers."""
    from scipy.cluster.vq import kmeans2

    x = np.asarray(features, np.float32)
    if x.ndim != 3:
        raise ValueError(f"features must be (frames, A-lines, features), got shape {x.shape}")
    f, n, k = x.shape
    flat = np.nan_to_num(x.reshape(-1, k).astype(np.float64))
    mu, sd = flat.mean(axis=0), flat.std(axis=0)
    flat = (flat - mu) / np.where(sd > 1e-9, sd, np.inf)
    rng = np.random.default_rng(seed)
    sample = flat[rng.choice(flat.shape[0], min(max_samples, flat.shape[0]), replace=False)]
    m = int(min(n_clusters, max(1, sample.shape[0])))
    cent, _ = kmeans2(sample, m, iter=20, minit="++", seed=seed)
    # nearest centre of every A-line (in chunks: F * N can be large)
    lab = np.empty(flat.shape[0], np.int64)
    c2 = (cent**2).sum(axis=1)
    for i in range(0, flat.shape[0], 65536):
        blk = flat[i : i + 65536]
        lab[i : i + 65536] = np.argmin(c2[None] - 2.0 * blk @ cent.T, axis=1)
    hist = np.zeros((f, m))
    np.add.at(hist, (np.repeat(np.arange(f), n), lab), 1.0)
    return hist / max(n, 1)


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
    descriptors: np.ndarray | None = None,
    pullback_power: float = ACTIVE_DEFAULTS["pullback_power"],
    n_frames: int | None = None,
) -> list[int]:
    """Up to ``n`` frames to annotate next, most uncertain first (see the module docstring).

    Parameters
    ----------
    uncertainty : (F,) per-frame uncertainty (:func:`frame_uncertainty`); NaN frames are skipped
    n : how many frames
    annotated : frames already annotated (never proposed)
    spread : proposals are more than ``spread`` frames apart (>= 1; None: from the pullback)
    exclude : other frames never proposed (e.g. held-out frames)
    descriptors : (F, D) per-frame feature-space content (:func:`frame_descriptors`): weigh
        the uncertainty with the content no annotated or proposed frame covers (module
        docstring); with them ``uncertainty`` may be None (cold start: coverage alone)
    pullback_power : > 0: weigh ``0.1 + u / max u`` by ``(d / max d) ** pullback_power``, ``d``
        the distance along the pullback (frames) to the nearest annotated frame (module
        docstring); ``uncertainty`` may then be None with ``n_frames`` given (cold start:
        farthest along the pullback from the annotated frames)
    n_frames : the pullback's frames, only where ``uncertainty`` is None
    """
    n_frames_hint = n_frames
    annotated = [int(f) for f in annotated]
    if uncertainty is None:
        if descriptors is None and not (pullback_power > 0 and n_frames_hint is not None):
            raise ValueError(
                "uncertainty is None: give descriptors or pullback_power and n_frames"
            )
        uncertainty = np.ones(len(descriptors) if descriptors is not None else n_frames_hint)
    u = np.asarray(uncertainty, float)
    if pullback_power > 0 and u.ndim == 1:
        u = _pullback_weighted(u, annotated, float(pullback_power))
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
    if descriptors is not None:
        return _propose_diverse(u, n, annotated, blocked, gap, descriptors)
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


def _pullback_weighted(u: np.ndarray, annotated: Iterable[int], power: float) -> np.ndarray:
    """``(0.1 + u / max u) * (d / max d) ** power``, d: frames to the nearest annotated frame."""
    n_frames = u.size
    ann = np.array(sorted({int(f) for f in annotated if 0 <= int(f) < n_frames}), int)
    fin = np.isfinite(u)
    umax = float(np.max(u[fin])) if fin.any() else 0.0
    un = np.where(fin, 0.1 + (u / umax if umax > 0 else 1.0), np.nan)
    if ann.size == 0:
        return un
    d = np.abs(np.arange(n_frames)[:, None] - ann[None, :]).min(axis=1).astype(float)
    dmax = float(d.max())
    return un * ((d / dmax) ** power if dmax > 0 else 1.0)


def _propose_diverse(u, n, annotated, blocked, gap, descriptors, tau=0.5) -> list[int]:
    h = np.asarray(descriptors, np.float64)
    if h.ndim != 2 or h.shape[0] != u.size:
        raise ValueError(f"descriptors must be ({u.size}, D), got shape {h.shape}")
    n_frames = u.size
    umax = float(np.nanmax(np.where(blocked, np.nan, u))) if (~blocked).any() else 0.0
    un = np.nan_to_num(u) / umax if umax > 0 else np.ones(n_frames)
    alpha = 0.5  # weight of the coverage term
    ann = [int(f) for f in annotated if 0 <= int(f) < n_frames]
    covered = h[ann].sum(axis=0) if ann else np.zeros(h.shape[1])
    taken = blocked.copy()
    out: list[int] = []
    while len(out) < n and not taken.all():
        gain = h @ np.exp(-covered / tau)  # the frame's A-lines of kinds not yet covered
        gmax = float(np.max(np.where(taken, 0.0, gain)))
        score = np.where(taken, -np.inf, (1 - alpha) * un + alpha * gain / max(gmax, 1e-12))
        f = int(np.argmax(score))
        if not np.isfinite(score[f]):
            break
        out.append(f)
        taken[max(0, f - gap) : f + gap + 1] = True
        covered = covered + h[f]
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
    from .deep import iter_predict_pullback

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
