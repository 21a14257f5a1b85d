"""DICOM Segmentation (SEG) out and in, aligned with the CT reader's arrays.

``write_seg`` turns a label map in the CT reader's axis order (canonical LPS: slice = +z,
row = +y, column = +x; see :mod:`napari_plaque.io.dicom_series`) into a highdicom
:class:`~highdicom.seg.Segmentation` that references every source instance and the frame of
reference, one segment per label value with a coded (SNOMED CT) category and type, and the
source's patient and study modules (the SEG is filed back with the study).

``read_seg`` goes the other way (the napari reader's layers:
:func:`napari_plaque._napari.reader.seg_layers`): a SEG made by any tool (highdicom, dcmqi /
3D Slicer, MONAI Label, TotalSegmentator) becomes a label map on the referenced series' grid
(same shape, scale and translate as the CT reader gives), so it overlays the CT.

Only an exact voxel correspondence is accepted (axis permutations and flips, never
resampling): a SEG on another grid is refused with a message, never silently shifted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_write_dicom
from .errors import ReaderError

#: fraction of a voxel within which two grids are called identical
GRID_TOL_VOXEL = 0.05
#: a FRACTIONAL SEG's voxel belongs to the segment from this fraction (probability/occupancy) on
FRACTIONAL_THRESHOLD = 0.5
#: files looked at (headers only) when searching the referenced series next to a SEG
SEARCH_LIMIT = 2000
#: files looked at per folder in that search
SEARCH_PER_FOLDER = 64

SEG_DEFAULTS: dict[str, Any] = {
    "series_number": 900,
    "series_description": "napari-plaque segmentation",
    "manual": False,
}


# --------------------------------------------------------------------------- coded segments
def _codes():
    from pydicom.sr.codedict import codes

    sct = codes.SCT
    anat, morph, subst = sct.AnatomicalStructure, sct.MorphologicallyAbnormalStructure, (
        sct.Substance
    )
    return {
        # name (lower case) -> (category, type)
        "calcium": (subst, sct.Calcium),
        "calcification": (subst, sct.Calcium),
        "calcified plaque": (morph, sct.CalcifiedAtheromatousPlaque),
        "plaque": (morph, sct.Atheroma),
        "atheroma": (morph, sct.Atheroma),
        "noncalcified plaque": (morph, sct.Atheroma),
        "fibrous": (morph, sct.FibrousPlaque),
        "fibrous plaque": (morph, sct.FibrousPlaque),
        "lipid": (subst, sct.Lipid),
        "lumen": (anat, sct.LumenOfBloodVessel),
        "vessel lumen": (anat, sct.LumenOfBloodVessel),
        # SNOMED CT has no pre-coordinated "vessel wall" concept in the DICOM code tables:
        # coded as the blood vessel, the label says "vessel wall"
        "vessel wall": (anat, sct.BloodVessel),
        "vessel": (anat, sct.BloodVessel),
        "coronary artery": (anat, sct.CoronaryArtery),
        "lm": (anat, sct.LeftMainCoronaryArtery),
        "lad": (anat, sct.AnteriorDescendingBranchOfLeftCoronaryArtery),
        "lcx": (anat, sct.CircumflexCoronaryArtery),
        "rca": (anat, sct.RightCoronaryArtery),
    }


def segment_codes(name: str):
    """(category, type) codes for a segment name; unknown names are coded as Tissue."""
    from pydicom.sr.codedict import codes

    key = name.strip().lower().replace("_", " ").replace("-", " ")
    table = _codes()
    if key in table:
        return table[key]
    return codes.SCT.Tissue, codes.SCT.Tissue


def known_segment_names() -> list[str]:
    return sorted(_codes())


# ------------------------------------------------------------------------------ the source
@dataclass
class SourceSeries:
    """The headers of one CT series, sorted like the CT reader sorts its slices."""

    path: Path
    datasets: list  # pydicom Datasets (no pixel data), sorted along the slice normal
    native_affine: np.ndarray  # (slice, row, col) index -> LPS mm
    canonical_affine: np.ndarray  # CT reader array index -> LPS mm
    canonical_shape: tuple[int, int, int]
    series_uid: str
    notes: list[str] = field(default_factory=list)

    @property
    def native_shape(self) -> tuple[int, int, int]:
        ds = self.datasets[0]
        return (len(self.datasets), int(ds.Rows), int(ds.Columns))

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        return tuple(float(np.linalg.norm(self.canonical_affine[:3, i])) for i in range(3))

    @property
    def origin_mm(self) -> tuple[float, float, float]:
        o = self.canonical_affine[:3, 3]
        return (float(o[2]), float(o[1]), float(o[0]))


def canonical_affine(spacing_mm: Sequence[float], origin_mm: Sequence[float]) -> np.ndarray:
    """Index -> LPS affine of the CT reader's arrays (axis 0 = +z, 1 = +y, 2 = +x)."""
    from ..types import lps_affine

    return lps_affine(spacing_mm, origin_mm)


