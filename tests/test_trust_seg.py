"""Issue 22 item 8: a DICOM SEG whose header and data disagree is refused, never re-tiled.

Before: NumberOfFrames - 1 lost voxels of a segment, halved frames dropped a segment, a smaller
Rows re-tiled garbage, a duplicate SegmentNumber turned "plaque" into a copy of "calcium", and
another FrameOfReferenceUID was laid on the CT as aligned; all loaded without a note.
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pydicom
import pytest

from _interop_util import make_series
from napari_plaque.io import ReaderError, read_ct
from napari_plaque.io.seg import read_seg, write_seg

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    folder = make_series(root / "ct", shape=(5, 12, 14))
    vol = read_ct(folder)[0]
    lab = np.zeros(vol.shape, np.uint8)
    lab[1:4, 2:8, 3:9] = 1
    lab[2:4, 9:11, 9:12] = 2
    out = write_seg(root / "seg" / "x.dcm", lab, folder, names=["calcium", "plaque"])
    return root, folder, out, lab


def _mutated(made, name, edit):
    root, _, out, _ = made
    ds = pydicom.dcmread(out)
    edit(ds)
    p = root / "seg" / f"{name}.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(p)
    return p


def test_intact_seg_reads_exactly(made):
    _, folder, out, lab = made
    res = read_seg(out)
    assert res.source == str(folder)
    assert np.array_equal(res.labels[0][1], lab)


def _dup(ds):
    ds.SegmentSequence[1].SegmentNumber = 1


def _half_groups(ds):
    n = int(ds.NumberOfFrames) // 2
    ds.PerFrameFunctionalGroupsSequence = ds.PerFrameFunctionalGroupsSequence[:n]


def _undeclared(ds):
    ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[
        0].ReferencedSegmentNumber = 7


@pytest.mark.parametrize(
    "name, edit, match",
    [
        ("nf_minus_1", lambda d: setattr(d, "NumberOfFrames", int(d.NumberOfFrames) - 1),
         "pixel data holds"),
        ("nf_half", lambda d: setattr(d, "NumberOfFrames", int(d.NumberOfFrames) // 2),
         "pixel data holds"),
        ("rows_half", lambda d: setattr(d, "Rows", int(d.Rows) // 2), "pixel data holds"),
        ("dup_segment", _dup, r"SegmentNumber \(0062,0004\) 1 is declared 2 times"),
        ("groups_half", _half_groups, "Per-Frame Functional Groups"),
        ("undeclared", _undeclared, "segment 7, which the SEG does not declare"),
        ("other_for", lambda d: setattr(d, "FrameOfReferenceUID", pydicom.uid.generate_uid()),
         r"FrameOfReferenceUID \(0020,0052\) of the SEG differs"),
    ],
)
def test_header_data_disagreement_is_refused(made, name, edit, match):
    p = _mutated(made, name, edit)
    with pytest.raises(ReaderError, match=match) as exc:
        read_seg(p)
    assert f"{name}.dcm" in str(exc.value)


def test_unreadable_referenced_series_falls_back_to_own_grid(made, tmp_path):
    root, folder, out, lab = made
    broken = tmp_path / "ct"
    shutil.copytree(folder, broken)
    seg_dir = tmp_path / "seg"
    seg_dir.mkdir()
    seg = shutil.copy(out, seg_dir / "x.dcm")
    # a gap in the series: found next to the SEG, but not a regular stack any more
    files = sorted(broken.iterdir(), key=lambda p: float(
        pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))
    files[2].unlink()
    res = read_seg(seg)
    assert res.source is None
    assert any("cannot be read" in n and "own grid" in n for n in res.notes)
    assert int((res.labels[0][1] > 0).sum()) == int((lab > 0).sum())
    with pytest.raises(ReaderError):  # a series the user names must be readable
        read_seg(seg, series=broken)


def test_seg_alone_with_absurd_voxel_size_is_refused(made, tmp_path):
    _, _, out, _ = made
    ds = pydicom.dcmread(out)
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing = ["1e-30",
                                                                                  "1e-30"]
    alone = tmp_path / "alone"
    alone.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(alone / "tiny.dcm")
    with pytest.raises(ReaderError, match=r"tiny\.dcm: the SEG's voxel size"):
        read_seg(alone / "tiny.dcm")
