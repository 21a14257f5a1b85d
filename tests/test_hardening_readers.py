"""Never a silent wrong number, never a traceback: CT and IVUS readers on malformed headers.

Every untrustworthy geometry or intensity value (NaN, infinity, RescaleSlope <= 0, a slice off
the series line, a header that does not describe the pixel data, a damaged RLE fragment, an
all-zero Frame Time Vector) is refused with a ReaderError naming the file and the tag, or
replaced by a flagged default; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_plaque.io import ReaderError, read_ct
from napari_plaque.io.ivus_dicom import read_pullback, write_pullback_dicom


def _quiet_save(ds, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)


def ct_series(folder: Path, n: int = 5, rows: int = 12, cols: int = 10, edit=None) -> Path:
    """A small axial CT series (n slices, 2 mm apart); ``edit(i, ds)`` changes slice i."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    rng = np.random.default_rng(0)
    for i in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.SeriesInstanceUID = series
        ds.Modality = "CT"
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-10.0, -20.0, 100.0 + 2.0 * i]
        ds.PixelSpacing = [0.5, 0.5]
        ds.SliceThickness = 2.0
        ds.RescaleSlope = 1
        ds.RescaleIntercept = -1024
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = rng.integers(900, 1500, (rows, cols), dtype=np.uint16).tobytes()
        if edit is not None:
            edit(i, ds)
        _quiet_save(ds, folder / f"s{i:02d}.dcm")
    return folder


def _refused(path, *words):
    with pytest.raises(ReaderError) as ei:
        read_ct(path)
    msg = str(ei.value)
    for w in words:
        assert w in msg, msg
    return msg


def test_intact_synthetic_series_reads(tmp_path):
    v = read_ct(ct_series(tmp_path / "ok"))[0]
    assert v.shape == (5, 12, 10) and v.spacing_mm == pytest.approx((2.0, 0.5, 0.5))
    assert v.hu.min() >= 900 - 1024


@pytest.mark.parametrize(
    ("kw", "value", "index"),
    [
        ("RescaleSlope", "nan", 2),
        ("RescaleSlope", "inf", 0),
        ("RescaleIntercept", "nan", 3),
        ("RescaleIntercept", "-inf", 1),
        ("PixelSpacing", ["nan", "0.5"], 0),
        ("PixelSpacing", ["0.5", "inf"], 2),
        ("ImagePositionPatient", ["-10", "nan", "104"], 2),
        ("ImageOrientationPatient", ["1", "0", "0", "0", "nan", "0"], 1),
        ("SliceThickness", "nan", 4),
    ],
)
def test_nan_or_inf_in_geometry_or_intensity_is_refused(tmp_path, kw, value, index):
    def edit(i, ds):
        if i == index:
            setattr(ds, kw, value)

    folder = ct_series(tmp_path / "s", edit=edit)
    msg = _refused(folder, kw, f"s{index:02d}.dcm")
    assert "finite" in msg


@pytest.mark.parametrize("slope", ["0", "-1"])
def test_rescale_slope_zero_or_negative_is_refused(tmp_path, slope):
    folder = ct_series(
        tmp_path / "s", edit=lambda i, ds: setattr(ds, "RescaleSlope", slope) if i == 1 else None
    )
    _refused(folder, "RescaleSlope", "> 0", "s01.dcm")


def test_unparseable_and_one_value_tags_name_file_and_tag(tmp_path):
    # one-value PixelSpacing (was: TypeError 'DSfloat' object is not subscriptable)
    folder = ct_series(tmp_path / "a", edit=lambda i, ds: setattr(ds, "PixelSpacing", "0.5"))
    _refused(folder, "PixelSpacing", "1 value")
    # "abc" in a DS tag (was: ValueError could not convert string to float: 'abc')
    folder = ct_series(tmp_path / "b", edit=lambda i, ds: setattr(ds, "RescaleSlope", "9.75"))
    p = folder / "s02.dcm"
    p.write_bytes(p.read_bytes().replace(b"9.75", b"abc "))
    _refused(folder, "RescaleSlope", "s02.dcm")
    # no Rows (was: AttributeError ... no attribute 'Rows')
    folder = ct_series(tmp_path / "c", edit=lambda i, ds: delattr(ds, "Rows") if i == 0 else None)
    _refused(folder, "Rows", "missing")


