"""CLI: ``fuse`` (vessel analysis stubbed where noted) and ``study-stats``."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from napari_plaque.cli import main
from napari_plaque.fusion.synthetic import cohort_table, make_case, make_cohort
from napari_plaque.report import write_csv

LESION_KEYS = {
    "start_mm",
    "end_mm",
    "ivus_frames",
    "ivus_calcium_max_arc_deg",
    "ivus_calcium_mean_arc_deg",
    "ivus_ics",
    "ivus_attenuation_max_arc_deg",
    "ivus_attenuation_length_mm",
    "attenuated",
}


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """A synthetic case written as real files: NIfTI CT, centreline, pullback DICOM, arcs."""
    from napari_plaque.fusion.synthetic import write_case_files

    d = tmp_path_factory.mktemp("fuse")
    case = make_case(np.random.default_rng(11), n_lesions=2, mm_per_frame=0.2,
                     attenuated=[True, False])  # fmt: skip
    paths = write_case_files(case, d, frame_size=64)
    assert paths["landmarks"] == [f"{m.s_mm:.3f}:{int(m.frame)}" for m in case.landmarks]
    return case, d


def _stub_vessel(monkeypatch, case):
    """The vessel analysis replaced by the case's known lesions (the CLI plumbing is tested)."""
    import napari_plaque.api.fusion as af

    def lesions(ct, centreline):
        return case.centreline_length_mm, case.lesions

    monkeypatch.setattr(af, "_vessel_lesions", lesions)


def _fuse_args(d, case, *extra):
    lms = [f"{m.s_mm}:{int(m.frame)}" for m in case.landmarks]
    args = ["fuse", "--ct", str(d / "ct.nii.gz"), "--centreline", str(d / "centreline.json"),
            "--pullback", str(d / "pullback.dcm"), "--arcs", str(d / "arcs.json")]  # fmt: skip
    for lm in lms:
        args += ["--landmark", lm]
    return args + list(extra)


def test_fuse_json_with_two_landmarks(paired, monkeypatch, capsys, tmp_path):
    case, d = paired
    _stub_vessel(monkeypatch, case)
    out_csv = tmp_path / "lesions.csv"
    rc = main(_fuse_args(d, case, "--json", "--csv", str(out_csv)))
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["mapping"]) == case.n_frames
    assert out["mapping"][7] == {"frame": 7, "s_mm": pytest.approx(float(case.true_s(7)))}
    assert out["mm_per_frame_used"] == pytest.approx(0.2 * case.speed_factor)
    assert len(out["lesions"]) == 2
    for les, frames, att in zip(out["lesions"], case.truth_frames, case.truth_attenuated,
                                strict=True):  # fmt: skip
        assert LESION_KEYS <= set(les)
        assert tuple(les["ivus_frames"]) == frames
        assert les["attenuated"] is att
        assert (
            les["calcium_density_hu"]
            == case.lesions[out["lesions"].index(les)]["calcium_density_hu"]
        )
    rows = list(csv.DictReader(out_csv.open()))
    assert [int(r["ivus_first_frame"]) for r in rows] == [f[0] for f in case.truth_frames]
    # per-patient CSVs stamped with --patient feed study-stats together
    for pid in ("P1", "P2"):
        assert (
            main(_fuse_args(d, case, "--patient", pid, "--csv", str(tmp_path / f"{pid}.csv"))) == 0
        )
    capsys.readouterr()
    from napari_plaque.fusion.stats import Table

    both = Table.concat([Table.read_csv(tmp_path / f"{p}.csv") for p in ("P1", "P2")])
    assert both.columns["patient"] == ["P1", "P1", "P2", "P2"]
    assert both.columns["attenuated"] == ["True", "False", "True", "False"]


