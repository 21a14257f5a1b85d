"""``api.cac`` / ``api.composition`` against the CLI's ``--json`` and CSV (issue 23)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque import api
from napari_plaque.cli import main
from napari_plaque.io.nifti import write_nifti


@pytest.fixture(scope="module")
def sample(tmp_path_factory, synthetic_ccta):
    root = tmp_path_factory.mktemp("api_ccta")
    s = synthetic_ccta
    cac = s.cac_volume
    write_nifti(root / "cac.nii.gz", cac.hu, cac.spacing_mm, cac.origin_mm)
    write_nifti(root / "ccta.nii.gz", s.volume.hu, cac.spacing_mm, cac.origin_mm)
    np.save(root / "vessels.npy", s.vessel_labels)
    np.save(root / "plaques.npy", s.plaque_labels)
    return root, s


def _same_rows(cli_csv: str, res) -> None:
    """The CLI table's rows hold ``res.to_rows()`` (the cohort adds status/provenance columns)."""
    import csv
    import io

    got = list(csv.DictReader(io.StringIO(cli_csv)))
    want = list(csv.DictReader(io.StringIO(res.to_csv_text())))
    assert len(got) == len(want) > 0
    for g, w in zip(got, want, strict=True):
        assert {k: g[k] for k in w} == w


def _cli(capsys, argv):
    capsys.readouterr()
    assert main(argv) == 0, argv
    return capsys.readouterr()


def test_cac_equals_cli_json_and_csv(sample, capsys):
    root, s = sample
    argv = ["cac", str(root / "cac.nii.gz"), "--vessels", str(root / "vessels.npy")]
    res = api.cac(str(root / "cac.nii.gz"), vessels=str(root / "vessels.npy"))
    assert json.loads(_cli(capsys, [*argv, "--json"]).out) == json.loads(res.to_json_text())
    _same_rows(_cli(capsys, argv).out, res)
    assert res.to_dict()["agatston"] == pytest.approx(s.truth["cac"]["agatston"])
    # in memory: the same numbers (its metadata, e.g. kVp, is richer than the NIfTI's)
    mem = api.cac(s.cac_volume, vessels=s.vessel_labels, study_id="cac")
    drop = ("warnings",)
    assert ({k: v for k, v in mem.to_rows()[0].items() if k not in drop}
            == {k: v for k, v in res.to_rows()[0].items() if k not in drop})


def test_composition_equals_cli_json_and_csv(sample, capsys):
    root, s = sample
    ranges = {"lipid": (-100, 50), "fibrous": (50, 150), "calcium": (150, 1300)}
    argv = ["composition", str(root / "ccta.nii.gz"), "--roi", str(root / "plaques.npy"),
            "--vessels", str(root / "vessels.npy"),
            "--ranges", "lipid=-100:50", "fibrous=50:150", "calcium=150:1300"]
    res = api.composition(str(root / "ccta.nii.gz"), roi=str(root / "plaques.npy"),
                          vessels=str(root / "vessels.npy"), ranges=ranges)
    out = _cli(capsys, [*argv, "--json"])
    assert json.loads(out.out) == json.loads(res.to_json_text())
    assert res.to_dict()["warnings"] == res.warnings
    for w in res.warnings:  # the calcium cap's note: on stderr too
        assert w in out.err
    _same_rows(_cli(capsys, argv).out, res)
    per = api.composition(str(root / "ccta.nii.gz"), roi=str(root / "plaques.npy"),
                          per_plaque=True)
    _same_rows(_cli(capsys, argv[:4] + ["--per-plaque"]).out, per)
    assert len(per.to_rows()) == len(per.plaques) > 1


def test_composition_warnings_on_stderr_and_json(sample, capsys):
    """A low calcium cap removes voxels: the note is in the JSON and on stderr."""
    root, _ = sample
    argv = ["composition", str(root / "ccta.nii.gz"), "--roi", str(root / "plaques.npy"),
            "--ranges", "calcium=150:300", "--json"]
    out = _cli(capsys, argv)
    d = json.loads(out.out)
    assert d["warnings"], "a 300 HU cap removes the bright calcium"
    assert d["warnings"][0] in out.err


