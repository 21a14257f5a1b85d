"""Issue 22: never a silent wrong number from the readers on real-world input.

Absurd but finite headers (items 5, 14), ultrasound that is not IVUS (item 6), IVUS RLE and
TIFF whose header understates the frames (item 9) and IVUS frame folders (item 13), on files
the tests build or pydicom-data ships. Each bad input is refused (ReaderError naming the file
and the tag; exit 2 on the CLI) or flagged (``warnings`` / ``assumed`` / a note).
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_plaque.io import ReaderError, read_ct, read_pullback
from napari_plaque.io.dicom_common import PLAUSIBLE_RANGES, check_range, in_range
from napari_plaque.io.frames import read_frame_sequence, read_ivus
from napari_plaque.io.ivus_dicom import write_pullback_dicom

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _save(ds, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=True)
    return path


def _cli(*args) -> tuple[int, str, str]:
    from napari_plaque.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def _edited_ct(ct_small: Path, tmp_path: Path, name: str, **tags) -> Path:
    """pydicom's real CT_small.dcm (``ct_small``) with tags set (a non-cardiac CT slice)."""
    ds = pydicom.dcmread(ct_small)
    for k, v in tags.items():
        setattr(ds, k, v)
    folder = tmp_path / name
    folder.mkdir()
    return _save(ds, folder / "ct.dcm")


# -- item 5: absurd but finite CT headers ---------------------------------------------------


def test_plausible_ranges_one_home():
    for key in ("RescaleSlope", "RescaleIntercept", "PixelSpacing", "ImagePositionPatient",
                "FrameTime", "IVUSPullbackRate", "PhysicalDeltaX", "pixel_mm", "hu"):
        lo, hi, _unit = PLAUSIBLE_RANGES[key]
        assert lo < hi
    assert in_range("PixelSpacing", [0.5, 0.5]) and not in_range("PixelSpacing", 1e-30)
    with pytest.raises(ReaderError, match=r"f\.dcm: RescaleSlope is 1e\+30.*plausible"):
        check_range("RescaleSlope", 1e30, "f.dcm")


@pytest.mark.parametrize(
    "tag, value, match",
    [
        ("RescaleSlope", "1e30", r"RescaleSlope \(0028,1053\) is 1e\+30"),
        ("RescaleIntercept", "1e30", r"RescaleIntercept \(0028,1052\) is 1e\+30"),
        ("PixelSpacing", ["1e-30", "1e-30"], r"PixelSpacing \(0028,0030\) is 1e-30"),
        ("PixelSpacing", ["1e308", "1e308"], r"PixelSpacing \(0028,0030\) is 1e\+308"),
        ("ImagePositionPatient", ["1e308", "0", "0"], r"ImagePositionPatient \(0020,0032\)"),
        ("SliceThickness", "1e300", r"SliceThickness \(0018,0050\)"),
    ],
)
def test_absurd_ct_header_is_refused_naming_the_tag(tmp_path, tag, value, match,
                                                    pydicom_testfile):
    p = _edited_ct(pydicom_testfile("CT_small.dcm"), tmp_path, "s", **{tag: value})
    with pytest.raises(ReaderError, match=match) as exc:
        read_ct(p.parent)
    assert "ct.dcm" in str(exc.value) or str(p.parent) in str(exc.value)
    rc, out, err = _cli("cac", p.parent)
    assert rc == 2 and tag in err and not out.strip()


def test_signed_data_declared_unsigned_is_refused(tmp_path, phantom_dir):
    """The real QRM phantom (signed pixels) with PixelRepresentation 0 on every slice: 10M
    Agatston before; now refused naming PixelRepresentation."""
    dst = tmp_path / "phantom"
    dst.mkdir()
    for p in sorted(phantom_dir.iterdir())[:3]:
        if p.name == "SOURCE.md":
            continue
        ds = pydicom.dcmread(p)
        ds.PixelRepresentation = 0
        _save(ds, dst / p.name)
    with pytest.raises(ReaderError, match=r"PixelRepresentation \(0028,0103\) is 0"):
        read_ct(dst)
    rc, _, err = _cli("cac", dst)
    assert rc == 2 and "HU" in err


def test_plausible_ct_still_reads(tmp_path, pydicom_testfile):
    p = _edited_ct(pydicom_testfile("CT_small.dcm"), tmp_path, "ok", RescaleSlope="2",
                   RescaleIntercept="-1024")
    vol = read_ct(p.parent)[0]
    assert np.isfinite(vol.hu).all() and vol.hu.min() >= -32768


# -- item 5 (IVUS): timing and pixel size ---------------------------------------------------