def test_fuse_text_and_bad_input(paired, monkeypatch, capsys):
    case, d = paired
    _stub_vessel(monkeypatch, case)
    assert main(_fuse_args(d, case)) == 0
    text = capsys.readouterr().out
    assert "mapped" in text and "attenuated" in text
    # landmark outside the centreline / the pullback
    bad = _fuse_args(d, case)[:-4] + ["--landmark", f"{case.centreline_length_mm + 5}:10"]
    assert main(bad) == 2
    assert "outside the centreline" in capsys.readouterr().err
    bad = _fuse_args(d, case)[:-4] + ["--landmark", f"10:{case.n_frames + 3}"]
    assert main(bad) == 2
    assert "outside the pullback" in capsys.readouterr().err
    # one landmark that places the pullback too far distal: lesions fall off the pullback
    f_hi = case.n_frames - 1
    bad = _fuse_args(d, case)[:-4] + ["--landmark", f"{case.centreline_length_mm}:{f_hi}"]
    assert main(bad) == 2
    assert "shorter than the segment" in capsys.readouterr().err
    assert main([*bad, "--allow-partial", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(les["ivus_coverage"] < 1 for les in out["lesions"])


def test_fuse_with_the_real_vessel_analysis(paired, capsys):
    """End to end with the vessel analysis: CT -> lesions -> join."""
    case, d = paired
    assert main(_fuse_args(d, case, "--json")) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert len(out["mapping"]) == case.n_frames
    assert len(out["lesions"]) == len(case.lesions)
    for les, true, frames in zip(out["lesions"], case.lesions, case.truth_frames, strict=True):
        assert LESION_KEYS <= set(les)
        # the CT analysis finds each painted lesion within 2.5 mm at both ends, and the join
        # hands it the frames of that s range (0.2 mm/frame x speed): within 2.5 mm of truth too
        assert abs(les["start_mm"] - true["start_mm"]) < 2.5
        assert abs(les["end_mm"] - true["end_mm"]) < 2.5
        mmpf = 0.2 * case.speed_factor
        assert abs(les["ivus_frames"][0] - frames[0]) * mmpf < 2.5
        assert abs(les["ivus_frames"][1] - frames[1]) * mmpf < 2.5


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    d = tmp_path_factory.mktemp("stats")
    rows = cohort_table(make_cohort(25, seed=2))
    path = d / "lesions.csv"
    write_csv(path, rows)
    return path, rows


def test_study_stats_json_matches_core(table, capsys, tmp_path):
    from napari_plaque.fusion.stats import study_statistics

    path, rows = table
    png = tmp_path / "roc.png"
    t2 = tmp_path / "table2.csv"
    rc = main(["study-stats", str(path), "--outcome", "attenuated",
               "--predictors", "calcium_density_hu,lipid_pct", "--adjust", "age,male",
               "--cluster", "patient", "--n-boot", "300", "--plot", str(png), "--csv", str(t2),
               "--json"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    core = study_statistics(path, "attenuated", ["calcium_density_hu", "lipid_pct"],
                            ["age", "male"], "patient", n_boot=300)  # fmt: skip
    for name in ("calcium_density_hu", "lipid_pct"):
        p = out["predictors"][name]
        for key in ("n", "auc", "auc_ci95", "cutoff", "direction", "sensitivity",
                    "specificity", "mannwhitney_p", "median_pos", "iqr_pos", "median_neg",
                    "iqr_neg", "or", "or_ci95", "or_adjusted", "auc_ci95_cluster_bootstrap"):  # fmt: skip
            assert p[key] == pytest.approx(core.predictors[name][key]), key
    assert out["correlation"]["names"] == ["calcium_density_hu", "lipid_pct"]
    assert png.stat().st_size > 1000
    assert len(list(csv.DictReader(t2.open()))) == 2
    assert main(["study-stats", str(path), "--outcome", "attenuated",
                 "--predictors", "calcium_density_hu"]) == 0  # fmt: skip
    assert "AUC" in capsys.readouterr().out


def test_study_stats_bad_input(table, capsys, tmp_path):
    path, rows = table
    assert main(["study-stats", str(path), "--outcome", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no outcome column 'nope'" in err and str(path) in err
    one = tmp_path / "one.csv"
    write_csv(one, [dict(r, attenuated=1) for r in rows])
    assert main(["study-stats", str(one), "--outcome", "attenuated"]) == 2
    assert "one class only" in capsys.readouterr().err
    assert main(["study-stats", str(tmp_path / "missing.csv"), "--outcome", "a"]) == 2
    assert "table not found" in capsys.readouterr().err


def test_fuse_from_a_vessel_json(paired, capsys, tmp_path):
    """Lesions of a vessel analysis already run (the dock's export) instead of re-running it."""
    case, d = paired
    doc = {"vessels": [
        {"vessel": "LAD", "length_mm": case.centreline_length_mm, "lesions": case.lesions},
        {"vessel": "RCA", "length_mm": 90.0, "lesions": []},
    ]}  # fmt: skip
    vj = tmp_path / "vessels.json"
    vj.write_text(json.dumps(doc))
    base = _fuse_args(d, case, "--json")
    i = base.index("--ct")
    base = base[:i] + base[i + 4 :]  # drop --ct and --centreline
    assert main([*base, "--vessel-json", str(vj)]) == 2
    assert "holds 2 vessels" in capsys.readouterr().err
    assert main([*base, "--vessel-json", str(vj), "--vessel", "LAD"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [tuple(x["ivus_frames"]) for x in out["lesions"]] == case.truth_frames
    assert out["inputs"]["vessel_json"] == str(vj)
    assert main(base) == 2
    assert "give --ct and --centreline" in capsys.readouterr().err
    assert main([*_fuse_args(d, case), "--vessel-json", str(vj)]) == 2
    assert "not both" in capsys.readouterr().err


def test_fuse_cohort_from_a_manifest_equals_single_pairs(paired, capsys, tmp_path):
    """`fuse --manifest`: one row per CT-IVUS pair (CT + centreline, or a vessel JSON), one
    table row per lesion with the pair's id, equal to the one-pair runs; a row without
    landmarks is an error row, the others complete (exit 1)."""
    case, d = paired
    vj = tmp_path / "vessels.json"
    vj.write_text(json.dumps({"vessels": [
        {"vessel": "LAD", "length_mm": case.centreline_length_mm, "lesions": case.lesions},
        {"vessel": "RCA", "length_mm": 90.0, "lesions": []},
    ]}))  # fmt: skip
    lms = ";".join(f"{m.s_mm}:{int(m.frame)}" for m in case.landmarks)
    man = tmp_path / "pairs.csv"
    man.write_text(
        "study_id,path,centreline,pullback,arcs,landmarks,vessel,age\n"
        f"P1,{vj},,{d / 'pullback.dcm'},{d / 'arcs.json'},{lms},LAD,61\n"
        f"P2,{vj},,{d / 'pullback.dcm'},,,LAD,70\n"
        f"P3,{d / 'ct.nii.gz'},{d / 'centreline.json'},{d / 'pullback.dcm'},{d / 'arcs.json'},"
        f"{lms},,55\n"
    )
    out = tmp_path / "lesions.csv"
    assert main(["fuse", "--manifest", str(man), "--table", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 of 3 studies failed" in err
    rows = list(csv.DictReader(out.open()))
    p1 = [r for r in rows if r["study"] == "P1"]
    assert len(p1) == len(case.lesions) and all(r["status"] == "ok" for r in p1)
    assert [r["patient"] for r in p1] == ["P1"] * len(case.lesions)
    p2 = [r for r in rows if r["study"] == "P2"]
    assert len(p2) == 1 and p2[0]["status"] == "error" and "no landmarks" in p2[0]["error"]
    p3 = [r for r in rows if r["study"] == "P3"]  # CT + centreline: the vessel analysis runs
    assert len(p3) == len(case.lesions) and all(r["status"] == "ok" for r in p3)
    # the same pair, one run: the same lesion rows
    single = tmp_path / "single.csv"
    args = ["fuse", "--vessel-json", str(vj), "--vessel", "LAD", "--pullback",
            str(d / "pullback.dcm"), "--arcs", str(d / "arcs.json"), "--csv", str(single)]
    args += [x for m in case.landmarks for x in ("--landmark", f"{m.s_mm}:{int(m.frame)}")]
    assert main(args) == 0
    capsys.readouterr()
    ref = list(csv.DictReader(single.open()))
    for r, s in zip(p1, ref, strict=True):
        for k in ("start_mm", "end_mm", "ivus_first_frame", "ivus_last_frame", "ivus_ics", "attenuated"):
            assert r[k] == s[k], k
    # one-pair options beside --manifest are ambiguous; cohort options need --manifest
    assert main(["fuse", "--manifest", str(man), "--pullback", "x.dcm"]) == 2
    assert "drop --pullback" in capsys.readouterr().err
    assert main([*args, "--table", str(tmp_path / "t.csv")]) == 2
    assert "need --manifest" in capsys.readouterr().err


def test_fuse_reads_a_napari_points_csv_centreline_as_vessel_does(paired, capsys, tmp_path):
    """`fuse --centreline` reads every centreline form `vessel --centreline` reads (one loader,
    issue 22 item 12): a napari Points CSV (refined to the lumen centre) finds the lesions of
    the centreline JSON."""
    from napari_plaque.ccta.centreline import Centreline

    case, d = paired
    cl = Centreline.load(d / "centreline.json")
    pts = tmp_path / "pts.csv"
    pts.write_text("index,axis-0,axis-1,axis-2\n" + "".join(
        f"{i},{p[0]},{p[1]},{p[2]}\n" for i, p in enumerate(cl.points_mm[::4])))
    args = _fuse_args(d, case, "--json")
    assert main(args) == 0, capsys.readouterr().err
    from_json = json.loads(capsys.readouterr().out)
    args[args.index("--centreline") + 1] = str(pts)
    assert main(args) == 0, capsys.readouterr().err
    from_csv = json.loads(capsys.readouterr().out)
    assert from_csv["inputs"]["centreline"] == str(pts)
    assert len(from_csv["lesions"]) == len(from_json["lesions"]) == len(case.lesions)
    for a, b in zip(from_csv["lesions"], from_json["lesions"], strict=True):
        assert abs(a["start_mm"] - b["start_mm"]) < 1.5 and abs(a["end_mm"] - b["end_mm"]) < 1.5


def test_vessel_json_with_a_lesion_ending_before_it_starts_is_refused(tmp_path):
    """Issue 22 item 14: a lesion with start_mm > end_mm (or outside the vessel) is refused
    naming the file and the lesion, not joined."""
    import json

    import pytest

    from napari_plaque.fusion.join import load_vessel_json

    p = tmp_path / "v.json"
    p.write_text(json.dumps({"length_mm": 50.0, "lesions": [
        {"start_mm": 10.0, "end_mm": 20.0}, {"start_mm": 30.0, "end_mm": 25.0}]}))
    with pytest.raises(ValueError, match=r"v\.json: lesion 2 runs from 30 to 25 mm"):
        load_vessel_json(p)
    p.write_text(json.dumps({"length_mm": 50.0, "lesions": [{"start_mm": 40.0, "end_mm": 60.0}]}))
    with pytest.raises(ValueError, match="within 0..50 mm"):
        load_vessel_json(p)
