"""Training and evaluation of the chest-radiograph CAC-category model.

The training manifest is a CSV with a ``path`` column (relative to the manifest's folder or
absolute; DICOM, PNG or JPEG), a ``cac_score`` (CT calcium score) or a ``category`` column (``0``,
``1-99``, ``100-399``, ``>=400`` or 0..3), and optionally ``age``, ``sex``, ``bmi`` and
``patient_id`` (default: one patient per row).

:func:`iter_train_cxr` runs patient-grouped k-fold cross-validation (default 10 folds: every
patient's images are in one fold): each fold's model is trained on the other folds (early
stopping on a grouped inner split of those) and predicts its held-out fold. The pooled
out-of-fold predictions give the report: per cut-point AUC with DeLong 95 % CI, calibration
(bins, Brier score, calibration intercept and slope) and confusion at the chosen thresholds.
A final model is then trained on all the data and saved to ``out`` with the CV report in its
metadata; the report is also written as JSON and plots beside it. Finished folds are kept
(``<out>.cv/``), so ``resume=True`` skips them and resumes an interrupted fold at its last epoch.
:func:`iter_evaluate_cxr` makes the same report for a saved model on an external manifest.

Both are step generators (yield work done, return the result), run with progress and Cancel by
the dock and with :func:`~napari_plaque._progress.run_steps` by the CLI.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.errors import FormatError
from ..models import TrainSettings
from .spec import CATEGORIES, CLASSES, CLINICAL, CUTS, DEFAULTS, PROB_KEYS, category_index

#: training defaults (CLI help and the dock read them)
TRAIN_DEFAULTS = TrainSettings(
    epochs=20, batch_size=16, lr=1e-3, seed=0, val_fraction=0.15, patience=5, device="auto"
)
CV_DEFAULTS: dict[str, Any] = {"folds": 10, "calibration_bins": 10}
SEX_CODES = {"m": 1.0, "male": 1.0, "1": 1.0, "f": 0.0, "female": 0.0, "0": 0.0}


def parse_sex(v: Any) -> float:
    """Sex as 1 (male) / 0 (female) from M/F, male/female or 1/0."""
    if isinstance(v, bool):
        raise ValueError(f"sex must be M or F, got {v!r}")
    if isinstance(v, int | float):
        if v in (0, 1):
            return float(v)
        raise ValueError(f"sex must be M/F or 1/0, got {v!r}")
    key = str(v).strip().lower()
    if key not in SEX_CODES:
        raise ValueError(f"sex must be M/F (male/female, 1/0), got {v!r}")
    return SEX_CODES[key]


def category_of_score(score: float) -> int:
    """CAC category index: 0 (CAC 0), 1 (1-99), 2 (100-399), 3 (>= 400)."""
    if not math.isfinite(score) or score < 0:
        raise ValueError(f"a CAC score must be a finite number >= 0, got {score!r}")
    return int(score > CUTS[0]) + int(score >= CUTS[1]) + int(score >= CUTS[2])


def parse_category(v: str) -> int:
    t = str(v).strip().replace(" ", "").replace("≥", ">=")
    if t in CATEGORIES:
        return CATEGORIES.index(t)
    if t in ("0", "1", "2", "3"):
        return int(t)
    raise ValueError(f"category must be one of {list(CATEGORIES)} or 0..3, got {v!r}")


@dataclass
class Case:
    path: str
    category: int
    patient_id: str
    cac_score: float | None = None
    clinical: tuple[float, float, float] | None = None


@dataclass
class Manifest:
    path: str
    cases: list[Case]
    has_clinical: bool

    @property
    def labels(self) -> np.ndarray:
        """bool (N, 3): CAC > 0, >= 100, >= 400."""
        cat = np.array([c.category for c in self.cases])
        return np.stack([cat >= k for k in (1, 2, 3)], axis=1)


def read_manifest(path: str | Path) -> Manifest:
    """Read and check a CXR manifest (FormatError naming the file, row and problem)."""
    p = Path(path)
    if not p.is_file():
        raise FormatError(p, "manifest not found")
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FormatError(p, f"not a readable CSV ({exc})") from None
    if not rows:
        raise FormatError(p, "no rows")
    cols = {k.strip().lower() for k in rows[0] if k}
    if "path" not in cols:
        raise FormatError(p, "needs a 'path' column")
    if "cac_score" not in cols and "category" not in cols:
        raise FormatError(p, "needs a 'cac_score' or 'category' column")
    has_clin = all(c in cols for c in CLINICAL)
    cases = []
    for i, raw in enumerate(rows, start=2):
        r = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        try:
            if not r.get("path"):
                raise ValueError("empty path")
            img = Path(r["path"])
            img = img if img.is_absolute() else p.parent / img
            score = None
            if r.get("cac_score", "") != "":
                score = float(r["cac_score"])
                cat = category_of_score(score)
                if r.get("category", "") != "" and parse_category(r["category"]) != cat:
                    raise ValueError(f"category {r['category']!r} disagrees with cac_score {score}")
            elif r.get("category", "") != "":
                cat = parse_category(r["category"])
            else:
                raise ValueError("neither cac_score nor category given")
            clin = None
            if has_clin:
                vals = [r.get(k, "") for k in CLINICAL]
                if any(v == "" for v in vals):
                    has_clin = False  # one row without them: the model is image-only
                else:
                    clin = (float(vals[0]), parse_sex(vals[1]), float(vals[2]))
                    if not all(math.isfinite(v) for v in clin):
                        raise ValueError(f"clinical values {vals} are not finite")
            pid = r.get("patient_id") or f"row{i}"
        except ValueError as exc:
            raise FormatError(p, f"row {i}: {exc}") from None
        cases.append(Case(str(img), cat, pid, score, clin))
    if not has_clin:
        for c in cases:
            c.clinical = None
    return Manifest(str(p), cases, has_clin)


# --------------------------------------------------------------------------- report


def _calibration(y: np.ndarray, p: np.ndarray, bins: int) -> dict[str, Any]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        m = idx == b
        if not m.any():
            continue
        rows.append(
            {
                "bin": [float(edges[b]), float(edges[b + 1])],
                "n": int(m.sum()),
                "mean_predicted": float(p[m].mean()),
                "observed": float(y[m].mean()),
            }
        )
    out: dict[str, Any] = {
        "bins": rows,
        "brier": float(np.mean((p - y) ** 2)),
        "mean_predicted": float(p.mean()),
        "observed_rate": float(y.mean()),
    }
    out.update(_calibration_line(y, p))
    return out


def _calibration_line(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Logistic recalibration y ~ a + b logit(p) (Newton): intercept a, slope b (ideal 0, 1)."""
    if y.all() or not y.any():
        return {"calibration_intercept": None, "calibration_slope": None}
    eps = 1e-6
    lp = np.log(np.clip(p, eps, 1 - eps) / np.clip(1 - p, eps, 1 - eps))
    x = np.stack([np.ones_like(lp), lp], axis=1)
    beta = np.zeros(2)
    for _ in range(50):
        mu = 1 / (1 + np.exp(-(x @ beta)))
        w = mu * (1 - mu) + 1e-9
        grad = x.T @ (y - mu)
        hess = x.T @ (x * w[:, None]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 1e3:  # separation
        return {"calibration_intercept": None, "calibration_slope": None}
    return {"calibration_intercept": float(beta[0]), "calibration_slope": float(beta[1])}


def _confusion(y: np.ndarray, p: np.ndarray, t: float) -> dict[str, Any]:
    pred = p >= t
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())

    def ratio(a, b):
        return a / (a + b) if a + b else None

    return {
        "threshold": float(t),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "sensitivity": ratio(tp, fn),
        "specificity": ratio(tn, fp),
        "ppv": ratio(tp, fp),
        "npv": ratio(tn, fn),
    }


