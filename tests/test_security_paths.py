"""Per-study output names never leave their folder, and never replace a file (issue 22.1).

A manifest ``study_id`` names each study's output files (``<folder>/<study_id><suffix>``):
ids that are empty, absolute or hold ``/``, ``\\``, ``..`` or a control character are refused
when the manifest is read (exit 2, the message names the manifest, the line and the id);
:func:`napari_plaque.io.atomic.safe_child` checks each resolved output path; a cohort never
replaces a file it did not write unless ``--overwrite`` is given (that study's error row).

Every per-study writer (``vessel --roi-out``, ``predict-arcs --out``, ``predict --out``,
``ivus-vessel --contours-out``, ``cac`` / ``composition --sr FOLDER``) names its files through
``napari_plaque.cohort.cli.study_output``.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pytest

from napari_plaque.cli import main
from napari_plaque.cohort import read_manifest, studies_from_paths
from napari_plaque.cohort.study import check_study_id
from napari_plaque.io.atomic import name_problem, safe_child
from napari_plaque.io.nifti import write_nifti

BAD_IDS = [
    "../../ivus.dcm",
    "../x",
    "..",
    ".",
    "a/b",
    "a\\b",
    "/tmp/abs",
    "C:evil",
    "a\x01b",
    "tab\there",
    "del\x7f",
]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def ct(tmp_path):
    hu = np.full((4, 16, 16), -50, np.float32)
    hu[1:3, 5:9, 5:9] = 350
    p = tmp_path / "data" / "ct.nii.gz"
    write_nifti(p, hu, (3.0, 0.5, 0.5))
    return p


# ------------------------------------------------------------------------ the one name rule
@pytest.mark.parametrize("sid", BAD_IDS)
def test_name_problem_refuses_what_could_leave_the_folder(sid):
    assert name_problem(sid) is not None
    with pytest.raises(ValueError, match="plain file name"):
        check_study_id(sid, "m.csv, line 2")


@pytest.mark.parametrize("sid", ["p01", "Patient 7", "a.b", "é-ü_1", ".hidden", "x.nii"])
def test_plain_ids_pass(sid):
    assert name_problem(sid) is None and check_study_id(sid, "x") == sid


def test_safe_child_inside_symlink_and_existing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert safe_child(out, "s1.csv") == out / "s1.csv"
    with pytest.raises(ValueError, match="refused"):
        safe_child(out, "../s1.csv")
    with pytest.raises(ValueError, match="refused"):
        safe_child(out, str(tmp_path / "abs.csv"))
    os.symlink(tmp_path / "victim.csv", out / "link.csv")  # a planted link leads outside
    with pytest.raises(ValueError, match="outside the output folder"):
        safe_child(out, "link.csv", overwrite=True)
    (out / "old.csv").write_text("theirs")
    with pytest.raises(FileExistsError, match="--overwrite"):
        safe_child(out, "old.csv")
    assert safe_child(out, "old.csv", overwrite=True) == out / "old.csv"
    assert not (tmp_path / "victim.csv").exists()


# ------------------------------------------------------------------------------ manifests
@pytest.mark.parametrize("sid", ["../../ivus.dcm", "/tmp/abs.dcm", "a\\b", "x/..", ".."])
def test_manifest_refuses_bad_ids_naming_manifest_line_and_id(ct, tmp_path, sid):
    man = tmp_path / "m.csv"
    man.write_text(f"study_id,path\nok,{ct}\n{sid},{ct}\n")
    with pytest.raises(ValueError) as exc:
        read_manifest(man)
    msg = str(exc.value)
    assert str(man) in msg and "line 3" in msg and repr(sid) in msg


def test_manifest_control_character_in_an_id_is_refused(ct, tmp_path):
    man = tmp_path / "m.csv"
    man.write_text(f'study_id,path\n"a\nb",{ct}\n')
    with pytest.raises(ValueError, match=r"line 2: study id 'a\\nb' holds a control"):
        read_manifest(man)


def test_a_newline_inside_a_manifest_path_is_refused_not_dropped(ct, tmp_path):
    """``csv`` over ``splitlines()`` joined a quoted cell's lines: ``da\\nta`` became ``data``
    (another file, silently). The newline is kept and refused, naming the line."""
    man = tmp_path / "m.csv"
    bad = str(ct).replace("data", "da\nta")
    man.write_text(f'study_id,path\nok,{ct}\nsecond,"{bad}"\nthird,{ct}\n')
    with pytest.raises(ValueError, match=r"m\.csv, line 3: column 'path' holds a control"):
        read_manifest(man)
    man.write_text(f'study_id,path,roi\nok,{ct},"r\n.npy"\n')  # per-study input paths too
    with pytest.raises(ValueError, match="column 'roi'"):
        read_manifest(man, columns=("roi",))
    # line numbers still count the physical lines after a multi-line value column
    man.write_text(f'study_id,path,note\nok,{ct},"two\nlines"\n../x,{ct},\n')
    with pytest.raises(ValueError, match="line 4"):
        read_manifest(man, values=("note",))


def test_a_path_folder_name_that_is_no_plain_name_is_refused(tmp_path):
    d = tmp_path / "co\nhort"
    d.mkdir()
    write_nifti(d / "s.nii.gz", np.zeros((2, 4, 4), np.float32), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="control character"):
        studies_from_paths([d], expand_folders=False)


def test_cli_exit_2_and_the_file_beside_the_study_is_untouched(ct, tmp_path, capsys):
    victim = ct.parent / "ivus.dcm"
    victim.write_bytes(b"hand-made")
    man = tmp_path / "m.csv"
    man.write_text(f"study_id,path\n../data/ivus.dcm,{ct}\n")
    assert main(["cac", "--manifest", str(man), "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert str(man) in err and "line 2" in err and "'../data/ivus.dcm'" in err
    assert victim.read_bytes() == b"hand-made" and not (tmp_path / "t.csv").exists()


# ------------------------------------------------------------- per-study outputs: overwrite
def _ivus_frames(tmp_path):
    from PIL import Image

    from napari_plaque.ivus.vessel_synthetic import make_vessel_frames

    frames, truth = make_vessel_frames(n_frames=4, size=96, seed=5, field_of_view_mm=6.0)
    d = tmp_path / "pb5"
    d.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(d / f"{i}.png")
    px = str(truth["pixel_spacing_mm"][0])
    return d, ["--pixel-mm", px, "--frame-rate", "30", "--pullback-mm-s", "0.5", "--no-mask"]


def test_ivus_vessel_contours_out_never_replaces_a_file_unless_overwrite(tmp_path, capsys):
    d, opts = _ivus_frames(tmp_path)
    cont = tmp_path / "contours"
    cont.mkdir()
    theirs = cont / "pb5.contours.csv"
    theirs.write_text("hand-made")
    table = tmp_path / "iv.csv"
    args = ["ivus-vessel", str(d), *opts, "--contours-out", str(cont), "--table", str(table)]
    assert main([*args, "--record-paths"]) == 2  # one pullback: its error stops the command
    assert "exists and was not written by this run" in capsys.readouterr().err
    assert theirs.read_text() == "hand-made" and not table.exists()
    man = tmp_path / "one.csv"  # in a cohort: that study's error row, exit 1
    man.write_text(f"study_id,path\npb5,{d}\n")
    cohort = ["ivus-vessel", "--manifest", str(man), *opts, "--contours-out", str(cont),
              "--table", str(table)]  # fmt: skip
    assert main(cohort) == 1
    row = _rows(table.read_text())[0]
    assert row["status"] == "error" and "--overwrite" in row["error"]
    assert theirs.read_text() == "hand-made"
    assert main([*cohort, "--overwrite"]) == 0
    assert theirs.read_text().startswith("frame,contour")
    # a manifest id that leaves the folder is refused before anything runs
    man = tmp_path / "m.csv"
    man.write_text(f"study_id,path\n../pb5/0.png,{d}\n")
    before = (d / "0.png").read_bytes()
    assert main(["ivus-vessel", "--manifest", str(man), *opts, "--contours-out", str(cont),
                 "--table", str(table), "--overwrite"]) == 2  # fmt: skip
    assert "plain file name" in capsys.readouterr().err
    assert (d / "0.png").read_bytes() == before


def test_overwrite_is_not_hashed_and_is_in_the_help(ct, tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["cac", str(ct), str(ct.parent), "--out", str(out)]) in (0, 1)
    h1 = {r["params_hash"] for r in _rows(out.read_text())}
    assert main(["cac", str(ct), str(ct.parent), "--out", str(out), "--overwrite"]) in (0, 1)
    assert {r["params_hash"] for r in _rows(out.read_text())} == h1
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["cac", "--help"])
    assert "--overwrite" in capsys.readouterr().out


# ------------------------------------------- the other per-study writers
@pytest.fixture(scope="module")
def svm_model(tmp_path_factory):
    from napari_plaque.ivus import export_training_set, load_training_set, save_model, train_svm
    from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

    root = tmp_path_factory.mktemp("svm")
    pbs = []
    for s in (1, 2):
        pb, truth = make_ivus_sample(root / f"pb{s}.dcm", seed=s, n_frames=8, size=96)
        pbs.append((pb, truth_arcset(truth)))
    model, _ = train_svm(load_training_set(export_training_set(pbs, root / "ds")), n_folds=2)
    return save_model(model, root / "model.npz"), root / "pb1.dcm"


@pytest.mark.slow
def test_predict_arcs_out_never_replaces_a_file_unless_overwrite(svm_model, tmp_path):
    model, dcm = svm_model
    out = tmp_path / "arcs"
    out.mkdir()
    (out / "a.arcs.json").write_text("hand-made")
    man = tmp_path / "m.csv"
    man.write_text(f"study_id,path\na,{dcm}\n")
    args = ["predict-arcs", "--manifest", str(man), "--model", str(model), "--out", str(out),
            "--table", str(tmp_path / "t.csv")]  # fmt: skip
    assert main(args) == 1
    assert (out / "a.arcs.json").read_text() == "hand-made"
    assert "--overwrite" in _rows((tmp_path / "t.csv").read_text())[0]["error"]
    assert main([*args, "--overwrite"]) == 0


def test_predict_arcs_refuses_the_traversing_id_of_issue_22(svm_model, tmp_path, capsys):
    model, dcm = svm_model
    man = tmp_path / "m.csv"
    man.write_text(f"study_id,path\n../../{dcm.name},{dcm}\n")
    before = dcm.read_bytes()
    out = dcm.parent / "x" / "y"
    assert main(["predict-arcs", "--manifest", str(man), "--model", str(model),
                 "--out", str(out)]) == 2  # fmt: skip
    assert "plain file name" in capsys.readouterr().err
    assert dcm.read_bytes() == before


@pytest.mark.slow
def test_predict_out_never_replaces_a_file_unless_overwrite(tmp_path):
    from napari_plaque.samples.ivus import make_ivus_sample

    dcm = tmp_path / "pb1.dcm"
    make_ivus_sample(dcm, seed=1, n_frames=6, size=96)
    out = tmp_path / "pred"
    out.mkdir()
    (out / "pb1.arcs.json").write_text("hand-made")
    args = ["predict", "demo_alines", str(dcm), str(dcm), "--out", str(out),
            "--table", str(tmp_path / "t.csv")]  # fmt: skip
    assert main(args) in (1, 2)
    assert (out / "pb1.arcs.json").read_text() == "hand-made"
    assert "--overwrite" in (tmp_path / "t.csv").read_text()


@pytest.mark.slow
def test_vessel_roi_out_never_replaces_a_file_unless_overwrite(tmp_path):
    from napari_plaque.samples.vessels import LesionSpec, VesselSpec, make_vessel_phantom

    spec = VesselSpec(name="LAD", length_mm=30.0, lesions=[LesionSpec(15.0, 8.0, 50.0)])
    ph = make_vessel_phantom([spec], blur_mm=0.35, noise_hu=10.0)
    v = ph.volume
    (tmp_path / "cl").mkdir()
    pts = "".join(f"{i},{p[0]},{p[1]},{p[2]}\n" for i, p in enumerate(ph.vessels[0].user_points_mm))
    for name in ("v1", "v2"):
        write_nifti(tmp_path / "ct" / f"{name}.nii.gz", v.hu, v.spacing_mm, v.origin_mm)
        (tmp_path / "cl" / f"{name}.csv").write_text("index,axis-0,axis-1,axis-2\n" + pts)
    roi = tmp_path / "roi"
    roi.mkdir()
    (roi / "v1.roi.nii.gz").write_text("hand-made")
    cts = [str(tmp_path / "ct" / f"{n}.nii.gz") for n in ("v1", "v2")]
    args = ["vessel", *cts, "--centreline", str(tmp_path / "cl"),
            "--roi-out", str(roi), "--table", str(tmp_path / "t.csv")]  # fmt: skip
    assert main(args) == 1
    assert (roi / "v1.roi.nii.gz").read_text() == "hand-made"
    rows = {r["study"]: r for r in _rows((tmp_path / "t.csv").read_text())}
    assert "--overwrite" in rows["v1"]["error"] and rows["v2"]["status"] == "ok"


def test_new_output_refuses_an_existing_file_unless_overwrite(tmp_path):
    from napari_plaque.cohort.cli import OVERWRITE_KEY, new_output

    f = tmp_path / "theirs.json"
    assert new_output({}, f) == f
    f.write_text("x")
    with pytest.raises(FileExistsError, match="--overwrite"):
        new_output({}, f)
    assert new_output({OVERWRITE_KEY: True}, f) == f


@pytest.mark.slow
def test_cac_sr_folder_names_each_study_by_its_id_and_never_replaces(tmp_path):
    """``--sr FOLDER`` names a study's SR by the path's folder name today: two manifest rows
    (ids a, b) of series in folders of one name write one file; and an existing file is
    replaced. Wanted: <folder>/<study_id>.dcm, refused when it exists (no --overwrite)."""
    from pathlib import Path

    phantom = Path(__file__).resolve().parents[2] / "shared" / "data" / "qrm-phantom-canon"
    if not phantom.is_dir():
        pytest.skip("the QRM phantom is not here")
    import shutil

    for d in ("x", "y"):
        shutil.copytree(phantom, tmp_path / d / "ct")
    man = tmp_path / "m.csv"
    man.write_text(f"study_id,path\na,{tmp_path / 'x' / 'ct'}\nb,{tmp_path / 'y' / 'ct'}\n")
    sr = tmp_path / "sr"
    args = ["cac", "--manifest", str(man), "--sr", str(sr), "--out", str(tmp_path / "t.csv")]
    assert main(args) == 0
    assert sorted(p.name for p in sr.iterdir()) == ["a.dcm", "b.dcm"]
    (sr / "a.dcm").write_bytes(b"theirs")
    assert main(args) == 1
    assert (sr / "a.dcm").read_bytes() == b"theirs"
