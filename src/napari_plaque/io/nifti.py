"""NIfTI images and label maps, oriented like the DICOM series reader.

The NIfTI affine (RAS) is converted to LPS and the array is transposed/flipped to the canonical
(z, y, x) LPS order with positive spacing, the order :mod:`napari_plaque.io.dicom_series` gives a
CT series. A mask that nnU-Net, TotalSegmentator or 3D Slicer exported from a DICOM series
therefore has the same shape, ``scale`` and ``translate`` as that series and overlays exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..types import CTVolume, lps_affine
from .atomic import atomic_path
from .errors import ReaderError

_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def read_nifti(path: str | Path) -> CTVolume:
    """Read a ``.nii``/``.nii.gz`` file as a :class:`CTVolume` (images and label maps alike).

    Integer data stays integer (int16 when it fits); scaled data becomes float32.
    """
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise ReaderError(path, "no such file")
    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(path, f"not a readable NIfTI file ({type(exc).__name__}: {exc})") from exc
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3:
        raise ReaderError(path, f"expected a 3D image, got shape {data.shape}")
    try:
        zooms = np.asarray(img.header.get_zooms()[:3], float)
    except Exception:  # noqa: BLE001
        zooms = np.array([np.nan])
    if not np.all(np.isfinite(zooms)):
        raise ReaderError(path, f"pixdim (voxel size) is not finite ({zooms.tolist()})")
    if img.affine is None or not np.all(np.isfinite(np.asarray(img.affine, float))):
        raise ReaderError(path, "the affine (qform/sform, pixdim) holds NaN or infinite values")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise ReaderError(
            path, "the image holds NaN or infinite voxels (or scl_slope/scl_inter is not finite)"
        )
    affine = _RAS_TO_LPS @ np.asarray(img.affine, float)
    m = affine[:3, :3]
    spacing = np.linalg.norm(m, axis=0)
    if np.any(spacing <= 0):
        raise ReaderError(path, "degenerate affine (zero voxel size)")
    dirs = m / spacing  # columns: LPS direction of array axes i, j, k
    perm, flip = [], []
    for phys in (2, 1, 0):  # target axes z, y, x
        comp = dirs[phys, :]
        a = int(np.argmax(np.abs(comp)))
        if abs(abs(comp[a]) - 1) > 1e-3:
            raise ReaderError(
                path,
                f"oblique affine {np.round(dirs, 4).tolist()}: resample to an axis-aligned grid",
            )
        perm.append(a)
        flip.append(bool(comp[a] < 0))
    if sorted(perm) != [0, 1, 2]:
        raise ReaderError(path, "degenerate affine orientation")
    corner = np.zeros(3)
    for a, f in zip(perm, flip, strict=True):
        if f:
            corner[a] = data.shape[a] - 1
    origin = affine[:3, :3] @ corner + affine[:3, 3]
    out = np.transpose(data, perm)
    out = out[tuple(slice(None, None, -1) if f else slice(None) for f in flip)]
    out = np.ascontiguousarray(out)
    if out.dtype.kind == "f":
        out = out.astype(np.float32, copy=False)
    elif out.dtype.kind in "iu" and out.size and out.dtype != np.int16:
        lo, hi = out.min(), out.max()
        if -32768 <= lo and hi <= 32767:
            out = out.astype(np.int16)
    elif out.dtype == bool:
        out = out.astype(np.uint8)
    name = path.name
    for suf in (".nii.gz", ".nii"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    # NIfTI stores float32: round away its noise so scale/translate equal the DICOM series'
    spacing_c = tuple(round(float(spacing[a]), 6) for a in perm)
    origin = np.round(origin, 5)
    return CTVolume(
        hu=out,
        spacing_mm=spacing_c,
        origin_mm=(float(origin[2]), float(origin[1]), float(origin[0])),
        direction=np.eye(3),
        meta={"source": str(path), "format": "nifti"},
        name=name,
    )


#: tolerance (mm) on spacing / origin when a label map's geometry is compared with the scan's
GEOMETRY_TOL_MM = 1e-3


def check_label_grid(spacing_mm, origin_mm, ct: CTVolume, where: str | Path) -> None:
    """Refuse a label map whose voxel size or origin is not the scan's (same shape is not the
    same grid: a mask of another reconstruction would be laid on the wrong voxels). Raises
    ReaderError naming ``where``; used by every command that lays a label map on a scan."""
    sp, org = np.asarray(spacing_mm, float), np.asarray(origin_mm, float)
    tol = GEOMETRY_TOL_MM + 1e-4 * np.abs(np.asarray(ct.spacing_mm))
    if np.any(np.abs(sp - np.asarray(ct.spacing_mm)) > tol):
        raise ReaderError(
            where, f"label map voxel size {np.round(sp, 4).tolist()} mm differs from the "
            f"scan's {np.round(ct.spacing_mm, 4).tolist()} mm: not the same grid"
        )
    if np.any(np.abs(org - np.asarray(ct.origin_mm)) > 0.05 * np.asarray(ct.spacing_mm)):
        raise ReaderError(
            where, f"label map origin {np.round(org, 3).tolist()} mm differs from the scan's "
            f"{np.round(ct.origin_mm, 3).tolist()} mm: not the same grid"
        )


def write_nifti(path: str | Path, data: np.ndarray, spacing_mm, origin_mm=(0.0, 0.0, 0.0)) -> Path:
    """Write a (z, y, x) LPS-ordered array as NIfTI (atomically), inverse of :func:`read_nifti`."""
    import nibabel as nib

    data = np.asarray(data)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    if data.dtype == np.int64:
        data = data.astype(np.int32)
    arr = np.transpose(data, (2, 1, 0))  # (x, y, z) = (i, j, k)
    aff_lps = lps_affine(spacing_mm, origin_mm)[:, [2, 1, 0, 3]]  # index order (x, y, z)
    affine = _RAS_TO_LPS @ aff_lps
    img = nib.Nifti1Image(arr, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path
