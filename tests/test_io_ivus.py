"""IVUS multi-frame reader: lazy frames, timing, pixel size, colour handling, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.io import ReaderError, read_pullback
from napari_plaque.io.ivus_dicom import LazyFrames, write_pullback_dicom


@pytest.fixture
def frames():
    rng = np.random.default_rng(3)
    return (rng.random((12, 40, 48)) * 255).astype(np.uint8)


@pytest.mark.parametrize("kw", [{}, {"photometric": "RGB"}, {"compress": "rle"}])
def test_roundtrip_grey_rgb_and_rle(tmp_path, frames, kw):
    p = write_pullback_dicom(
        frames,
        tmp_path / "pb.dcm",
        frame_time_s=1 / 30,
        pullback_rate_mm_s=1.0,
        pixel_spacing_mm=(0.025, 0.02),
        **kw,
    )
    pb = read_pullback(p)
    assert pb.frames.shape == frames.shape
    np.testing.assert_array_equal(np.asarray(pb.frames), frames)
    np.testing.assert_array_equal(pb.frames[5], frames[5])
    np.testing.assert_array_equal(pb.frames[2:7:2, 3:9], frames[2:7:2, 3:9])
    assert pb.frame_time_s == pytest.approx(1 / 30, rel=1e-5)
    assert pb.pullback_rate_mm_s == 1.0
    assert pb.pixel_spacing_mm == pytest.approx((0.025, 0.02))
    assert pb.scale == pytest.approx((1 / 30, 0.025, 0.02), rel=1e-5)
    assert pb.assumed == set()
    assert not any("colour" in n for n in pb.meta["notes"])  # grey content in RGB is not colour


def test_uncompressed_is_memory_mapped_and_compressed_is_lazy(tmp_path, frames):
    pb = read_pullback(write_pullback_dicom(frames, tmp_path / "a.dcm"))
    assert isinstance(pb.frames, np.memmap)
    pb = read_pullback(write_pullback_dicom(frames, tmp_path / "b.dcm", compress="rle"))
    assert isinstance(pb.frames, LazyFrames)
    calls = []
    get = pb.frames._get
    pb.frames._get = lambda i: calls.append(i) or get(i)
    pb.frames[4]
    pb.frames[4]
    assert calls == [4]  # one frame decoded once, then cached


def test_missing_rate_is_assumed_and_flagged(tmp_path, frames):
    p = write_pullback_dicom(frames, tmp_path / "pb.dcm", pullback_rate_mm_s=None)
    pb = read_pullback(p)
    assert pb.pullback_rate_mm_s == 0.5
    assert "pullback_rate_mm_s" in pb.assumed
    pb = read_pullback(p, default_rate_mm_s=1.0)
    assert pb.pullback_rate_mm_s == 1.0 and pb.mm_per_frame == pytest.approx(1 / 30, rel=1e-5)


def test_no_patient_identifiers(tmp_path, frames):
    pb = read_pullback(write_pullback_dicom(frames, tmp_path / "pb.dcm", patient_name="Doe^Jane"))
    assert "Doe" not in repr(pb.meta) and "SYNTH" not in repr(pb.meta)
    assert len(pb.uid_hash) == 16


def test_real_ultrasound_multiframe_jpeg(pydicom_testfile):
    """pydicom-data's 120-frame US (YBR_FULL_422 JPEG baseline, colour Doppler)."""
    import pydicom

    path = pydicom_testfile("color3d_jpeg_baseline.dcm")
    pb = read_pullback(path)
    assert pb.frames.shape == (120, 480, 640)
    assert pb.frame_time_s == pytest.approx(0.033333, rel=1e-3)
    # pixel size from the Sequence of Ultrasound Regions (cm -> mm)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert pb.pixel_spacing_mm[1] == pytest.approx(
        float(ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX) * 10
    )
    assert any("true colour content" in n for n in pb.meta["notes"])
    # frame-level decode agrees with pydicom's full decode (converted to luminance)
    full = pydicom.dcmread(path).pixel_array[7].astype(float)
    lum = full[..., 0] * 0.299 + full[..., 1] * 0.587 + full[..., 2] * 0.114
    assert np.abs(pb.frames[7].astype(float) - lum).max() <= 1.0


