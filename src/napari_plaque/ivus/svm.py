"""SVM calcium detector per A-line: training with grouped CV, safe model files, prediction.

The model is a linear SVM (scikit-learn ``LinearSVC``) on standardised A-line features
(:mod:`napari_plaque.ivus.features`). Model files are a single ``.npz`` holding only numeric
arrays and a JSON string (coefficients, intercept, scaler mean/scale, feature names and
version, polar geometry, smoothing, software version): loading never unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter

from .. import __version__
from ..io.atomic import atomic_path
from ..io.errors import FormatError
from .arcs import ArcSet, CenterMode
from .features import FEATURE_NAMES, FEATURE_VERSION, iter_pullback_features
from .polar import default_center

__all__ = [
    "MODEL_FORMAT",
    "SVMModel",
    "iter_predict_pullback",
    "load_model",
    "predict_pullback",
    "save_model",
    "train_svm",
]

MODEL_FORMAT = "napari-plaque/aline-svm"
MODEL_VERSION = 1


@dataclass
class SVMModel:
    """A trained linear A-line detector and everything needed to apply it."""

    coef: np.ndarray  # (n_features,)
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def decision(self, X: np.ndarray) -> np.ndarray:
        """Signed distance to the hyperplane for features (..., n_features)."""
        Xs = (np.asarray(X, np.float32) - self.mean.astype(np.float32)) / self.scale.astype(
            np.float32
        )
        return Xs @ self.coef.astype(np.float32) + np.float32(self.intercept)

    def predict_labels(self, features: np.ndarray) -> np.ndarray:
        """Smoothed per-A-line labels (F, N) bool from features (F, N, n_features)."""
        score = self.decision(features)
        fa = int(self.meta.get("smooth_alines", 1))
        ff = int(self.meta.get("smooth_frames", 1))
        if fa > 1 or ff > 1:
            score = uniform_filter(score, size=(ff, fa), mode=("nearest", "wrap"))
        return score > float(self.meta.get("threshold", 0.0))


def _fit(X: np.ndarray, y: np.ndarray, C: float, seed: int):
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    scaler = StandardScaler().fit(X)
    clf = LinearSVC(C=C, dual=False, max_iter=5000, random_state=seed)
    clf.fit(scaler.transform(X), y)
    return scaler, clf


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    tp = int(np.count_nonzero(y & p))
    fp = int(np.count_nonzero(~y & p))
    fn = int(np.count_nonzero(y & ~p))
    tn = int(np.count_nonzero(~y & ~p))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {
        "accuracy": (tp + tn) / max(1, tp + tn + fp + fn),
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "n": tp + tn + fp + fn,
        "positives": tp + fn,
    }


def _subsample(idx: np.ndarray, y: np.ndarray, max_n: int, rng) -> np.ndarray:
    if idx.size <= max_n:
        return idx
    return np.sort(rng.choice(idx, size=max_n, replace=False))


def train_svm(
    data: dict[str, Any],
    cls: str = "calcium",
    C: float = 0.1,
    n_folds: int = 5,
    max_samples: int = 300_000,
    smooth_alines: int = 7,
    smooth_frames: int = 3,
    seed: int = 0,
) -> tuple[SVMModel, dict[str, Any]]:
    """Train the A-line SVM on a loaded training set with CV grouped by pullback.

    Parameters
    ----------
    data : dict from :func:`napari_plaque.ivus.dataset.load_training_set`
    cls : class to detect (a column of ``y``)
    C : SVM regularisation
    n_folds : number of folds (at most the number of pullbacks); every A-line of a pullback is
        in the same fold, so the scores measure performance on unseen pullbacks
    max_samples : A-lines used per fit (random subsample, for speed)
    smooth_alines, smooth_frames : smoothing window of the decision values at prediction

    Returns
    -------
    (model, report) : report holds per-fold and overall (pooled out-of-fold) accuracy,
    precision, recall and F1, both raw and after smoothing.
    """
    from sklearn.model_selection import GroupKFold

    manifest = data["manifest"]
    classes = list(manifest["classes"])
    if cls not in classes:
        raise ValueError(f"class {cls!r} is not in the training set (classes: {classes})")
    X = np.asarray(data["X"], np.float32)
    y = np.asarray(data["y"])[:, classes.index(cls)].astype(bool)
    groups = np.asarray(data["pullback"])
    frame = np.asarray(data["frame"])
    aline = np.asarray(data["aline"])
    if X.shape[0] == 0:
        raise ValueError("the training set is empty (no A-lines)")
    if y.all() or not y.any():
        raise ValueError(
            f"the training set has only one class for {cls!r} "
            f"({'all' if y.all() else 'no'} A-lines positive); an SVM needs both"
        )
    if not np.all(np.isfinite(X)):
        raise ValueError("the feature table holds non-finite values")
    rng = np.random.default_rng(seed)
    n_alines = int(manifest["n_alines"])
    ug = np.unique(groups)
    folds: list[dict[str, Any]] = []
    oof_raw = np.zeros(y.shape, bool)
    oof_smooth = np.zeros(y.shape, bool)
    meta_smooth = {"smooth_alines": smooth_alines, "smooth_frames": smooth_frames, "threshold": 0.0}
    k = min(n_folds, ug.size)
    if k >= 2:
        for i, (tr, te) in enumerate(GroupKFold(n_splits=k).split(X, y, groups)):
            tr_s = _subsample(tr, y, max_samples, rng)
            if y[tr_s].all() or not y[tr_s].any():
                folds.append({"fold": i, "skipped": "training part has one class"})
                continue
            scaler, clf = _fit(X[tr_s], y[tr_s], C, seed)
            m = SVMModel(
                clf.coef_.ravel(),
                float(clf.intercept_[0]),
                scaler.mean_,
                scaler.scale_,
                meta_smooth,
            )
            oof_raw[te] = m.decision(X[te]) > 0
            oof_smooth[te] = _smoothed_by_pullback(
                m, X[te], groups[te], frame[te], aline[te], n_alines
            )
            folds.append(
                {
                    "fold": i,
                    "test_pullbacks": [int(g) for g in np.unique(groups[te])],
                    "raw": _metrics(y[te], oof_raw[te]),
                    "smoothed": _metrics(y[te], oof_smooth[te]),
                }
            )
        overall = {"raw": _metrics(y, oof_raw), "smoothed": _metrics(y, oof_smooth)}
    else:
        overall = None
    tr_s = _subsample(np.arange(y.size), y, max_samples, rng)
    scaler, clf = _fit(X[tr_s], y[tr_s], C, seed)
    meta = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "software_version": __version__,
        "class": cls,
        "feature_names": list(manifest["feature_names"]),
        "feature_version": int(manifest["feature_version"]),
        "n_alines": n_alines,
        "depth_samples": int(manifest["depth_samples"]),
        "depth_mm": float(manifest["depth_mm"]),
        "C": C,
        "n_train_alines": int(tr_s.size),
        "n_pullbacks": int(ug.size),
        **meta_smooth,
    }
    model = SVMModel(clf.coef_.ravel(), float(clf.intercept_[0]), scaler.mean_, scaler.scale_, meta)
    report = {
        "class": cls,
        "n_alines": int(y.size),
        "n_positive": int(y.sum()),
        "n_pullbacks": int(ug.size),
        "n_folds": int(k) if k >= 2 else 0,
        "folds": folds,
        "overall": overall,
        "note": None if k >= 2 else "cross-validation needs at least 2 pullbacks; skipped",
    }
    model.meta["cv"] = overall
    return model, report


def _smoothed_by_pullback(m, X, g, f, a, n_alines) -> np.ndarray:
    """Smoothed predictions for A-lines given as a flat table (regrid per pullback)."""
    out = np.zeros(X.shape[0], bool)
    score = m.decision(X)
    for gi in np.unique(g):
        sel = np.flatnonzero(g == gi)
        nf = int(f[sel].max()) + 1
        grid = np.zeros((nf, n_alines), np.float32)
        grid[f[sel], a[sel]] = score[sel]
        sm = uniform_filter(
            grid, size=(m.meta["smooth_frames"], m.meta["smooth_alines"]), mode=("nearest", "wrap")
        )
        out[sel] = sm[f[sel], a[sel]] > m.meta["threshold"]
    return out


def save_model(model: SVMModel, path: str | Path) -> Path:
    """Write the model as one ``.npz`` of arrays + JSON metadata (atomically, no pickle)."""
    meta = json.dumps(model.meta, default=_json_default)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            coef=np.asarray(model.coef, np.float64),
            intercept=np.asarray([model.intercept], np.float64),
            mean=np.asarray(model.mean, np.float64),
            scale=np.asarray(model.scale, np.float64),
            meta_json=np.asarray(meta),
        )
    return Path(path)


def _json_default(o):
    from ..io.atomic import json_default

    return json_default(o)


def load_model(path: str | Path) -> SVMModel:
    """Load a model file; refuse (FormatError) other files or a mismatched feature version."""
    p = Path(path)
    if not p.is_file():
        raise FormatError(p, "model file not found")
    if p.stat().st_size > MAX_MODEL_BYTES:
        raise FormatError(p, f"too large for an SVM model ({p.stat().st_size} bytes)")
    try:
        with np.load(p, allow_pickle=False) as z:
            text = z["meta_json"]
            if text.dtype.kind != "U" or text.size != 1 or text.dtype.itemsize > 4_000_000:
                raise ValueError("meta_json must be one JSON string")
            meta = json.loads(str(text))
            arrays = {}
            for k in ("coef", "intercept", "mean", "scale"):
                a = z[k]
                if a.dtype.kind not in "fiu" or a.ndim != 1 or a.size > 4096:
                    raise ValueError(f"{k} must be a short 1-D numeric array")
                arrays[k] = np.asarray(a, np.float64)
    except (KeyError, ValueError, OSError, EOFError, RecursionError, json.JSONDecodeError) as exc:
        why = str(exc) if isinstance(exc, ValueError) and not isinstance(
            exc, json.JSONDecodeError) else "not an .npz written by train-svm"
        raise FormatError(p, f"not a napari-plaque SVM model ({why})") from None
    except Exception:  # noqa: BLE001  zipfile.BadZipFile and friends
        raise FormatError(p, "not a napari-plaque SVM model (not an .npz written by train-svm)") \
            from None
    if not isinstance(meta, dict):
        raise FormatError(p, "model metadata is not a JSON object")
    if meta.get("format") != MODEL_FORMAT:
        raise FormatError(p, f"not a {MODEL_FORMAT} file")
    if meta.get("version") != MODEL_VERSION:
        raise FormatError(p, f"model file version {meta.get('version')} is not supported")
    if meta.get("feature_version") != FEATURE_VERSION or meta.get("feature_names") != list(
        FEATURE_NAMES
    ):
        raise FormatError(
            p,
            f"model was trained on feature version {meta.get('feature_version')}; this software "
            f"computes feature version {FEATURE_VERSION}: retrain the model",
        )
    n = len(FEATURE_NAMES)
    if not all(arrays[k].shape == (n,) for k in ("coef", "mean", "scale")):
        raise FormatError(p, "model arrays do not match the feature definition")
    if arrays["intercept"].shape != (1,):
        raise FormatError(p, "model intercept must be one number")
    for k, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise FormatError(p, f"model array {k!r} holds NaN or infinite values")
    if np.any(arrays["scale"] == 0):
        raise FormatError(p, "model array 'scale' holds zeros (division by zero)")
    _validate_svm_meta(p, meta)
    return SVMModel(
        arrays["coef"], float(arrays["intercept"][0]), arrays["mean"], arrays["scale"], meta
    )


#: an SVM model file is a few kB; anything much larger is not one
MAX_MODEL_BYTES = 16 * 2**20


def _validate_svm_meta(p: Path, meta: dict[str, Any]) -> None:
    """Types, bounds and positive counts of the fields prediction uses (FormatError)."""
    import math

    def integer(key: str, lo: int, hi: int, required: bool = True) -> None:
        if key not in meta and not required:
            return
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise FormatError(p, f"model field {key!r} must be an integer in {lo}..{hi}, got {v!r}")

    def number(key: str, positive: bool = False, required: bool = True) -> None:
        if key not in meta and not required:
            return
        v = meta.get(key)
        ok = not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
        ok = ok and abs(v) <= 1e6
        if not ok or (positive and v <= 0):
            what = "a positive finite number" if positive else "a finite number"
            raise FormatError(p, f"model field {key!r} must be {what}, got {v!r}")

    if not isinstance(meta.get("class"), str) or not meta["class"]:
        raise FormatError(p, "model field 'class' must be a class name")
    integer("n_alines", 8, 4096)
    integer("depth_samples", 8, 4096)
    number("depth_mm", positive=True)
    integer("smooth_alines", 1, 361, required=False)
    integer("smooth_frames", 1, 101, required=False)
    number("threshold", required=False)
    integer("n_train_alines", 1, 10**10, required=False)
    integer("n_pullbacks", 1, 10**7, required=False)


def iter_predict_pullback(model: SVMModel, pullback: Any, center=None, batch: int = 32):
    """Generator: yields frames done; returns ``(labels (F, N) bool, ArcSet of predicted arcs)``."""
    meta = model.meta
    if center is None:
        center = default_center(pullback.frame_shape)
    gen = iter_pullback_features(
        pullback.frames,
        center,
        int(meta["n_alines"]),
        int(meta["depth_samples"]),
        float(meta["depth_mm"]),
        tuple(pullback.pixel_spacing_mm),
        batch=batch,
    )
    while True:
        try:
            yield next(gen)
        except StopIteration as stop:
            feats, _ = stop.value
            break
    labels = model.predict_labels(feats)
    cls = meta.get("class", "calcium")
    cen = np.asarray(center, float)
    arcs = ArcSet.from_labels(
        labels,
        [cls],
        pullback.frame_shape,
        center_mode=_center_mode(cen, pullback.frame_shape),
        centers=cen.round(3).tolist(),
        annotator=f"svm ({MODEL_FORMAT} {meta.get('software_version', '')})",
    )
    return labels, arcs


def _center_mode(cen: np.ndarray, frame_shape) -> CenterMode:
    if cen.ndim == 2:
        return CenterMode.LUMEN
    default = default_center(frame_shape)
    return CenterMode.CATHETER if np.allclose(cen, default) else CenterMode.MANUAL


def predict_pullback(model: SVMModel, pullback: Any, center=None, progress=None):
    """Predict per-A-line labels and arcs on a pullback; see :func:`iter_predict_pullback`."""
    from .._progress import run_steps

    return run_steps(iter_predict_pullback(model, pullback, center), progress)