def cxr_report(
    categories: Sequence[int],
    probs: np.ndarray,
    thresholds: Sequence[float] = DEFAULTS["thresholds"],
    bins: int = CV_DEFAULTS["calibration_bins"],
    alpha: float = 0.05,
) -> dict[str, Any]:
    """The evaluation report of predicted probabilities (N, 3) against true categories."""
    from ..qc.roc import delong_auc_ci

    cat = np.asarray(categories, int)
    probs = np.asarray(probs, float)
    if probs.shape != (cat.size, 3):
        raise ValueError(f"probabilities {probs.shape} for {cat.size} cases")
    per_cut: dict[str, Any] = {}
    for k, name in enumerate(CLASSES):
        y = cat >= k + 1
        p = probs[:, k]
        entry: dict[str, Any] = {"n_pos": int(y.sum()), "n_neg": int((~y).sum())}
        try:
            ci = delong_auc_ci(y, p, alpha=alpha)
            entry.update(
                {
                    "auc": ci.auc,
                    "auc_ci_low": ci.ci_low,
                    "auc_ci_high": ci.ci_high,
                    "auc_se": ci.se,
                    "ci_method": f"DeLong {100 * (1 - alpha):g} %",
                }
            )
        except ValueError as exc:  # one class, or too few of one
            entry.update({"auc": None, "auc_ci_low": None, "auc_ci_high": None})
            entry["auc_note"] = str(exc)
        entry["calibration"] = _calibration(y.astype(float), p, bins)
        entry["confusion"] = _confusion(y, p, float(thresholds[k]))
        per_cut[name] = entry
    pred_cat = np.array([category_index(p, thresholds) for p in probs])
    matrix = np.zeros((4, 4), int)
    np.add.at(matrix, (cat, pred_cat), 1)
    return {
        "n": int(cat.size),
        "category_counts": {c: int((cat == i).sum()) for i, c in enumerate(CATEGORIES)},
        "cut_points": per_cut,
        "thresholds": [float(t) for t in thresholds],
        "category_confusion": {
            "rows_true_columns_predicted": list(CATEGORIES),
            "matrix": matrix.tolist(),
            "accuracy": float(np.trace(matrix) / max(cat.size, 1)),
        },
    }


