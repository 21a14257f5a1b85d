"""A-line training sets: the one home of the ``napari-plaque/aline-dataset`` format.

One writer and one reader, numpy only (no torch): ``napari-plaque export-alines`` (in this
process or as shards on cohort workers), the deep A-line trainer (:mod:`napari_plaque.models`),
the SVM (:mod:`napari_plaque.ivus.svm`), the Training dock, the annotation loop and the tests all
write through :func:`iter_write_shard` / :func:`write_aline_dataset` + :func:`assemble_training_set`
and read through :func:`read_aline_dataset` (:func:`load_training_set` is its feature-table view).

Layout of an export directory (``napari-plaque/aline-dataset``, version 1)::

    manifest.json      format, version, software_version, classes, n_alines, depth_samples,
                       depth_mm, n_frames, n_rows, feature_names, feature_version,
                       pullbacks: [{id, n_frames, polar_file, and what the pullback knows:
                       frame_time_s, pullback_rate_mm_s, pixel_spacing_mm, center, ...}]
    features.npz       X float32 (N, n_features), y bool (N, n_classes), pullback (N,) int index
                       into manifest["pullbacks"], frame (N,) int, aline (N,) int
    polar/<id>.npz     polar uint8 (F, n_alines, depth_samples), labels bool
                       (F, n_alines, n_classes), frames int (F,) source frame indices

The frame and row counts (``n_frames``, ``n_rows``, per pullback ``n_frames``) are checked
against the files when present; sets written before they were added are still read, and a set
without a ``features.npz`` (the former low-level writer's) still feeds the deep trainer.

The reader validates before it trusts: format and version, every manifest field's type and
range, pullback ids (unique, no path characters), that each ``polar_file`` lies inside the
folder, every array's dtype and shape against the manifest, label and index ranges, finite
features. Each refusal is a :class:`~napari_plaque.io.errors.FormatError` naming the file.

Everything is written into a temporary folder beside ``out_dir`` (manifest last) and renamed
into place, so an interrupted export never leaves a half-written dataset. Pullback ids are
salted hashes: no patient name, ID or birth date is written.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..io.anon import hash_id
from ..io.atomic import (
    atomic_path,
    atomic_write_json,
    clean_stale_temps,
    replace_dir,
    tmp_name,
)
from ..io.errors import FormatError
from ..io.versioned import read_versioned_json
from .arcs import DEFAULT_CLASSES, ArcSet
from .features import FEATURE_NAMES, FEATURE_VERSION, aline_features, iter_pullback_features
from .polar import N_ALINES

__all__ = [
    "ALINE_FORMAT",
    "DATASET_FORMAT",
    "DATASET_VERSION",
    "ALineDataset",
    "ALinePullback",
    "assemble_training_set",
    "default_depth_mm",
    "export_training_set",
    "iter_write_shard",
    "staging_folder",
    "iter_export_training_set",
    "load_training_set",
    "pullback_id",
    "read_aline_dataset",
    "write_aline_dataset",
]

DATASET_FORMAT = "napari-plaque/aline-dataset"
#: the version written; the reader takes 1..DATASET_VERSION (the frame and row counts were added
#: to version 1 as optional fields: a reader of the first version 1 ignores them)
DATASET_VERSION = 1
ALINE_FORMAT = DATASET_FORMAT  # the name models.data used


def pullback_id(pullback: Any, index: int = 0) -> str:
    """A non-identifying id: the reader's salted UID hash, else a hash of the source path."""
    uid = getattr(pullback, "uid_hash", "") or ""
    if uid:
        return str(uid)
    src = getattr(pullback, "source", "") or f"in-memory-{index}"
    return hash_id(src)


def default_depth_mm(pullbacks: list[Any]) -> float:
    """The deepest radius (mm) inside every pullback's frames about the image centre."""
    return float(min(min(pb.frame_shape) / 2.0 * min(pb.pixel_spacing_mm) for pb in pullbacks))


def _center_json(arcset: ArcSet) -> Any:
    return np.asarray(arcset.centers, float).round(3).tolist()


