"""CT DICOM series reader: folder (or single file) -> one :class:`CTVolume` per series.

Slices are grouped by SeriesInstanceUID (and orientation / matrix), sorted by their position
along the slice normal (ImagePositionPatient . normal), never by file name or InstanceNumber.
Axis-aligned orientations are brought to the canonical LPS order (slice = +z superior,
row = +y posterior, column = +x left), which is exactly the acquisition order of a standard
axial scan and the order :func:`napari_plaque.io.nifti.read_nifti` uses, so masks from other
tools overlay. Oblique orientations, gantry tilt, missing slices and irregular spacing are
refused with a message that says what was found.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..types import CTVolume
from .anon import hash_id
from .detect import IMAGE_SUFFIXES
from .dicom_common import CARDIAC_WORDS as CARDIAC_WORDS  # the header vocabulary (public)
from .dicom_common import OTHER_WORDS as OTHER_WORDS
from .dicom_common import (
    PLAUSIBLE_RANGES,
    check_range,
    ct_protocol_meta,
    describe_object,
    list_files,
    native_pixels,
    safe_meta,
    tag_float,
    tag_floats,
    tag_int,
    tag_value,
)
from .errors import ReaderError

#: relative tolerance on slice spacing before a stack is called irregular
SPACING_RTOL = 0.02
#: tolerance (mm) on the in-plane drift of slice positions (gantry tilt / shear)
TILT_TOL_MM = 0.05
#: tolerance (mm) on the distance of every slice position from the series' line
LINE_TOL_MM = 0.05


def _read_dataset(p: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(p), None
    except InvalidDicomError:
        return None, f"skipped {p}: not a DICOM file"
    except Exception as exc:  # noqa: BLE001  truncated / corrupt
        return None, f"skipped {p}: unreadable DICOM ({type(exc).__name__}: {exc})"


def read_ct_series(path: str | Path) -> list[CTVolume]:
    """Read all image series in a DICOM folder or file.

    Parameters
    ----------
    path : str or Path
        A folder (searched recursively; hidden files, DICOMDIR and non-DICOM files are skipped
        with a note in ``meta["notes"]``) or a single DICOM file.

    Returns
    -------
    list of CTVolume
        One per series, largest first.

    Raises
    ------
    ReaderError
        Nothing readable, or a series whose geometry or intensity tags cannot be trusted (a
        NaN/infinite value, RescaleSlope <= 0, a slice off the series' line, pixel data that
        does not match Rows x Columns...). The message names the file and the tag.
    """
    path = Path(path)
    try:
        return _read_ct_series(path)
    except ReaderError:
        raise
    except Exception as exc:  # noqa: BLE001
        # a malformed header we did not anticipate (pydicom parses values lazily and may raise
        # anything): still the project's error naming the file, never a traceback
        raise ReaderError(path, f"malformed DICOM header ({type(exc).__name__}: {exc})") from exc


def _read_ct_series(path: Path) -> list[CTVolume]:
    plans = _plans(path)
    vols = [pl.decode() for pl in plans]
    vols.sort(key=lambda v: -int(np.prod(v.shape)))
    return vols


def read_ct_largest(path: str | Path, keep_headers: bool = False):
    """The largest series of a DICOM folder or file (what :func:`read_ct_series` lists first),
    decoding only that series' pixels: every series' headers are read and checked as
    :func:`read_ct_series` checks them, the others' pixels are never decoded.

    Returns the :class:`CTVolume`; with ``keep_headers`` ``(volume, datasets)``: the kept
    series' pydicom datasets (pixel data dropped), for a DICOM SR / SEG on the same series
    without reading the headers again (:func:`napari_plaque.io.seg.source_from_datasets`).
    """
    path = Path(path)
    try:
        plans = _plans(path)
        # the largest by voxel count; ties: the first (as the stable sort of read_ct_series)
        best = max(plans, key=lambda pl: pl.n_voxels)  # max keeps the first of equal keys
        vol = best.decode()
    except ReaderError:
        raise
    except Exception as exc:  # noqa: BLE001  (as read_ct_series)
        raise ReaderError(path, f"malformed DICOM header ({type(exc).__name__}: {exc})") from exc
    if not keep_headers:
        return vol
    dsets = []
    for _p, ds in best.items:
        if "PixelData" in ds:
            del ds.PixelData  # decoded: the bytes are not needed twice
        dsets.append(ds)
    return vol, dsets


def _plans(path: Path) -> list:
    if not path.exists():
        raise ReaderError(path, "no such file or folder")
    files, notes = list_files(path)
    if not files:
        raise ReaderError(path, "empty folder: no files to read")

    groups: dict[tuple, list] = defaultdict(list)
    single_problem = None
    for p in files:
        ds, note = _read_dataset(p)
        if ds is None:
            notes.append(note)
            single_problem = note
            continue
        if "PixelData" not in ds:
            notes.append(f"skipped {p}: no pixel data ({ds.get('Modality', '?')} object)")
            single_problem = f"no pixel data ({ds.get('Modality', 'unknown')} object)"
            continue
        n_frames = tag_int(ds, "NumberOfFrames", p, 1, lo=0)
        if n_frames > 1:
            what = describe_object(ds, n_frames)
            notes.append(f"skipped {p}: {what}, not a CT slice")
            single_problem = f"{what}, not a slice of a CT series" + (
                " (open it as an IVUS pullback)" if "intravascular" in what else ""
            )
            continue
        iop_v = tag_value(ds, "ImageOrientationPatient", p)
        ipp_v = tag_value(ds, "ImagePositionPatient", p)
        if iop_v is None or ipp_v is None:
            what = describe_object(ds)
            notes.append(f"skipped {p}: {what} without ImagePositionPatient/"
                         "ImageOrientationPatient")
            single_problem = (
                f"{what}, not a slice of a CT series (no ImagePositionPatient / "
                "ImageOrientationPatient)"
            )
            continue
        iop = tag_floats(ds, "ImageOrientationPatient", p, 6)
        tag_floats(ds, "ImagePositionPatient", p, 3, plausible=True)
        _check_orientation(iop, p)
        if tag_int(ds, "SamplesPerPixel", p, 1, lo=1) != 1:
            raise ReaderError(p, "colour image (SamplesPerPixel > 1): not a CT slice")
        key = (
            str(ds.get("SeriesInstanceUID", "")),
            tuple(np.round(iop, 4)),
            tag_int(ds, "Rows", p, lo=1, hi=65535),
            tag_int(ds, "Columns", p, lo=1, hi=65535),
        )
        groups[key].append((p, ds))

    if not groups:
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            from .detect import image_size_problem

            problem = image_size_problem(path)
            raise ReaderError(
                path, problem or f"a {path.suffix[1:].upper()} image, not a DICOM CT series"
            )
        if path.is_file():
            raise ReaderError(
                path, (single_problem or "not a CT image").replace(f"skipped {path}: ", "")
            )
        raise ReaderError(path, "no DICOM image series found (" + "; ".join(notes[:5]) + ")")

    # every series' headers are checked (a bad one refuses the folder, as before) before any
    # pixels are decoded
    return [_Plan(path, key, items, notes) for key, items in groups.items()]


def _check_orientation(iop: np.ndarray, p: Path) -> None:
    row, col = iop[:3], iop[3:]
    nr, nc = np.linalg.norm(row), np.linalg.norm(col)
    if abs(nr - 1) > 1e-2 or abs(nc - 1) > 1e-2 or abs(row @ col) > 1e-2:
        raise ReaderError(
            p,
            "ImageOrientationPatient (0020,0037) is not two orthogonal unit vectors "
            f"({np.round(iop, 4).tolist()})",
        )


def _axis_permutation(axes: np.ndarray, where: Path) -> tuple[list[int], list[bool]]:
    """For 3 unit vectors (rows of ``axes``, array axis order), the array axis that carries each
    LPS direction (z, y, x) and whether it runs backwards. Refuses oblique geometry."""
    perm, flip = [], []
    for phys in (2, 1, 0):
        comp = axes[:, phys]
        a = int(np.argmax(np.abs(comp)))
        if abs(abs(comp[a]) - 1.0) > 1e-3:
            raise ReaderError(
                where,
                "oblique orientation (direction cosines "
                f"{np.round(axes, 4).tolist()}); resample to an axis-aligned grid first",
            )
        perm.append(a)
        flip.append(comp[a] < 0)
    if sorted(perm) != [0, 1, 2]:
        raise ReaderError(where, f"degenerate orientation {np.round(axes, 4).tolist()}")
    return perm, flip


def _orientation_name(normal: np.ndarray) -> str:
    return {0: "sagittal", 1: "coronal", 2: "axial"}[int(np.argmax(np.abs(normal)))]


class _Plan:
    """One series, its headers checked and its geometry worked out; :meth:`decode` reads the
    pixels (the only expensive step, done for the series kept)."""

    def __init__(self, where: Path, key: tuple, items: list, notes: list[str]) -> None:
        (self.where, self.key, self.items, self.notes, self.geometry) = (
            where, key, items, notes, _check_headers(where, key, items, notes))

    @property
    def n_voxels(self) -> int:
        return len(self.items) * int(self.key[2]) * int(self.key[3])

    def decode(self) -> CTVolume:
        return _decode(self.where, self.key, self.notes, *self.geometry)


def _check_headers(where: Path, key: tuple, items: list, notes: list[str]) -> tuple:
    series_uid, iop, rows, cols = key
    iop = np.asarray(iop, float)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    ipps = np.array([tag_floats(ds, "ImagePositionPatient", p, 3) for p, ds in items])
    pos = ipps @ normal
    order = np.argsort(pos, kind="stable")
    items = [items[i] for i in order]
    ipps, pos = ipps[order], pos[order]
    first_ds = items[0][1]
    desc = str(first_ds.get("SeriesDescription", "") or "CT")

    if len(items) > 1:
        d = np.diff(pos)
        if np.any(d < 1e-3):
            dup = int(np.sum(d < 1e-3))
            raise ReaderError(
                where,
                f"series {desc!r}: {dup} slices share a position (several phases or "
                "reconstructions in one series?); separate them first",
            )
        inc = float(np.median(d))
        if np.any(np.abs(d - inc) > SPACING_RTOL * inc):
            ratio = d / inc
            gaps = np.flatnonzero(np.abs(ratio - np.round(ratio)) < SPACING_RTOL)
            gaps = [int(i) for i in gaps if round(ratio[i]) >= 2]
            if gaps:
                missing = int(sum(round(ratio[i]) - 1 for i in gaps))
                raise ReaderError(
                    where,
                    f"series {desc!r}: {missing} missing slice(s) (gap after position "
                    f"{pos[gaps[0]]:.2f} mm; increment {inc:.3f} mm)",
                )
            raise ReaderError(
                where,
                f"series {desc!r}: irregular slice spacing ({d.min():.3f}..{d.max():.3f} mm); "
                "resample to a regular grid first",
            )
        drift = (ipps[-1] - ipps[0]) - ((ipps[-1] - ipps[0]) @ normal) * normal
        if np.linalg.norm(drift) > TILT_TOL_MM:
            tilt = np.degrees(np.arctan2(np.linalg.norm(drift), pos[-1] - pos[0]))
            raise ReaderError(
                where,
                f"series {desc!r}: slices are sheared ({tilt:.2f} deg gantry tilt); "
                "correct the tilt (resample) before measuring",
            )
        # every slice (not only the first and last) must lie on the series' line
        rel = ipps - ipps[0]
        off = np.linalg.norm(rel - np.outer(rel @ normal, normal), axis=1)
        bad = int(np.argmax(off))
        if off[bad] > LINE_TOL_MM:
            raise ReaderError(
                items[bad][0],
                f"series {desc!r}: ImagePositionPatient (0020,0032) of this slice lies "
                f"{off[bad]:.2f} mm off the series' line (tolerance {LINE_TOL_MM} mm); "
                "the slice is displaced",
            )
    else:
        p0 = items[0][0]
        inc = (
            tag_float(first_ds, "SpacingBetweenSlices", p0, positive=True, plausible=True)
            or tag_float(first_ds, "SliceThickness", p0, positive=True, plausible=True)
            or 1.0
        )
        notes.append(f"series {desc!r}: single slice; slice increment taken as {inc:.3f} mm")

    if len(items) > 1:
        check_range("SpacingBetweenSlices", inc, where,
                    f"series {desc!r}: the slice increment from ImagePositionPatient (0020,0032)")
    px = tag_floats(first_ds, "PixelSpacing", items[0][0], 2, positive=True, plausible=True)
    if px is None:
        raise ReaderError(items[0][0], "no PixelSpacing: physical scale unknown")
    row_sp, col_sp = float(px[0]), float(px[1])
    for p, ds in items:
        ps = tag_floats(ds, "PixelSpacing", p, 2, positive=True, plausible=True)
        if ps is None or abs(ps[0] - row_sp) > 1e-4 or abs(ps[1] - col_sp) > 1e-4:
            raise ReaderError(p, f"PixelSpacing differs within series {desc!r}")
    for p, ds in items:  # checked for every slice even when unused, never trusted blindly
        tag_float(ds, "SliceThickness", p, positive=True, plausible=True)
    slopes = np.array(
        [tag_float(ds, "RescaleSlope", p, 1.0, positive=True, plausible=True) for p, ds in items]
    )
    inters = np.array(
        [tag_float(ds, "RescaleIntercept", p, 0.0, plausible=True) for p, ds in items]
    )
    return items, ipps, normal, row_dir, col_dir, inc, row_sp, col_sp, desc, slopes, inters


def _decode(where: Path, key: tuple, notes: list[str], items, ipps, normal, row_dir, col_dir,
            inc, row_sp, col_sp, desc, slopes, inters) -> CTVolume:
    series_uid, iop, rows, cols = key
    iop = np.asarray(iop, float)
    first_ds = items[0][1]
    # pixels and rescale
    first = native_pixels(first_ds, items[0][0])  # checks Rows x Columns before allocating
    raw = np.empty((len(items), rows, cols), dtype=_raw_dtype(items))
    raw[0] = first
    for i, (p, ds) in enumerate(items[1:], start=1):
        raw[i] = native_pixels(ds, p)
    exact = np.all(slopes == np.round(slopes)) and np.all(inters == np.round(inters))
    if (
        exact
        and np.all(slopes == 1)
        and np.all(inters == inters[0])
        and raw.dtype == np.int16
        and inters[0] == 0
    ):
        hu = raw
    else:
        lo = float(raw.min()) * slopes.max() + inters.min() if raw.size else 0
        hi = float(raw.max()) * slopes.max() + inters.max() if raw.size else 0
        lo = min(lo, float(raw.min()) * slopes.min() + inters.min())
        if exact and -32768 <= lo and hi <= 32767:
            hu = np.empty(raw.shape, np.int16)
            for i in range(len(items)):
                np.add(
                    raw[i].astype(np.int32) * int(slopes[i]),
                    int(inters[i]),
                    out=hu[i],
                    casting="unsafe",
                )
        else:
            hu = (raw.astype(np.float32) * slopes[:, None, None].astype(np.float32)) + inters[
                :, None, None
            ].astype(np.float32)
            exact = False
            if not np.all(np.isfinite(hu)):
                raise ReaderError(
                    where,
                    f"series {desc!r}: RescaleSlope (0028,1053) / RescaleIntercept (0028,1052) "
                    f"give values beyond float range (slope up to {slopes.max():g})",
                )

    if str(first_ds.get("Modality", "") or "").upper() == "CT" and hu.size:
        _check_hu_range(where, desc, hu, items)

    # canonical LPS (z, y, x) order for axis-aligned geometry
    axes = np.stack([normal, col_dir, row_dir])  # array axes (slice, row, col) in LPS
    perm, flip = _axis_permutation(axes, where)
    spacing = np.array([inc, row_sp, col_sp])
    shape = np.array(hu.shape)
    # position of the voxel that becomes (0,0,0) after flips
    corner_idx = np.zeros(3)
    for a, f in zip(perm, flip, strict=True):
        if f:
            corner_idx[a] = shape[a] - 1
    origin_lps = ipps[0] + axes.T @ (corner_idx * spacing)
    hu = np.transpose(hu, perm)
    slicer = tuple(slice(None, None, -1) if f else slice(None) for f in flip)
    if any(flip):
        hu = np.ascontiguousarray(hu[slicer])
    elif perm != [0, 1, 2]:
        hu = np.ascontiguousarray(hu)
    spacing_c = tuple(float(spacing[a]) for a in perm)
    origin_c = (float(origin_lps[2]), float(origin_lps[1]), float(origin_lps[0]))

    meta = safe_meta(first_ds)
    meta.update(ct_protocol_meta(first_ds))
    meta.update(
        {
            "slice_increment_mm": float(spacing_c[0]),
            "pixel_spacing_mm": [row_sp, col_sp],
            "n_slices": int(hu.shape[0]),
            "series_uid_hash": hash_id(series_uid),
            "source": str(where),  # the folder/file read: DICOM SEG/SR export finds it again
            "acquisition_orientation": _orientation_name(normal),
            "image_orientation_patient": iop.tolist(),
            "rescale_exact": bool(exact),
            "dtype": str(hu.dtype),
            "notes": list(notes),
        }
    )
    return CTVolume(
        hu=hu,
        spacing_mm=spacing_c,
        origin_mm=origin_c,
        direction=np.eye(3),
        meta=meta,
        name=desc,
    )


def _check_hu_range(where: Path, desc: str, hu: np.ndarray, items) -> None:
    """Refuse CT values no scanner produces (the int16 range of :data:`PLAUSIBLE_RANGES`):
    a RescaleSlope / RescaleIntercept that is wrong, or signed data declared unsigned."""
    lo_ok, hi_ok, _ = PLAUSIBLE_RANGES["hu"]
    lo, hi = float(hu.min()), float(hu.max())
    if lo_ok <= lo and hi <= hi_ok:
        return
    p, ds = items[0]
    unsigned = tag_int(ds, "PixelRepresentation", p, 0, lo=0, hi=1) == 0
    hint = (
        "; PixelRepresentation (0028,0103) is 0 (unsigned): signed data declared unsigned?"
        if unsigned and hi > hi_ok
        else ""
    )
    raise ReaderError(
        where,
        f"series {desc!r}: the CT values run {lo:g}..{hi:g} HU after RescaleSlope (0028,1053) / "
        f"RescaleIntercept (0028,1052), outside the plausible {lo_ok:g}..{hi_ok:g} HU{hint}",
    )


def _raw_dtype(items) -> np.dtype:
    p, ds = items[0]
    bits = tag_int(ds, "BitsAllocated", p, 16, lo=1, hi=32)
    signed = tag_int(ds, "PixelRepresentation", p, 0, lo=0, hi=1) == 1
    if bits <= 8:
        return np.dtype(np.int8 if signed else np.uint8)
    if bits <= 16:
        return np.dtype(np.int16 if signed else np.uint16)
    return np.dtype(np.int32 if signed else np.uint32)