def _pullback(tmp_path, name="pb.dcm", n=6, size=48, **kw) -> Path:
    rng = np.random.default_rng(1)
    f = rng.integers(0, 255, (n, size, size), dtype=np.uint8)
    return write_pullback_dicom(f, tmp_path / name, **kw)


def test_absurd_pullback_rate_and_pixel_size_are_set_aside_and_flagged(tmp_path):
    p = _pullback(tmp_path)
    ds = pydicom.dcmread(p)
    ds.IVUSPullbackRate = "1e308"
    ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = 1e300
    q = _save(ds, tmp_path / "absurd.dcm")
    pb = read_pullback(q)
    assert pb.pullback_rate_mm_s == 0.5 and "pullback_rate_mm_s" in pb.assumed
    assert pb.pixel_spacing_mm == (1.0, 1.0) and "pixel_spacing_mm" in pb.assumed
    notes = " | ".join(pb.meta["notes"])
    assert "IVUS Pullback Rate (0018,3101) is 1e+308" in notes
    assert "Physical Delta X (0018,602C) is 1e+300" in notes
    assert pb.mm_per_frame < 1.0


def test_cine_rate_frame_time_is_flagged_assumed(tmp_path):
    """A 0.4 s frame time stored only as Cine Rate 2 (rounded from 2.5): used, but flagged."""
    p = _pullback(tmp_path, frame_time_s=0.4)
    ds = pydicom.dcmread(p)
    assert int(ds.CineRate) == 2
    del ds.FrameTime
    q = _save(ds, tmp_path / "cine.dcm")
    pb = read_pullback(q)
    assert pb.frame_time_s == pytest.approx(0.5)
    assert "frame_time_s" in pb.assumed
    assert any("Cine Rate (0018,0040)" in n and "rounded" in n for n in pb.meta["notes"])
    ds.FrameTime = "1e300"
    pb = read_pullback(_save(ds, tmp_path / "ft.dcm"))
    assert "frame_time_s" in pb.assumed
    assert any("Frame Time (0018,1063) is 1e+300" in n for n in pb.meta["notes"])


def test_sidecar_pixel_mm_true_is_not_one_mm(tmp_path):
    folder = _frame_folder(tmp_path / "f", 3)
    (folder / "pullback.json").write_text(json.dumps({"pixel_mm": True}))
    with pytest.raises(ReaderError, match=r"pullback\.json: pixel size must be a number"):
        read_frame_sequence(folder)
    (folder / "pullback.json").write_text(json.dumps({"pixel_mm": 1e300}))
    with pytest.raises(ReaderError, match=r"pullback\.json: pixel size is 1e\+300 mm"):
        read_frame_sequence(folder)
    (folder / "pullback.json").write_text(json.dumps({"pullback_mm_s": 1e308}))
    with pytest.raises(ReaderError, match=r"pullback_mm_s is 1e\+308"):
        read_frame_sequence(folder)
    with pytest.raises(ReaderError, match=r"--frame-rate: frame rate is 1e\+09"):
        read_frame_sequence(tmp_path / "f", pixel_mm=0.02, frame_rate=1e9, pullback_mm_s=0.5)


# -- item 6: ultrasound that is not IVUS ----------------------------------------------------


def test_obstetric_ultrasound_is_not_measured_as_a_pullback(pydicom_testfile):
    """pydicom-data's 2-frame obstetric sweep (curved-array C5-1): EEM 16,979 mm^2 before."""
    p = pydicom_testfile("OBXXXX1A_2frame.dcm")
    pb = read_pullback(p)  # still viewable, but flagged
    assert pb.meta["intravascular"] is False
    assert any("not recognised as an intravascular pullback" in w for w in pb.meta["warnings"])
    rc, out, err = _cli("ivus-vessel", p)
    assert rc == 2 and "not an intravascular pullback" in err and "OBXXXX1A_2frame" in err
    assert "EEM" not in out and "MLA" not in out
    rc, out, _ = _cli("info", p)  # info describes it and says so
    assert rc == 0 and "not recognised as an intravascular pullback" in out


@pytest.mark.parametrize("name", ["examples_ybr_color.dcm", "emri_small.dcm"])
def test_other_multiframe_is_refused_by_ivus_vessel(name, pydicom_testfile):
    p = pydicom_testfile(name)
    rc, _, err = _cli("ivus-vessel", p)
    assert rc == 2 and "not an intravascular pullback" in err


