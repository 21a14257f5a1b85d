"""Training data for the deep models (numpy only, no torch).

- Generic helpers of the trainers: :func:`split_groups` (a grouped, seeded validation split)
  and :func:`context_stack` (frames with their neighbours). The IVUS A-line training set
  (``napari-plaque/aline-dataset``) has its one writer and reader in
  :mod:`napari_plaque.ivus.dataset`.
- CT segmentation sets made from image + label arrays: a patch folder
  (``napari-plaque/ct-patches``, :func:`export_ct_patches`) or an nnU-Net v2 raw dataset folder
  (:func:`export_nnunet`); :func:`read_ct_training_set` reads both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io.anon import hash_id
from ..io.atomic import atomic_dir, atomic_path, atomic_write_json
from ..io.errors import FormatError
from ..types import CTVolume

CT_PATCH_FORMAT = "napari-plaque/ct-patches"
AIR_HU = -1024.0

def refuse_foreign_folder(folder: Path, marker: str) -> None:
    """An existing, non-empty folder is only replaced when it holds our ``marker`` file."""
    if folder.exists():
        if not folder.is_dir():
            raise ValueError(f"{folder}: exists and is not a folder")
        if any(folder.iterdir()) and not (folder / marker).exists():
            raise ValueError(
                f"{folder}: folder is not empty and is not a dataset ({marker} missing); "
                "not touched: choose another folder"
            )


def context_stack(polar: np.ndarray, index: np.ndarray, context: int) -> np.ndarray:
    """Stack each indexed frame with its ``context`` neighbours on each side (edges clamped).

    Returns uint8 ``(len(index), 2 * context + 1, A, D)``.
    """
    index = np.asarray(index)
    offs = np.arange(-context, context + 1)
    idx = np.clip(index[:, None] + offs[None, :], 0, len(polar) - 1)
    return np.asarray(polar)[idx]


def split_groups(
    ids: list[str], val_fraction: float = 0.25, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Split group ids (pullbacks, studies) into train and validation groups, seeded.

    At least one group goes to each side when there are two or more groups.
    """
    ids = sorted(set(ids))
    if len(ids) < 2:
        return ids, []
    rng = np.random.default_rng(seed)
    order = [ids[i] for i in rng.permutation(len(ids))]
    n_val = min(len(ids) - 1, max(1, int(round(val_fraction * len(ids)))))
    return sorted(order[n_val:]), sorted(order[:n_val])


# --------------------------------------------------------------------------- CT data


def hu_normalise(hu: np.ndarray, window_hu: tuple[float, float]) -> np.ndarray:
    """Clip HU to ``window_hu`` = (low, high) and scale to [0, 1] (float32)."""
    lo, hi = float(window_hu[0]), float(window_hu[1])
    if hi <= lo:
        raise ValueError(f"HU window must be (low, high) with high > low, got {window_hu}")
    x = (np.asarray(hu, dtype=np.float32) - lo) / (hi - lo)
    return np.clip(x, 0.0, 1.0, out=x)


@dataclass
class CTCase:
    """One CT training case (HU array and integer label map of the same shape)."""

    id: str
    hu: np.ndarray
    labels: np.ndarray
    spacing_mm: tuple[float, float, float]


@dataclass
class CTTrainingSet:
    cases: list[CTCase]
    classes: list[str]
    source_format: str
    path: str = ""


def _check_pair(vol: CTVolume, lab: np.ndarray, i: int) -> np.ndarray:
    lab = np.asarray(lab)
    if lab.shape != vol.shape:
        raise ValueError(
            f"case {i} ({vol.name}): label shape {lab.shape} does not match the image {vol.shape}"
        )
    if lab.dtype.kind not in "biu" or (lab.size and lab.min() < 0):
        raise ValueError(f"case {i} ({vol.name}): labels must be non-negative integers")
    return lab


def _classes_for(labels: list[np.ndarray], classes: list[str] | None) -> list[str]:
    return classes_for_count(max(_n_labels(lab) for lab in labels), classes)


