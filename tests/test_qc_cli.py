"""The `napari-plaque qc` and `napari-plaque agreement` subcommands."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.cli import main


def _pair(tmp_path):
    pred = np.zeros((6, 10, 10), np.uint8)
    ref = np.zeros_like(pred)
    ref[2:4, 2:6, 2:6] = 1
    pred[2:4, 2:6, 3:7] = 1
    pred[5, 8, 8] = 2  # false positive lesion of label 2
    np.save(tmp_path / "pred.npy", pred)
    np.save(tmp_path / "ref.npy", ref)
    return pred, ref


def test_qc_json_with_explicit_spacing(tmp_path, capsys):
    _pair(tmp_path)
    rc = main(
        [
            "qc",
            str(tmp_path / "pred.npy"),
            str(tmp_path / "ref.npy"),
            "--spacing",
            "2",
            "0.5",
            "0.5",
            "--json",
            "--out",
            str(tmp_path / "qc.json"),
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["labels"]) == {"1", "2"}
    m1 = out["labels"]["1"]
    for key in (
        "dice",
        "jaccard",
        "volume_pred_mm3",
        "volume_ref_mm3",
        "hd95_mm",
        "assd_mm",
        "sensitivity",
        "precision",
        "lesion_tp",
        "lesion_fp",
        "lesion_fn",
    ):
        assert key in m1
    assert m1["dice"] == pytest.approx(2 * 24 / 64)
    assert m1["volume_ref_mm3"] == pytest.approx(32 * 0.5)
    # label 2 only in pred: distances are infinite -> JSON null, flagged
    m2 = out["labels"]["2"]
    assert m2["hd95_mm"] is None and m2["ref_empty"] is True and m2["dice"] == 0.0
    assert [w["index"] for w in out["worst_slices"]] == [2, 3, 5]
    assert out["spacing_source"] == "--spacing"
    assert json.loads((tmp_path / "qc.json").read_text()) == out


def test_qc_spacing_from_nifti_and_warning_without(tmp_path, capsys):
    pred, ref = _pair(tmp_path)
    from napari_plaque.io.nifti import write_nifti

    write_nifti(tmp_path / "pred.nii.gz", pred, (3.0, 0.8, 0.8))
    write_nifti(tmp_path / "ref.nii.gz", ref, (3.0, 0.8, 0.8))
    assert main(["qc", str(tmp_path / "pred.nii.gz"), str(tmp_path / "ref.nii.gz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["spacing_mm"] == pytest.approx([3.0, 0.8, 0.8])
    assert out["labels"]["1"]["volume_ref_mm3"] == pytest.approx(32 * 3 * 0.64)
    # .npy without any spacing: 1 mm with a warning on stderr
    assert main(["qc", str(tmp_path / "pred.npy"), str(tmp_path / "ref.npy"), "--json"]) == 0
    cap = capsys.readouterr()
    assert "warning" in cap.err and "1 mm" in cap.err
    assert json.loads(cap.out)["spacing_mm"] == [1.0, 1.0, 1.0]


def test_qc_spacing_from_image(tmp_path, capsys):
    pred, _ = _pair(tmp_path)
    from napari_plaque.io.nifti import write_nifti

    write_nifti(tmp_path / "img.nii.gz", np.zeros(pred.shape, np.int16), (2.5, 0.4, 0.4))
    rc = main(
        [
            "qc",
            str(tmp_path / "pred.npy"),
            str(tmp_path / "ref.npy"),
            "--image",
            str(tmp_path / "img.nii.gz"),
            "--json",
        ]
    )
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["spacing_mm"] == pytest.approx([2.5, 0.4, 0.4])
    write_nifti(tmp_path / "small.nii.gz", np.zeros((2, 2, 2), np.int16), (1, 1, 1))
    rc = main(
        [
            "qc",
            str(tmp_path / "pred.npy"),
            str(tmp_path / "ref.npy"),
            "--image",
            str(tmp_path / "small.nii.gz"),
        ]
    )
    assert rc == 2
    assert "small.nii.gz" in capsys.readouterr().err


def test_qc_table_output_and_errors(tmp_path, capsys):
    _pair(tmp_path)
    assert (
        main(
            [
                "qc",
                str(tmp_path / "pred.npy"),
                str(tmp_path / "ref.npy"),
                "--spacing",
                "1",
                "1",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Dice" in out and "HD95 mm" in out and "worst slices" in out  # units in headers
    np.save(tmp_path / "other.npy", np.zeros((2, 2, 2), np.uint8))
    assert main(["qc", str(tmp_path / "pred.npy"), str(tmp_path / "other.npy")]) == 2
    assert "pred.npy" in capsys.readouterr().err
    assert main(["qc", str(tmp_path / "nope.npy"), str(tmp_path / "ref.npy")]) == 2
    assert "nope.npy" in capsys.readouterr().err


def test_qc_alines(tmp_path, capsys):
    ref = np.zeros((4, 16), bool)
    ref[1, 0:8] = True
    pred = ref.copy()
    pred[1, 7] = False
    pred[3, 0:2] = True
    np.save(tmp_path / "a.npy", pred)
    np.save(tmp_path / "b.npy", ref)
    assert main(["qc", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--alines", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["tp"], out["fp"], out["fn"]) == (7, 2, 1)
    assert [w["index"] for w in out["worst_frames"]] == [3, 1]
    assert out["ics_reference"] == pytest.approx(8 / 64 * 1000)


def test_agreement_cli(tmp_path, capsys):
    csv = tmp_path / "scores.csv"
    rows = ["case,auto,manual"] + [
        f"c{i},{a},{b}"
        for i, (a, b) in enumerate(
            [(0, 0), (12, 10), (150, 160), (320, 290), (510, 500), (90, 110), (0, 2), (405, 398)]
        )
    ]
    csv.write_text("\n".join(rows) + "\nc9,,4\n")
    rc = main(
        ["agreement", str(csv), "--a", "auto", "--b", "manual", "--categories", "cacdrs", "--json"]
    )
    assert rc == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["n"] == 8 and out["skipped_rows"] == 1 and "skipped" in cap.err
    assert out["icc"]["icc"] > 0.95
    assert out["categories"]["names"] == ["A0", "A1", "A2", "A3"]
    assert "kappa_linear" in out["categories"]
    assert out["bland_altman"]["bias"] == pytest.approx(np.mean([0, 2, -10, 30, 10, -20, -2, 7]))
    assert main(["agreement", str(csv), "--a", "auto", "--b", "manual"]) == 0
    assert "ICC(2,1)" in capsys.readouterr().out
    assert main(["agreement", str(csv), "--a", "auto", "--b", "zzz"]) == 2
    assert "scores.csv" in capsys.readouterr().err


def test_help_texts(capsys):
    for cmd in ("qc", "agreement"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        assert "--json" in capsys.readouterr().out


def test_agreement_two_tables_joined_on_study(tmp_path, capsys):
    a = tmp_path / "auto.csv"
    b = tmp_path / "manual.csv"
    a.write_text("study,agatston\ns1,0\ns2,120\ns3,410\ns4,35\nonly_a,5\n")
    b.write_text("study,agatston,volume\ns3,400,1\ns1,0,1\ns2,100,1\ns4,40,1\nfailed,,1\n")
    rc = main(
        [
            "agreement",
            str(a),
            "--a",
            "agatston",
            "--b",
            "agatston",
            "--b-table",
            str(b),
            "--categories",
            "cac3",
            "--json",
        ]
    )
    assert rc == 0
    cap = capsys.readouterr()
    out = json.loads(cap.out)
    assert out["cases"] == ["s1", "s2", "s3", "s4"]  # joined by id, not by row order
    assert out["bland_altman"]["bias"] == pytest.approx(np.mean([0, 20, 10, -5]))
    assert out["unmatched_cases"] == 1 and out["skipped_rows"] == 1
    assert "only one table" in cap.err
    assert out["categories"]["agreement"] == 1.0
