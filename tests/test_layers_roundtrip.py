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