def write_report(report: dict[str, Any], categories, probs, stem: str | Path) -> dict[str, str]:
    """Write ``<stem>.report.json``, ``<stem>.roc.png`` and ``<stem>.calibration.png``."""
    from ..io.atomic import atomic_path
    from ..report import write_json

    stem = Path(stem)
    paths = {
        "report": str(stem.with_name(stem.name + ".report.json")),
        "roc_plot": str(stem.with_name(stem.name + ".roc.png")),
        "calibration_plot": str(stem.with_name(stem.name + ".calibration.png")),
    }
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from ..qc.roc import roc_curve

    cat = np.asarray(categories, int)
    probs = np.asarray(probs, float)
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    fig2 = Figure(figsize=(5, 5), dpi=100)
    ax2 = fig2.add_subplot(1, 1, 1)
    for k, name in enumerate(CLASSES):
        y = cat >= k + 1
        e = report["cut_points"][name]
        label = name.replace("cac_", "CAC ").replace("gt", "> ").replace("ge", ">= ")
        if e["auc"] is not None:
            fpr, tpr, _ = roc_curve(y, probs[:, k])
            ax.plot(
                fpr,
                tpr,
                label=f"{label}: AUC {e['auc']:.2f} ({e['auc_ci_low']:.2f}-{e['auc_ci_high']:.2f})",
            )
        b = e["calibration"]["bins"]
        ax2.plot([r["mean_predicted"] for r in b], [r["observed"] for r in b], "o-", label=label)
    for a in (ax, ax2):
        a.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
        a.set_xlim(0, 1)
        a.set_ylim(0, 1)
        a.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(f"ROC (n = {report['n']}, DeLong 95 % CI)")
    ax2.set_xlabel("mean predicted probability")
    ax2.set_ylabel("observed fraction")
    ax2.set_title("Calibration")
    for f, key in ((fig, "roc_plot"), (fig2, "calibration_plot")):
        with atomic_path(paths[key]) as tmp:
            f.savefig(tmp, format="png")
    write_json(paths["report"], report)
    return paths


# --------------------------------------------------------------------------- data


def _load_images(man: Manifest, size: int, percentiles) -> Generator[int, None, np.ndarray]:
    from .io import read_radiograph
    from .model import preprocess

    out = np.empty((len(man.cases), 1, size, size), np.float16)
    for i, c in enumerate(man.cases):
        out[i, 0] = preprocess(read_radiograph(c.path), size, percentiles)
        yield i + 1
    return out


