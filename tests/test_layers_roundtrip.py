"""Core types -> napari layers -> core types is lossless: every field of CTVolume and Pullback."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from napari_plaque.layers import (
    ct_layer_data,
    pullback_from_layer,
    pullback_layer_data,
    volume_from_layer,
)
from napari_plaque.types import CTVolume, Pullback


def _ct() -> CTVolume:
    rng = np.random.default_rng(0)
    d = np.array([[0.0, 0.0, 1.0], [0.0, 0.8, -0.6], [1.0, 0.0, 0.0]])
    return CTVolume(
        hu=rng.integers(-1000, 1500, (4, 5, 6)).astype(np.int16),
        spacing_mm=(2.5, 0.4, 0.45),
        origin_mm=(-120.5, 3.25, 17.0),
        direction=d,
        # "spacing_mm" in meta shares a name with a field the layer stores: it must survive too
        meta={"kvp": 120.0, "kernel": "B35f", "warnings": ["w1"], "spacing_mm": "as read"},
        name="CaScore 3.0",
    )


def _pullback(times: bool) -> Pullback:
    frames = np.arange(5 * 8 * 8, dtype=np.uint8).reshape(5, 8, 8)
    return Pullback(
        frames=frames,
        frame_time_s=0.04,
        pullback_rate_mm_s=0.7,
        pixel_spacing_mm=(0.011, 0.012),
        assumed={"pullback_rate_mm_s"},
        meta={"manufacturer": "X", "notes": ["gated"], "source": "a meta entry"},
        source="/data/ivus.dcm",
        uid_hash="abc123",
        name="LAD pullback",
        frame_times_s=np.array([0.0, 0.03, 0.09, 0.1, 0.2]) if times else None,
    )


class _Layer:
    """What a napari Image layer hands back: data, name, scale, translate, metadata."""

    def __init__(self, data, attrs):
        self.data = data
        self.name = attrs["name"]
        self.scale = np.asarray(attrs["scale"], float)
        self.translate = np.asarray(attrs.get("translate", (0.0,) * 3), float)
        self.metadata = dict(attrs["metadata"])


def _same(a, b) -> None:
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            assert x is not None and y is not None, f.name
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), err_msg=f.name)
        elif isinstance(x, tuple):
            assert x == pytest.approx(y), f.name
        else:
            assert x == y, f.name


def test_ct_round_trip_keeps_every_field():
    vol = _ct()
    data, attrs, kind = ct_layer_data(vol)
    assert kind == "image"
    _same(vol, volume_from_layer(_Layer(data, attrs)))


@pytest.mark.parametrize("times", [True, False])
def test_pullback_round_trip_keeps_every_field(times):
    pb = _pullback(times)
    data, attrs, _ = pullback_layer_data(pb)
    back = pullback_from_layer(_Layer(data, attrs))
    _same(pb, back)
    assert back.frames is pb.frames  # lazy frames are not decoded


def test_round_trip_through_a_napari_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    vol, pb = _ct(), _pullback(True)
    for d, a, _ in (ct_layer_data(vol), pullback_layer_data(pb)):
        viewer.add_image(d, **a)
    _same(vol, volume_from_layer(viewer.layers[vol.name]))
    back = pullback_from_layer(viewer.layers[pb.name])
    np.testing.assert_array_equal(np.asarray(back.frames), pb.frames)
    back.frames = pb.frames
    _same(pb, back)


def test_a_metadata_edit_on_the_layer_wins():
    vol = _ct()
    data, attrs, _ = ct_layer_data(vol)
    layer = _Layer(data, attrs)
    layer.metadata["kvp"] = 100.0
    layer.metadata["note"] = "added"
    meta = volume_from_layer(layer).meta
    assert meta["kvp"] == 100.0 and meta["note"] == "added" and meta["spacing_mm"] == "as read"


# ------------------------------------------- every field, now and when one is added (issue 23)
def _radiograph():
    from napari_plaque.cxr.io import Radiograph

    rng = np.random.default_rng(2)
    return Radiograph(
        stored=rng.integers(0, 4096, (6, 7)).astype(np.uint16),
        photometric="MONOCHROME1",
        value_range=(0.0, 4095.0),
        window=(100.0, 3000.0),
        window_source="VOI window",
        voi_lut=np.linspace(0.0, 255.0, 16),
        voi_first=12.0,
        spacing_mm=(0.143, 0.15),
        spacing_source="ImagerPixelSpacing",
        spacing_note="detector plane",
        # entries that share a name with a field the layer stores: they must survive too
        meta={"manufacturer": "Y", "source": "a meta entry", "window": "as read"},
        source="/data/cxr.dcm",
        name="PA chest",
    )


def _not_default(obj) -> None:
    """Every field of the fixture differs from its default, so the round trip tests it: a field
    added to the type (with a default) fails here until the fixture, and the converters, set it."""
    for f in dataclasses.fields(obj):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            continue
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
            same = np.shape(value) == np.shape(default) and np.allclose(value, default)
        else:
            same = value == default
        assert not same, f"{type(obj).__name__}.{f.name}: the fixture leaves it at its default"


@pytest.mark.parametrize("make", [_ct, lambda: _pullback(True), _radiograph],
                         ids=["CTVolume", "Pullback", "Radiograph"])
def test_the_fixtures_set_every_field(make):
    _not_default(make())


def test_radiograph_round_trip_keeps_every_field():
    from napari_plaque.cxr.io import radiograph_from_layer, radiograph_layer_data

    rg = _radiograph()
    data, attrs, kind = radiograph_layer_data(rg)
    assert kind == "image"
    attrs.setdefault("translate", (0.0, 0.0))
    _same(rg, radiograph_from_layer(_Layer(data, attrs)))


def test_ct_volume_carries_its_affine():
    """``CTVolume.affine`` (index -> LPS mm) is the affine the SEG and NIfTI writers use."""
    import nibabel as nib

    from napari_plaque.io.nifti import write_nifti
    from napari_plaque.io.seg import canonical_affine
    from napari_plaque.types import lps_affine

    vol = CTVolume(hu=np.zeros((3, 4, 5), np.int16), spacing_mm=(2.5, 0.4, 0.45),
                   origin_mm=(-120.5, 3.25, 17.0))
    np.testing.assert_allclose(vol.affine, canonical_affine(vol.spacing_mm, vol.origin_mm))
    np.testing.assert_allclose(lps_affine(vol.spacing_mm, vol.origin_mm), vol.affine)
    idx = np.array([2, 3, 4, 1.0])  # (slice, row, col): z, y, x of that voxel in LPS
    np.testing.assert_allclose(vol.affine @ idx, [17.0 + 4 * 0.45, 3.25 + 3 * 0.4,
                                                  -120.5 + 2 * 2.5, 1.0])
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = write_nifti(Path(d) / "v.nii.gz", vol.hu, vol.spacing_mm, vol.origin_mm)
        ras = np.asarray(nib.load(str(p)).affine, float)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras  # NIfTI is RAS, its array (x, y, z) = (i, j, k)
    np.testing.assert_allclose(lps[:, [2, 1, 0, 3]], vol.affine, atol=1e-5)
    # a direction other than the readers' canonical one turns the axes
    d = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    turned = CTVolume(hu=vol.hu, spacing_mm=vol.spacing_mm, origin_mm=vol.origin_mm, direction=d)
    np.testing.assert_allclose(turned.affine[:3, :3] @ [1.0, 0, 0], [0.0, 2.5, 0.0])
    _same(turned, volume_from_layer(_Layer(*ct_layer_data(turned)[:2])))
    np.testing.assert_allclose(volume_from_layer(_Layer(*ct_layer_data(turned)[:2])).affine,
                               turned.affine)
