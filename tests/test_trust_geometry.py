"""Issue 22 item 10: centreline and label-map geometry are checked, never ignored.

A lumen label map on another grid than the CT is refused (same shape is not the same grid); an
all-ones mask is not a vessel; a centreline JSON in cm or in x, y, z order is converted (or
refused when its units / axes are unknown) by the one loader every command uses.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

from napari_plaque.ccta.centreline import Centreline, load_centreline_any
from napari_plaque.io.errors import FormatError
from napari_plaque.io.nifti import write_nifti


def _cli(*args) -> tuple[int, str, str]:
    from napari_plaque.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def study(tmp_path_factory, short_lad_phantom):
    d = tmp_path_factory.mktemp("geom")
    ph = short_lad_phantom
    v = ph.volume
    ct = write_nifti(d / "ct.nii.gz", v.hu, v.spacing_mm, v.origin_mm)
    return d, ct, ph


def test_label_map_on_another_grid_is_refused(study):
    d, ct, ph = study
    v = ph.volume
    lumen = (ph.labels == 1).astype(np.uint8)
    same = write_nifti(d / "lumen.nii.gz", lumen, v.spacing_mm, v.origin_mm)
    rc, out, _ = _cli("vessel", ct, "--centreline", same, "--json")
    assert rc == 0 and json.loads(out)["lesions"]
    other = write_nifti(d / "lumen_other.nii.gz", lumen,
                        tuple(s * 1.5 for s in v.spacing_mm), v.origin_mm)
    rc, out, err = _cli("vessel", ct, "--centreline", other, "--json")
    assert rc == 2 and "lumen_other.nii.gz" in err and "voxel size" in err and not out
    moved = write_nifti(d / "lumen_moved.nii.gz", lumen, v.spacing_mm,
                        tuple(o + 5.0 for o in v.origin_mm))
    rc, _, err = _cli("vessel", ct, "--centreline", moved)
    assert rc == 2 and "origin" in err


def test_npy_label_map_is_noted_on_stderr(study):
    d, ct, ph = study
    np.save(d / "lumen.npy", (ph.labels == 1).astype(np.uint8))
    rc, _, err = _cli("vessel", ct, "--centreline", d / "lumen.npy")
    assert rc == 0 and "carries no voxel size" in err


def test_all_ones_mask_is_not_a_vessel(study):
    d, ct, ph = study
    v = ph.volume
    ones = write_nifti(d / "ones.nii.gz", np.ones(v.shape, np.uint8), v.spacing_mm, v.origin_mm)
    rc, out, err = _cli("vessel", ct, "--centreline", ones, "--json")
    assert rc == 2 and "ones.nii.gz" in err and "not a vessel" in err and not out


def _doc(points, **extra):
    d = {"format": "napari-plaque-centreline", "version": 1, "name": "LAD", "step_mm": 0.5,
         "source": {}, "points_mm": np.asarray(points).tolist()}
    d.update(extra)
    return d


def test_centreline_units_and_axes_are_honoured(tmp_path):
    zyx = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 2.0], [2.0, 1.5, 2.0]])
    p = tmp_path / "mm.json"
    p.write_text(json.dumps(_doc(zyx)))
    ref = Centreline.load(p)
    p_cm = tmp_path / "cm.json"
    p_cm.write_text(json.dumps(_doc(zyx / 10.0, units="cm", step_mm=0.05)))
    cm = Centreline.load(p_cm)
    np.testing.assert_allclose(cm.points_mm, ref.points_mm)
    assert cm.step_mm == pytest.approx(0.5)
    p_xyz = tmp_path / "xyz.json"
    p_xyz.write_text(json.dumps(_doc(zyx[:, ::-1], axes=["x", "y", "z"])))
    cl, _ = load_centreline_any(p_xyz)
    np.testing.assert_allclose(cl.points_mm, ref.points_mm)


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"units": "inch"}, "'units' is 'inch'"),
        ({"units": 3}, "'units' is 3"),
        ({"axes": ["x", "y"]}, "'axes'"),
        ({"axes": ["a", "b", "c"]}, "'axes'"),
        ({"axes": "zyx"}, "'axes'"),
    ],
)
def test_centreline_unknown_units_or_axes_are_refused(tmp_path, extra, match):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(_doc([[0, 0, 0], [1, 0, 0]], **extra)))
    with pytest.raises(FormatError, match=r"bad\.json: " + match):
        Centreline.load(p)


def test_deep_json_and_bad_points_name_the_file(study, tmp_path):
    d, ct, ph = study
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    rc, _, err = _cli("vessel", ct, "--centreline", deep)
    assert rc == 2 and "deep.json" in err and "nested too deeply" in err
    one = tmp_path / "one.csv"
    one.write_text("axis-0,axis-1,axis-2\n1,2,3\n")
    rc, _, err = _cli("vessel", ct, "--centreline", one)
    assert rc == 2 and "one.csv" in err and "at least 2 points" in err