def test_bad_inputs_name_the_file(sample, tmp_path):
    root, _ = sample
    np.save(tmp_path / "small.npy", np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="small.npy"):
        api.cac(str(root / "cac.nii.gz"), roi=str(tmp_path / "small.npy"))
    with pytest.raises(ValueError, match="no plaque labels"):
        api.composition(str(root / "ccta.nii.gz"), roi=None)
    with pytest.raises(ValueError, match="needs --rod-roi"):
        api.cac(str(root / "cac.nii.gz"), water_roi=str(tmp_path / "small.npy"))
    with pytest.raises(ValueError, match="only"):
        api.cac(str(root / "cac.nii.gz"), accept=["bogus"])


def test_cac_equals_cli_on_the_qrm_phantom(phantom_dir, capsys, tmp_path):
    """The real phantom (DICOM) with --sr: the same report and the same SR values."""
    from napari_plaque.io.sr import read_sr

    res = api.cac(str(phantom_dir), sr=str(tmp_path / "api.dcm"))
    out = _cli(capsys, ["cac", str(phantom_dir), "--json", "--sr", str(tmp_path / "cli.dcm")])
    assert json.loads(out.out) == json.loads(res.to_json_text())
    assert read_sr(tmp_path / "api.dcm")["groups"] == read_sr(tmp_path / "cli.dcm")["groups"]
    assert res.warnings == res.to_dict()["warnings"] and res.protocol is not None


def test_cohort_task_calls_the_api(sample, tmp_path, capsys):
    """A manifest study's row == api.cac with the manifest's inputs (no Namespace)."""
    root, _ = sample
    man = tmp_path / "m.csv"
    man.write_text(f"study_id,path,vessels\nS1,{root / 'cac.nii.gz'},{root / 'vessels.npy'}\n")
    _cli(capsys, ["cac", "--manifest", str(man), "--out", str(tmp_path / "t.csv")])
    import csv

    with open(tmp_path / "t.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    res = api.cac(str(root / "cac.nii.gz"), vessels=str(root / "vessels.npy"), study_id="S1")
    assert row["study"] == "S1"
    assert float(row["agatston"]) == pytest.approx(res.to_rows()[0]["agatston"])


def test_cac_sr_reads_the_series_once(tmp_path, monkeypatch):
    """``cac --sr``: the SR's source headers come from the one read of the series."""
    from _interop_util import make_series
    from napari_plaque.io import seg
    from napari_plaque.io.sr import read_sr

    folder = make_series(tmp_path / "ct")

    def second_read(*a, **k):
        raise AssertionError("the series headers were read a second time")

    monkeypatch.setattr(seg, "_read_headers", second_read)
    res = api.cac(str(folder), sr=str(tmp_path / "out.dcm"))
    total = read_sr(tmp_path / "out.dcm")["groups"][0]["measurements"]["Calcium score"]["value"]
    assert total == pytest.approx(res.to_dict()["agatston"])


def test_mask_folder_is_looked_up_by_study_id(sample, tmp_path, capsys):
    """Manifest studies ``A/study`` and ``B/study``: a --vessels folder holds ``A.npy`` and
    ``B.npy`` (by id); a shared ``study.npy`` is not used for both."""
    import shutil

    root, s = sample
    for sid in ("A", "B"):
        (tmp_path / sid).mkdir()
        shutil.copy(root / "cac.nii.gz", tmp_path / sid / "study.nii.gz")
    masks = tmp_path / "vessels"
    masks.mkdir()
    np.save(masks / "A.npy", s.vessel_labels)
    np.save(masks / "B.npy", np.zeros_like(s.vessel_labels))  # B: no vessel labelled
    man = tmp_path / "m.csv"
    man.write_text("study_id,path\nA,A/study.nii.gz\nB,B/study.nii.gz\n")
    out = _cli(capsys, ["cac", "--manifest", str(man), "--vessels", str(masks), "--json"])
    by = {d["study"]: d for d in json.loads(out.out)}
    assert by["A"]["per_vessel"]["RCA"]["agatston"] > 0
    assert by["B"]["per_vessel"]["RCA"]["agatston"] == 0
    np.save(masks / "study.npy", s.vessel_labels)  # a folder-named file is not enough
    (masks / "B.npy").unlink()
    capsys.readouterr()
    assert main(["cac", "--manifest", str(man), "--vessels", str(masks), "--json"]) == 1
    err = capsys.readouterr()
    assert "no vessel labels for study 'B'" in err.out + err.err