def _read_headers(files: Sequence[Path]) -> list:
    import pydicom

    out = []
    for p in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - not DICOM: skipped, like the CT reader does
            continue
        ds.filename = str(p)
        out.append(ds)
    return out


def load_source_series(
    path: str | Path, series_uid: str | None = None, uid_hash: str | None = None
) -> SourceSeries:
    """Headers of the CT series in ``path`` (a folder or a file of it).

    ``series_uid`` or ``uid_hash`` (the CT reader's ``series_uid_hash``) pick one series when
    the folder holds several; otherwise the series with most slices is used (as the reader's
    first volume). Raises :class:`ReaderError` for a series the CT reader would not accept as a
    regular axis-aligned stack, or without a FrameOfReferenceUID.
    """
    from .anon import hash_id
    from .dicom_common import list_files

    path = Path(path)
    if not path.exists():
        raise ReaderError(path, "no such file or folder")
    files, _ = list_files(path.parent if path.is_file() else path)
    groups: dict[str, list] = {}
    for ds in _read_headers(files):
        if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            continue
        if str(ds.get("Modality", "")) in ("SEG", "SR"):
            continue
        groups.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(ds)
    if not groups:
        raise ReaderError(path, "no DICOM image series found (the SEG/SR needs its source series)")
    if series_uid is not None:
        if series_uid not in groups:
            raise ReaderError(path, f"series {series_uid} is not in this folder")
        uid = series_uid
    elif uid_hash is not None:
        match = [u for u in groups if hash_id(u) == uid_hash]
        if not match:
            raise ReaderError(path, "the series the layer was read from is not in this folder")
        uid = match[0]
    else:
        uid = max(groups, key=lambda u: len(groups[u]))
    return _geometry(path, uid, groups[uid])


def source_from_datasets(path: str | Path, datasets: Sequence) -> SourceSeries:
    """The :class:`SourceSeries` of datasets already read (the CT reader's
    :func:`~napari_plaque.io.dicom_series.read_ct_largest` with ``keep_headers``): the same
    checks as :func:`load_source_series`, without reading the headers again."""
    dsets = list(datasets)
    if not dsets:
        raise ReaderError(Path(path), "no DICOM image series (the SEG/SR needs its source series)")
    return _geometry(Path(path), str(dsets[0].get("SeriesInstanceUID", "")), dsets)


