"""Frame-sequence pullbacks: folders of frames, multi-page TIFF, NIfTI; sidecar; masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from napari_plaque._napari.reader import layer_reader
from napari_plaque.io.detect import Format, detect
from napari_plaque.io.errors import ReaderError
from napari_plaque.io.frames import natural_key, read_frame_sequence
from napari_plaque.ivus.vessel_synthetic import make_vessel_frames


@pytest.fixture(scope="module")
def vessel():
    return make_vessel_frames(n_frames=12, size=96, seed=0)


def _burn(frames):
    """Add static burnt-in content outside the imaging disc: a text banner and tick marks."""
    out = frames.copy()
    rr, cc = np.indices(frames.shape[1:])
    out[:, np.hypot(rr - 47.5, cc - 47.5) >= 46] = 0  # the console's black surround
    out[:, 2:8, 2:40] = 255  # banner
    out[:, -6:-2, -30:-2] = 200
    out[:, 0:3, 10] = 255  # a tick mark
    out[:, 47, 60:64] = 255  # a static calliper mark inside the field
    return out


def _write_folder(folder, frames, ext="png", rgb=False):
    folder.mkdir()
    for i, f in enumerate(frames):
        img = np.repeat(f[..., None], 3, -1) if rgb else f
        Image.fromarray(img).save(folder / f"frame{i + 1}.{ext}")
    return folder


def test_natural_sort_and_non_image_files_skipped(tmp_path, vessel):
    frames, _ = vessel
    folder = _write_folder(tmp_path / "pb", frames)
    (folder / "README.txt").write_text("console export")
    (folder / "Thumbs.db").write_bytes(b"\0")
    assert detect(folder) is Format.FRAME_SEQUENCE
    pb = read_frame_sequence(folder, pixel_mm=0.05, frame_rate=30, pullback_mm_s=0.5, mask=None)
    assert pb.n_frames == 12
    # natural order: frame2 before frame10 (lexical order would put frame10 second)
    np.testing.assert_array_equal(pb.frames[1], frames[1])
    np.testing.assert_array_equal(pb.frames[9], frames[9])
    assert any("2 non-image file(s) skipped" in n for n in pb.meta["notes"])
    assert pb.assumed == set()
    assert pb.pixel_spacing_mm == (0.05, 0.05)
    assert natural_key("f2.png") < natural_key("f10.png")


def test_missing_values_are_flagged_assumed(tmp_path, vessel):
    frames, _ = vessel
    folder = _write_folder(tmp_path / "pb", frames[:3])
    pb = read_frame_sequence(folder)
    assert pb.assumed == {"pixel_spacing_mm", "frame_time_s", "pullback_rate_mm_s"}
    assert pb.pixel_spacing_mm == pytest.approx((10.0 / 96, 10.0 / 96))
    assert any("no pixel size" in n for n in pb.meta["notes"])


def test_sidecar_json_and_options_override(tmp_path, vessel):
    frames, _ = vessel
    folder = _write_folder(tmp_path / "pb", frames[:3])
    (folder / "pullback.json").write_text(
        json.dumps({"pixel_spacing_mm": [0.04, 0.05], "frame_rate": 25, "pullback_mm_s": 1.0})
    )
    pb = read_frame_sequence(folder)
    assert pb.assumed == set()
    assert pb.pixel_spacing_mm == (0.04, 0.05)
    assert pb.frame_time_s == pytest.approx(0.04)
    assert pb.mm_per_frame == pytest.approx(0.04)
    pb2 = read_frame_sequence(folder, frame_rate=50)
    assert pb2.frame_time_s == pytest.approx(0.02)
    (folder / "pullback.json").write_text(json.dumps({"pixel_mm": -1}))
    with pytest.raises(ReaderError, match="pullback.json.*positive"):
        read_frame_sequence(folder)
    (folder / "pullback.json").write_text(json.dumps({"pixel_size": 1}))
    with pytest.raises(ReaderError, match="unknown sidecar key"):
        read_frame_sequence(folder)


def test_mixed_frame_sizes_refused(tmp_path, vessel):
    frames, _ = vessel
    folder = _write_folder(tmp_path / "pb", frames[:3])
    Image.fromarray(np.zeros((50, 60), np.uint8)).save(folder / "frame4.png")
    with pytest.raises(ReaderError, match=r"frame4.png: frame size 50x60 differs from 96x96"):
        read_frame_sequence(folder)


def test_empty_folder_and_missing_path(tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "notes.txt").write_text("x")
    with pytest.raises(ReaderError, match="no frames"):
        read_frame_sequence(tmp_path / "e")
    with pytest.raises(ReaderError, match="no such file"):
        read_frame_sequence(tmp_path / "missing")


def test_burnt_in_text_masked_automatically_and_settably(tmp_path, vessel):
    frames, _ = vessel
    burnt = _burn(frames)
    folder = _write_folder(tmp_path / "pb", burnt)
    pb = read_frame_sequence(folder, pixel_mm=0.05)
    f0 = pb.frames[0]
    assert f0[2:8, 2:40].max() == 0 and f0[-6:-2, -30:-2].max() == 0 and f0[0:3, 10].max() == 0
    assert f0[47, 60:64].max() == 0
    # ultrasound inside the field is untouched
    np.testing.assert_array_equal(f0[30:46, 30:66], frames[0][30:46, 30:66])
    assert 40 <= pb.meta["imaging_field_radius_px"] <= 50
    off = read_frame_sequence(folder, pixel_mm=0.05, mask=None)
    assert off.frames[0][2:8, 2:40].min() == 255
    disc = read_frame_sequence(folder, pixel_mm=0.05, mask=20.0)
    assert disc.frames[0][48, 20].max() == 0 and disc.frames[0][48, 40] == frames[0][48, 40]


def test_rgb_with_chemogram_ring_becomes_grey_and_ring_masked(tmp_path, vessel):
    frames, _ = vessel
    rgb = np.repeat(frames[..., None], 3, -1)
    rr, cc = np.indices(frames.shape[1:])
    ring = np.abs(np.hypot(rr - 47.5, cc - 47.5) - 44) < 2
    rgb[:, ring] = (255, 200, 0)  # yellow chemogram ring
    folder = tmp_path / "nirs"
    folder.mkdir()
    for i, f in enumerate(rgb):
        Image.fromarray(f).save(folder / f"img_{i:03d}.png")
    pb = read_frame_sequence(folder, pixel_mm=0.05)
    f0 = pb.frames[0]
    assert f0.ndim == 2 and f0.dtype == np.uint8
    assert f0[ring].max() == 0
    inner = np.hypot(rr - 47.5, cc - 47.5) < 30
    np.testing.assert_allclose(f0[inner], frames[0][inner], atol=1)
    assert "RGB frames converted to grey" in pb.meta["notes"]


def test_multipage_tiff_and_nifti(tmp_path, vessel):
    import nibabel as nib
    import tifffile

    frames, _ = vessel
    tif = tmp_path / "pb.tif"
    tifffile.imwrite(str(tif), frames)
    assert detect(tif) is Format.TIFF_STACK
    (tmp_path / "pb.json").write_text(json.dumps({"pixel_mm": 0.05}))
    pb = read_frame_sequence(tif, mask=None)
    assert pb.n_frames == 12 and pb.pixel_spacing_mm == (0.05, 0.05)
    np.testing.assert_array_equal(pb.frames[5], frames[5])
    nii = tmp_path / "stack.nii.gz"
    # ITK / Slicer order: (x = column, y = row, frame)
    nib.save(nib.Nifti1Image(np.transpose(frames, (2, 1, 0)), np.eye(4)), str(nii))
    pbn = read_frame_sequence(nii, mask=None)
    assert pbn.n_frames == 12
    np.testing.assert_array_equal(pbn.frames[3], frames[3])


def test_napari_reader_dispatch(tmp_path, vessel):
    frames, _ = vessel
    folder = _write_folder(tmp_path / "pb", frames[:4], ext="jpg")
    layers = layer_reader(detect(folder))(folder)
    data, attrs, kind = layers[0]
    assert kind == "image" and data.shape == (4, 96, 96)
    assert "pixel_spacing_mm" in attrs["metadata"]["assumed"]
    assert attrs["scale"][1] == pytest.approx(10.0 / 96)