def _n_labels(lab: np.ndarray) -> int:
    return int(lab.max()) + 1 if lab.size else 1


def classes_for_count(n: int, classes: list[str] | None) -> list[str]:
    """Class names for label values 0..n-1: the names given (checked), else label_<k>."""
    if classes is None:
        return ["background"] + [f"label_{k}" for k in range(1, max(n, 2))]
    classes = list(classes)
    if len(classes) < n:
        raise ValueError(f"labels go up to {n - 1} but only {len(classes)} classes were named")
    return classes


def _pad_to(arr: np.ndarray, shape: tuple[int, ...], value: float) -> np.ndarray:
    pad = [(0, max(0, s - a)) for a, s in zip(arr.shape, shape, strict=True)]
    if any(p[1] for p in pad):
        arr = np.pad(arr, pad, constant_values=value)
    return arr


def sample_patch_corners(
    labels: np.ndarray,
    patch_size: tuple[int, int, int],
    n: int,
    rng: np.random.Generator,
    foreground_fraction: float = 0.5,
) -> np.ndarray:
    """Patch corners (n, 3): a share centred on random foreground voxels, the rest uniform."""
    shape = np.array(labels.shape)
    ps = np.array(patch_size)
    hi = np.maximum(shape - ps, 0)
    corners = (rng.random((n, 3)) * (hi + 1)).astype(int)
    fg = np.argwhere(labels > 0)
    n_fg = int(round(foreground_fraction * n)) if len(fg) else 0
    if n_fg:
        centres = fg[rng.integers(0, len(fg), n_fg)]
        corners[:n_fg] = np.clip(centres - ps // 2, 0, hi)
    return corners


def export_ct_patches(
    images: list[CTVolume],
    labels: list[np.ndarray],
    out_dir: str | Path,
    patch_size: tuple[int, int, int] = (16, 64, 64),
    n_patches: int = 32,
    classes: list[str] | None = None,
    seed: int = 0,
    foreground_fraction: float = 0.5,
) -> Path:
    """Export HU patches + label patches (``napari-plaque/ct-patches``) from image/label pairs.

    Case ids are hashed (from the volume name and index); HU is stored as float32, labels as
    uint8. Use ``patch_size[0] == 1`` for a 2D model. Each case's patches are drawn with a
    generator seeded by ``seed`` and the case id, so a case gets the same patches whether it
    is exported here or on a cohort worker (``napari-plaque export-ct-dataset --workers N``).
    """
    return _export_ct(
        images,
        labels,
        out_dir,
        "patches",
        classes,
        patch_size=patch_size,
        n_patches=n_patches,
        seed=seed,
        foreground_fraction=foreground_fraction,
    )


def _export_ct(images, labels, out_dir, fmt, classes, **opts) -> Path:
    """In-process export: one case after the other through :func:`write_ct_case`, then
    :func:`assemble_ct_dataset` (the same two steps as the cohort export)."""
    if not images or len(images) != len(labels):
        raise ValueError("need one label array per image (and at least one image)")
    labels = [_check_pair(v, lab, i) for i, (v, lab) in enumerate(zip(images, labels, strict=True))]
    final = ct_dataset_folder(out_dir, fmt, opts.get("dataset_id", 0), opts.get("name", ""))
    refuse_foreign_folder(final, CT_MARKERS[fmt])
    classes_for_count(max(_n_labels(lab) for lab in labels), classes)  # refuse before writing
    with atomic_dir(final) as staging:  # replaced in one step: never half-written
        entries = [
            write_ct_case(vol, lab, staging, _case_key(i, vol), fmt, **opts)
            for i, (vol, lab) in enumerate(zip(images, labels, strict=True))
        ]
        assemble_ct_dataset(staging, entries, fmt, classes, **opts)
    return final


#: the file that marks a folder as a CT training set of each format (only those are replaced)
CT_MARKERS = {"patches": "manifest.json", "nnunet": "dataset.json"}
#: defaults of ``export-ct-dataset`` / ``api.export_ct_dataset`` (one home)
CT_DATASET_DEFAULTS: dict[str, Any] = {
    "format": "patches",
    "patch_size": (1, 64, 64),
    "n_patches": 32,
    "dataset_id": 501,
    "name": "NapariPlaque",
    "seed": 0,
}


def ct_dataset_folder(out_dir: str | Path, fmt: str, dataset_id: int = 0, name: str = "") -> Path:
    """The folder an export writes: ``out_dir`` for patches, ``out_dir/Dataset{id}_{name}``
    for nnU-Net (ids 1..999)."""
    if fmt == "patches":
        return Path(out_dir)
    if fmt != "nnunet":
        raise ValueError(f"unknown CT dataset format {fmt!r} (patches or nnunet)")
    if not 1 <= int(dataset_id) <= 999:
        raise ValueError(f"nnU-Net dataset ids are 1..999, got {dataset_id}")
    return Path(out_dir) / f"Dataset{int(dataset_id):03d}_{name}"


def _case_key(i: int, vol: CTVolume) -> str:
    return f"{i}:{vol.name}:{vol.meta.get('SeriesInstanceUID', '')}"


def write_ct_case(
    vol: CTVolume,
    lab: np.ndarray,
    staging: str | Path,
    key: str,
    fmt: str = "patches",
    *,
    patch_size: tuple[int, int, int] = (16, 64, 64),
    n_patches: int = 32,
    seed: int = 0,
    foreground_fraction: float = 0.5,
    **_: Any,
) -> dict[str, Any]:
    """One case of a CT training set into ``staging`` (a cohort worker may run it): its patch
    file, or its nnU-Net image and label; returns the case's entry for the assembly. ``key``
    identifies the case (hashed into its id: no name or path is written)."""
    out = Path(staging)
    lab = _check_pair(vol, lab, 0)
    cid = hash_id(key)
    entry: dict[str, Any] = {"n_labels": _n_labels(lab), "spacing_mm": list(vol.spacing_mm)}
    if fmt == "nnunet":
        cid = f"case_{cid[:10]}"
        hu = np.asarray(vol.hu)
        hu = hu.astype(np.int16) if hu.dtype.kind in "iu" else hu.astype(np.float32)
        write_nifti(out / "imagesTr" / f"{cid}_0000.nii.gz", hu, vol)
        write_nifti(out / "labelsTr" / f"{cid}.nii.gz", lab.astype(np.uint8), vol)
        return {"id": cid, **entry}
    rng = np.random.default_rng([int(seed), int(cid[:8], 16)])
    hu = _pad_to(np.asarray(vol.hu, np.float32), patch_size, AIR_HU)
    lab = _pad_to(lab, patch_size, 0)
    corners = sample_patch_corners(lab, patch_size, n_patches, rng, foreground_fraction)
    sl = [tuple(slice(c, c + s) for c, s in zip(cr, patch_size, strict=True)) for cr in corners]
    rel = f"patches/{cid}.npz"
    with atomic_path(out / rel) as tmp:
        np.savez_compressed(
            tmp,
            hu=np.stack([hu[s] for s in sl]),
            labels=np.stack([lab[s] for s in sl]).astype(np.uint8),
        )
    return {"id": cid, "file": rel, "n_patches": int(n_patches), **entry}


def assemble_ct_dataset(
    staging: str | Path,
    entries: list[dict[str, Any]],
    fmt: str,
    classes: list[str] | None = None,
    *,
    patch_size: tuple[int, int, int] = (16, 64, 64),
    name: str = "NapariPlaque",
    **_: Any,
) -> None:
    """Write the manifest (patches) or ``dataset.json`` (nnU-Net) of the cases in ``staging``
    (written by :func:`write_ct_case`); the caller puts the folder in place."""
    if not entries:
        raise ValueError("no cases to export: the training set would be empty")
    classes = classes_for_count(max(int(e["n_labels"]) for e in entries), classes)
    out = Path(staging)
    if fmt == "nnunet":
        atomic_write_json(
            out / "dataset.json",
            {
                "channel_names": {"0": "CT"},
                "labels": {c: k for k, c in enumerate(nnunet_classes(classes))},
                "numTraining": len({e["id"] for e in entries}),  # a case listed twice: one
                "file_ending": ".nii.gz",
                "name": name,
                "description": "exported by napari-plaque",
            },
        )
        return
    cases = [
        {
            "id": e["id"],
            "file": e["file"],
            "n_patches": e["n_patches"],
            "spacing_mm": e["spacing_mm"],
        }
        for e in entries
    ]
    atomic_write_json(
        out / "manifest.json",
        {
            "format": CT_PATCH_FORMAT,
            "version": 1,
            "classes": classes,
            "patch_size": list(patch_size),
            "cases": cases,
        },
    )


def write_nifti(path: str | Path, arr: np.ndarray, like: CTVolume) -> Path:
    """Write an array in the reader's (slice, row, col) order as NIfTI with ``like``'s geometry.

    Delegates to :func:`napari_plaque.io.nifti.write_nifti` (the inverse of the NIfTI reader).
    """
    from ..io.nifti import write_nifti as _write

    return _write(path, np.asarray(arr), like.spacing_mm, like.origin_mm)


def _read_nifti(path: Path) -> CTVolume:
    from ..io.nifti import read_nifti

    return read_nifti(path)


def export_nnunet(
    images: list[CTVolume],
    labels: list[np.ndarray],
    out_dir: str | Path,
    dataset_id: int = 501,
    name: str = "NapariPlaque",
    classes: list[str] | None = None,
) -> Path:
    """Write an nnU-Net v2 raw dataset folder ``Dataset{id:03d}_{name}``.

    ``imagesTr/<case>_0000.nii.gz`` (CT, one channel), ``labelsTr/<case>.nii.gz`` and
    ``dataset.json`` (``channel_names``, ``labels``, ``numTraining``, ``file_ending``). Case ids are
    hashed. An existing dataset is replaced as a whole (leftover cases would break nnU-Net's
    case count); a folder that is not an nnU-Net dataset is refused. Returns the dataset folder.
    """
    if classes is not None:
        nnunet_classes(list(classes))  # names unique: refused before anything is written
    return _export_ct(images, labels, out_dir, "nnunet", classes, dataset_id=dataset_id, name=name)


def nnunet_classes(classes: list[str]) -> list[str]:
    """Class names as nnU-Net v2 requires them: label 0 is ``"background"``, names unique."""
    out = ["background", *[str(c) for c in classes[1:]]]
    if len(set(out)) != len(out):
        raise ValueError(f"class names must be unique for nnU-Net (got {out})")
    return out


def _nnunet_label_map(ds: Path, labels: Any) -> list[str]:
    """Class names by label value from dataset.json ``labels`` (plain or region-based).

    Region-based datasets map a region name to a list of label values; the label files still
    hold plain integer labels, so classes are the integer values, named by a plain entry or a
    one-value region when there is one (else ``label_<k>``).
    """
    if not isinstance(labels, dict) or not labels:
        raise FormatError(ds, "dataset.json 'labels' must be a non-empty object")
    names: dict[int, str] = {}
    values: set[int] = set()
    for k, v in labels.items():
        vals = v if isinstance(v, list | tuple) else [v]
        try:
            ints = [int(x) for x in vals]
        except (TypeError, ValueError):
            raise FormatError(ds, f"label {k!r} has a non-integer value {v!r}") from None
        if any(x < 0 or x > 255 for x in ints) or not ints:
            raise FormatError(ds, f"label {k!r} has values outside 0..255: {v!r}")
        values.update(ints)
        if len(ints) == 1:
            names.setdefault(ints[0], str(k))
    if 0 not in values:
        raise FormatError(ds, "dataset.json has no background label 0")
    n = max(values) + 1
    return [names.get(i, "background" if i == 0 else f"label_{i}") for i in range(n)]


def read_ct_training_set(path: str | Path) -> CTTrainingSet:
    """Read a CT training set: a ``napari-plaque/ct-patches`` folder or an nnU-Net v2 raw folder."""
    root = Path(path)
    man = root / "manifest.json"
    ds = root / "dataset.json"
    if man.is_file():
        try:
            m = json.loads(man.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FormatError(man, f"not valid JSON ({exc})") from None
        if m.get("format") != CT_PATCH_FORMAT:
            raise FormatError(man, f"not a CT patch set (format must be {CT_PATCH_FORMAT!r})")
        cases = []
        for ent in m["cases"]:
            f = root / ent["file"]
            try:
                with np.load(f, allow_pickle=False) as z:
                    hu, lab = z["hu"], z["labels"]
            except (KeyError, ValueError, OSError) as exc:
                raise FormatError(f, f"not a readable patch file ({exc})") from None
            for k in range(len(hu)):
                cases.append(CTCase(f"{ent['id']}", hu[k], lab[k], tuple(ent["spacing_mm"])))
        return CTTrainingSet(cases, list(m["classes"]), CT_PATCH_FORMAT, str(root))
    if ds.is_file():
        try:
            d = json.loads(ds.read_text(encoding="utf-8"))
            raw_labels = d["labels"]
            ending = str(d.get("file_ending", ".nii.gz"))
        except (json.JSONDecodeError, KeyError, AttributeError, TypeError, ValueError) as exc:
            raise FormatError(ds, f"not an nnU-Net dataset.json ({exc})") from None
        classes = _nnunet_label_map(ds, raw_labels)
        cases = []
        for lf in sorted((root / "labelsTr").glob(f"*{ending}")):
            cid = lf.name[: -len(ending)]
            img_f = root / "imagesTr" / f"{cid}_0000{ending}"
            if not img_f.is_file():
                raise FormatError(img_f, "image for this label is missing")
            vol = _read_nifti(img_f)
            lab = np.asarray(_read_nifti(lf).hu)
            if lab.shape != vol.shape:
                raise FormatError(lf, f"label shape {lab.shape} != image shape {vol.shape}")
            cases.append(CTCase(cid, np.asarray(vol.hu), lab.astype(np.int64), vol.spacing_mm))
        if not cases:
            raise FormatError(root / "labelsTr", "no labelled cases found")
        return CTTrainingSet(cases, classes, "nnunet-v2", str(root))
    raise FormatError(root, "not a CT training set (no manifest.json or nnU-Net dataset.json)")


def ct_training_set_from_arrays(
    images: list[CTVolume], labels: list[np.ndarray], classes: list[str] | None = None
) -> CTTrainingSet:
    """A CT training set straight from image + label arrays (e.g. napari layers)."""
    if not images or len(images) != len(labels):
        raise ValueError("need one label array per image (and at least one image)")
    labels = [_check_pair(v, lab, i) for i, (v, lab) in enumerate(zip(images, labels, strict=True))]
    classes = _classes_for(labels, classes)
    cases = [
        CTCase(hash_id(f"{i}:{v.name}"), np.asarray(v.hu), lab, v.spacing_mm)
        for i, (v, lab) in enumerate(zip(images, labels, strict=True))
    ]
    return CTTrainingSet(cases, classes, "arrays")


def split_into_slabs(ts: CTTrainingSet, n_slabs: int = 4) -> CTTrainingSet:
    """Cut each case into ``n_slabs`` slabs along z, each its own group (case id + slab).

    For training from a single study (e.g. one image + label layer pair): the validation split
    then holds out whole slabs. Neighbouring slabs of one patient are not independent, so the
    validation figures are optimistic; say so when reporting them.
    """
    cases = []
    for c in ts.cases:
        bounds = np.linspace(0, c.hu.shape[0], min(n_slabs, c.hu.shape[0]) + 1).astype(int)
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if b > a:
                cases.append(CTCase(f"{c.id}-slab{k}", c.hu[a:b], c.labels[a:b], c.spacing_mm))
    return CTTrainingSet(cases, ts.classes, ts.source_format + "+slabs", ts.path)