def test_every_slice_must_lie_on_the_series_line(tmp_path):
    def shift(i, ds):
        if i == 2:  # a middle slice, 5 mm sideways: first and last are intact
            ds.ImagePositionPatient = [-5.0, -20.0, 104.0]

    msg = _refused(ct_series(tmp_path / "s", edit=shift), "s02.dcm", "off the series' line")
    assert "5.00 mm" in msg


@pytest.mark.parametrize("rows", [11, 13])
def test_rows_columns_must_match_the_pixel_data(tmp_path, rows):
    # a wrong Rows on every slice (a lone odd slice forms its own group and leaves a gap)
    folder = ct_series(tmp_path / "s", edit=lambda i, ds: setattr(ds, "Rows", rows))
    _refused(folder, "s00.dcm", "pixel data holds 240 bytes")
    folder = ct_series(
        tmp_path / "t", edit=lambda i, ds: setattr(ds, "Rows", rows) if i == 3 else None
    )
    _refused(folder, "missing slice")


def test_real_phantom_nan_slope_and_shifted_slice(phantom_dir, tmp_path):
    """The issue's two reports on the real phantom: slope 'nan' used to score Agatston 0."""
    from napari_plaque.cli import main

    files = sorted(p for p in phantom_dir.iterdir() if p.name != "SOURCE.md")
    by_z = sorted(
        files,
        key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]),
    )
    for case in ("slope", "shift"):
        d = tmp_path / case
        d.mkdir()
        for p in files:
            shutil.copy(p, d / p.name)
        target = d / by_z[20].name
        ds = pydicom.dcmread(target)
        if case == "slope":
            ds.RescaleSlope = "nan"
        else:
            ipp = [float(x) for x in ds.ImagePositionPatient]
            ds.ImagePositionPatient = [ipp[0] + 5.0, ipp[1], ipp[2]]
        _quiet_save(ds, target)
        msg = _refused(d, target.name)
        assert ("RescaleSlope" in msg) if case == "slope" else ("off the series' line" in msg)
        assert main(["cac", str(d)]) == 2


# -- IVUS ---------------------------------------------------------------------------------


@pytest.fixture
def frames():
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, (6, 24, 20), dtype=np.uint8)


