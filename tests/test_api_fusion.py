"""``api.fuse`` equals ``napari-plaque fuse`` (issue 23): the same JSON and CSV rows."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from napari_plaque import api
from napari_plaque.cli import main
from napari_plaque.fusion.synthetic import make_case


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    from napari_plaque.fusion.synthetic import write_case_files

    d = tmp_path_factory.mktemp("api_fuse")
    case = make_case(np.random.default_rng(5), n_lesions=2, mm_per_frame=0.2,
                     attenuated=[True, False])  # fmt: skip
    paths = write_case_files(case, d, frame_size=48)
    vj = d / "vessel.json"
    vj.write_text(json.dumps({"vessel": "LAD", "length_mm": case.centreline_length_mm,
                              "lesions": case.lesions}))
    return case, d, paths["landmarks"], vj


def test_api_fuse_equals_the_cli_json_and_csv(paired, capsys, tmp_path):
    case, d, landmarks, vj = paired
    res = api.fuse(pullback=d / "pullback.dcm", landmark=landmarks, vessel_json=vj,
                   arcs=d / "arcs.json", patient="P1")
    assert isinstance(res, api.fusion.FuseResult) and res.join is not None
    argv = ["fuse", "--vessel-json", str(vj), "--pullback", str(d / "pullback.dcm"),
            "--arcs", str(d / "arcs.json"), "--patient", "P1", "--csv", str(tmp_path / "f.csv")]
    for lm in landmarks:
        argv += ["--landmark", lm]
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(res.to_json_text())
    assert (tmp_path / "f.csv").read_text() == res.to_csv_text()
    with open(tmp_path / "f.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(res.to_rows()) == len(case.lesions)
    # a Pullback in memory: the same lesions and frames
    from napari_plaque.io import read_pullback

    mem = api.fuse(pullback=read_pullback(d / "pullback.dcm"), landmark=landmarks,
                   vessel_json=vj, arcs=d / "arcs.json", patient="P1")
    assert mem.to_rows() == res.to_rows()


def test_api_fuse_bad_input_names_the_file(paired, tmp_path):
    case, d, landmarks, vj = paired
    with pytest.raises(ValueError, match="--landmark"):
        api.fuse(pullback=d / "pullback.dcm", vessel_json=vj)
    with pytest.raises((ValueError, OSError), match="nope.dcm"):
        api.fuse(pullback=tmp_path / "nope.dcm", landmark=landmarks, vessel_json=vj)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        api.fuse(pullback=d / "pullback.dcm", landmark=landmarks, vessel_json=bad)