def _geometry(path: Path, uid: str, dsets: list) -> SourceSeries:
    ds0 = dsets[0]
    if not str(ds0.get("FrameOfReferenceUID", "") or ""):
        raise ReaderError(
            path,
            "the series has no FrameOfReferenceUID (0020,0052): a SEG or SR cannot place "
            "its results in the patient's frame of reference",
        )
    iop = np.asarray([float(v) for v in ds0.ImageOrientationPatient])
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    ipps = np.array([[float(v) for v in d.ImagePositionPatient] for d in dsets])
    order = np.argsort(ipps @ normal, kind="stable")
    dsets = [dsets[i] for i in order]
    ipps = ipps[order]
    pos = ipps @ normal
    if len(dsets) > 1:
        d = np.diff(pos)
        inc = float(np.median(d))
        if inc <= 1e-3 or np.any(np.abs(d - inc) > 0.02 * inc):
            raise ReaderError(path, "slices are not a regular stack (gaps, duplicates or "
                              "irregular spacing): read it with the CT reader for details")
    else:
        inc = float(ds0.get("SpacingBetweenSlices", 0) or ds0.get("SliceThickness", 0) or 1.0)
    row_sp, col_sp = (float(v) for v in ds0.PixelSpacing)
    native = np.eye(4)
    native[:3, 0] = normal * inc
    native[:3, 1] = col_dir * row_sp
    native[:3, 2] = row_dir * col_sp
    native[:3, 3] = ipps[0]
    # canonical grid: the same voxels, axes along +z, +y, +x (the CT reader's order)
    shape_n = np.array([len(dsets), int(ds0.Rows), int(ds0.Columns)])
    corners = np.array(
        [native @ np.r_[i, j, k, 1] for i in (0, shape_n[0] - 1) for j in (0, shape_n[1] - 1)
         for k in (0, shape_n[2] - 1)]
    )[:, :3]
    lo = corners.min(axis=0)
    steps = np.abs(native[:3, :3]).max(axis=1)  # spacing along x, y, z
    if np.any(np.abs(np.abs(native[:3, :3]).max(axis=0) - np.linalg.norm(native[:3, :3], axis=0))
              > 1e-3 * np.linalg.norm(native[:3, :3], axis=0)):
        raise ReaderError(path, "oblique orientation: SEG/SR export needs an axis-aligned series")
    spacing = (steps[2], steps[1], steps[0])
    origin = (lo[2], lo[1], lo[0])
    canon = canonical_affine(spacing, origin)
    perm = _index_map(native, canon, tuple(shape_n), None, path)
    cshape = tuple(int(shape_n[perm.order[a]]) for a in range(3))
    return SourceSeries(path, dsets, native, canon, cshape, uid)  # type: ignore[arg-type]


# ------------------------------------------------------------------------- grid mapping
@dataclass
class _IndexMap:
    """index_to = R index_from + t, with R a signed permutation."""

    order: list[int]  # order[target_axis] = source axis
    flip: list[bool]  # per source axis
    offset: list[int]  # per target axis, after flipping


def _index_map(a_from: np.ndarray, a_to: np.ndarray, shape_from, shape_to, where) -> _IndexMap:
    m = np.linalg.inv(a_to) @ a_from
    r, t = m[:3, :3], m[:3, 3]
    order, flip, offset = [0, 0, 0], [False] * 3, [0, 0, 0]
    used = set()
    for i in range(3):  # source axis i
        j = int(np.argmax(np.abs(r[:, i])))
        if abs(abs(r[j, i]) - 1) > GRID_TOL_VOXEL or j in used:
            raise ReaderError(
                where,
                "the segmentation's voxel grid is not the series' grid (different spacing or "
                "orientation); resampling is not supported",
            )
        used.add(j)
        order[j] = i
        flip[i] = r[j, i] < 0
    for j in range(3):
        i = order[j]
        tj = t[j] - (shape_from[i] - 1 if flip[i] else 0)
        if abs(tj - round(tj)) > GRID_TOL_VOXEL:
            raise ReaderError(
                where, f"the segmentation's grid is shifted by {tj % 1:.2f} voxel from the "
                "series' grid; resampling is not supported"
            )
        offset[j] = int(round(tj))
    return _IndexMap(order, flip, offset)


def _apply_map(arr: np.ndarray, m: _IndexMap) -> np.ndarray:
    sl = tuple(slice(None, None, -1) if f else slice(None) for f in m.flip)
    return np.transpose(arr[sl], m.order)


