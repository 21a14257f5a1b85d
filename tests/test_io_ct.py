"""CT DICOM series reader on the real QRM phantom, pydicom's test files and synthetic series."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_plaque.io import ReaderError, read_ct, read_image


def test_phantom_shape_spacing_and_hu(phantom):
    v = phantom
    assert v.shape == (47, 512, 512)
    assert v.hu.dtype == np.int16  # slope 1 / intercept 0: exact, kept int16
    assert v.spacing_mm == pytest.approx((3.0, 0.488, 0.488))
    # translate = first (most inferior) slice position, in (z, y, x)
    assert v.origin_mm == pytest.approx((534.875, -106.00581, -128.5058))
    assert v.hu.min() == -2048 and v.hu.max() > 1000  # air outside FOV, HA inserts
    assert v.meta["kvp"] == 120
    assert v.meta["kernel"] == "FC12"
    assert v.meta["slice_thickness_mm"] == 3.0
    assert v.meta["slice_increment_mm"] == 3.0
    assert v.meta["manufacturer"] == "TOSHIBA"
    assert v.name == "Cardiac 3.000"


def test_phantom_slice_order_follows_position(phantom_dir, phantom):
    files = [p for p in phantom_dir.iterdir() if p.name != "SOURCE.md"]
    z = sorted(
        float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in files
    )
    assert z[0] == pytest.approx(phantom.origin_mm[0])
    # each slice equals the file at that position
    by_z = {}
    for p in files:
        ds = pydicom.dcmread(p)
        by_z[round(float(ds.ImagePositionPatient[2]), 3)] = ds.pixel_array
    for k in (0, 10, 46):
        zk = round(phantom.origin_mm[0] + 3.0 * k, 3)
        np.testing.assert_array_equal(phantom.hu[k], by_z[zk])


def test_phantom_matches_simpleitk(phantom_dir, phantom):
    sitk = pytest.importorskip("SimpleITK")
    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(phantom_dir)))
    im = r.Execute()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(im), phantom.hu)
    assert im.GetSpacing()[::-1] == pytest.approx(phantom.spacing_mm)
    assert im.GetOrigin()[::-1] == pytest.approx(phantom.origin_mm)


def test_shuffled_renamed_folder_gives_identical_array(phantom_dir, phantom, tmp_path):
    files = [p for p in phantom_dir.iterdir() if p.name != "SOURCE.md"]
    rng = random.Random(7)
    names = [f"img{i:03d}" for i in range(len(files))]
    rng.shuffle(names)
    sub = tmp_path / "study" / "nested"
    sub.mkdir(parents=True)
    for p, n in zip(files, names, strict=True):
        shutil.copy(p, sub / n)
    (tmp_path / "study" / "notes.txt").write_text("reader must ignore me")
    (tmp_path / "study" / ".DS_Store").write_bytes(b"\0\1\2")
    v = read_ct(tmp_path / "study")
    assert len(v) == 1
    np.testing.assert_array_equal(v[0].hu, phantom.hu)
    assert v[0].spacing_mm == phantom.spacing_mm
    assert v[0].origin_mm == phantom.origin_mm
    notes = " ".join(v[0].meta["notes"])
    assert "notes.txt" in notes and "not a DICOM" in notes and ".DS_Store" in notes


def test_no_patient_identifiers_in_metadata(phantom):
    text = repr(phantom.meta)
    for kw in ("PatientName", "PatientID", "PatientBirthDate"):
        assert kw not in text


# -- synthetic series written here: geometry edge cases ---------------------------------------


def _write_series(
    folder: Path,
    n=6,
    z0=10.0,
    dz=2.5,
    slope=1.0,
    intercept=-1024.0,
    tilt_mm=0.0,
    iop=(1, 0, 0, 0, 1, 0),
    skip=(),
    uid=None,
    desc="synthetic",
    rows=8,
    cols=10,
    zs=None,
):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    uid = uid or generate_uid()
    vol = (np.arange(n * rows * cols).reshape(n, rows, cols) % 4000).astype(np.int16)
    if zs is None:
        zs = [z0 + k * dz for k in range(n)]
    for k in range(n):
        if k in skip:
            continue
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = uid
        ds.Modality = "CT"
        ds.SeriesDescription = desc
        ds.PatientName = "Secret^Patient"
        ds.InstanceNumber = n - k  # deliberately reversed: must not be used for ordering
        normal = np.cross(iop[:3], iop[3:])
        ds.ImagePositionPatient = [
            float(v) for v in (np.array([-50.0 + tilt_mm * k, -60.0, 0.0]) + normal * zs[k])
        ]
        ds.ImageOrientationPatient = list(iop)
        ds.PixelSpacing = [0.5, 0.6]
        ds.SliceThickness = 2.5
        ds.KVP = 120
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = vol[k].tobytes()
        ds.save_as(folder / f"f{k}.dcm", enforce_file_format=True)
    return vol


def test_synthetic_rescale_int16_and_geometry(tmp_path):
    raw = _write_series(tmp_path / "s")
    v = read_ct(tmp_path / "s")[0]
    assert v.hu.dtype == np.int16
    np.testing.assert_array_equal(v.hu, raw.astype(np.int32) - 1024)
    assert v.spacing_mm == pytest.approx((2.5, 0.5, 0.6))
    assert v.origin_mm == pytest.approx((10.0, -60.0, -50.0))


def test_non_integer_rescale_becomes_float(tmp_path):
    raw = _write_series(tmp_path / "s", slope=0.5, intercept=-1000.25)
    v = read_ct(tmp_path / "s")[0]
    assert v.hu.dtype == np.float32
    np.testing.assert_allclose(v.hu, raw * 0.5 - 1000.25)


def test_feet_first_flipped_orientation_is_canonicalised(tmp_path):
    # rows and columns reversed (IOP -1,0,0,0,-1,0): the array must come out in LPS order
    _write_series(tmp_path / "a", iop=(1, 0, 0, 0, 1, 0))
    _write_series(tmp_path / "b", iop=(-1, 0, 0, 0, -1, 0))
    a = read_ct(tmp_path / "a")[0]
    b = read_ct(tmp_path / "b")[0]
    assert b.spacing_mm == a.spacing_mm
    np.testing.assert_array_equal(b.hu, a.hu[:, ::-1, ::-1])
    # voxel (0,0,0) of b is at the LPS corner with the smallest x and y
    assert b.origin_mm[0] == a.origin_mm[0]
    assert b.origin_mm[1] == pytest.approx(-60.0 - 0.5 * 7)
    assert b.origin_mm[2] == pytest.approx(-50.0 - 0.6 * 9)


def test_missing_slice_refused(tmp_path):
    _write_series(tmp_path / "s", n=8, skip=(4,))
    with pytest.raises(ReaderError, match="1 missing slice"):
        read_ct(tmp_path / "s")


def test_irregular_spacing_refused(tmp_path):
    _write_series(tmp_path / "s", n=5, zs=[0, 2.5, 5.0, 8.2, 10.0])
    with pytest.raises(ReaderError, match="irregular slice spacing"):
        read_ct(tmp_path / "s")


def test_gantry_tilt_refused(tmp_path):
    _write_series(tmp_path / "s", tilt_mm=0.4)
    with pytest.raises(ReaderError, match="gantry tilt"):
        read_ct(tmp_path / "s")


def test_oblique_refused(tmp_path):
    c, s = np.cos(0.3), np.sin(0.3)
    _write_series(tmp_path / "s", iop=(c, s, 0, -s, c, 0))
    with pytest.raises(ReaderError, match="oblique"):
        read_ct(tmp_path / "s")


def test_two_series_largest_first(tmp_path):
    _write_series(tmp_path / "mix", n=3, desc="small", rows=8, cols=10)
    _write_series(tmp_path / "mix" / "more", n=7, desc="large", rows=8, cols=10)
    vols = read_ct(tmp_path / "mix")
    assert [v.name for v in vols] == ["large", "small"]
    assert [v.shape[0] for v in vols] == [7, 3]


def test_bad_inputs_name_file_and_problem(tmp_path, pydicom_testfile):
    with pytest.raises(ReaderError, match="empty folder"):
        (tmp_path / "empty").mkdir()
        read_ct(tmp_path / "empty")
    txt = tmp_path / "notdicom.dcm"
    txt.write_text("hello")
    with pytest.raises(ReaderError, match=r"notdicom\.dcm.*not a DICOM"):
        read_ct(txt)
    with pytest.raises(ReaderError, match="no such file"):
        read_ct(tmp_path / "nope")
    # truncated file
    _write_series(tmp_path / "t", n=1)
    src = tmp_path / "t" / "f0.dcm"
    trunc = tmp_path / "trunc.dcm"
    trunc.write_bytes(src.read_bytes()[:-50])
    with pytest.raises(ReaderError, match=r"trunc\.dcm"):
        read_ct(trunc)
    # no pixel data (structured report)
    sr = pydicom_testfile("test-SR.dcm")
    with pytest.raises(ReaderError, match="no pixel data"):
        read_ct(sr)


def test_pydicom_compressed_and_big_endian_ct(tmp_path, pydicom_testfile):
    ref = pydicom.dcmread(pydicom_testfile("CT_small.dcm"))
    v = read_ct(pydicom_testfile("CT_small.dcm"))[0]
    np.testing.assert_array_equal(
        v.hu, (ref.pixel_array * float(ref.RescaleSlope) + float(ref.RescaleIntercept))[None]
    )
    # big-endian and JPEG 2000 lossless MR slices decode to the same pixels as the little-endian one
    le = read_ct(pydicom_testfile("MR_small.dcm"))[0].hu
    be = read_ct(pydicom_testfile("MR_small_bigendian.dcm"))[0].hu
    j2k = read_ct(pydicom_testfile("MR_small_jp2klossless.dcm"))[0].hu
    rle = read_ct(pydicom_testfile("MR_small_RLE.dcm"))[0].hu
    np.testing.assert_array_equal(le, be)
    np.testing.assert_array_equal(le, j2k)
    np.testing.assert_array_equal(le, rle)


def test_read_image_dispatches(phantom_dir, phantom):
    assert read_image(phantom_dir).shape == phantom.shape


def test_read_ct_largest_decodes_only_the_kept_series(tmp_path, decode_counter):
    """Issue 23: a folder of two series decodes only the largest one; same volume as
    ``read_ct_series(...)[0]``; an SR source from the same read equals a second read's."""
    from _interop_util import make_series
    from napari_plaque.io import dicom_series
    from napari_plaque.io.seg import load_source_series, source_from_datasets

    make_series(tmp_path / "f" / "big", shape=(6, 20, 24), seed=1)
    make_series(tmp_path / "f" / "small", shape=(3, 20, 24), seed=2)
    calls = decode_counter
    every = dicom_series.read_ct_series(tmp_path / "f")
    assert len(calls) == 9
    calls.clear()
    vol, dsets = dicom_series.read_ct_largest(tmp_path / "f", keep_headers=True)
    assert len(calls) == 6 and all("big" in c for c in calls)
    np.testing.assert_array_equal(vol.hu, every[0].hu)
    assert vol.spacing_mm == every[0].spacing_mm and vol.origin_mm == every[0].origin_mm
    assert vol.meta == every[0].meta
    a = source_from_datasets(tmp_path / "f", dsets)
    b = load_source_series(tmp_path / "f", uid_hash=vol.meta["series_uid_hash"])
    assert [d.SOPInstanceUID for d in a.datasets] == [d.SOPInstanceUID for d in b.datasets]
    np.testing.assert_allclose(a.canonical_affine, b.canonical_affine)
    assert "PixelData" not in dsets[0]