def grouped_folds(patient_ids: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Fold index (0..k-1) of each row; every patient's rows in one fold (seeded)."""
    uniq = sorted(set(patient_ids))
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    if len(uniq) < k:
        raise ValueError(f"{len(uniq)} patients cannot fill {k} folds")
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = {uniq[j]: int(i % k) for i, j in enumerate(order)}
    return np.array([fold_of[p] for p in patient_ids])


def _inner_split(pids: list[str], frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    uniq = sorted(set(pids))
    rng = np.random.default_rng([seed, 7])
    n_val = max(1, int(round(len(uniq) * frac))) if len(uniq) > 1 else 0
    val = set(np.array(uniq)[rng.permutation(len(uniq))[:n_val]].tolist())
    is_val = np.array([p in val for p in pids])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _hash_ids(ids: Sequence[str]) -> list[str]:
    return sorted({hashlib.sha256(str(i).encode()).hexdigest()[:12] for i in ids})


@dataclass
class CXRTrainResult:
    """What :func:`iter_train_cxr` produced."""

    path: str
    report: dict[str, Any]
    files: dict[str, str]
    history: list[dict[str, Any]]
    metadata: dict[str, Any] = field(default_factory=dict)


def steps_total(
    n_cases: int,
    folds: int = CV_DEFAULTS["folds"],
    epochs: int = TRAIN_DEFAULTS.epochs,
    batch_size: int = TRAIN_DEFAULTS.batch_size,
) -> int:
    """An upper bound of the steps :func:`iter_train_cxr` yields (for a progress bar)."""
    per_model = epochs * -(-n_cases // batch_size)
    return n_cases + (folds + 1) * per_model + max(folds, 0) * n_cases


def _fit_one(
    x: np.ndarray,
    clin: np.ndarray | None,
    labels: np.ndarray,
    pids: list[str],
    train_idx: np.ndarray,
    out: Path,
    s: dict[str, Any],
    history: list[dict[str, Any]],
    meta_extra: dict[str, Any],
    key_extra: dict[str, Any],
) -> Generator[int, None, Any]:
    """Train one model on rows ``train_idx`` (inner grouped split for early stopping)."""
    from ..models import require_torch
    from ..models.checkpoint import make_metadata
    from ..models.train import FitSettings, FitTask, fit_model, run_summary
    from .model import CXRBatch, CXRNet, input_spec, normalisation_spec
    from .ood import ood_reference

    torch = require_torch()
    F = torch.nn.functional
    torch.manual_seed(s["seed"])
    sub_pids = [pids[i] for i in train_idx]
    tr_rel, va_rel = _inner_split(sub_pids, s["val_fraction"], s["seed"])
    if not len(va_rel):
        raise ValueError("too few patients for an inner validation split")
    tr, va = train_idx[tr_rel], train_idx[va_rel]
    n_clin = 0 if clin is None else len(CLINICAL)
    if clin is not None:
        mean = clin[tr].mean(axis=0)
        std = clin[tr].std(axis=0)
        std[std <= 1e-6] = 1.0
        zc = ((clin - mean) / std).astype(np.float32)
    else:
        mean = std = zc = None
    model = CXRNet(in_channels=1, width=s["width"], n_classes=3, n_clinical=n_clin)
    y_all = labels.astype(np.float32)
    pos = y_all[tr].mean(axis=0)
    pw = torch.tensor(np.clip((1 - pos) / np.maximum(pos, 1e-3), 0.2, 5.0), dtype=torch.float32)

    def batch(idx, rng=None):
        xb = torch.from_numpy(x[idx].astype(np.float32))
        if rng is not None:  # contrast / brightness jitter and a small shift
            g = torch.from_numpy(rng.uniform(0.85, 1.15, (len(idx), 1, 1, 1)).astype(np.float32))
            o = torch.from_numpy(rng.uniform(-0.05, 0.05, (len(idx), 1, 1, 1)).astype(np.float32))
            xb = (xb * g + o).clamp_(0, 1)
            dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
            xb = torch.roll(xb, (dy, dx), dims=(2, 3))
        cb = None if zc is None else torch.from_numpy(zc[idx])
        return CXRBatch(xb, cb), torch.from_numpy(y_all[idx])

    def batches(rng):
        order = rng.permutation(tr)
        bs = s["batch_size"]
        return [batch(order[i : i + bs], rng) for i in range(0, len(order), bs)]

    def loss_fn(logits, y):
        return F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw.to(logits.device))

    vx, vy = batch(va)

    def evaluate(m):
        dev = next(m.parameters()).device
        logits = m(vx.to(dev)).cpu()
        res: dict[str, Any] = {"val_loss": float(loss_fn(logits, vy))}
        pr = torch.sigmoid(logits).numpy()
        yv = vy.numpy() >= 0.5
        for k, name in enumerate(CLASSES):
            from ..qc.roc import auc

            try:
                res[f"{name}_val_auc"] = round(auc(yv[:, k], pr[:, k]), 4)
            except ValueError:
                res[f"{name}_val_auc"] = None
        return res

    run = FitSettings(s["epochs"], s["lr"], s["seed"], s["patience"], s["device"], s["resume"])
    # the training images' signature: predictions flag inputs outside it (cxr.ood)
    ood_ref = ood_reference(x[tr])

    def metadata_fn(metrics, epoch):
        return {**_cxr_metadata(metrics, epoch), "ood": ood_ref}

    def _cxr_metadata(metrics, epoch):
        return make_metadata(
            model,
            "cxr",
            list(CLASSES),
            normalisation_spec(s["percentiles"], mean, std),
            dict(input_spec(s["image_size"]), thresholds=list(s["thresholds"])),
            {
                "synthetic": bool(s["synthetic"]),
                "notes": s["notes"],
                "manifest_sha256": s["manifest_sha256"],
                "n_images": int(len(tr) + len(va)),
                "n_train_images": int(len(tr)),
                "n_val_images": int(len(va)),
                "patients_hashed": _hash_ids([pids[i] for i in np.r_[tr, va]]),
                **run_summary(run, epoch, s["batch_size"]),
                "backbone": model.backbone_source,
                **meta_extra,
            },
            metrics,
        )

    key = {
        "task": "cxr",
        "hparams": model.hparams,
        "manifest_sha256": s["manifest_sha256"],
        "seed": s["seed"],
        "lr": s["lr"],
        "batch_size": s["batch_size"],
        "image_size": s["image_size"],
        **key_extra,
    }
    fit = FitTask(metadata_fn, batches, loss_fn, evaluate, key, -(-len(tr) // s["batch_size"]))
    return (yield from fit_model(model, out, fit, run, history))


def _file_sha(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def iter_train_cxr(
    manifest: str | Path,
    out: str | Path,
    folds: int = CV_DEFAULTS["folds"],
    epochs: int = TRAIN_DEFAULTS.epochs,
    batch_size: int = TRAIN_DEFAULTS.batch_size,
    lr: float = TRAIN_DEFAULTS.lr,
    seed: int = TRAIN_DEFAULTS.seed,
    val_fraction: float = TRAIN_DEFAULTS.val_fraction,
    patience: int = TRAIN_DEFAULTS.patience,
    image_size: int = DEFAULTS["image_size"],
    width: int = DEFAULTS["width"],
    thresholds: Sequence[float] = DEFAULTS["thresholds"],
    clinical: bool | None = None,
    device: str = TRAIN_DEFAULTS.device,
    resume: bool = False,
    history: list[dict[str, Any]] | None = None,
    synthetic: bool = False,
    notes: str = "",
    final_model: bool = True,
) -> Generator[int, None, CXRTrainResult]:
    """Cross-validate and train the CXR model from a manifest; yields steps done (see the
    module docstring). ``folds=0`` skips cross-validation (no report, final model only);
    ``clinical`` None uses age, sex and BMI when every row has them."""
    from .model import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, PROB_KEYS  # noqa: F401

    man = read_manifest(manifest)
    out = Path(out)
    if not MIN_IMAGE_SIZE <= int(image_size) <= MAX_IMAGE_SIZE:
        raise ValueError(f"image_size must be {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE}")
    if len(thresholds) != 3 or not all(0 < t < 1 for t in thresholds):
        raise ValueError(f"thresholds must be 3 values in (0, 1), got {list(thresholds)}")
    if clinical and not man.has_clinical:
        raise FormatError(man.path, "clinical=True but not every row has age, sex and bmi")
    use_clin = man.has_clinical if clinical is None else bool(clinical)
    history = [] if history is None else history
    s = {
        "epochs": int(epochs),
        "batch_size": int(batch_size),
        "lr": float(lr),
        "seed": int(seed),
        "val_fraction": float(val_fraction),
        "patience": int(patience),
        "image_size": int(image_size),
        "width": int(width),
        "thresholds": [float(t) for t in thresholds],
        "percentiles": list(DEFAULTS["percentiles"]),
        "device": device,
        "resume": bool(resume),
        "synthetic": bool(synthetic),
        "notes": notes,
        "manifest_sha256": _file_sha(man.path),
    }
    done = 0
    gen = _load_images(man, s["image_size"], s["percentiles"])
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            x = stop.value
            break
        done += 1
        yield done
    labels = man.labels
    cats = np.array([c.category for c in man.cases])
    pids = [c.patient_id for c in man.cases]
    clin = np.array([c.clinical for c in man.cases], float) if use_clin else None
    report: dict[str, Any] = {}
    files: dict[str, str] = {}
    cv_dir = out.with_name(out.name + ".cv")
    if folds:
        fold_of = grouped_folds(pids, int(folds), s["seed"])
        oof = np.full((len(cats), 3), np.nan)
        for f in range(int(folds)):
            test = np.flatnonzero(fold_of == f)
            fold_json = cv_dir / f"fold{f}.json"
            fkey = {"fold": f, "folds": int(folds), "clinical": use_clin, "epochs": s["epochs"]}
            if resume and fold_json.is_file():
                saved = json.loads(fold_json.read_text())
                if saved.get("key") == json.loads(json.dumps({**fkey, **_skey(s)})):
                    oof[test] = np.array(saved["probs"], float)
                    continue
            fold_hist: list[dict[str, Any]] = []
            sub = _fit_one(
                x,
                clin,
                labels,
                pids,
                np.flatnonzero(fold_of != f),
                cv_dir / f"fold{f}.pt",
                s,
                fold_hist,
                {"cv_fold": f, "cv_folds": int(folds)},
                fkey,
            )
            base = done
            while True:
                try:
                    step = next(sub)
                except StopIteration:
                    break
                done = base + int(step)
                yield done
            history.extend({"fold": f, **h} for h in fold_hist)
            preds = _predict_rows(cv_dir / f"fold{f}.pt", x, clin, test, device)
            done += len(test)
            yield done
            oof[test] = preds
            from ..report import write_json

            write_json(
                fold_json, {"key": {**fkey, **_skey(s)}, "rows": test.tolist(), "probs": preds}
            )
        report = cxr_report(cats, oof, s["thresholds"])
        report["evaluation"] = (
            f"{int(folds)}-fold cross-validation grouped by patient (out-of-fold predictions)"
        )
        report["n_patients"] = len(set(pids))
        report["clinical_inputs"] = use_clin
        report["synthetic"] = bool(synthetic)
    meta: dict[str, Any] = {}
    if final_model:
        final_hist: list[dict[str, Any]] = []
        sub = _fit_one(
            x,
            clin,
            labels,
            pids,
            np.arange(len(cats)),
            out,
            s,
            final_hist,
            {"cross_validation": _cv_summary(report)} if report else {},
            {"final": True, "clinical": use_clin, "epochs": s["epochs"]},
        )
        base = done
        while True:
            try:
                step = next(sub)
            except StopIteration as stop:
                res = stop.value
                break
            done = base + int(step)
            yield done
        history.extend({"fold": "final", **h} for h in final_hist)
        from ..models.checkpoint import read_metadata

        meta = read_metadata(res.path)
    if report:
        files = write_report(report, cats, oof, out)
    return CXRTrainResult(str(out), report, files, history, meta)


def _skey(s: dict[str, Any]) -> dict[str, Any]:
    return {k: s[k] for k in ("manifest_sha256", "seed", "lr", "batch_size", "image_size", "width")}


def _cv_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The CV figures stored in the final model's metadata."""
    return {
        "evaluation": report.get("evaluation"),
        "n": report.get("n"),
        **{
            f"{name}_auc": [e.get("auc"), e.get("auc_ci_low"), e.get("auc_ci_high")]
            for name, e in report.get("cut_points", {}).items()
        },
    }


def _predict_rows(model_path, x, clin, rows, device) -> list[list[float]]:
    from ..models import require_torch
    from ..models.inference import release_device, select_device
    from .model import load_cxr_model

    torch = require_torch()
    lm = load_cxr_model(model_path)
    dev = select_device(device)
    m = lm.module.to(dev).eval()
    norm = lm.metadata["normalisation"]
    zc = None
    if clin is not None:
        zc = ((clin - np.array(norm["clinical_mean"])) / np.array(norm["clinical_std"])).astype(
            np.float32
        )
    out = []
    try:
        for i in range(0, len(rows), 32):
            r = rows[i : i + 32]
            with torch.inference_mode():
                xb = torch.from_numpy(x[r].astype(np.float32)).to(dev)
                cb = None if zc is None else torch.from_numpy(zc[r]).to(dev)
                out.append(torch.sigmoid(m(xb, cb).float()).cpu().numpy())
    finally:
        release_device(dev)
    return np.concatenate(out).astype(float).tolist() if out else []


def train_cxr(manifest, out, **kw) -> CXRTrainResult:
    """Plain form of :func:`iter_train_cxr`."""
    from .._progress import run_steps

    return run_steps(iter_train_cxr(manifest, out, **kw))


# --------------------------------------------------------------------------- external evaluation


def iter_evaluate_cxr(
    model: Any,
    manifest: str | Path,
    out: str | Path | None = None,
    thresholds: Sequence[float] | None = None,
    device: str = "auto",
    batch_size: int = 8,
) -> Generator[int, None, dict[str, Any]]:
    """Evaluate a saved model on an external manifest; yields images done, returns the report
    (and writes ``<out>.report.json`` and plots when ``out`` is given)."""
    from .model import iter_predict_radiographs, load_cxr_model

    lm = load_cxr_model(model)
    man = read_manifest(manifest)
    thr = list(thresholds) if thresholds else lm.metadata["input"].get("thresholds")
    clinical = None
    if int(lm.metadata["hparams"].get("n_clinical", 0)):
        if not man.has_clinical:
            raise FormatError(man.path, "this model needs age, sex and bmi for every row")
        clinical = [dict(zip(CLINICAL, c.clinical, strict=True)) for c in man.cases]
    preds = yield from iter_predict_radiographs(
        lm, [c.path for c in man.cases], clinical=clinical, device=device, batch_size=batch_size
    )
    probs = np.array([p.probs for p in preds])
    cats = [c.category for c in man.cases]
    report = cxr_report(cats, probs, thr)
    report["evaluation"] = "external manifest"
    report["model"] = Path(lm.path).name
    report["synthetic_training"] = lm.synthetic
    report["rows"] = [
        {
            "path": c.path,
            "category": CATEGORIES[c.category],
            **dict(zip(PROB_KEYS, p, strict=True)),
            "flagged": bool((pr.meta.get("ood") or {}).get("flagged")),
        }
        for c, p, pr in zip(man.cases, probs.tolist(), preds, strict=True)
    ]
    # images the OOD / header checks flag are counted, never silently averaged in unsaid
    n_flag = sum(r["flagged"] for r in report["rows"])
    report["n_flagged"] = int(n_flag)
    if n_flag:
        report.setdefault("warnings", []).append(
            f"{n_flag} of {len(preds)} images are flagged as not frontal chest radiographs like "
            "the training images (rows[].flagged); the figures include them"
        )
    if out is not None:
        report["files"] = write_report(report, cats, probs, out)
    return report


def evaluate_cxr(model, manifest, **kw) -> dict[str, Any]:
    """Plain form of :func:`iter_evaluate_cxr`."""
    from .._progress import run_steps

    return run_steps(iter_evaluate_cxr(model, manifest, **kw))
