"""Segmentation metrics per label, per slice and per lesion, in physical units.

Everything works on two integer label maps of the same shape (``pred`` = automated, ``ref`` =
reference) and the voxel spacing in mm (slice, row, column). The work is cropped to bounding
boxes: the union of all labels for the per-slice counts, and the union of one label in both maps
(plus a one-voxel margin) for that label's overlap, surface and lesion metrics, so a large
volume with small structures costs little more than the structures themselves.

Conventions (documented in ``docs/qc.md`` and pinned by the tests)
-----------------------------------------------------------------
- Overlap: ``dice = 2|P&R| / (|P| + |R|)``, ``jaccard = |P&R| / |P|R|``; both empty -> 1.0,
  exactly one empty -> 0.0. ``sensitivity = |P&R| / |R|`` (NaN when R is empty),
  ``precision = |P&R| / |P|`` (NaN when P is empty).
- Volumes in mm^3 (voxel count x voxel volume); ``volume_diff_mm3 = pred - ref`` and
  ``volume_diff_pct = 100 (pred - ref) / ref`` (NaN when ref is empty).
- Surface voxels: voxels of the mask with at least one 6-connected (face) neighbour outside the
  mask; the volume border counts as outside. Distances are Euclidean between voxel centres in mm,
  anisotropic spacing respected.
- ``hd95_mm``: max of the two directed 95th percentiles (numpy linear interpolation) of the
  surface-to-surface distances (the MONAI ``compute_hausdorff_distance(percentile=95)``
  convention); ``hd_mm``: the plain (100 %) Hausdorff distance; ``assd_mm``: mean of both
  directed distance sets pooled (average symmetric surface distance).
  Both empty -> 0.0; exactly one empty -> ``inf`` (written as JSON ``null`` with ``pred_empty``
  / ``ref_empty`` flags by the CLI).
- Lesions: connected components of each label (3D, 26-connected by default) in each map. A
  reference lesion overlapped by at least one voxel of the same label in ``pred`` is a true
  positive (``lesion_tp``), otherwise a miss (``lesion_fn``); a predicted component touching no
  reference voxel of that label is a false positive (``lesion_fp``), as the orCaScore
  evaluation counts them.
- Disagreement map codes: 0 agree, 1 false positive (pred labelled, ref background), 2 false
  negative (pred background, ref labelled), 3 wrong label (both labelled, different labels).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from .._progress import run_steps

#: disagreement codes written into the disagreement map
AGREE, FALSE_POSITIVE, FALSE_NEGATIVE, WRONG_LABEL = 0, 1, 2, 3
DISAGREEMENT_NAMES = {
    FALSE_POSITIVE: "false positive",
    FALSE_NEGATIVE: "false negative",
    WRONG_LABEL: "wrong label",
}

#: boxes with more voxels than this use a KD-tree on surface voxels instead of a cropped EDT
#: (both give the exact Euclidean voxel-centre distances; the KD-tree is faster on big boxes)
EDT_MAX_VOXELS = 2_000_000

_FACE_3D = ndi.generate_binary_structure(3, 1)


@dataclass
class _Box:
    """A bounding box as a tuple of slices, with helpers."""

    slices: tuple[slice, ...]

    @property
    def size(self) -> int:
        return int(np.prod([s.stop - s.start for s in self.slices]))


def _check_pair(pred: np.ndarray, ref: np.ndarray, spacing_mm: Sequence[float]) -> tuple:
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"pred shape {pred.shape} differs from ref shape {ref.shape}")
    if pred.dtype.kind not in "biu" or ref.dtype.kind not in "biu":
        raise ValueError(
            f"label maps must be integer or boolean arrays, got {pred.dtype} and {ref.dtype}"
        )
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != pred.ndim or min(spacing) <= 0:
        raise ValueError(
            f"spacing_mm must be {pred.ndim} positive numbers for a {pred.ndim}D label map, "
            f"got {spacing}"
        )
    if pred.dtype == bool:
        pred = pred.view(np.uint8)
    if ref.dtype == bool:
        ref = ref.view(np.uint8)
    return pred, ref, spacing


def _union_box(a: _Box | None, b: _Box | None, shape: tuple[int, ...], margin: int) -> _Box:
    boxes = [x for x in (a, b) if x is not None]
    sl = []
    for ax, n in enumerate(shape):
        lo = min(x.slices[ax].start for x in boxes) - margin
        hi = max(x.slices[ax].stop for x in boxes) + margin
        sl.append(slice(max(lo, 0), min(hi, n)))
    return _Box(tuple(sl))


def label_boxes(labels: np.ndarray) -> dict[int, _Box]:
    """Bounding box of every positive label value (one pass, ``ndimage.find_objects``)."""
    if labels.size == 0:
        return {}
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0:
        raise ValueError(f"label maps must not hold negative values (found {lo})")
    if hi == 0:
        return {}
    if hi <= 65535:
        objs = ndi.find_objects(labels if labels.dtype.kind in "iu" else labels.astype(np.int32))
        return {i + 1: _Box(o) for i, o in enumerate(objs) if o is not None}
    # large label values: relabel densely first
    values, inv = np.unique(labels, return_inverse=True)
    dense = inv.reshape(labels.shape).astype(np.int32)
    objs = ndi.find_objects(dense)
    return {int(values[i]): _Box(o) for i, o in enumerate(objs) if o is not None and values[i]}


def surface_mask(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside it (the array border counts as outside)."""
    if not mask.any():
        return mask.copy()
    structure = ndi.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndi.binary_erosion(mask, structure=structure, border_value=0)