def test_palette_and_big_endian_multiframe(pydicom_testfile):
    pb = read_pullback(pydicom_testfile("OBXXXX1A_2frame.dcm"))
    assert pb.frames.shape == (2, 600, 800) and pb.frames[1].ndim == 2
    le = read_pullback(pydicom_testfile("emri_small.dcm"))
    be = read_pullback(pydicom_testfile("emri_small_big_endian.dcm"))
    j2k = read_pullback(pydicom_testfile("emri_small_jpeg_2k_lossless.dcm"))
    np.testing.assert_array_equal(np.asarray(le.frames), np.asarray(be.frames))
    np.testing.assert_array_equal(np.asarray(le.frames), np.asarray(j2k.frames))
    assert "pixel_spacing_mm" in le.assumed and "frame_time_s" in le.assumed


def test_bad_input(tmp_path, frames, pydicom_testfile):
    with pytest.raises(ReaderError, match="no such file"):
        read_pullback(tmp_path / "missing.dcm")
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 500)
    with pytest.raises(ReaderError, match=r"junk\.dcm: not a DICOM"):
        read_pullback(junk)
    p = write_pullback_dicom(frames, tmp_path / "pb.dcm")
    t = tmp_path / "trunc.dcm"
    t.write_bytes(p.read_bytes()[:-1000])
    with pytest.raises(ReaderError, match=r"trunc\.dcm: truncated"):
        read_pullback(t)
    p = write_pullback_dicom(frames, tmp_path / "rle.dcm", compress="rle")
    t2 = tmp_path / "trunc_rle.dcm"
    t2.write_bytes(p.read_bytes()[:-200])
    with pytest.raises(ReaderError, match=r"trunc_rle\.dcm"):
        read_pullback(t2)
    with pytest.raises(ReaderError, match="no pixel data"):
        read_pullback(pydicom_testfile("rtplan.dcm"))


def test_decoder_missing_is_reported(tmp_path, frames, monkeypatch):
    p = write_pullback_dicom(frames, tmp_path / "rle.dcm", compress="rle")
    import pydicom.pixels.decoders.base as base

    monkeypatch.setattr(base.Decoder, "is_available", property(lambda self: False))
    with pytest.raises(ReaderError, match="decoder missing"):
        read_pullback(p)


def test_write_is_atomic_on_bad_input(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_pullback_dicom(np.zeros((2, 4, 4), np.float32), tmp_path / "x.dcm")
    assert list(tmp_path.iterdir()) == []


def _rewrite(path, edit):
    import pydicom

    ds = pydicom.dcmread(path)
    edit(ds)
    ds.save_as(path)
    return path


def test_frame_time_vector_and_cine_rate(tmp_path, frames):
    p = write_pullback_dicom(frames, tmp_path / "ftv.dcm")

    def ftv(ds):
        del ds.FrameTime
        del ds.CineRate
        ds.FrameIncrementPointer = 0x00181065
        ds.FrameTimeVector = [0] + [40.0] * 5 + [60.0] * (len(frames) - 6)

    pb = read_pullback(_rewrite(p, ftv))
    assert pb.frame_times_s is not None and pb.frame_times_s[1] == pytest.approx(0.04)
    assert pb.frame_times_s[-1] == pytest.approx(0.04 * 5 + 0.06 * (len(frames) - 6))
    assert pb.frame_time_s == pytest.approx(np.mean([0.04] * 5 + [0.06] * (len(frames) - 6)))
    assert "frame_time_s" not in pb.assumed

    p2 = write_pullback_dicom(frames, tmp_path / "cine.dcm")

    def cine(ds):
        del ds.FrameTime
        ds.CineRate = 25

    pb = read_pullback(_rewrite(p2, cine))
    assert pb.frame_time_s == pytest.approx(0.04)