def test_ivus_is_recognised(tmp_path):
    pb = read_pullback(_pullback(tmp_path))
    assert pb.meta["intravascular"] is True and pb.meta["warnings"] == []
    ds = pydicom.dcmread(tmp_path / "pb.dcm")
    ds.Modality = "US"
    del ds.IVUSAcquisition
    del ds.IVUSPullbackRate
    pb = read_pullback(_save(ds, tmp_path / "us.dcm"))
    assert pb.meta["intravascular"] is None  # plain US, small field: read, flagged
    assert pb.meta["warnings"]
    ds.TransducerType = "IV_PHASED"
    assert read_pullback(_save(ds, tmp_path / "iv.dcm")).meta["intravascular"] is True


def test_eem_area_out_of_coronary_range_is_flagged():
    from napari_plaque.ivus.borders import VesselBorders
    from napari_plaque.ivus.vessel_measure import measure_vessel

    n, k = 3, 90
    b = VesselBorders(
        lumen_r_px=np.full((n, k), 40.0), eem_r_px=np.full((n, k), 60.0),
        center=(100.0, 100.0), pixel_spacing_mm=(0.2, 0.2), shadowed=np.zeros((n, k), bool),
    )  # fmt: skip
    m = measure_vessel(b, 0.1)
    assert m.summary["mean_eem_area_mm2"] > 400
    assert m.summary["warnings"] and "EEM area above 40" in m.summary["warnings"][0]


def test_single_frame_ultrasound_is_named_not_ct(tmp_path, pydicom_testfile):
    p = pydicom_testfile("US1_UNCR.dcm")
    with pytest.raises(ReaderError, match="single-frame ultrasound image") as exc:
        read_ct(p)
    assert "CT series" not in str(exc.value).replace("not a slice of a CT series", "")
    rc, _, err = _cli("cac", p)
    assert rc == 2 and "ultrasound" in err
    rc, _, err = _cli("ivus-vessel", p)
    assert rc == 2 and "single-frame ultrasound image (Modality US)" in err
    assert "ct-series" not in err


# -- item 9: RLE and TIFF that understate the frames ----------------------------------------


def test_rle_number_of_frames_1_and_wrong_columns_are_refused(tmp_path):
    p = _pullback(tmp_path, "rle.dcm", n=20, size=32, compress="rle")
    ds = pydicom.dcmread(p)
    ds.NumberOfFrames = 1
    with pytest.raises(ReaderError, match=r"NumberOfFrames \(0028,0008\) is 1 .*20 fragments"):
        read_pullback(_save(ds, tmp_path / "n1.dcm"))
    ds = pydicom.dcmread(p)
    ds.Columns = 16
    with pytest.raises(ReaderError, match=r"c16\.dcm: frame 0: the decoded frame does not fit"):
        pb = read_pullback(_save(ds, tmp_path / "c16.dcm"))
        np.asarray(pb.frames)