def _directed_edt(from_surf: np.ndarray, to_surf: np.ndarray, spacing: tuple) -> np.ndarray:
    """Distances (mm) from every voxel of ``from_surf`` to the nearest voxel of ``to_surf``."""
    dt = ndi.distance_transform_edt(~to_surf, sampling=spacing)
    return dt[from_surf]


def surface_distances(
    pred_mask: np.ndarray, ref_mask: np.ndarray, spacing_mm: Sequence[float], method: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Directed surface distances (mm) pred->ref and ref->pred for two boolean masks.

    Parameters
    ----------
    pred_mask, ref_mask : ndarray of bool
        Masks of the same shape, both non-empty. Pass crops (bounding box plus margin) for speed:
        the distances are exact as long as the crop holds both masks.
    spacing_mm : sequence of float
        Voxel spacing per axis in mm.
    method : {"auto", "edt", "kdtree"}
        ``edt``: ``scipy.ndimage.distance_transform_edt`` with ``sampling=spacing_mm`` over the
        crop; ``kdtree``: nearest surface voxel by ``scipy.spatial.cKDTree`` on the surface voxel
        centres in mm; ``auto``: EDT when the crop holds at most :data:`EDT_MAX_VOXELS` voxels.

    Returns
    -------
    d_pred_to_ref, d_ref_to_pred : ndarray of float64
        One distance per surface voxel of pred (resp. ref).
    """
    spacing = tuple(float(s) for s in spacing_mm)
    sp = surface_mask(pred_mask)
    sr = surface_mask(ref_mask)
    if method == "auto":
        method = "edt" if pred_mask.size <= EDT_MAX_VOXELS else "kdtree"
    if method == "edt":
        return _directed_edt(sp, sr, spacing), _directed_edt(sr, sp, spacing)
    if method != "kdtree":
        raise ValueError(f"unknown distance method {method!r} (use auto, edt or kdtree)")
    scale = np.asarray(spacing)
    both = sp & sr
    pts_p, pts_r = np.argwhere(sp) * scale, np.argwhere(sr) * scale
    return _nearest(pts_p, pts_r, both[sp]), _nearest(pts_r, pts_p, both[sr])


def _nearest(points_mm: np.ndarray, targets_mm: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest target (KD-tree); ``shared`` points are targets
    themselves (distance 0) and are not queried."""
    from scipy.spatial import cKDTree

    out = np.zeros(len(points_mm), float)
    todo = ~shared
    if todo.any():
        out[todo] = cKDTree(targets_mm).query(points_mm[todo], k=1, workers=-1)[0]
    return out


def _distance_summary(d_pr: np.ndarray, d_rp: np.ndarray) -> dict[str, float]:
    return {
        "hd95_mm": float(max(np.percentile(d_pr, 95), np.percentile(d_rp, 95))),
        "hd_mm": float(max(d_pr.max(), d_rp.max())),
        "assd_mm": float((d_pr.sum() + d_rp.sum()) / (d_pr.size + d_rp.size)),
    }


def _lesion_counts(n_p: int, n_r: int, hit_pred: int, hit_ref: int) -> dict[str, int | float]:
    tp, fn, fp = hit_ref, n_r - hit_ref, n_p - hit_pred
    return {
        "lesions_pred": int(n_p),
        "lesions_ref": int(n_r),
        "lesion_tp": int(tp),
        "lesion_fp": int(fp),
        "lesion_fn": int(fn),
        "lesion_sensitivity": float(tp / n_r) if n_r else float("nan"),
        "lesion_ppv": float(hit_pred / n_p) if n_p else float("nan"),
    }


def _lesions(p: np.ndarray, r: np.ndarray, structure: np.ndarray) -> dict[str, int | float]:
    """orCaScore-style lesion counts for two boolean masks (same crop), dense path."""
    lp, n_p = ndi.label(p, structure=structure)
    lr, n_r = ndi.label(r, structure=structure)
    both = (lp > 0) & (lr > 0)
    hit_ref = np.unique(lr[both]).size if n_r else 0
    hit_pred = np.unique(lp[both]).size if n_p else 0
    return _lesion_counts(n_p, n_r, hit_pred, hit_ref)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


#: use the sparse (foreground-only) path when the label fills less than this fraction of its box
SPARSE_MAX_FILL = 0.02


def label_metrics(
    p: np.ndarray,
    r: np.ndarray,
    spacing_mm: Sequence[float],
    connectivity: int | None = None,
    distance_method: str = "auto",
    mode: str = "auto",
) -> dict[str, Any]:
    """All metrics for one label given its boolean masks (full arrays or a common crop).

    Parameters
    ----------
    p, r : ndarray of bool
        Automated and reference masks of one label, same shape (a crop holding both is enough).
    spacing_mm : sequence of float
        Voxel size per axis in mm.
    connectivity : int, optional
        ``ndimage.generate_binary_structure`` rank for lesions (default: full connectivity,
        26 in 3D, 8 in 2D).
    distance_method : {"auto", "edt", "kdtree"}
        See :func:`surface_distances` (dense mode only; sparse mode uses the KD-tree).
    mode : {"auto", "dense", "sparse"}
        ``dense``: erosion, ``ndimage.label`` and distances on the box; ``sparse``: the same
        quantities computed from the labelled voxels only (:mod:`._sparse`), faster when the
        label fills under :data:`SPARSE_MAX_FILL` of its box; ``auto`` picks by that fill.
        Both give identical results.

    See the module docstring for the conventions.
    """
    spacing = tuple(float(s) for s in spacing_mm)
    voxel_mm3 = float(np.prod(spacing))
    n_p = int(np.count_nonzero(p))
    n_r = int(np.count_nonzero(r))
    n_tp = int(np.count_nonzero(p & r))
    n_union = n_p + n_r - n_tp
    out: dict[str, Any] = {
        "dice": 1.0 if n_p + n_r == 0 else 2.0 * n_tp / (n_p + n_r),
        "jaccard": 1.0 if n_union == 0 else n_tp / n_union,
        "sensitivity": _ratio(n_tp, n_r),
        "precision": _ratio(n_tp, n_p),
        "voxels_pred": n_p,
        "voxels_ref": n_r,
        "voxels_tp": n_tp,
        "voxels_fp": n_p - n_tp,
        "voxels_fn": n_r - n_tp,
        "volume_pred_mm3": n_p * voxel_mm3,
        "volume_ref_mm3": n_r * voxel_mm3,
        "volume_diff_mm3": (n_p - n_r) * voxel_mm3,
        "volume_diff_pct": _ratio(100.0 * (n_p - n_r), n_r),
        "pred_empty": n_p == 0,
        "ref_empty": n_r == 0,
    }
    rank = p.ndim if connectivity is None else int(connectivity)
    if mode == "auto":
        mode = "sparse" if (n_p + n_r) < SPARSE_MAX_FILL * 2 * p.size else "dense"
    if mode == "sparse":
        dist, lesions = _sparse_label_metrics(p, r, spacing, rank)
    elif mode == "dense":
        if n_p and n_r:
            dist = _distance_summary(*surface_distances(p, r, spacing, method=distance_method))
        else:
            dist = {}
        lesions = _lesions(p, r, ndi.generate_binary_structure(p.ndim, rank))
    else:
        raise ValueError(f"unknown mode {mode!r} (use auto, dense or sparse)")
    if n_p == 0 and n_r == 0:
        dist = {"hd95_mm": 0.0, "hd_mm": 0.0, "assd_mm": 0.0}
    elif n_p == 0 or n_r == 0:
        dist = {"hd95_mm": float("inf"), "hd_mm": float("inf"), "assd_mm": float("inf")}
    out.update(dist)
    out.update(lesions)
    return out


def _isin(query: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """Membership of ``query`` in the sorted array ``sorted_values``."""
    if sorted_values.size == 0:
        return np.zeros(query.shape, bool)
    pos = np.minimum(np.searchsorted(sorted_values, query), sorted_values.size - 1)
    return sorted_values[pos] == query


def _sparse_label_metrics(
    p: np.ndarray, r: np.ndarray, spacing: tuple[float, ...], rank: int
) -> tuple[dict[str, float], dict[str, int | float]]:
    """Distances and lesion counts from the labelled voxels only (see :mod:`._sparse`)."""
    from ._sparse import SparseMask

    sp, sr = SparseMask(p), SparseMask(r)
    dist: dict[str, float] = {}
    if sp.size and sr.size:
        scale = np.asarray(spacing)
        surf_p, surf_r = sp.surface(), sr.surface()
        lin_p, lin_r = sp.lin[surf_p], sr.lin[surf_r]
        d_pr = _nearest(sp.coords[surf_p] * scale, sr.coords[surf_r] * scale, _isin(lin_p, lin_r))
        d_rp = _nearest(sr.coords[surf_r] * scale, sp.coords[surf_p] * scale, _isin(lin_r, lin_p))
        dist = _distance_summary(d_pr, d_rp)
    n_p, lab_p = sp.components(rank)
    n_r, lab_r = sr.components(rank)
    in_r, pos_r = sr.lookup(sp.lin)
    hit_pred = np.unique(lab_p[in_r]).size
    hit_ref = np.unique(lab_r[pos_r[in_r]]).size
    return dist, _lesion_counts(n_p, n_r, hit_pred, hit_ref)


def slice_disagreement(
    pred: np.ndarray, ref: np.ndarray, spacing_mm: Sequence[float], axis: int = 0
) -> dict[str, np.ndarray]:
    """Per-slice (or per-frame) voxel disagreement along ``axis``.

    Returns arrays of length ``pred.shape[axis]``: ``fp`` (pred labelled, ref background),
    ``fn`` (pred background, ref labelled), ``wrong`` (both labelled, different label),
    ``disagree`` (all voxels where the label differs), ``disagree_mm2`` (that count times the
    in-slice pixel area) and ``dice`` (foreground Dice in that slice; 1.0 when both empty).
    """
    pred, ref, spacing = _check_pair(pred, ref, spacing_mm)
    _, _, counts = _scan(pred, ref, axis)
    return _per_slice(counts, spacing, axis)


#: above this fraction of labelled voxels, :func:`_scan` uses ``ndimage.find_objects`` and dense
#: per-slice counts instead of the list of labelled voxels (bounded memory)
SCAN_MAX_FILL = 0.15


def _scan(
    pred: np.ndarray, ref: np.ndarray, axis: int
) -> tuple[dict[int, _Box], dict[int, _Box], dict[str, np.ndarray]]:
    """One pass over both maps: per-label boxes of each and raw per-slice counts."""
    n = pred.shape[axis]
    res = {k: np.zeros(n, np.int64) for k in ("fp", "fn", "wrong", "disagree", "pred", "ref")}
    u = pred != 0
    u |= ref != 0
    n_fg = int(np.count_nonzero(u))
    if n_fg == 0:
        return {}, {}, res
    if n_fg > SCAN_MAX_FILL * u.size:
        del u
        pb, rb = label_boxes(pred), label_boxes(ref)
        _slice_counts_dense(pred, ref, axis, res)
        return pb, rb, res
    coords = np.nonzero(u)
    del u
    pv, rv = pred[coords], ref[coords]
    lo = min(int(pv.min()), int(rv.min()))
    if lo < 0:
        raise ValueError(f"label maps must not hold negative values (found {lo})")
    sl = coords[axis]
    pf, rf = pv != 0, rv != 0
    res["pred"][:] = np.bincount(sl[pf], minlength=n)
    res["ref"][:] = np.bincount(sl[rf], minlength=n)
    res["fp"][:] = np.bincount(sl[~rf], minlength=n)  # every listed voxel is labelled somewhere
    res["fn"][:] = np.bincount(sl[~pf], minlength=n)
    res["disagree"][:] = np.bincount(sl[pv != rv], minlength=n)
    res["wrong"][:] = res["disagree"] - res["fp"] - res["fn"]
    return _boxes_from_coords(coords, pv), _boxes_from_coords(coords, rv), res


def _boxes_from_coords(coords: tuple[np.ndarray, ...], values: np.ndarray) -> dict[int, _Box]:
    """Bounding box of every positive value, from the voxel list (sort + reduceat)."""
    keep = values != 0
    v = values[keep]
    if v.size == 0:
        return {}
    order = np.argsort(v, kind="stable")
    vs = v[order]
    starts = np.flatnonzero(np.r_[True, vs[1:] != vs[:-1]])
    lo, hi = [], []
    for c in coords:
        cs = c[keep][order]
        lo.append(np.minimum.reduceat(cs, starts))
        hi.append(np.maximum.reduceat(cs, starts))
    return {
        int(val): _Box(tuple(slice(int(lo[a][i]), int(hi[a][i]) + 1) for a in range(len(coords))))
        for i, val in enumerate(vs[starts])
    }


def _slice_counts_dense(p: np.ndarray, r: np.ndarray, axis: int, res: dict) -> None:
    other = tuple(i for i in range(p.ndim) if i != axis)
    pf = p != 0
    rf = r != 0
    res["pred"][:] = np.count_nonzero(pf, axis=other)
    res["ref"][:] = np.count_nonzero(rf, axis=other)
    res["fp"][:] = np.count_nonzero(pf & ~rf, axis=other)
    res["fn"][:] = np.count_nonzero(rf & ~pf, axis=other)
    res["disagree"][:] = np.count_nonzero(p != r, axis=other)
    res["wrong"][:] = res["disagree"] - res["fp"] - res["fn"]


def _per_slice(
    res: dict[str, np.ndarray], spacing: tuple[float, ...], axis: int
) -> dict[str, np.ndarray]:
    pixel_mm2 = float(np.prod([s for i, s in enumerate(spacing) if i != axis]))
    out = {k: res[k] for k in ("fp", "fn", "wrong", "disagree")}
    out["disagree_mm2"] = res["disagree"] * pixel_mm2
    total = res["pred"] + res["ref"]
    same = (total - res["fp"] - res["fn"] - 2 * res["wrong"]) // 2
    out["dice"] = np.where(total > 0, 2.0 * same / np.maximum(total, 1), 1.0)
    return out


def worst_slices(per_slice: dict[str, np.ndarray], n: int = 10) -> list[dict[str, Any]]:
    """The ``n`` slices with most disagreeing voxels (ties: lower index first), none if all agree."""
    d = per_slice["disagree"]
    order = np.lexsort((np.arange(d.size), -d))
    order = order[d[order] > 0][: max(int(n), 0)]
    return [
        {
            "index": int(i),
            "disagree_voxels": int(d[i]),
            "disagree_mm2": float(per_slice["disagree_mm2"][i]),
            "fp_voxels": int(per_slice["fp"][i]),
            "fn_voxels": int(per_slice["fn"][i]),
            "wrong_label_voxels": int(per_slice["wrong"][i]),
            "dice": float(per_slice["dice"][i]),
        }
        for i in order
    ]


def disagreement_map(pred: np.ndarray, ref: np.ndarray, label: int | None = None) -> np.ndarray:
    """uint8 map: 0 agree, 1 false positive, 2 false negative, 3 wrong label.

    With ``label`` given, only that label is compared (other labels count as background), so
    the map holds only codes 0, 1 and 2.
    """
    pred = np.asarray(pred)
    ref = np.asarray(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"pred shape {pred.shape} differs from ref shape {ref.shape}")
    if label is not None:
        pf, rf = pred == label, ref == label
        out = np.zeros(pred.shape, np.uint8)
        out[pf & ~rf] = FALSE_POSITIVE
        out[rf & ~pf] = FALSE_NEGATIVE
        return out
    pf, rf = pred != 0, ref != 0
    out = np.zeros(pred.shape, np.uint8)
    out[pf & ~rf] = FALSE_POSITIVE
    out[rf & ~pf] = FALSE_NEGATIVE
    out[pf & rf & (pred != ref)] = WRONG_LABEL
    return out


def iter_qc_metrics(
    pred: np.ndarray,
    ref: np.ndarray,
    spacing_mm: Sequence[float],
    labels: Sequence[int] | None = None,
    n_worst: int = 10,
    connectivity: int | None = None,
    distance_method: str = "auto",
    slice_axis: int = 0,
    mode: str = "auto",
) -> Generator[int, None, dict[str, Any]]:
    """QC of an automated label map against a reference; a step generator.

    Yields the number of steps done (1 for the per-slice pass, then one per label; total
    ``1 + number of labels``) and returns a dict with ``labels`` (label value -> metrics, see
    :func:`label_metrics`), ``per_slice`` (arrays from :func:`slice_disagreement`),
    ``worst_slices``, ``spacing_mm`` and ``shape``.

    Parameters
    ----------
    pred, ref : ndarray of int
        Automated and reference label maps (same shape; 0 is background).
    spacing_mm : sequence of float
        Voxel size in mm per axis (slice, row, column).
    labels : sequence of int, optional
        Label values to evaluate; default every positive value present in either map. A value
        absent from both is reported with the "both empty" values.
    n_worst : int
        Length of the worst-slice list.
    connectivity : int, optional
        Lesion connectivity rank (1 = faces ... ndim = full, the default).
    distance_method : {"auto", "edt", "kdtree"}
        See :func:`surface_distances`.
    slice_axis : int
        Axis of slices (CT) or frames (IVUS) for the per-slice disagreement.
    mode : {"auto", "dense", "sparse"}
        See :func:`label_metrics`.
    """
    pred, ref, spacing = _check_pair(pred, ref, spacing_mm)
    pb, rb, counts = _scan(pred, ref, slice_axis)
    per_slice = _per_slice(counts, spacing, slice_axis)
    yield 1
    values = sorted(set(pb) | set(rb)) if labels is None else sorted({int(v) for v in labels})
    results: dict[int, dict[str, Any]] = {}
    for i, value in enumerate(values):
        a, b = pb.get(value), rb.get(value)
        if a is None and b is None:
            empty = np.zeros((1,) * pred.ndim, bool)
            results[value] = label_metrics(empty, empty, spacing, connectivity, distance_method)
        else:
            box = _union_box(a, b, pred.shape, 1)
            p = pred[box.slices] == value
            r = ref[box.slices] == value
            results[value] = label_metrics(p, r, spacing, connectivity, distance_method, mode)
        yield 2 + i
    return {
        "labels": results,
        "per_slice": per_slice,
        "worst_slices": worst_slices(per_slice, n_worst),
        "spacing_mm": list(spacing),
        "shape": list(pred.shape),
    }


def qc_metrics(
    pred: np.ndarray, ref: np.ndarray, spacing_mm: Sequence[float], **kwargs: Any
) -> dict[str, Any]:
    """Run :func:`iter_qc_metrics` to completion and return its result."""
    return run_steps(iter_qc_metrics(pred, ref, spacing_mm, **kwargs))


def qc_steps(pred: np.ndarray, ref: np.ndarray, labels: Sequence[int] | None = None) -> int:
    """Number of steps :func:`iter_qc_metrics` yields (for a progress bar)."""
    if labels is not None:
        return 1 + len(set(labels))
    vals = set(np.unique(pred[pred != 0]).tolist()) | set(np.unique(ref[ref != 0]).tolist())
    return 1 + len(vals)