def canonical_to_native(labels: np.ndarray, src: SourceSeries) -> np.ndarray:
    """A label map in the CT reader's order -> (slice, row, col) order of ``src.datasets``."""
    m = _index_map(src.canonical_affine, src.native_affine, labels.shape, None, src.path)
    out = _apply_map(labels, m)
    if any(m.offset) or out.shape != src.native_shape:
        raise ReaderError(src.path, "internal: canonical and native grids differ")
    return np.ascontiguousarray(out)


# ----------------------------------------------------------------------------------- write
def _check_labels(labels: np.ndarray, src: SourceSeries, where) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 3 or tuple(labels.shape) != tuple(src.canonical_shape):
        raise ReaderError(
            where,
            f"labels of shape {tuple(labels.shape)} do not fit the series {src.path} "
            f"(the CT reader gives {tuple(src.canonical_shape)})",
        )
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise ReaderError(where, "labels hold non-integer values")
    if labels.dtype.kind not in "biuf":
        raise ReaderError(where, f"labels have unsupported dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ReaderError(where, "labels hold negative values")
    if labels.size and labels.max() > 65535:
        raise ReaderError(where, "label values above 65535 cannot be DICOM segments")
    return labels.astype(np.uint16, copy=False)


def build_seg(
    labels: np.ndarray,
    src: SourceSeries,
    names: Sequence[str] | None = None,
    manual: bool = SEG_DEFAULTS["manual"],
    series_number: int = SEG_DEFAULTS["series_number"],
    series_description: str = SEG_DEFAULTS["series_description"],
    where: str | Path = "labels",
):
    """A highdicom Segmentation of ``labels`` (CT reader order) on the series ``src``.

    Label value ``v`` becomes segment number ``v`` (values 1..max, empty ones included, so the
    round trip is voxel-exact). ``names[v-1]`` names it (coded with :func:`segment_codes`).
    """
    import highdicom as hd
    from highdicom.seg import SegmentAlgorithmTypeValues, SegmentationTypeValues
    from pydicom.sr.codedict import codes

    from .. import __version__

    lab = _check_labels(labels, src, where)
    n = int(lab.max()) if lab.size else 0
    if n == 0:
        raise ReaderError(where, "the label map is empty: nothing to export")
    names = list(names or [])
    if len(names) > n:
        raise ReaderError(where, f"{len(names)} names given but the largest label is {n}")
    if manual:
        algo_type, algo = SegmentAlgorithmTypeValues.MANUAL, None
    else:
        algo_type = SegmentAlgorithmTypeValues.AUTOMATIC
        algo = hd.AlgorithmIdentificationSequence(
            name="napari-plaque", family=codes.cid7162.ImageProcessing
            if hasattr(codes.cid7162, "ImageProcessing") else codes.cid7162.HistogramAnalysis,
            version=__version__,
        )
    descs = []
    for v in range(1, n + 1):
        name = names[v - 1] if v - 1 < len(names) and names[v - 1] else f"segment {v}"
        cat, typ = segment_codes(name)
        descs.append(
            hd.seg.SegmentDescription(
                segment_number=v,
                segment_label=name[:64],
                segmented_property_category=cat,
                segmented_property_type=typ,
                algorithm_type=algo_type,
                algorithm_identification=algo,
                tracking_uid=hd.UID(),
                tracking_id=name[:64],
            )
        )
    native = canonical_to_native(lab, src)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seg = hd.seg.Segmentation(
                source_images=src.datasets,
                pixel_array=native,
                segmentation_type=SegmentationTypeValues.BINARY,
                segment_descriptions=descs,
                series_instance_uid=hd.UID(),
                series_number=int(series_number),
                sop_instance_uid=hd.UID(),
                instance_number=1,
                manufacturer="napari-plaque",
                manufacturer_model_name="napari-plaque",
                software_versions=__version__,
                device_serial_number="0",
                content_description=series_description[:64],
                content_label="SEGMENTATION",
                series_description=series_description[:64],
                omit_empty_frames=True,
            )
    except (ValueError, TypeError, AttributeError) as exc:
        raise ReaderError(src.path, f"highdicom refused the segmentation: {exc}") from exc
    return seg


def write_seg(
    out: str | Path,
    labels: np.ndarray,
    series: str | Path,
    names: Sequence[str] | None = None,
    manual: bool = SEG_DEFAULTS["manual"],
    series_uid_hash: str | None = None,
    where: str | Path | None = None,
    **kwargs: Any,
) -> Path:
    """Write ``labels`` (CT reader order) as a DICOM SEG on ``series``; atomically.

    ``where`` names the labels in messages (their file or layer); nothing is written on error.
    """
    src = load_source_series(series, uid_hash=series_uid_hash)
    seg = build_seg(labels, src, names=names, manual=manual, where=where or out, **kwargs)
    return atomic_write_dicom(out, seg)


# ------------------------------------------------------------------------------------ read
@dataclass
class SegResult:
    labels: list[tuple[str, np.ndarray]]  # one combined map, or one per segment on overlap
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    segment_names: dict[int, str]
    source: str | None  # the series folder it was aligned with, or None
    notes: list[str]


def _referenced_series(seg) -> str | None:
    try:
        return str(seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
    except (AttributeError, IndexError):
        return None


def _candidate_folders(base: Path) -> list[Path]:
    """The SEG's folder, its sub-folders (2 levels) and its sibling folders (1 level)."""
    out = [base]

    def subdirs(d: Path) -> list[Path]:
        try:
            return sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith("."))
        except OSError:
            return []

    for d in subdirs(base):
        out += [d, *subdirs(d)]
    parent = base.parent
    if parent != base and parent != Path(parent.anchor):
        for d in subdirs(parent):
            if d != base:
                out += [d, *subdirs(d)]
    return out


def find_referenced_series(seg_path: Path, series_uid: str) -> Path | None:
    """A folder near ``seg_path`` (its own, its sub-folders, its siblings) holding the series."""
    import pydicom

    seg_path = Path(seg_path)
    reads = 0
    for folder in _candidate_folders(seg_path.parent):
        try:
            files = sorted(f for f in folder.iterdir() if f.is_file())
        except OSError:
            continue
        for n, p in enumerate(files):
            if p == seg_path or p.name.startswith(".") or n >= SEARCH_PER_FOLDER:
                continue
            reads += 1
            if reads > SEARCH_LIMIT:
                return None
            try:
                ds = pydicom.dcmread(
                    p, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"]
                )
            except Exception:  # noqa: BLE001
                continue
            if str(ds.get("SeriesInstanceUID", "")) == series_uid:
                return folder
    return None


def read_seg(path: str | Path, series: str | Path | None = None) -> SegResult:
    """Read a DICOM SEG onto its series' grid (the CT reader's array order).

    ``series``: the source series folder; by default it is searched next to the SEG. Without
    it, the SEG's own grid is used (scale and translate still in mm, the shape is the SEG's).
    """
    import highdicom as hd

    from .dicom_common import read_or_refuse

    path = Path(path)
    seg = read_or_refuse(path, hd.seg.segread, "DICOM SEG")
    notes: list[str] = []
    try:
        _check_seg_header(seg, path, notes)
    except ReaderError:
        raise
    except Exception as exc:  # noqa: BLE001  a malformed header pydicom parses lazily
        raise ReaderError(path, f"malformed SEG header ({type(exc).__name__}: {exc})") from exc
    names = {}
    for n in seg.segment_numbers:
        d = seg.get_segment_description(n)
        names[int(n)] = str(d.segment_label)
    fractional = str(seg.get("SegmentationType", "")) == "FRACTIONAL"
    try:
        vol = seg.get_volume(
            combine_segments=False, dtype=np.float32 if fractional else np.uint8
        )
    except Exception as exc:  # noqa: BLE001
        raise ReaderError(path, f"the SEG frames do not form a regular volume ({exc})") from exc
    arr = np.asarray(vol.array)  # (slices, rows, cols, segments)
    if fractional:
        arr = (arr >= FRACTIONAL_THRESHOLD).astype(np.uint8)
        notes.append(f"fractional SEG: voxels >= {FRACTIONAL_THRESHOLD} taken as the segment")
    affine = np.asarray(vol.affine, float)

    ref_uid = _referenced_series(seg)
    src = None
    searched = False
    if series is None and ref_uid:
        found = find_referenced_series(path, ref_uid)
        if found is not None:
            series, searched = found, True
    if series is not None:
        try:
            src = load_source_series(series, series_uid=ref_uid if ref_uid else None)
        except ReaderError as exc:
            if not searched:  # the series the user named must be readable
                raise
            notes.append(
                f"the referenced series was found in {series} but cannot be read "
                f"({exc.problem}): the SEG's own grid is used"
            )
            src = None
    if src is not None:
        _check_frame_of_reference(seg, src, path)
        target_aff, target_shape = src.canonical_affine, src.canonical_shape
    else:
        if not notes or "SEG's own grid" not in notes[-1]:
            notes.append(
                "referenced series not found next to the SEG: the SEG's own grid is used"
            )
        lo = _grid_bounds(affine, arr.shape[:3])
        steps = np.abs(affine[:3, :3]).max(axis=1)
        from .dicom_common import check_range

        # the SEG's own geometry is all there is: it must be plausible (never a 1e-30 mm scale)
        check_range("PixelSpacing", steps, path, "the SEG's voxel size (Pixel Measures Sequence)")
        check_range("ImagePositionPatient", lo, path, "the SEG's frame positions")
        target_aff = canonical_affine((steps[2], steps[1], steps[0]), (lo[2], lo[1], lo[0]))
        target_shape = None
    m = _index_map(affine, target_aff, arr.shape[:3], target_shape, path)
    per_seg = [_apply_map(arr[..., k], m) for k in range(arr.shape[3])]
    shape = target_shape or per_seg[0].shape
    placed = []
    for a in per_seg:
        full = np.zeros(shape, np.uint8)
        sl = tuple(slice(o, o + s) for o, s in zip(m.offset, a.shape, strict=True))
        if any(o < 0 or o + s > t for o, s, t in zip(m.offset, a.shape, shape, strict=True)):
            raise ReaderError(path, "the SEG extends beyond its series' volume")
        full[sl] = a
        placed.append(full)
    numbers = [int(n) for n in seg.segment_numbers]
    overlap = np.sum([p > 0 for p in placed], axis=0) > 1 if placed else None
    dtype = np.uint8 if max(numbers, default=0) < 256 else np.uint16
    if overlap is not None and overlap.any():
        notes.append("segments overlap: one labels layer per segment")
        layers = [(names[n], (p > 0).astype(np.uint8) * 1) for n, p in zip(numbers, placed,
                                                                          strict=True)]
    else:
        combined = np.zeros(shape, dtype)
        for n, p in zip(numbers, placed, strict=True):
            combined[p > 0] = n
        layers = [(str(seg.get("SeriesDescription", "") or path.stem), combined)]
    spacing = tuple(float(np.linalg.norm(target_aff[:3, i])) for i in range(3))
    o = target_aff[:3, 3]
    return SegResult(
        labels=layers,
        spacing_mm=spacing,  # type: ignore[arg-type]
        origin_mm=(float(o[2]), float(o[1]), float(o[0])),
        segment_names=names,
        source=None if src is None else str(src.path),
        notes=notes,
    )


def _check_seg_header(seg, path: Path, notes: list[str]) -> None:
    """The SEG's header must describe its data (never a segment re-tiled or dropped in
    silence): the exact pixel-data length, one functional group per frame, unique segment
    numbers, every frame naming a declared segment; segments without frames are noted."""
    from .dicom_common import check_pixel_length, tag_int

    n_frames = tag_int(seg, "NumberOfFrames", path, 1, lo=1)
    rows = tag_int(seg, "Rows", path, lo=1, hi=65535)
    cols = tag_int(seg, "Columns", path, lo=1, hi=65535)
    bits = tag_int(seg, "BitsAllocated", path, lo=1, hi=64)
    ts = getattr(getattr(seg, "file_meta", None), "TransferSyntaxUID", None)
    if "PixelData" not in seg:
        raise ReaderError(path, "the SEG has no Pixel Data (7FE0,0010)")
    try:
        compressed = ts is None or bool(ts.is_compressed)
    except Exception:  # noqa: BLE001  unknown UID
        compressed = True
    if not compressed:
        check_pixel_length(path, len(seg.PixelData), rows, cols, n_frames, 1, bits)
    numbers = [int(tag_int(d, "SegmentNumber", path, lo=0, hi=65535))
               for d in seg.get("SegmentSequence", [])]
    if not numbers:
        raise ReaderError(path, "the SEG declares no segment (Segment Sequence (0062,0002))")
    dup = sorted({n for n in numbers if numbers.count(n) > 1})
    if dup:
        raise ReaderError(
            path,
            f"SegmentNumber (0062,0004) {dup[0]} is declared {numbers.count(dup[0])} times: "
            "segment numbers must be unique (one segment would be read as another)",
        )
    groups = seg.get("PerFrameFunctionalGroupsSequence", None)
    if groups is None or len(groups) != n_frames:
        raise ReaderError(
            path,
            f"NumberOfFrames (0028,0008) is {n_frames} but the Per-Frame Functional Groups "
            f"Sequence (5200,9230) describes {0 if groups is None else len(groups)} frame(s)",
        )
    if str(seg.get("SegmentationType", "")) == "LABELMAP":
        return  # every frame holds all segments (pixel values are segment numbers)
    shared = None
    try:
        shared = seg.SharedFunctionalGroupsSequence[0].SegmentIdentificationSequence[0]
    except (AttributeError, IndexError, TypeError):
        shared = None
    per_segment = dict.fromkeys(numbers, 0)
    for k, g in enumerate(groups):
        try:
            ident = (g.SegmentIdentificationSequence[0] if "SegmentIdentificationSequence" in g
                     else shared)
            ref = int(ident.ReferencedSegmentNumber)
        except (AttributeError, IndexError, TypeError, ValueError):
            raise ReaderError(
                path, f"frame {k + 1} names no segment (Segment Identification Sequence)"
            ) from None
        if ref not in per_segment:
            raise ReaderError(
                path, f"frame {k + 1} belongs to segment {ref}, which the SEG does not declare"
            )
        per_segment[ref] += 1
    empty = [n for n, c in per_segment.items() if c == 0]
    if empty:
        notes.append(f"segment(s) {empty} have no frames (empty)")


def _check_frame_of_reference(seg, src: SourceSeries, path: Path) -> None:
    """A SEG in another frame of reference than its CT is not aligned with it: refused."""
    mine = str(seg.get("FrameOfReferenceUID", "") or "")
    theirs = str(src.datasets[0].get("FrameOfReferenceUID", "") or "")
    if mine and theirs and mine != theirs:
        raise ReaderError(
            path,
            f"FrameOfReferenceUID (0020,0052) of the SEG differs from the series in {src.path}: "
            "the segmentation is in another frame of reference and would not be aligned",
        )


def _grid_bounds(affine: np.ndarray, shape) -> np.ndarray:
    corners = np.array(
        [affine @ np.r_[i, j, k, 1] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1)
         for k in (0, shape[2] - 1)]
    )[:, :3]
    return corners.min(axis=0)


def seg_files(path: str | Path) -> list[Path]:
    """The SEG file itself, or the SEG files of a folder (as detect() calls such a folder)."""
    from .detect import Format, peek_dicom

    path = Path(path)
    if not path.is_dir():
        return [path]
    files = [p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")
             and peek_dicom(p) is Format.DICOM_SEG]
    if not files:
        raise ReaderError(path, "no DICOM SEG file in this folder")
    return files