def test_tiff_with_one_odd_page_is_refused(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    p = tmp_path / "stack.tif"
    with tifffile.TiffWriter(p) as tw:
        for k in range(5):
            tw.write(np.full((40, 40) if k != 2 else (40, 36), k * 20, np.uint8))
    with pytest.raises(ReaderError, match=r"stack\.tif: page 3 of 5 is 40x36"):
        read_ivus(p)


# -- item 13 (and 14): frame folders --------------------------------------------------------


def _frame_folder(folder: Path, n: int, size: int = 64, static: bool = False) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    base = rng.integers(0, 255, (size, size), dtype=np.uint8)
    for i in range(n):
        img = base if static else rng.integers(0, 255, (size, size), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"frame{i}.png")
    return folder


def test_single_frame_folder_is_read(tmp_path):
    folder = _frame_folder(tmp_path / "one", 1)
    pb = read_ivus(folder, pixel_mm=0.02)
    assert pb.n_frames == 1
    assert any("single frame" in n for n in pb.meta["notes"])


def test_folder_json_beside_is_ignored_when_options_cover_it(tmp_path):
    folder = _frame_folder(tmp_path / "pb", 3)
    side = tmp_path / "pb.json"
    side.write_text("")  # what `> pb.json` leaves
    pb = read_ivus(folder)
    assert any("empty file, not a sidecar" in n for n in pb.meta["notes"])
    side.write_text(json.dumps({"summary": {"mla_mm2": 3.0}, "frames": []}))  # a saved report
    assert any("not a sidecar" in n for n in read_ivus(folder).meta["notes"])
    side.write_text("{not json")
    with pytest.raises(ReaderError, match=r"pb\.json: sidecar JSON is not readable"):
        read_ivus(folder)
    pb = read_ivus(folder, pixel_mm=0.02, frame_rate=30, pullback_mm_s=0.5)
    assert pb.assumed == set()
    assert any("ignored (every value is given as an option)" in n for n in pb.meta["notes"])


def test_auto_mask_on_static_frames_falls_back_to_no_mask(tmp_path):
    folder = _frame_folder(tmp_path / "static", 6, static=True)
    pb = read_frame_sequence(folder, pixel_mm=0.02)
    assert "imaging_field_radius_px" not in pb.meta
    assert any("frames hardly change" in n for n in pb.meta["notes"])
    assert np.asarray(pb.frames[0]).any()


def test_one_by_one_frames_are_refused(tmp_path):
    folder = _frame_folder(tmp_path / "tiny", 3, size=1)
    rc, _, err = _cli("ivus-vessel", folder)
    assert rc == 2 and "too small" in err and "tiny" in err
    with pytest.raises(ReaderError, match="too small"):
        read_pullback(_pullback(tmp_path, "t.dcm", n=3, size=2))


def test_deep_json_sidecar_is_refused_not_a_traceback(tmp_path):
    folder = _frame_folder(tmp_path / "deep", 2)
    (folder / "pullback.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ReaderError, match=r"pullback\.json"):
        read_frame_sequence(folder)
    shutil.rmtree(folder)


def test_ivus_vessel_on_static_and_single_frames_measures(tmp_path):
    """Static frames: every measurement was null with the automatic mask; one image was
    'unknown format'. Both are measured now, with a note saying what was done."""
    from PIL import Image

    from napari_plaque.ivus.vessel_synthetic import make_vessel_frames

    frames, _ = make_vessel_frames(n_frames=2, size=96, seed=0)
    static, one = tmp_path / "static", tmp_path / "one"
    static.mkdir()
    one.mkdir()
    for i in range(5):
        Image.fromarray(frames[0]).save(static / f"f{i}.png")
    Image.fromarray(frames[0]).save(one / "f0.png")
    for folder, note in ((static, "frames hardly change"), (one, "single frame")):
        rc, out, _ = _cli("ivus-vessel", folder, "--pixel-mm", "0.04", "--json")
        rep = json.loads(out)
        assert rc == 0 and rep["summary"]["mla_mm2"] is not None
        assert any(note in n for n in rep["notes"])


def test_jpeg_number_of_frames_1_over_many_images_is_refused(tmp_path, pydicom_testfile):
    """pydicom-data's 120-frame JPEG baseline US with NumberOfFrames 1: not 1 frame."""
    ds = pydicom.dcmread(pydicom_testfile("color3d_jpeg_baseline.dcm"))
    ds.NumberOfFrames = 1
    with pytest.raises(ReaderError, match=r"NumberOfFrames \(0028,0008\) is 1 but 120"):
        read_pullback(_save(ds, tmp_path / "j1.dcm"))


def test_warnings_reach_cohort_columns(tmp_path):
    from PIL import Image

    from napari_plaque.io.frames import read_ivus
    from napari_plaque.ivus.vessel_measure import iter_analyse_pullback
    from napari_plaque.ivus.vessel_synthetic import make_vessel_frames

    frames, _ = make_vessel_frames(n_frames=3, size=96, seed=0)
    folder = tmp_path / "big"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"f{i}.png")
    pb = read_ivus(folder, pixel_mm=0.5)  # a 48 mm field: EEM areas far beyond a coronary
    gen = iter_analyse_pullback(pb)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        report, _ = stop.value
    assert report["warnings"] and report["summary"]["n_warnings"] == len(report["warnings"])
    assert "field of view" in report["summary"]["warning"]


def _bomb_png(path: Path, side: int = 30000) -> Path:
    """A ~30 kB PNG that claims side x side pixels (over twice Pillow's limit)."""
    import struct
    import zlib

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (side + 1) * 4)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_png_is_refused_not_a_traceback(tmp_path):
    bomb = _bomb_png(tmp_path / "bomb.png")
    rc, out, err = _cli("info", bomb)
    assert rc == 2 and "bomb.png" in err and "decompression bomb" in err and not out
    folder = tmp_path / "frames"
    _frame_folder(folder, 2)
    _bomb_png(folder / "frame9.png")
    rc, _, err = _cli("ivus-vessel", folder)
    assert rc == 2 and "frame9.png" in err


def test_decompression_bomb_png_is_refused_by_cxr_predict(tmp_path):
    """The radiograph reader refuses a decompression bomb before decoding it (was a PIL
    traceback under ``cxr predict``)."""
    bomb = _bomb_png(tmp_path / "bomb.png")
    rc, out, err = _cli("cxr", "predict", "demo_cxr", bomb)
    assert rc == 2 and "bomb.png" in err and "decompression bomb" in err
    assert "Traceback" not in err
