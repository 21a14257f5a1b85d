"""A-line training sets: a feature table for the SVM and polar frames for deep models.

Layout of an export directory (``napari-plaque/aline-dataset``, version 1)::

    manifest.json      format, version, software_version, classes, n_alines, depth_samples,
                       depth_mm, feature_names, feature_version, pullbacks: [{id, n_frames,
                       frame_time_s, pullback_rate_mm_s, pixel_spacing_mm, center, polar_file}]
    features.npz       X float32 (N, n_features), y bool (N, n_classes), pullback (N,) int index
                       into manifest["pullbacks"], frame (N,) int, aline (N,) int
    polar/<id>.npz     polar uint8 (F, n_alines, depth_samples), labels bool
                       (F, n_alines, n_classes), frames int (F,) source frame indices

Everything is written into a temporary folder beside ``out_dir`` (manifest last) and renamed
into place, so an interrupted export never leaves a half-written dataset. Pullback ids are
salted hashes: no patient name, ID or birth date is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..io.anon import hash_id
from ..io.atomic import (
    _tmp_name,
    atomic_path,
    atomic_write_json,
    clean_stale_temps,
    replace_dir,
)
from ..io.errors import FormatError
from .arcs import DEFAULT_CLASSES, ArcSet
from .features import FEATURE_NAMES, FEATURE_VERSION, iter_pullback_features

__all__ = [
    "DATASET_FORMAT",
    "DATASET_VERSION",
    "assemble_training_set",
    "default_depth_mm",
    "export_training_set",
    "iter_write_shard",
    "staging_folder",
    "iter_export_training_set",
    "load_training_set",
    "pullback_id",
]

DATASET_FORMAT = "napari-plaque/aline-dataset"
DATASET_VERSION = 1


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
            raise ValueError(f"{out_dir}: folder is not empty and not a training set; not touched")
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
    labels = arcs.labels(n_alines, list(classes))
    with atomic_path(folder / f"{name}.polar.npz") as tmp:
        np.savez_compressed(tmp, polar=polar, labels=labels, frames=np.arange(nf, dtype=np.int64))
    with atomic_path(folder / f"{name}.features.npz") as tmp:
        np.savez_compressed(
            tmp,
            X=feats.reshape(nf * n_alines, -1).astype(np.float32),
            y=labels.reshape(nf * n_alines, len(classes)).astype(bool),
            frame=np.repeat(np.arange(nf, dtype=np.int32), n_alines),
            aline=np.tile(np.arange(n_alines, dtype=np.int32), nf),
        )
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


def assemble_training_set(
    staging: str | Path,
    entries: list[dict[str, Any]],
    out_dir: str | Path,
    n_alines: int,
    depth_samples: int,
    depth_mm: float,
    classes: tuple[str, ...] = DEFAULT_CLASSES,
) -> Path:
    """Join the shards of ``entries`` (in this order: it is the pullback index) in ``staging``
    into one training set, and put it in place of ``out_dir`` in one step."""
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
    manifest = {
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "software_version": __version__,
        "classes": list(classes),
        "n_alines": int(n_alines),
        "depth_samples": int(depth_samples),
        "depth_mm": float(depth_mm),
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
    tmp = out_dir.parent / _tmp_name(out_dir)
    tmp.mkdir()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after assembly (renamed) or on error


def iter_export_training_set(
    items: list[tuple[Any, ArcSet]],
    out_dir: str | Path,
    n_alines: int = 360,
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
    n_alines: int = 360,
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


def load_training_set(path: str | Path) -> dict[str, Any]:
    """Load an export folder: ``manifest`` plus the arrays of ``features.npz``.

    Raises FormatError naming the folder when it is not a training set, ValueError when it
    holds no A-lines.
    """
    p = Path(path)
    mpath = p / "manifest.json"
    if not p.is_dir() or not mpath.exists():
        raise FormatError(p, "not a napari-plaque training set (no manifest.json)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(mpath, f"not valid JSON ({exc})") from exc
    if manifest.get("format") != DATASET_FORMAT or manifest.get("version") != DATASET_VERSION:
        raise FormatError(mpath, f"not a {DATASET_FORMAT} version {DATASET_VERSION} manifest")
    fpath = p / "features.npz"
    try:
        with np.load(fpath, allow_pickle=False) as z:
            data = {k: z[k] for k in ("X", "y", "pullback", "frame", "aline")}
    except FileNotFoundError as exc:
        raise FormatError(fpath, "features.npz is missing") from exc
    except (KeyError, ValueError, OSError) as exc:
        raise FormatError(fpath, f"unreadable feature table ({exc})") from exc
    if data["X"].shape[0] == 0:
        raise ValueError(f"{p}: the training set is empty (no A-lines)")
    if data["X"].shape[1] != len(manifest.get("feature_names", [])):
        raise FormatError(fpath, "feature table width does not match the manifest")
    data["manifest"] = manifest
    return data
