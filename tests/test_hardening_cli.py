"""Never a traceback from the CLI; reports can leave paths out; JSON never holds NaN."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pydicom
import pytest

from napari_plaque.cli import main
from napari_plaque.io.anon import PATHS_ENV


def _mutated(ct_small, tmp_path, name, edit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(ct_small)
        edit(ds)
        p = tmp_path / name
        ds.save_as(p)
    return p


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda ds: setattr(ds, "PixelSpacing", "0.5"), "PixelSpacing"),  # was TypeError
        (lambda ds: delattr(ds, "Rows"), "Rows"),  # was AttributeError
        (lambda ds: setattr(ds, "RescaleSlope", "nan"), "RescaleSlope"),  # was Agatston 0, A0
        (lambda ds: setattr(ds, "RescaleSlope", "0"), "RescaleSlope"),  # was silently 1
    ],
)
@pytest.mark.parametrize("command", ["info", "cac"])
def test_malformed_ct_exit_2_naming_file_and_tag(tmp_path, capsys, edit, words, command,
                                                 pydicom_testfile):
    p = _mutated(pydicom_testfile("CT_small.dcm"), tmp_path, "bad.dcm", edit)
    assert main([command, str(p)]) == 2
    err = capsys.readouterr().err
    assert "bad.dcm" in err and words in err and "Traceback" not in err


def test_malformed_nifti_exit_2(tmp_path, capsys):
    nib = pytest.importorskip("nibabel")
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4))
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    p = tmp_path / "nan.nii"
    nib.save(img, p)
    raw = bytearray(p.read_bytes())
    raw[80:84] = np.float32(np.nan).tobytes()  # pixdim[1]: the voxel size along i
    p.write_bytes(bytes(raw))
    assert main(["info", str(p)]) == 2
    assert "nan.nii" in capsys.readouterr().err
    q = tmp_path / "vox.nii.gz"
    data = np.zeros((4, 4, 4), np.float32)
    data[1, 2, 3] = np.inf
    nib.save(nib.Nifti1Image(data, np.eye(4)), q)
    assert main(["info", str(q)]) == 2
    assert "infinite voxels" in capsys.readouterr().err


def test_no_paths_leaves_paths_out_of_reports(tmp_path, capsys, pydicom_testfile):
    p = pydicom_testfile("CT_small.dcm")
    assert main(["info", str(p), "--json"]) == 0
    assert str(p) in capsys.readouterr().out
    assert main(["--no-paths", "info", str(p), "--json"]) == 0
    out = capsys.readouterr().out
    assert str(p) not in out and p.name not in out and "<path:" in out
    d = json.loads(out)
    assert d["path"].startswith("<path:")
    assert os.environ.get(PATHS_ENV) is None  # main restores the environment


def test_cli_json_has_null_and_reason_not_nan(capsys):
    from napari_plaque.cli._common import print_json

    print_json({"icc": float("nan"), "n": np.int64(3), "x": [np.float32("inf")]})
    out = capsys.readouterr().out
    assert "NaN" not in out and "Infinity" not in out
    d = json.loads(out)
    assert d["icc"] is None and d["n"] == 3 and d["null_values"]["keys"] == ["icc", "x[0]"]
