"""``napari-plaque vessel`` on a synthetic vessel saved as NIfTI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.cli import main


@pytest.fixture(scope="module")
def study(vessel_study, lad_phantom):
    d, ct, csv = vessel_study(lad_phantom, "vessel")
    return d, ct, csv, lad_phantom


def test_vessel_json_from_points_csv_then_centreline(study, capsys):
    d, ct, csv, ph = study
    rc = main(["vessel", str(ct), "--centreline", str(csv), "--name", "LAD", "--json",
               "--roi-out", str(d / "roi.npy"), "--contours-out", str(d / "c.json"),
               "--centreline-out", str(d / "cl.json")])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["length_mm"] == pytest.approx(30.0, abs=1.0) and out["step_mm"] == 0.5
    assert out["profile"][0]["s_mm"] == 0
    (les,) = out["lesions"]
    for k in ("start_mm", "end_mm", "length_mm", "mla_mm2", "mld_mm", "reference_diameter_mm",
              "diameter_stenosis_pct", "area_stenosis_pct", "remodeling_index",
              "plaque_volume_mm3", "lipid_mm3", "fibrous_mm3", "calcium_mm3",
              "calcium_density_hu", "plaque_burden_pct"):
        assert les[k] is not None, k
    assert les["diameter_stenosis_pct"] == pytest.approx(50, abs=10)
    assert les["calcium_mm3"] > 0
    roi = np.load(d / "roi.npy")
    assert roi.shape == ph.volume.shape and roi.max() == 1
    # the saved centreline gives the same result, CSV output one row per lesion
    rc = main(["vessel", str(ct), "--centreline", str(d / "cl.json")])
    text = capsys.readouterr().out.splitlines()
    assert rc == 0 and text[0].startswith("vessel,index,start_mm") and len(text) == 2


def test_vessel_bad_input_exit_2(study, tmp_path, capsys):
    d, ct, csv, ph = study
    one = tmp_path / "one.csv"
    one.write_text("axis-0,axis-1,axis-2\n1,2,3\n")
    assert main(["vessel", str(ct), "--centreline", str(one)]) == 2
    assert "at least 2 points" in capsys.readouterr().err
    # a centreline from another scan
    from napari_plaque.ccta.centreline import Centreline

    other = Centreline(ph.vessels[0].user_points_mm, name="LAD",
                       source={"geometry_hash": "0" * 16, "shape": [1, 1, 1]})
    other.save(tmp_path / "other.json")
    roi = tmp_path / "roi.npy"
    assert main(["vessel", str(ct), "--centreline", str(tmp_path / "other.json"),
                 "--roi-out", str(roi)]) == 2
    assert "another scan" in capsys.readouterr().err
    assert not roi.exists()
    assert main(["vessel", str(ct), "--centreline", str(csv), "--roi-out", "x.txt"]) == 2


def test_vessel_centreline_from_a_label_map(study, capsys):
    d, ct, csv, ph = study
    np.save(d / "lumen.npy", (ph.labels == 1).astype(np.uint8))
    ost = " ".join(str(x) for x in ph.vessels[0].user_points_mm[0])
    rc = main(["vessel", str(ct), "--centreline", str(d / "lumen.npy"), "--ostium",
               *ost.split(), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    (les,) = out["lesions"]
    assert les["start_mm"] < 15.0 < les["end_mm"] + 1.0  # s = 0 at the ostium
    assert les["diameter_stenosis_pct"] == pytest.approx(50, abs=12)