def check_out_dir(out_dir: str | Path, overwrite: bool = True) -> Path:
    """Refuse an output folder that is not ours to replace (named ValueError); return it."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ValueError(f"{out_dir}: exists and is not a folder")
        if any(out_dir.iterdir()) and not (out_dir / "manifest.json").exists():
            raise ValueError(
                f"{out_dir}: folder is not empty and is not a dataset (no manifest.json); "
                "not touched: choose another folder"
            )
        if not overwrite and any(out_dir.iterdir()):
            raise ValueError(f"{out_dir}: a training set is already there")
    return out_dir


def _check_arcs(pb: Any, arcs: ArcSet) -> None:
    if arcs.n_frames != pb.n_frames or tuple(arcs.frame_shape) != tuple(pb.frame_shape):
        raise FormatError(
            getattr(pb, "source", "") or "pullback",
            f"arcs made for another pullback ({arcs.n_frames} frames "
            f"{list(arcs.frame_shape)}; pullback has {pb.n_frames} {list(pb.frame_shape)})",
        )


#: sub-folder of the staging folder where each pullback's shard lands before assembly
SHARDS = "shards"


def iter_write_shard(
    pb: Any,
    arcs: ArcSet,
    staging: str | Path,
    name: str,
    n_alines: int,
    depth_samples: int,
    depth_mm: float,
    classes: tuple[str, ...] = DEFAULT_CLASSES,
    index: int = 0,
):
    """One pullback's part of a training set: ``<staging>/shards/<name>.features.npz`` (X, y,
    frame, aline) and ``<name>.polar.npz``. Runs anywhere that sees ``staging`` (a cohort
    worker on a shared file system); yields frames done and returns the pullback's manifest
    entry (``id`` not yet made unique, ``shard`` = ``name``). :func:`assemble_training_set`
    joins the shards."""
    _check_arcs(pb, arcs)
    folder = Path(staging) / SHARDS
    folder.mkdir(parents=True, exist_ok=True)
    gen = iter_pullback_features(
        pb.frames,
        arcs.centers_array(),
        n_alines,
        depth_samples,
        depth_mm,
        tuple(pb.pixel_spacing_mm),
        keep_polar=True,
    )
    while True:
        try:
            k = next(gen)
        except StopIteration as stop:
            feats, polar = stop.value
            break
        yield k
    nf = pb.n_frames
    _write_shard_files(folder, name, polar, arcs.labels(n_alines, list(classes)), feats)
    return {
        "id": pullback_id(pb, index),
        "n_frames": int(nf),
        "frame_time_s": float(pb.frame_time_s),
        "pullback_rate_mm_s": float(pb.pullback_rate_mm_s),
        "pixel_spacing_mm": [float(s) for s in pb.pixel_spacing_mm],
        "assumed": sorted(getattr(pb, "assumed", set())),
        "frame_shape": [int(s) for s in pb.frame_shape],
        "center_mode": arcs.center_mode,
        "center": _center_json(arcs),
        "shard": name,
    }


def _write_shard_files(
    folder: Path, name: str, polar: np.ndarray, labels: np.ndarray, feats: np.ndarray
) -> None:
    """The two files of one shard (the only place they are written)."""
    nf, n_alines = polar.shape[0], polar.shape[1]
    labels = np.asarray(labels, bool)
    with atomic_path(folder / f"{name}.polar.npz") as tmp:
        np.savez_compressed(
            tmp,
            polar=np.asarray(polar, np.uint8),
            labels=labels,
            frames=np.arange(nf, dtype=np.int64),
        )
    with atomic_path(folder / f"{name}.features.npz") as tmp:
        np.savez_compressed(
            tmp,
            X=feats.reshape(nf * n_alines, -1).astype(np.float32),
            y=labels.reshape(nf * n_alines, labels.shape[-1]),
            frame=np.repeat(np.arange(nf, dtype=np.int32), n_alines),
            aline=np.tile(np.arange(n_alines, dtype=np.int32), nf),
        )


def write_aline_dataset(
    out_dir: str | Path,
    pullbacks: list[tuple[str, np.ndarray, np.ndarray]],
    classes: list[str] | tuple[str, ...],
    depth_mm: float,
    extra: dict[str, dict[str, Any]] | None = None,
    manifest_extra: dict[str, Any] | None = None,
    overwrite: bool = True,
) -> Path:
    """Write polar frames + per-A-line labels that are already sampled as a training set.

    ``pullbacks`` holds ``(id, polar uint8 (F, A, D), labels bool (F, A, C))`` (ids are written
    as given: hash them first); ``extra`` adds fields to a pullback's manifest entry (by id),
    ``manifest_extra`` top-level fields (e.g. ``{"synthetic": True}``). The same shards,
    features (computed from the uint8 polar frames, identical to an export's) and assembly as
    :func:`export_training_set`: one writer, one format.
    """
    if not pullbacks:
        raise ValueError("no pullbacks to write: the training set would be empty")
    classes = tuple(str(c) for c in classes)
    geo = {np.shape(p)[1:] for _, p, _ in pullbacks}
    if len(geo) != 1 or len(next(iter(geo))) != 2:
        raise ValueError(f"polar frames must all be (F, A, D) of one A, D; got {sorted(geo)}")
    n_alines, depth_samples = next(iter(geo))
    with staging_folder(out_dir, overwrite) as tmp:
        entries = []
        for i, (pid, polar, labels) in enumerate(pullbacks):
            polar = np.asarray(polar)
            if polar.dtype != np.uint8:
                raise ValueError(f"pullback {pid!r}: polar frames must be uint8, not {polar.dtype}")
            labels = np.asarray(labels)
            if labels.shape != (*polar.shape[:2], len(classes)):
                raise ValueError(
                    f"pullback {pid!r}: labels {labels.shape} do not match polar {polar.shape} "
                    f"and {len(classes)} classes"
                )
            name = f"{i:06d}"
            folder = Path(tmp) / SHARDS
            folder.mkdir(parents=True, exist_ok=True)
            _write_shard_files(folder, name, polar, labels, aline_features(polar, depth_mm))
            entry = {"id": str(pid), "n_frames": int(len(polar))}
            entry.update((extra or {}).get(pid, {}))
            entries.append({**entry, "shard": name})
        assemble_training_set(
            tmp, entries, out_dir, n_alines, depth_samples, depth_mm, classes, manifest_extra
        )
    return Path(out_dir)


#: manifest keys the writer sets (``manifest_extra`` may not replace them)
_RESERVED = frozenset(
    "format version software_version classes n_alines depth_samples depth_mm n_frames n_rows "
    "feature_names feature_version pullbacks".split()
)


def assemble_training_set(
    staging: str | Path,
    entries: list[dict[str, Any]],
    out_dir: str | Path,
    n_alines: int,
    depth_samples: int,
    depth_mm: float,
    classes: tuple[str, ...] = DEFAULT_CLASSES,
    manifest_extra: dict[str, Any] | None = None,
) -> Path:
    """Join the shards of ``entries`` (in this order: it is the pullback index) in ``staging``
    into one training set, and put it in place of ``out_dir`` in one step."""
    clash = _RESERVED.intersection(manifest_extra or {})
    if clash:
        raise ValueError(f"manifest_extra may not set {sorted(clash)}")
    staging = Path(staging)
    (staging / "polar").mkdir(exist_ok=True)
    shards = staging / SHARDS
    manifest_pbs: list[dict[str, Any]] = []
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("X", "y", "pullback", "frame", "aline")}
    seen: set[str] = set()
    placed: dict[str, Path] = {}  # shard -> its polar file (a shard listed twice is copied)
    for i, entry in enumerate(entries):
        entry = dict(entry)
        name = entry.pop("shard")
        pid = entry["id"]
        if pid in seen:
            pid = entry["id"] = f"{pid}-{i}"
        seen.add(pid)
        rel = f"polar/{pid}.npz"
        if name in placed:
            shutil.copyfile(placed[name], staging / rel)
        else:
            os.replace(shards / f"{name}.polar.npz", staging / rel)
            placed[name] = staging / rel
        with np.load(shards / f"{name}.features.npz", allow_pickle=False) as z:
            for k in ("X", "y", "frame", "aline"):
                parts[k].append(z[k])
        parts["pullback"].append(np.full(len(parts["X"][-1]), i, np.int32))
        entry["polar_file"] = rel
        manifest_pbs.append(entry)
    with open(staging / "features.npz", "wb") as fh:
        np.savez_compressed(
            fh,
            X=np.concatenate(parts["X"]).astype(np.float32),
            y=np.concatenate(parts["y"]).astype(bool),
            pullback=np.concatenate(parts["pullback"]),
            frame=np.concatenate(parts["frame"]),
            aline=np.concatenate(parts["aline"]),
        )
    shutil.rmtree(shards, ignore_errors=True)
    n_frames = int(sum(int(e["n_frames"]) for e in manifest_pbs))
    manifest = {
        **(manifest_extra or {}),
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "software_version": __version__,
        "classes": list(classes),
        "n_alines": int(n_alines),
        "depth_samples": int(depth_samples),
        "depth_mm": float(depth_mm),
        "n_frames": n_frames,
        "n_rows": n_frames * int(n_alines),
        "feature_names": list(FEATURE_NAMES),
        "feature_version": FEATURE_VERSION,
        "pullbacks": manifest_pbs,
    }
    atomic_write_json(staging / "manifest.json", manifest)
    # one atomic step (exchange on Linux): there is never a moment without a dataset
    return replace_dir(staging, out_dir)


@contextlib.contextmanager
def staging_folder(out_dir: str | Path, overwrite: bool = True):
    """A temporary folder beside ``out_dir`` for shards and assembly; removed on any error
    (``out_dir`` then untouched). Checks ``out_dir`` first (:func:`check_out_dir`)."""
    out_dir = check_out_dir(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(out_dir)  # folders left by a killed export
    tmp = out_dir.parent / tmp_name(out_dir)
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after assembly (renamed) or on error


def iter_export_training_set(
    items: list[tuple[Any, ArcSet]],
    out_dir: str | Path,
    n_alines: int = N_ALINES,
    depth_samples: int = 256,
    depth_mm: float | None = None,
    classes: tuple[str, ...] = DEFAULT_CLASSES,
    overwrite: bool = True,
):
    """Generator form of :func:`export_training_set` (yields frames done; returns the path).

    The same shards and assembly as a cohort export on dask workers (``napari-plaque
    export-alines --workers N``), one pullback after the other in this process."""
    if not items:
        raise ValueError("no pullbacks to export: the training set would be empty")
    out_dir = check_out_dir(out_dir, overwrite)
    for pb, arcs in items:
        _check_arcs(pb, arcs)
    if depth_mm is None:
        depth_mm = default_depth_mm([pb for pb, _ in items])
    with staging_folder(out_dir, overwrite) as tmp:
        entries, done = [], 0
        for i, (pb, arcs) in enumerate(items):
            shard = iter_write_shard(
                pb, arcs, tmp, f"{i:06d}", n_alines, depth_samples, depth_mm, classes, i
            )
            while True:
                try:
                    k = next(shard)
                except StopIteration as stop:
                    entries.append(stop.value)
                    break
                yield done + k
            done += pb.n_frames
        assemble_training_set(tmp, entries, out_dir, n_alines, depth_samples, depth_mm, classes)
    return out_dir


def export_training_set(
    pullbacks_with_arcs: list[tuple[Any, ArcSet]],
    out_dir: str | Path,
    n_alines: int = N_ALINES,
    depth_samples: int = 256,
    depth_mm: float | None = None,
    classes: tuple[str, ...] = DEFAULT_CLASSES,
    overwrite: bool = True,
    progress=None,
) -> Path:
    """Export annotated pullbacks as an A-line training set (see the module docstring).

    Parameters
    ----------
    pullbacks_with_arcs : list of (Pullback, ArcSet)
        Pullbacks (frames may be lazy) with their annotations (which carry the centre).
    out_dir : folder to create (replaced atomically if it already holds a training set)
    n_alines, depth_samples : polar geometry
    depth_mm : depth covered by each A-line; default: the largest radius inside every frame
    classes : label classes, in the order of the ``y``/``labels`` columns
    progress : callable(frames_done), optional
    """
    from .._progress import run_steps

    return run_steps(
        iter_export_training_set(
            pullbacks_with_arcs, out_dir, n_alines, depth_samples, depth_mm, classes, overwrite
        ),
        progress,
    )


# --------------------------------------------------------------------------- the reader


@dataclass
class ALinePullback:
    """One pullback of an A-line training set, in memory (``polar``/``labels`` None when the
    set was read for its feature table only)."""

    id: str
    polar: np.ndarray | None  # uint8 (F, A, D)
    labels: np.ndarray | None  # bool (F, A, C)
    frames: np.ndarray  # int (F,)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(len(self.frames))


@dataclass
class ALineDataset:
    """An A-line training set as :func:`read_aline_dataset` checked it."""

    classes: list[str]
    n_alines: int
    depth_samples: int
    depth_mm: float
    pullbacks: list[ALinePullback]
    manifest: dict[str, Any]
    path: str = ""
    features: dict[str, np.ndarray] | None = None  # X, y, pullback, frame, aline

    @property
    def n_frames(self) -> int:
        return int(sum(p.n_frames for p in self.pullbacks))

    def feature_table(self) -> dict[str, Any]:
        """The SVM's view: the arrays of ``features.npz`` plus ``manifest``."""
        if self.features is None:
            raise FormatError(
                Path(self.path) / "features.npz",
                "this training set has no feature table (written by an older low-level "
                "writer): export it again with napari-plaque export-alines",
            )
        return {**self.features, "manifest": self.manifest}


def _bad(path: Path, why: str) -> FormatError:
    return FormatError(path, why)


def _pos_int(man: dict, key: str, mpath: Path) -> int:
    v = man.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise _bad(mpath, f"{key!r} must be a positive integer, not {v!r}")
    return v


def _check_id(pid: Any, mpath: Path) -> str:
    if not isinstance(pid, str) or not pid.strip() or pid in (".", ".."):
        raise _bad(mpath, f"pullback id {pid!r} is not a non-empty string")
    if any(c in pid for c in "/\\") or ".." in pid or any(ord(c) < 32 for c in pid):
        raise _bad(mpath, f"pullback id {pid!r} holds path or control characters")
    return pid


def _inside(root: Path, rel: Any, mpath: Path) -> Path:
    """``root / rel`` when ``rel`` is a relative path that stays inside ``root``."""
    if not isinstance(rel, str) or not rel or "\\" in rel or any(ord(c) < 32 for c in rel):
        raise _bad(mpath, f"polar_file {rel!r} is not a relative file name")
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise _bad(mpath, f"polar_file {rel!r} points outside the training set folder")
    return root / p


def _read_manifest(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The checked manifest of a training set folder (or of its ``manifest.json``)."""
    p = Path(path)
    mpath = p if p.name == "manifest.json" else p / "manifest.json"
    if not mpath.is_file():
        raise _bad(p, "not a napari-plaque A-line training set (no manifest.json)")
    man = read_versioned_json(mpath, DATASET_FORMAT, DATASET_VERSION, "A-line training set")
    classes = man.get("classes")
    if (
        not isinstance(classes, list)
        or not classes
        or not all(isinstance(c, str) and c for c in classes)
        or len(set(classes)) != len(classes)
    ):
        raise _bad(mpath, f"'classes' must be a list of unique names, not {classes!r}")
    for key in ("n_alines", "depth_samples"):
        _pos_int(man, key, mpath)
    depth = man.get("depth_mm")
    if isinstance(depth, bool) or not isinstance(depth, int | float) or not (
        math.isfinite(depth) and 0 < depth < 100
    ):
        raise _bad(mpath, f"'depth_mm' must be a depth in mm (0..100), not {depth!r}")
    pbs = man.get("pullbacks")
    if not isinstance(pbs, list) or not pbs or not all(isinstance(e, dict) for e in pbs):
        raise _bad(mpath, "the training set lists no pullbacks")
    ids = [_check_id(e.get("id"), mpath) for e in pbs]
    if len(set(ids)) != len(ids):
        raise _bad(mpath, "pullback ids are not unique")
    for e in pbs:
        _inside(mpath.parent, e.get("polar_file"), mpath)
        if "n_frames" in e:
            _pos_int(e, "n_frames", mpath)
    if "n_frames" in man or "n_rows" in man:
        nf = _pos_int(man, "n_frames", mpath)
        if not all("n_frames" in e for e in pbs):
            raise _bad(mpath, "'n_frames' is given but not for every pullback")
        if nf != sum(e["n_frames"] for e in pbs):
            raise _bad(mpath, "'n_frames' is not the sum of the pullbacks' frames")
        if _pos_int(man, "n_rows", mpath) != nf * man["n_alines"]:
            raise _bad(mpath, "'n_rows' is not n_frames x n_alines")
    return mpath.parent, man


def _read_polar(f: Path, entry: dict, n_alines: int, depth: int, n_cls: int, polar: bool):
    if not f.is_file():
        raise _bad(f, "polar file listed in the manifest is missing")
    try:
        with np.load(f, allow_pickle=False) as z:
            lab = z["labels"]
            frames = z["frames"]
            pol = z["polar"] if polar else None
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise _bad(f, f"not a readable polar file ({exc})") from None
    if lab.dtype != bool or lab.ndim != 3 or lab.shape[1:] != (n_alines, n_cls):
        raise _bad(f, f"labels {lab.dtype} {lab.shape} are not bool (F, {n_alines}, {n_cls})")
    nf = lab.shape[0]
    if "n_frames" in entry and nf != entry["n_frames"]:
        raise _bad(f, f"holds {nf} frames; the manifest says {entry['n_frames']}")
    if frames.dtype.kind not in "iu" or frames.shape != (nf,):
        raise _bad(f, f"frames {frames.dtype} {frames.shape} are not ({nf},) integers")
    if pol is not None and (pol.dtype != np.uint8 or pol.shape != (nf, n_alines, depth)):
        raise _bad(f, f"polar {pol.dtype} {pol.shape} is not uint8 ({nf}, {n_alines}, {depth})")
    return pol, lab, frames.astype(np.int64)


def _read_features(fpath: Path, man: dict, frames_per_pb: list[int]) -> dict[str, np.ndarray]:
    try:
        with np.load(fpath, allow_pickle=False) as z:
            data = {k: z[k] for k in ("X", "y", "pullback", "frame", "aline")}
    except FileNotFoundError:
        raise _bad(fpath, "features.npz is missing") from None
    except (KeyError, ValueError, OSError, EOFError) as exc:
        raise _bad(fpath, f"unreadable feature table ({exc})") from None
    n_alines, n_cls = man["n_alines"], len(man["classes"])
    names = man.get("feature_names")
    if not isinstance(names, list) or not names:
        raise _bad(fpath, "the manifest names no features")
    n = data["X"].shape[0] if data["X"].ndim == 2 else -1
    if n != sum(frames_per_pb) * n_alines:
        raise _bad(fpath, f"feature table has {n} rows; the pullbacks hold "
                   f"{sum(frames_per_pb) * n_alines} A-lines")  # fmt: skip
    if data["X"].shape[1] != len(names):
        raise _bad(fpath, "feature table width does not match the manifest")
    if data["X"].dtype.kind != "f" or not np.isfinite(data["X"]).all():
        raise _bad(fpath, "feature table holds non-finite or non-float values")
    if data["y"].dtype != bool or data["y"].shape != (n, n_cls):
        raise _bad(fpath, f"labels {data['y'].dtype} {data['y'].shape} are not bool ({n}, {n_cls})")
    for k, hi in (("pullback", len(frames_per_pb)), ("aline", n_alines)):
        v = data[k]
        if v.shape != (n,) or v.dtype.kind not in "iu" or (n and (v.min() < 0 or v.max() >= hi)):
            raise _bad(fpath, f"{k!r} indices are not ({n},) integers in 0..{hi - 1}")
    fr = data["frame"]
    if fr.shape != (n,) or fr.dtype.kind not in "iu" or (n and fr.min() < 0):
        raise _bad(fpath, "'frame' indices are not non-negative integers")
    if n and np.any(fr >= np.asarray(frames_per_pb)[data["pullback"]]):
        raise _bad(fpath, "a 'frame' index lies past its pullback's last frame")
    return data


def read_aline_dataset(
    path: str | Path, polar: bool = True, features: bool | None = None
) -> ALineDataset:
    """Read and check an A-line training set folder (or its ``manifest.json``).

    ``polar``: load the polar frames (the deep trainer's input; labels are always read);
    ``features``: load ``features.npz`` (the SVM's input): True requires it, None (default)
    loads it when there is one, False skips it.

    Raises
    ------
    FormatError
        A missing or corrupt manifest, another format or a version this build does not read,
        a field of the wrong type or range, a polar file outside the folder, missing or
        inconsistent files; the message names the file.
    """
    root, man = _read_manifest(path)
    n_alines, depth, classes = man["n_alines"], man["depth_samples"], list(man["classes"])
    pullbacks = []
    for ent in man["pullbacks"]:
        f = _inside(root, ent["polar_file"], root / "manifest.json")
        pol, lab, frames = _read_polar(f, ent, n_alines, depth, len(classes), polar)
        meta = {k: v for k, v in ent.items() if k != "polar_file"}
        pullbacks.append(ALinePullback(str(ent["id"]), pol, lab, frames, meta))
    fpath = root / "features.npz"
    feats = None
    if features or (features is None and fpath.is_file()):
        feats = _read_features(fpath, man, [p.n_frames for p in pullbacks])
    return ALineDataset(
        classes=classes,
        n_alines=n_alines,
        depth_samples=depth,
        depth_mm=float(man["depth_mm"]),
        pullbacks=pullbacks,
        manifest=man,
        path=str(root),
        features=feats,
    )


def load_training_set(path: str | Path) -> dict[str, Any]:
    """The feature table of a training set (the SVM's input): ``manifest`` plus the arrays of
    ``features.npz`` (X, y, pullback, frame, aline), checked by :func:`read_aline_dataset`.

    Raises FormatError naming the file when it is not a valid training set, ValueError when it
    holds no A-lines.
    """
    ds = read_aline_dataset(path, polar=False, features=True)
    data = ds.feature_table()
    if data["X"].shape[0] == 0:
        raise ValueError(f"{path}: the training set is empty (no A-lines)")
    return data
