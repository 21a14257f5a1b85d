"""The cohort runner (napari_plaque.cohort) in-process and through the batch commands.

Tiny synthetic CT studies with an analytic Agatston score: one 4 x 4 pixel blob (0.5 mm
pixels, 4 mm^2) on two 3 mm slices at ``HU`` -> weight w -> Agatston = 2 * 4 * w.
Cluster runs (LocalCluster, an external scheduler) are in test_cohort_cluster.py.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from napari_plaque import __version__
from napari_plaque.cli import main
from napari_plaque.cohort import (
    VOLATILE_COLUMNS,
    Study,
    input_id,
    params_hash,
    read_manifest,
    read_table,
    run_cohort,
    studies_from_paths,
)
from napari_plaque.io.nifti import write_nifti

#: blob HU of each study and its Agatston weight (130-199: 1, 200-299: 2, 300-399: 3, >=400: 4)
BLOBS = {"a": (150, 1), "b": (250, 2), "c": (350, 3), "d": (450, 4)}
SPACING = (3.0, 0.5, 0.5)


def _volume(hu_blob: float) -> np.ndarray:
    hu = np.full((8, 32, 32), -50, np.float32)
    hu[3:5, 10:14, 10:14] = hu_blob
    return hu


def expected_agatston(name: str) -> float:
    return 2 * 4.0 * BLOBS[name][1]


@pytest.fixture
def studies_dir(tmp_path):
    d = tmp_path / "studies"
    for name, (hu, _) in BLOBS.items():
        write_nifti(d / f"{name}.nii.gz", _volume(hu), SPACING)
    return d


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE_COLUMNS} for r in rows]


# ------------------------------------------------------------------------------ studies
def test_manifest_relative_paths_columns_and_errors(tmp_path):
    (tmp_path / "m").mkdir()
    man = tmp_path / "m" / "cohort.csv"
    man.write_text("study_id,path,roi,age\nP1,img1.nii.gz,roi1.npy,61\n,sub/img2.nii.gz,,70\n\n")
    st = read_manifest(man, columns=("roi",))
    assert [s.study_id for s in st] == ["P1", "img2"]  # id defaults to the file's study name
    assert st[0].path == tmp_path / "m" / "img1.nii.gz"
    assert st[0].input_path("roi") == tmp_path / "m" / "roi1.npy"
    assert st[0].inputs == {"roi": "roi1.npy"}  # 'age' is not a study column: ignored
    assert st[1].inputs == {} and st[1].input_path("roi") is None
    bad = tmp_path / "bad.csv"
    bad.write_text("study_id,image\nP1,x.nii\n")
    with pytest.raises(ValueError, match="bad.csv.*'path' column"):
        read_manifest(bad)
    bad.write_text("study_id,path\nP1,x.nii\nP1,y.nii\n")
    with pytest.raises(ValueError, match="line 3: study id 'P1' already used on line 2"):
        read_manifest(bad)
    bad.write_text("study_id,path\nP1,\n")
    with pytest.raises(ValueError, match="line 2: empty 'path'"):
        read_manifest(bad)
    with pytest.raises(ValueError, match="no such manifest"):
        read_manifest(tmp_path / "nope.csv")


def test_identity_hashes_do_not_reveal_paths(tmp_path):
    s1 = Study("x", tmp_path / "secret_patient_name.nii.gz")
    s2 = Study("x", tmp_path / "other.nii.gz")
    assert input_id(s1) != input_id(s2) and len(input_id(s1)) == 16
    assert "secret" not in input_id(s1)
    # a per-study input is part of the identity
    s3 = Study("x", s1.path, {"roi": str(tmp_path / "roi.npy")})
    assert input_id(s3) != input_id(s1)
    assert params_hash("cac", {"t": 130}) == params_hash("cac", {"t": 130})
    assert params_hash("cac", {"t": 130}) != params_hash("cac", {"t": 131})
    assert params_hash("cac", {"t": 130}) != params_hash("composition", {"t": 130})


# ------------------------------------------------------------------------------- runner
def _score_task(study: Study, params: dict):
    from napari_plaque.ccta import calcium_score
    from napari_plaque.io import read_image

    vol = read_image(study.path)
    res = calcium_score(vol.hu, vol.spacing_mm, threshold_hu=params["threshold_hu"])
    return {"agatston": res.agatston, "n_lesions": res.n_lesions}


def test_run_cohort_order_isolation_provenance_and_resume(studies_dir, tmp_path):
    (studies_dir / "broken.nii.gz").write_bytes(b"not a nifti")
    studies = studies_from_paths([studies_dir])
    assert [s.study_id for s in studies] == ["a", "b", "broken", "c", "d"]
    out = tmp_path / "out.csv"
    res = run_cohort(_score_task, studies, {"threshold_hu": 130.0}, task_name="t", out=out)
    assert res.exit_code == 1 and res.n_failed == 1
    rows = _rows(out.read_text())
    assert [r["study"] for r in rows] == ["a", "b", "broken", "c", "d"]
    for r in rows:
        if r["study"] == "broken":
            assert r["status"] == "error" and "broken.nii.gz" in r["error"] and r["agatston"] == ""
            continue
        assert r["status"] == "ok" and r["error"] == ""
        assert float(r["agatston"]) == pytest.approx(expected_agatston(r["study"]))
        assert r["napari_plaque_version"] == __version__
        assert r["params_hash"] == params_hash("t", {"threshold_hu": 130.0})
        assert r["input_id"] == input_id(next(s for s in studies if s.study_id == r["study"]))
        assert r["time_utc"].endswith("Z") and float(r["elapsed_s"]) >= 0
        assert "path" not in r and str(studies_dir) not in ",".join(r.values())
    # the broken study is repaired: --resume runs only it, the others keep their rows verbatim
    write_nifti(studies_dir / "broken.nii.gz", _volume(350), SPACING)
    res2 = run_cohort(
        _score_task, studies, {"threshold_hu": 130.0}, task_name="t", out=out, resume=True
    )
    assert res2.exit_code == 0 and res2.n_resumed == 4
    rows2 = _rows(out.read_text())
    assert [r["study"] for r in rows2] == ["a", "b", "broken", "c", "d"]
    assert [r for r in rows2 if r["study"] != "broken"] == [
        r for r in rows if r["study"] != "broken"
    ]
    assert float(rows2[2]["agatston"]) == pytest.approx(24.0) and rows2[2]["status"] == "ok"
    # other parameters: nothing is resumed, every row recomputed (threshold 300: a, b vanish)
    res3 = run_cohort(
        _score_task, studies, {"threshold_hu": 300.0}, task_name="t", out=out, resume=True
    )
    assert res3.n_resumed == 0
    assert [float(r["agatston"]) for r in _rows(out.read_text())] == [0, 0, 24, 24, 32]


def test_interrupted_run_keeps_finished_studies_for_resume(studies_dir, tmp_path):
    studies = studies_from_paths([studies_dir])
    out = tmp_path / "out.parquet"
    calls = []

    def task(study, params):
        calls.append(study.study_id)
        if study.study_id == "c" and len(calls) < 4:
            raise KeyboardInterrupt
        return _score_task(study, params)

    with pytest.raises(KeyboardInterrupt):
        run_cohort(task, studies, {"threshold_hu": 130.0}, task_name="t", out=out)
    assert [r["study"] for r in read_table(out)] == ["a", "b"]  # written on the way out
    res = run_cohort(task, studies, {"threshold_hu": 130.0}, task_name="t", out=out, resume=True)
    assert calls == ["a", "b", "c", "c", "d"] and res.n_resumed == 2
    table = read_table(out)
    assert [r["study"] for r in table] == ["a", "b", "c", "d"]
    assert [r["agatston"] for r in table] == [8.0, 16.0, 24.0, 32.0]  # typed in Parquet


def _quick_task(study: Study, params: dict):
    return {"n": len(study.study_id)}


def test_checkpoints_of_a_growing_table_keep_to_a_share_of_the_run(tmp_path, monkeypatch):
    """A checkpoint waits at least CHECKPOINT_COST_RATIO times as long as the last one took:
    with checkpoint_s=0 and a table that takes 50 ms to write, 30 quick studies are not 30
    rewrites (the table of 10,000 studies takes ~0.5 s; rewritten after every study, it would
    cost more than the studies)."""
    import time

    import napari_plaque.cohort.runner as runner

    writes = []
    real = runner.write_table

    def slow_write(path, rows):
        writes.append(len(rows))
        time.sleep(0.05)
        return real(path, rows)

    monkeypatch.setattr(runner, "write_table", slow_write)
    studies = [Study(f"s{i:02d}", tmp_path / f"s{i:02d}.nii") for i in range(30)]
    out = tmp_path / "t.csv"
    run_cohort(_quick_task, studies, task_name="q", out=out, checkpoint_s=0.0)
    assert writes[-1] == 30 and 2 <= len(writes) <= 4  # the first checkpoint(s), the last write
    assert [r["study"] for r in _rows(out.read_text())] == [s.study_id for s in studies]


def _freeze_count_task(study: Study, params: dict):
    import gc

    return {"frozen": gc.get_freeze_count()}


def test_a_study_runs_with_the_older_objects_frozen_out_of_the_gc(tmp_path):
    """gc_frozen: a study's cyclic collections skip the objects that existed before it (they
    are undone after it), and objects frozen by someone else stay frozen as they were."""
    import gc

    studies = [Study(f"s{i}", tmp_path / f"s{i}.nii") for i in range(3)]
    res = run_cohort(_freeze_count_task, studies, task_name="f")
    assert all(o.rows[0]["frozen"] > 1000 for o in res.outcomes)
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        n = gc.get_freeze_count()
        res = run_cohort(_freeze_count_task, studies, task_name="f")
        # (frozen objects freed by their reference count leave the count: <= n)
        assert all(n // 2 < o.rows[0]["frozen"] <= n for o in res.outcomes)
        assert n // 2 < gc.get_freeze_count() <= n  # not unfrozen by the run
    finally:
        gc.unfreeze()


def test_resume_keeps_rows_of_studies_not_in_this_run(studies_dir, tmp_path):
    studies = studies_from_paths([studies_dir])
    out = tmp_path / "out.csv"
    run_cohort(_score_task, studies[:3], {"threshold_hu": 130.0}, task_name="t", out=out)
    run_cohort(
        _score_task, studies[2:], {"threshold_hu": 130.0}, task_name="t", out=out, resume=True
    )
    assert [r["study"] for r in _rows(out.read_text())] == ["c", "d", "a", "b"]


# ------------------------------------------------------------------------------ the CLI
def test_cac_manifest_per_study_roi_parquet_equals_csv(studies_dir, tmp_path, capsys):
    roi_all = np.ones((8, 32, 32), np.uint8)
    roi_none = np.zeros_like(roi_all)
    np.save(tmp_path / "roi_all.npy", roi_all)
    np.save(tmp_path / "roi_none.npy", roi_none)
    man = tmp_path / "cohort.csv"
    man.write_text(
        "study_id,path,roi,site\n"
        "S-c,studies/c.nii.gz,roi_all.npy,x\n"
        "S-d,studies/d.nii.gz,roi_none.npy,y\n"
        "S-a,studies/a.nii.gz,,z\n"
    )
    out_csv, out_pq = tmp_path / "cac.csv", tmp_path / "cac.parquet"
    assert main(["cac", "--manifest", str(man), "--out", str(out_csv)]) == 0
    assert main(["cac", "--manifest", str(man), "--out", str(out_pq), "--record-paths"]) == 0
    rows = _rows(out_csv.read_text())
    assert [r["study"] for r in rows] == ["S-c", "S-d", "S-a"]
    # the roi column applies per study: d is masked out entirely, a has no ROI (whole volume)
    assert [float(r["agatston"]) for r in rows] == [24.0, 0.0, 8.0]
    assert rows[0]["input_id"] != rows[2]["input_id"] and "path" not in rows[0]
    pq = read_table(out_pq)
    assert [r["agatston"] for r in pq] == [24.0, 0.0, 8.0]
    assert pq[0]["path"] == str(tmp_path / "studies" / "c.nii.gz")  # asked for
    assert [r["params_hash"] for r in pq] == [r["params_hash"] for r in rows]
    assert capsys.readouterr().out == ""  # the table went to the file


def test_cac_json_cohort_and_exit_codes(studies_dir, tmp_path, capsys):
    assert (
        main(["cac", str(studies_dir / "a.nii.gz"), str(studies_dir / "b.nii.gz"), "--json"]) == 0
    )
    reports = json.loads(capsys.readouterr().out)
    assert [r["study"] for r in reports] == ["a", "b"]
    assert [r["agatston"] for r in reports] == [8.0, 16.0]
    # usage errors: exit 2, nothing computed
    assert main(["cac"]) == 2
    assert "no study" in capsys.readouterr().err
    assert main(["cac", str(studies_dir), "--resume"]) == 2
    assert "--resume needs the output table" in capsys.readouterr().err
    assert main(["cac", "--manifest", str(tmp_path / "none.csv")]) == 2
    assert "none.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["cac", str(studies_dir), "--workers", "0"])
    assert e.value.code == 2
    # a manifest row whose file is missing: a row with status=error, exit 1
    man = tmp_path / "m.csv"
    man.write_text(f"path\n{studies_dir / 'a.nii.gz'}\n{tmp_path / 'gone.nii.gz'}\n")
    assert main(["cac", "--manifest", str(man)]) == 1
    cap = capsys.readouterr()
    rows = _rows(cap.out)
    assert [r["status"] for r in rows] == ["ok", "error"] and "gone.nii.gz" in rows[1]["error"]
    assert "1 of 2 studies failed" in cap.err


def test_cac_resume_through_the_cli(studies_dir, tmp_path, capsys):
    out = tmp_path / "cac.csv"
    assert main(["cac", str(studies_dir), "--out", str(out)]) == 0
    first = _rows(out.read_text())
    assert main(["cac", str(studies_dir), "--out", str(out), "--resume"]) == 0
    assert "4 of 4 studies already in" in capsys.readouterr().err
    assert _rows(out.read_text()) == first  # nothing recomputed: same times too
    assert (
        main(["cac", str(studies_dir), "--out", str(out), "--resume", "--threshold-hu", "200"]) == 0
    )
    again = _rows(out.read_text())
    assert [float(r["agatston"]) for r in again] == [0.0, 16.0, 24.0, 32.0]
    assert again[0]["params_hash"] != first[0]["params_hash"]


def test_composition_manifest_needs_roi(studies_dir, tmp_path, capsys):
    labels = np.zeros((8, 32, 32), np.uint8)
    labels[3:5, 9:15, 9:15] = 1
    np.save(tmp_path / "plaque.npy", labels)
    man = tmp_path / "m.csv"
    man.write_text("path,roi\nstudies/c.nii.gz,plaque.npy\nstudies/d.nii.gz,\n")
    assert main(["composition", "--manifest", str(man)]) == 1
    rows = _rows(capsys.readouterr().out)
    assert rows[0]["status"] == "ok" and rows[0]["n_plaques"] == "1"
    # 32 calcium voxels (350 HU) of 0.75 mm^3, the 40 ring voxels (-50 HU) are lipid
    assert float(rows[0]["calcium_mm3"]) == pytest.approx(24.0)
    assert rows[1]["status"] == "error" and "no plaque labels" in rows[1]["error"]
    assert main(["composition", str(studies_dir / "c.nii.gz")]) == 2


# ---------------------------------------------------------------------------------- qc
def _qc_pair(d, name, shift, pred_name=None):
    ref = np.zeros((6, 10, 10), np.uint8)
    ref[2:4, 2:6, 2:6] = 1
    pred = np.zeros_like(ref)
    pred[2:4, 2:6, 2 + shift : 6 + shift] = 1
    (d / "pred").mkdir(exist_ok=True)
    (d / "ref").mkdir(exist_ok=True)
    np.save(d / "pred" / (pred_name or f"{name}.npy"), pred)
    np.save(d / "ref" / f"{name}.npy", ref)


def test_qc_cohort_pairs_folders_and_manifest(tmp_path, capsys):
    for name, shift in (("p1", 0), ("p2", 1), ("p3", 2)):  # p3's file: p3.labels.npy
        _qc_pair(tmp_path, name, shift, "p3.labels.npy" if name == "p3" else None)
    sp = ["--spacing", "1", "1", "1"]
    assert main(["qc", str(tmp_path / "pred"), str(tmp_path / "ref"), *sp]) == 0
    rows = _rows(capsys.readouterr().out)
    assert [r["study"] for r in rows] == ["p1", "p2", "p3"]
    # 32 voxels each; a shift of s columns leaves 32 - 8 s in common
    assert [float(r["dice"]) for r in rows] == pytest.approx([1.0, 0.75, 0.5])
    assert {r["label"] for r in rows} == {"1"}
    pairs = [str(tmp_path / x / f"{n}.npy") for n in ("p2", "p1") for x in ("pred", "ref")]
    out = tmp_path / "qc.parquet"
    assert main(["qc", *pairs, *sp, "--out", str(out)]) == 0
    assert [r["dice"] for r in read_table(out)] == pytest.approx([0.75, 1.0])
    man = tmp_path / "qc.csv"
    man.write_text(
        "study_id,path,ref\nA,pred/p3.labels.npy,ref/p3.npy\nB,pred/p1.npy,ref/none.npy\n"
    )
    assert main(["qc", "--manifest", str(man), *sp, "--out", str(tmp_path / "qc.json")]) == 1
    res = json.loads((tmp_path / "qc.json").read_text())
    assert res[0]["labels"]["1"]["dice"] == pytest.approx(0.5)
    assert res[1]["status"] == "error" and "none.npy" in res[1]["error"]
    assert main(["qc", str(tmp_path / "pred" / "p1.npy")]) == 2  # odd number of paths


# --------------------------------------------------------------------------------- IVUS
@pytest.fixture(scope="module")
def pullbacks(tmp_path_factory):
    from napari_plaque.ivus import save_arcs
    from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

    root = tmp_path_factory.mktemp("pb")
    (root / "arcs").mkdir()
    out = []
    for s in (1, 2):
        dcm = root / f"pb{s}.dcm"
        _, truth = make_ivus_sample(dcm, seed=s, n_frames=12, size=96)
        save_arcs(truth_arcset(truth), root / "arcs" / f"pb{s}.arcs.json")
        out.append((dcm, truth))
    return root, out


def test_ics_cohort_with_an_arcs_folder_equals_single_runs(pullbacks, tmp_path, capsys):
    from napari_plaque.ivus import ics

    root, pbs = pullbacks
    single = []
    for dcm, _ in pbs:
        assert main(["ics", str(dcm), "--arcs", str(root / "arcs" / f"{dcm.stem}.arcs.json"),
                     "--json"]) == 0  # fmt: skip
        single.append(json.loads(capsys.readouterr().out))
    out = tmp_path / "ics.csv"
    args = ["ics", *(str(d) for d, _ in pbs), "--arcs", str(root / "arcs"), "--out", str(out)]
    assert main(args) == 0
    rows = _rows(out.read_text())
    assert [r["study"] for r in rows] == ["pb1", "pb2"]
    for r, s, (_, truth) in zip(rows, single, pbs, strict=True):
        assert float(r["ics"]) == pytest.approx(s["ics"])
        assert float(r["ics"]) == pytest.approx(ics(truth["labels"][:, :, 0]))
        assert "pullback" not in r and "arcs" not in r  # paths only as input_id
    # a count mismatch of pullbacks and arcs files is a usage error
    assert main(["ics", *(str(d) for d, _ in pbs), "--arcs", str(root / "arcs/pb1.arcs.json")]) == 2


def test_export_alines_and_ct_dataset_read_a_manifest(pullbacks, studies_dir, tmp_path, capsys):
    from napari_plaque.ivus import load_training_set

    root, pbs = pullbacks
    man = tmp_path / "pb.csv"
    man.write_text(
        "study_id,path,arcs\n"
        + "".join(f"{d.stem},{d},{root / 'arcs' / (d.stem + '.arcs.json')}\n" for d, _ in pbs)
    )
    assert main(["export-alines", "--manifest", str(man), "--out", str(tmp_path / "ds")]) == 0
    assert "exported 2 pullback(s), 24 frames" in capsys.readouterr().out
    assert len(load_training_set(tmp_path / "ds")["manifest"]["pullbacks"]) == 2
    # CT cases: image + label columns
    lab = np.zeros((8, 32, 32), np.uint8)
    lab[3:5, 10:14, 10:14] = 1
    np.save(tmp_path / "lab.npy", lab)
    man2 = tmp_path / "ct.csv"
    man2.write_text("path,label\nstudies/c.nii.gz,lab.npy\nstudies/d.nii.gz,lab.npy\n")
    args = ["export-ct-dataset", "--manifest", str(man2), "--out", str(tmp_path / "patches"),
            "--patch-size", "1,8,8", "--n-patches", "2"]  # fmt: skip
    assert main(args) == 0
    assert (tmp_path / "patches").is_dir()
    man2.write_text("path,label\nstudies/c.nii.gz,\n")
    assert main(args) == 2
    assert "has no 'label'" in capsys.readouterr().err


def test_predict_cohort_writes_one_file_per_study_like_single_runs(pullbacks, tmp_path, capsys):
    root, pbs = pullbacks
    out = tmp_path / "single" / "pb2.arcs.json"
    assert main(["predict", "demo_alines", str(pbs[1][0]), "--out", str(out), "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    args = ["predict", "demo_alines", *(str(d) for d, _ in pbs), "--out", str(tmp_path / "many")]
    assert main([*args, "--table", str(tmp_path / "p.csv")]) == 0
    rows = _rows((tmp_path / "p.csv").read_text())
    assert [r["out_file"] for r in rows] == ["pb1.arcs.json", "pb2.arcs.json"]
    assert float(rows[1]["calcium_ics"]) == pytest.approx(single["ics"])
    arcs = [  # the same arcs as the one-study run (each arc has its own time stamp)
        [{k: v for k, v in a.items() if k != "time"} for a in json.loads(p.read_text())["arcs"]]
        for p in (out, tmp_path / "many" / "pb2.arcs.json")
    ]
    assert arcs[0] == arcs[1] and arcs[0]
    for r in rows:
        assert (tmp_path / "many" / r["out_file"]).is_file()
        assert r["params_hash"] == rows[0]["params_hash"] and "input" not in r
    # a cohort needs a folder, not one output file
    assert main([*args[:-1], str(tmp_path / "x.json")]) == 2
    assert "--out is a folder" in capsys.readouterr().err


def test_no_table_written_when_nothing_ran_and_foreign_tables_refused(studies_dir, tmp_path):
    out = tmp_path / "out.csv"
    with pytest.raises(ValueError, match="broken"):  # one study, its error propagates
        (studies_dir / "broken.nii.gz").write_bytes(b"x")
        run_cohort(
            _score_task, studies_from_paths([studies_dir / "broken.nii.gz"]),
            {"threshold_hu": 130.0}, out=out, raise_errors=True,
        )  # fmt: skip
    assert not out.exists()  # nothing half-written
    out.write_text("id,score\n1,2\n")
    with pytest.raises(ValueError, match="not a cohort table"):
        run_cohort(_score_task, studies_from_paths([studies_dir / "a.nii.gz"]),
                   {"threshold_hu": 130.0}, out=out, resume=True)  # fmt: skip
    assert out.read_text() == "id,score\n1,2\n"


def test_vessel_cohort_with_a_centreline_folder(tmp_path, capsys):
    from napari_plaque.samples.vessels import LesionSpec, VesselSpec, make_vessel_phantom

    spec = VesselSpec(name="LAD", length_mm=30.0, lesions=[LesionSpec(15.0, 8.0, 50.0)])
    ph = make_vessel_phantom([spec], blur_mm=0.35, noise_hu=10.0)
    v = ph.volume
    (tmp_path / "cl").mkdir()
    pts = "".join(f"{i},{p[0]},{p[1]},{p[2]}\n" for i, p in enumerate(ph.vessels[0].user_points_mm))
    for name in ("v1", "v2"):
        write_nifti(tmp_path / "ct" / f"{name}.nii.gz", v.hu, v.spacing_mm, v.origin_mm)
        (tmp_path / "cl" / f"{name}.csv").write_text("index,axis-0,axis-1,axis-2\n" + pts)
    one = [
        "vessel",
        str(tmp_path / "ct" / "v1.nii.gz"),
        "--centreline",
        str(tmp_path / "cl/v1.csv"),
    ]
    assert main(one) == 0
    single = _rows(capsys.readouterr().out)
    cts = [str(tmp_path / "ct" / f"{n}.nii.gz") for n in ("v1", "v2")]
    args = [
        "vessel",
        *cts,
        "--centreline",
        str(tmp_path / "cl"),
        "--roi-out",
        str(tmp_path / "roi"),
    ]
    assert main([*args, "--table", str(tmp_path / "v.csv")]) == 0
    rows = _rows((tmp_path / "v.csv").read_text())
    assert [r["study"] for r in rows] == ["v1", "v2"] and len(single) == 1  # one lesion each
    for r in rows:
        assert r["diameter_stenosis_pct"] == single[0]["diameter_stenosis_pct"]
        assert (tmp_path / "roi" / f"{r['study']}.roi.nii.gz").is_file()  # its own ROI file


def test_no_paths_hides_recorded_paths_and_keeps_resume_working(studies_dir, tmp_path, capsys):
    out = tmp_path / "cac.csv"
    base = ["--no-paths", "cac", str(studies_dir), "--out", str(out), "--record-paths"]
    assert main(base) == 0
    rows = _rows(out.read_text())
    assert all(r["path"].startswith("<path:") for r in rows)  # hashed, as --no-paths says
    assert str(studies_dir) not in out.read_text()
    assert main([*base, "--resume"]) == 0  # identities and hashes do not depend on it
    assert "4 of 4 studies already in" in capsys.readouterr().err
    assert _rows(out.read_text()) == rows


def test_ivus_vessel_cohort_equals_one_pullback_runs(tmp_path, capsys):
    from PIL import Image

    from napari_plaque.ivus.vessel_synthetic import make_vessel_frames

    dirs = []
    for seed in (5, 6):
        frames, truth = make_vessel_frames(n_frames=6, size=128, seed=seed, field_of_view_mm=6.0)
        d = tmp_path / f"pb{seed}"
        d.mkdir()
        for i, f in enumerate(frames):
            Image.fromarray(f).save(d / f"{i}.png")
        dirs.append(d)
    px = str(truth["pixel_spacing_mm"][0])
    opts = ["--pixel-mm", px, "--frame-rate", "30", "--pullback-mm-s", "0.5", "--no-mask"]
    assert main(["ivus-vessel", str(dirs[1]), *opts, "--json"]) == 0
    one = json.loads(capsys.readouterr().out)["summary"]
    out = tmp_path / "iv.csv"
    args = ["ivus-vessel", *map(str, dirs), *opts, "--csv", str(tmp_path / "frames")]
    assert main([*args, "--table", str(out)]) == 0
    rows = _rows(out.read_text())
    assert [r["study"] for r in rows] == ["pb5", "pb6"] and rows[1]["n_frames"] == "6"
    assert float(rows[1]["mla_mm2"]) == pytest.approx(one["mla_mm2"])
    assert (tmp_path / "frames" / "pb5.frames.csv").is_file()  # per-pullback tables in a folder


def test_export_alines_refuses_a_failing_pullback_and_keeps_the_old_set(pullbacks, tmp_path, capsys):
    """One training set from all pullbacks: a pullback that fails (arcs of another pullback)
    stops the export with its name (exit 2), and the previous set stays as it was."""
    from napari_plaque.ivus import load_training_set

    root, pbs = pullbacks
    (a, _), (b, _) = pbs
    out = tmp_path / "ds"
    arcs = [str(root / "arcs" / f"{d.stem}.arcs.json") for d in (a, b)]
    assert main(["export-alines", str(a), str(b), "--arcs", *arcs, "--out", str(out)]) == 0
    capsys.readouterr()
    before = (out / "features.npz").read_bytes()
    other = tmp_path / "other.dcm"
    from napari_plaque.samples.ivus import make_ivus_sample

    make_ivus_sample(other, seed=5, n_frames=7, size=96)  # 7 frames: pb1's arcs do not fit
    rc = main(["export-alines", str(a), str(other), "--arcs", arcs[0], arcs[0], "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "1 of 2 pullbacks failed, nothing written" in err and "other" in err
    assert "made for another pullback" in err
    assert (out / "features.npz").read_bytes() == before
    assert len(load_training_set(out)["manifest"]["pullbacks"]) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]  # no staging left


def test_export_ct_dataset_seeds_each_case_by_its_id(studies_dir, tmp_path, capsys):
    """A case's patches depend on the seed and the case, not on the other cases or their order
    (what lets workers sample them independently)."""
    lab = np.zeros((8, 32, 32), np.uint8)
    lab[3:5, 10:14, 10:14] = 1
    np.save(tmp_path / "lab.npy", lab)
    c, d = studies_dir / "c.nii.gz", studies_dir / "d.nii.gz"
    common = ["--patch-size", "1,8,8", "--n-patches", "4", "--seed", "3"]
    man = tmp_path / "m.csv"
    man.write_text(f"study_id,path,label\nc,{c},lab.npy\nd,{d},lab.npy\n")
    assert main(["export-ct-dataset", "--manifest", str(man), "--out", str(tmp_path / "cd"),
                 *common]) == 0  # fmt: skip
    man.write_text(f"study_id,path,label\nd,{d},lab.npy\n")
    assert main(["export-ct-dataset", "--manifest", str(man), "--out", str(tmp_path / "d"),
                 *common]) == 0  # fmt: skip
    both = json.loads((tmp_path / "cd" / "manifest.json").read_text())["cases"]
    alone = json.loads((tmp_path / "d" / "manifest.json").read_text())["cases"]
    assert both[1]["id"] == alone[0]["id"]
    with np.load(tmp_path / "cd" / both[1]["file"]) as z1, np.load(
        tmp_path / "d" / alone[0]["file"]
    ) as z2:
        assert np.array_equal(z1["hu"], z2["hu"]) and np.array_equal(z1["labels"], z2["labels"])
    with np.load(tmp_path / "cd" / both[0]["file"]) as z0, np.load(
        tmp_path / "cd" / both[1]["file"]
    ) as z1:
        assert not np.array_equal(z0["hu"], z1["hu"])  # another case: other patches


# ----------------------------------------------------------------- one writer per table
_LOCK_SCRIPT = """
import sys, time
from pathlib import Path
from napari_plaque.cohort import Study, run_cohort

