"""`napari-plaque cac` and `napari-plaque composition` on synthetic NIfTI/npy studies."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from napari_plaque.cli import main
from napari_plaque.io.nifti import write_nifti


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, synthetic_ccta):
    """Two studies: the synthetic non-contrast volume and a copy with a rod added."""
    root = tmp_path_factory.mktemp("cohort")
    s = synthetic_ccta
    cac = s.cac_volume
    studies = root / "studies"
    write_nifti(studies / "s1.nii.gz", cac.hu, cac.spacing_mm, cac.origin_mm)
    hu2 = cac.hu.copy()
    hu2[:10, 170:190, 170:190] = 300  # a "rod" of 300 HU in a corner
    write_nifti(studies / "s2.nii.gz", hu2, cac.spacing_mm, cac.origin_mm)
    np.save(root / "vessels.npy", s.vessel_labels)
    np.save(root / "plaques.npy", s.plaque_labels)
    roi = np.ones(cac.hu.shape, np.uint8)
    roi[:, 165:, 165:] = 0  # excludes the rod region
    np.save(root / "roi.npy", roi)
    rod = np.zeros(cac.hu.shape, np.uint8)
    rod[:10, 172:188, 172:188] = 1
    np.save(root / "rod.npy", rod)
    write_nifti(root / "ccta.nii.gz", s.volume.hu, cac.spacing_mm, cac.origin_mm)
    return root, s


def test_cac_json_single_study(cohort, capsys):
    root, s = cohort
    rc = main(
        ["cac", str(root / "studies/s1.nii.gz"), "--vessels", str(root / "vessels.npy"), "--json"]
    )
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    for k in ("agatston", "volume_mm3", "mass_mg", "n_lesions", "cac_drs", "category",
              "per_vessel", "lesions", "parameters"):  # fmt: skip
        assert k in d
    t = s.truth["cac"]
    assert d["agatston"] == pytest.approx(t["agatston"])
    assert d["n_lesions"] == t["n_lesions"]
    assert d["mass_mg"] is None
    assert d["per_vessel"]["RCA"]["agatston"] == pytest.approx(t["per_vessel_agatston"][4])
    assert d["cac_drs"] == "A2/N2" and d["category"] == "100-399"
    assert d["parameters"]["threshold_hu"] == 130


def test_cac_cohort_csv_with_rod_calibration(cohort, capsys, tmp_path):
    root, s = cohort
    out = tmp_path / "cac.csv"
    args = ["cac", str(root / "studies"), "--roi", str(root / "roi.npy"), "--rod-roi",
            str(root / "rod.npy"), "--rod-density", "200", "--csv", str(out)]  # fmt: skip
    assert main(args) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["study"] for r in rows] == ["s1", "s2"]
    # the rod is outside the ROI: both studies score the same
    assert float(rows[0]["agatston"]) == pytest.approx(s.truth["cac"]["agatston"], abs=1e-3)
    assert rows[0]["agatston"] == rows[1]["agatston"]
    # s1 has no rod (40 HU there): its mass calibration is still defined (rod 40 HU > water 0)
    m2 = float(rows[1]["mass_mg"])
    les = s.truth["lesions"]
    expect = 0.2 / 300 * sum(x["volume_mm3"] * x["mean_hu"] for x in les)
    assert m2 == pytest.approx(expect, abs=1e-3)


def test_cac_stdout_csv_and_bad_roi_shape(cohort, capsys, tmp_path):
    root, _ = cohort
    assert main(["cac", str(root / "studies/s1.nii.gz")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("study,agatston,volume_mm3,mass_mg") and len(out) == 2
    bad = tmp_path / "bad.npy"
    np.save(bad, np.ones((3, 3, 3), np.uint8))
    assert main(["cac", str(root / "studies/s1.nii.gz"), "--roi", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.npy" in err and "does not match" in err


def test_cac_empty_rod_and_missing_file(cohort, capsys, tmp_path):
    root, _ = cohort
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros(np.load(root / "rod.npy").shape, np.uint8))
    assert main(["cac", str(root / "studies/s1.nii.gz"), "--rod-roi", str(empty)]) == 2
    assert "rod ROI is empty" in capsys.readouterr().err
    assert main(["cac", str(tmp_path / "nope.nii.gz")]) == 2
    assert "nope.nii.gz" in capsys.readouterr().err


def test_composition_json_and_ranges(cohort, capsys):
    root, s = cohort
    args = ["composition", str(root / "ccta.nii.gz"), "--roi", str(root / "plaques.npy"),
            "--vessels", str(root / "vessels.npy"), "--json"]  # fmt: skip
    assert main(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert [p["label"] for p in d["plaques"]] == [1, 2, 3, 4, 5]
    p3 = d["plaques"][2]
    t3 = s.truth["plaques"][3]
    assert p3["calcium_mm3"] == pytest.approx(t3["calcium_mm3"])
    assert p3["calcium_pct"] == pytest.approx(t3["calcium_pct"])
    assert p3["calcium_mean_hu"] == pytest.approx(1100)
    assert p3["plaque_burden_pct"] == pytest.approx(t3["plaque_burden_pct"])
    assert d["parameters"]["ranges_hu"]["calcium"] == [150.0, 1300.0]
    # widening the calcium range swallows the metal voxels
    args = ["composition", str(root / "ccta.nii.gz"), "--roi", str(root / "plaques.npy"),
            "--ranges", "calcium=150:3000", "--json"]  # fmt: skip
    assert main(args) == 0
    p3b = json.loads(capsys.readouterr().out)["plaques"][2]
    assert p3b["n_outside"] == 0 and p3b["calcium_mm3"] > p3["calcium_mm3"]


def test_composition_csv_rows_and_bad_ranges(cohort, capsys):
    root, s = cohort
    args = ["composition", str(root / "ccta.nii.gz"), "--roi", str(root / "plaques.npy")]
    assert main(args) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["n_plaques"] == "5"
    total_ca = sum(p["calcium_mm3"] for p in s.truth["plaques"].values())
    assert float(rows[0]["calcium_mm3"]) == pytest.approx(total_ca, abs=1e-3)
    assert main(args + ["--per-plaque"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 6
    assert main(args + ["--ranges", "lipid=oops"]) == 2
    assert "--ranges" in capsys.readouterr().err


def test_help_for_each_subcommand(capsys):
    for cmd in ("cac", "composition"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "--json" in capsys.readouterr().out


def test_composition_empty_roi_gives_zero_row(cohort, capsys, tmp_path):
    root, _ = cohort
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros(np.load(root / "plaques.npy").shape, np.uint8))
    assert main(["composition", str(root / "ccta.nii.gz"), "--roi", str(empty), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["plaques"] == []
    assert main(["composition", str(root / "ccta.nii.gz"), "--roi", str(empty)]) == 0
    row = next(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["n_plaques"] == "0" and float(row["volume_mm3"]) == 0 and row["calcium_pct"] == ""


def test_cohort_with_a_bad_study_reports_it_and_exits_1(cohort, capsys, tmp_path):
    root, s = cohort
    studies = tmp_path / "studies"
    studies.mkdir()
    (studies / "broken.nii.gz").write_bytes(b"not a nifti file")
    cac = s.cac_volume
    write_nifti(studies / "good.nii.gz", cac.hu, cac.spacing_mm, cac.origin_mm)
    assert main(["cac", str(studies)]) == 1
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [r["study"] for r in rows] == ["broken", "good"]
    assert "broken.nii.gz" in rows[0]["error"] and rows[1]["error"] == ""
    assert float(rows[1]["agatston"]) == pytest.approx(s.truth["cac"]["agatston"], abs=1e-3)
    assert "1 of 2 studies failed" in captured.err