def _rewrite(path, edit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        edit(ds)
        ds.save_as(path)
    return path


def _pb_refused(path, *words):
    with pytest.raises(ReaderError) as ei:
        read_pullback(path)
    msg = str(ei.value)
    for w in (path.name, *words):
        assert w in msg, msg
    return msg


@pytest.mark.parametrize(
    ("kw", "value"),
    [
        ("FrameTime", "nan"),
        ("FrameTime", "inf"),
        ("IVUSPullbackRate", "nan"),
        ("IVUSPullbackRate", "inf"),
    ],
)
def test_ivus_nan_inf_timing_refused(tmp_path, frames, kw, value):
    p = write_pullback_dicom(frames, tmp_path / "pb.dcm")
    _pb_refused(_rewrite(p, lambda ds: setattr(ds, kw, value)), kw, "finite")


def test_ivus_nan_frame_time_vector_and_physical_delta_refused(tmp_path, frames):
    p = write_pullback_dicom(frames, tmp_path / "ftv.dcm")

    def ftv(ds):
        del ds.FrameTime
        ds.FrameTimeVector = ["0", "33", "nan", "33", "33", "33"]

    _pb_refused(_rewrite(p, ftv), "FrameTimeVector", "finite")
    for kw in ("PhysicalDeltaX", "PhysicalDeltaY"):
        p = write_pullback_dicom(frames, tmp_path / f"{kw}.dcm")
        _pb_refused(
            _rewrite(
                p, lambda ds, kw=kw: setattr(ds.SequenceOfUltrasoundRegions[0], kw, float("nan"))
            ),
            kw,
            "finite",
        )


def test_ivus_all_zero_frame_time_vector_gives_flagged_default(tmp_path, frames):
    p = write_pullback_dicom(frames, tmp_path / "z.dcm")

    def zero(ds):
        del ds.FrameTime
        del ds.CineRate
        ds.FrameTimeVector = [0] * len(frames)

    pb = read_pullback(_rewrite(p, zero))
    assert pb.frame_time_s > 0 and "frame_time_s" in pb.assumed
    assert any("Frame Time Vector" in n and "all zero" in n for n in pb.meta["notes"])
    assert pb.frame_times_s is None


@pytest.mark.parametrize(("kw", "delta"), [("Rows", -1), ("Rows", 1), ("NumberOfFrames", -1)])
def test_ivus_header_must_describe_pixel_data(tmp_path, frames, kw, delta):
    p = write_pullback_dicom(frames, tmp_path / "pb.dcm")
    _pb_refused(_rewrite(p, lambda ds: setattr(ds, kw, int(getattr(ds, kw)) + delta)), "pixel data")


def test_ivus_more_frames_than_data_refused(tmp_path, frames):
    p = write_pullback_dicom(frames, tmp_path / "pb.dcm")
    _pb_refused(_rewrite(p, lambda ds: setattr(ds, "NumberOfFrames", len(frames) + 3)))


def test_ivus_missing_tags_are_reader_errors(tmp_path, frames):
    p = write_pullback_dicom(frames, tmp_path / "rows.dcm")
    _pb_refused(_rewrite(p, lambda ds: delattr(ds, "Rows")), "Rows", "missing")
    p = write_pullback_dicom(frames, tmp_path / "ts.dcm")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(p)
        del ds.file_meta.TransferSyntaxUID
        ds.save_as(p, enforce_file_format=False)
    with pytest.raises(ReaderError) as ei:
        read_pullback(p)
    assert "ts.dcm" in str(ei.value)


def _rle_fragments(path):
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    return ds, list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))


def test_rle_damaged_or_missing_fragment_refused_at_open(tmp_path):
    from pydicom.encaps import encapsulate

    rng = np.random.default_rng(2)
    fr = rng.integers(0, 255, (24, 16, 16), dtype=np.uint8)
    p = write_pullback_dicom(fr, tmp_path / "rle.dcm", compress="rle")
    assert read_pullback(p).frames[19].shape == (16, 16)
    # fragment of frame 19 emptied: refused at open, not when frame 19 is shown
    ds, frags = _rle_fragments(p)
    frags[19] = b"\x00" * 8
    ds.PixelData = encapsulate(frags)
    q = tmp_path / "damaged.dcm"
    ds.save_as(q)
    _pb_refused(q, "RLE frame 19")
    # fragment of frame 19 dropped, offset table still claiming 24 frames
    ds, frags = _rle_fragments(p)
    del frags[19]
    ds.PixelData = encapsulate(frags)
    q = tmp_path / "missing.dcm"
    ds.save_as(q)
    with pytest.raises(ReaderError, match="missing.dcm"):
        read_pullback(q)


def test_pydicom_floor_features():
    """pyproject requires pydicom>=3.0: the IVUS reader and writer use pydicom 3 APIs."""
    from importlib.metadata import version

    assert int(version("pydicom").split(".")[0]) >= 3
    import pydicom.encaps as enc
    import pydicom.pixels as px
    from pydicom.dataset import Dataset

    assert hasattr(px, "get_decoder") and hasattr(enc, "parse_fragments")
    assert hasattr(enc, "parse_basic_offsets")
    import inspect

    assert "encoding_plugin" in inspect.signature(Dataset.compress).parameters
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"pydicom>=3.0"' in text