def task(study, params):
    if study.study_id == params["_slow"]:
        time.sleep(float(params["_sleep"]))
    return {"n": int(study.study_id[1:])}

out, lo, hi, slow, sleep = sys.argv[1:6]
studies = [Study(f"s{i:03d}", Path(f"/nonexistent/s{i}")) for i in range(int(lo), int(hi))]
try:
    res = run_cohort(task, studies, {"_slow": slow, "_sleep": sleep}, task_name="t", out=out,
                     resume=True)
except OSError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
sys.exit(res.exit_code)
"""


def test_two_runs_on_one_table_never_lose_rows(tmp_path):
    """Issue 22.3: two runs on one --out both exited 0 and kept 125 of 250 rows. The table is
    locked for a run: the second is refused (exit 2, naming the table and the holder) while
    the first runs, and with --resume afterwards the table holds all 250 rows."""
    import subprocess
    import sys
    import time

    from napari_plaque.io.atomic import lock_path

    script = tmp_path / "half.py"
    script.write_text(_LOCK_SCRIPT)
    out = tmp_path / "t.csv"
    first = subprocess.Popen([sys.executable, str(script), str(out), "0", "125", "s000", "4"],
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:  # until the first run holds the lock
            lp = lock_path(out)
            if lp.exists() and lp.read_text().strip() == str(first.pid):
                break
            time.sleep(0.05)
        second = subprocess.run([sys.executable, str(script), str(out), "125", "250", "-", "0"],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert first.poll() is None, "the first run ended before the second started"
        assert second.returncode == 2
        assert str(out) in second.stderr and f"process {first.pid}" in second.stderr
        assert first.wait(timeout=120) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
    assert len(read_table(out)) == 125
    again = subprocess.run([sys.executable, str(script), str(out), "125", "250", "-", "0"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr
    rows = read_table(out)
    assert len(rows) == 250 and {r["study"] for r in rows} == {f"s{i:03d}" for i in range(250)}


def test_a_cli_run_on_a_locked_table_exits_2_and_leaves_it(studies_dir, tmp_path, capsys):
    from napari_plaque.io.atomic import file_lock

    out = tmp_path / "cac.csv"
    assert main(["cac", str(studies_dir), "--out", str(out)]) == 0
    before = out.read_text()
    with file_lock(out, "cohort table"):
        assert main(["cac", str(studies_dir), "--out", str(out), "--resume"]) == 2
    assert "another napari-plaque run is writing this cohort table" in capsys.readouterr().err
    assert out.read_text() == before
    assert main(["cac", str(studies_dir), "--out", str(out), "--resume"]) == 0  # released
