"""The npe2 reader inside napari: layers at physical scale, bad input as a notification."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque._napari.reader import get_reader
from napari_plaque.io.nifti import write_nifti


def test_get_reader_claims_only_what_it_reads(phantom_dir, tmp_path):
    assert get_reader(str(phantom_dir)) is not None
    (tmp_path / "a.txt").write_text("x")
    assert get_reader(str(tmp_path / "a.txt")) is None
    assert get_reader(str(tmp_path)) is None  # folder without DICOM


def test_open_phantom_in_viewer(make_napari_viewer, phantom_dir, phantom):
    viewer = make_napari_viewer()
    layers = viewer.open(str(phantom_dir), plugin="napari-plaque")
    assert len(layers) == 1
    layer = layers[0]
    assert layer.data.shape == (47, 512, 512)
    assert layer.data.dtype == np.int16
    np.testing.assert_allclose(layer.scale, (3.0, 0.488, 0.488))
    np.testing.assert_allclose(layer.translate, phantom.origin_mm)
    assert layer.name == "Cardiac 3.000"
    assert layer.metadata["kvp"] == 120
    assert "PatientName" not in repr(layer.metadata)


def test_mask_nifti_overlays_ct_layer(make_napari_viewer, phantom_dir, phantom, tmp_path):
    write_nifti(
        tmp_path / "m.nii.gz",
        (phantom.hu > 300).astype(np.uint8),
        phantom.spacing_mm,
        phantom.origin_mm,
    )
    viewer = make_napari_viewer()
    ct = viewer.open(str(phantom_dir), plugin="napari-plaque")[0]
    m = viewer.open(str(tmp_path / "m.nii.gz"), plugin="napari-plaque")[0]
    assert m._type_string == "labels"
    np.testing.assert_allclose(m.scale, ct.scale)
    np.testing.assert_allclose(m.translate, ct.translate, atol=1e-4)
    # world -> data coordinates agree voxel for voxel
    world = ct.data_to_world((20, 100, 200))
    np.testing.assert_allclose(m.world_to_data(world), (20, 100, 200), atol=1e-3)


def test_open_pullback_lazily(make_napari_viewer, make_pullback_file):
    p, frames = make_pullback_file(n_frames=30, size=64, seed=0, frame_time_s=0.05,
                                   pullback_rate_mm_s=0.5, pixel_spacing_mm=(0.02, 0.02))
    viewer = make_napari_viewer()
    layer = viewer.open(str(p), plugin="napari-plaque")[0]
    assert layer.data.shape == (30, 64, 64)
    np.testing.assert_allclose(layer.scale, (0.025, 0.02, 0.02))
    viewer.dims.set_point(0, layer.data_to_world((12, 0, 0))[0])
    np.testing.assert_array_equal(np.asarray(layer._slice.image.raw), frames[12])


def test_bad_file_notifies_without_crash(make_napari_viewer, tmp_path, monkeypatch):
    from napari_plaque._napari import viewer as napari_viewer

    messages = []
    monkeypatch.setattr(napari_viewer, "notify_error", messages.append)
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"garbage")
    viewer = make_napari_viewer()
    reader = get_reader(str(bad))
    out = reader(str(bad))
    assert out == [(None,)]
    assert messages and "broken.nii.gz" in messages[0] and "not a readable NIfTI" in messages[0]
    assert len(viewer.layers) == 0


@pytest.mark.parametrize("name", ["ccta", "ivus"])
def test_sample_data_opens(make_napari_viewer, name):
    viewer = make_napari_viewer()
    layers = viewer.open_sample("napari-plaque", name)
    assert layers
    for layer in layers:
        assert all(s > 0 for s in layer.scale)
        assert not np.allclose(layer.scale, 1.0)  # physical mm scale, not pixels


def test_viewer_tests_are_marked_gui(request):
    """conftest marks tests that use a viewer or qtbot as gui (this one uses neither)."""
    from _pytest.python import Function

    assert request.node.get_closest_marker("gui") is None
    conftest = next(p for p in request.config.pluginmanager.get_plugins()
                    if hasattr(p, "GUI_FIXTURES") and hasattr(p, "pytest_collection_modifyitems"))
    parent = request.node.parent
    viewer_test = Function.from_parent(parent, name="test_open_phantom_in_viewer")
    plain_test = Function.from_parent(parent, name="test_get_reader_claims_only_what_it_reads")
    conftest.pytest_collection_modifyitems(request.config, [viewer_test, plain_test])
    assert viewer_test.get_closest_marker("gui") is not None
    assert plain_test.get_closest_marker("gui") is None


def test_nifti_labels_and_image_layers(synthetic_ct, tmp_path):
    """An integer NIfTI of few values opens as labels, a CT as an image, both at mm scale."""
    from napari_plaque._napari.reader import read_layers

    lab = write_nifti(tmp_path / "lab.nii.gz", (synthetic_ct.hu > 300).astype(np.uint8),
                      synthetic_ct.spacing_mm, synthetic_ct.origin_mm)
    ct = write_nifti(tmp_path / "ct.nii.gz", synthetic_ct.hu, synthetic_ct.spacing_mm,
                     synthetic_ct.origin_mm)
    (data, attrs, kind), = read_layers(lab)
    assert kind == "labels" and int(data.sum()) == 2 * 4 * 4
    np.testing.assert_allclose(attrs["scale"], synthetic_ct.spacing_mm)
    (_, attrs, kind), = read_layers(ct)
    assert kind == "image"
    np.testing.assert_allclose(attrs["scale"], synthetic_ct.spacing_mm)
