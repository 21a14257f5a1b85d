"""NIfTI reader: masks exported by other tools overlay the DICOM series exactly."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from napari_plaque.io import ReaderError, read_labels, read_nifti
from napari_plaque.io.nifti import write_nifti


def _sitk_export(phantom_dir, out):
    sitk = pytest.importorskip("SimpleITK")
    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(phantom_dir)))
    im = r.Execute()
    mask = sitk.BinaryThreshold(im, 130, 5000, 1, 0)  # what a segmentation tool would write
    sitk.WriteImage(sitk.Cast(mask, sitk.sitkUInt8), str(out))
    return im


def test_simpleitk_mask_overlays_dicom(phantom_dir, phantom, tmp_path):
    _sitk_export(phantom_dir, tmp_path / "mask.nii.gz")
    m = read_nifti(tmp_path / "mask.nii.gz")
    assert m.shape == phantom.shape
    assert m.spacing_mm == pytest.approx(phantom.spacing_mm, abs=1e-6)
    assert m.origin_mm == pytest.approx(phantom.origin_mm, abs=1e-4)
    np.testing.assert_array_equal(m.hu.astype(bool), phantom.hu >= 130)


@pytest.mark.parametrize(
    "codes", [("R", "A", "S"), ("L", "A", "S"), ("P", "L", "I"), ("S", "R", "A")]
)
def test_any_axis_aligned_orientation_maps_back(phantom_dir, phantom, tmp_path, codes):
    """nnU-Net/TotalSegmentator/Slicer may write RAS, LAS or permuted axes: same result."""
    _sitk_export(phantom_dir, tmp_path / "mask.nii.gz")
    img = nib.load(tmp_path / "mask.nii.gz")
    target = nib.orientations.axcodes2ornt(codes)
    cur = nib.orientations.io_orientation(img.affine)
    re = img.as_reoriented(nib.orientations.ornt_transform(cur, target))
    nib.save(re, tmp_path / "re.nii.gz")
    m = read_nifti(tmp_path / "re.nii.gz")
    np.testing.assert_array_equal(m.hu.astype(bool), phantom.hu >= 130)
    assert m.origin_mm == pytest.approx(phantom.origin_mm, abs=1e-3)


def test_write_read_roundtrip_and_labels(tmp_path):
    lab = np.zeros((5, 6, 7), np.int16)
    lab[1:3, 2:4, 3:6] = 2
    lab[4, 0, 0] = 7
    write_nifti(tmp_path / "l.nii.gz", lab, (2.0, 0.5, 0.7), (10.0, -5.0, 3.0))
    v = read_nifti(tmp_path / "l.nii.gz")
    np.testing.assert_array_equal(v.hu, lab)
    assert v.spacing_mm == pytest.approx((2.0, 0.5, 0.7))
    assert v.origin_mm == pytest.approx((10.0, -5.0, 3.0))
    np.testing.assert_array_equal(read_labels(tmp_path / "l.nii.gz"), lab)
    np.save(tmp_path / "l.npy", lab)
    np.testing.assert_array_equal(read_labels(tmp_path / "l.npy"), lab)


def test_bad_nifti(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ReaderError, match=r"bad\.nii\.gz: not a readable NIfTI"):
        read_nifti(bad)
    aff = np.eye(4)
    aff[:3, :3] = [[0.9, 0.43, 0], [-0.43, 0.9, 0], [0, 0, 1]]
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.uint8), aff), tmp_path / "obl.nii")
    with pytest.raises(ReaderError, match="oblique"):
        read_nifti(tmp_path / "obl.nii")
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3, 2), np.uint8), np.eye(4)), tmp_path / "4d.nii")
    with pytest.raises(ReaderError, match="3D"):
        read_nifti(tmp_path / "4d.nii")
    np.save(tmp_path / "f.npy", np.array([[0.5]]))
    with pytest.raises(ReaderError, match="non-integer"):
        read_labels(tmp_path / "f.npy")
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(ReaderError, match=r"x\.txt: label maps must be \.npy or NIfTI"):
        read_labels(tmp_path / "x.txt")
