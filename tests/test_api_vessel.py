"""``api.vessel`` equals ``napari-plaque vessel`` (issue 23): the same JSON and CSV rows."""

from __future__ import annotations

import csv
import io
import json

import pytest

from napari_plaque import api
from napari_plaque.cli import main


@pytest.fixture(scope="module")
def study(vessel_study, short_lad_phantom):
    d, ct, pcsv = vessel_study(short_lad_phantom, "api_vessel")
    return d, ct, pcsv, short_lad_phantom


def test_api_vessel_equals_the_cli_json_and_csv(study, capsys):
    d, ct, pcsv, ph = study
    res = api.vessel(ct, pcsv, name="LAD", step_mm=1.0)
    assert isinstance(res, api.Result) and res.analysis is not None
    assert main(["vessel", str(ct), "--centreline", str(pcsv), "--name", "LAD",
                 "--step-mm", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(res.to_json_text())
    assert main(["vessel", str(ct), "--centreline", str(pcsv), "--name", "LAD",
                 "--step-mm", "1"]) == 0
    text = capsys.readouterr().out
    assert text == res.to_csv_text()
    assert len(list(csv.DictReader(io.StringIO(text)))) == len(res.to_rows()) == 1
    # an in-memory volume gives the same numbers
    same = api.vessel(ph.volume, pcsv, name="LAD", step_mm=1.0)
    assert same.to_json_text() == res.to_json_text()


def test_api_vessel_bad_input_names_the_file(study, tmp_path):
    d, ct, pcsv, ph = study
    one = tmp_path / "one.csv"
    one.write_text("axis-0,axis-1,axis-2\n1,2,3\n")
    with pytest.raises(ValueError, match="one.csv"):
        api.vessel(ct, one)
    with pytest.raises(ValueError, match="x.txt"):
        api.vessel(ct, pcsv, roi_out="x.txt")
    with pytest.raises((ValueError, OSError), match="missing.nii.gz"):
        api.vessel(tmp_path / "missing.nii.gz", pcsv)
