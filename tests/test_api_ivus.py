"""The IVUS api functions equal their commands (issue 23): ``ics``, ``train-svm``,
``predict-arcs``, ``propose-frames`` and ``arcs interpolate`` give the same JSON and rows."""

from __future__ import annotations

import csv
import io
import json

import pytest

from napari_plaque import api
from napari_plaque.cli import main
from napari_plaque.ivus import ArcSet, export_training_set, save_arcs
from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("api_ivus")
    pbs = []
    for s in (1, 2):
        dcm = root / f"pb{s}.dcm"
        pb, truth = make_ivus_sample(dcm, n_frames=16, seed=s, size=128)
        arcs = truth_arcset(truth)
        pbs.append((pb, arcs, dcm, save_arcs(arcs, root / f"pb{s}.arcs.json")))
    ds = export_training_set([(pb, arcs) for pb, arcs, _, _ in pbs], root / "ds")
    return root, pbs, ds


def _json(capsys, argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_api_ics_equals_the_cli(synth, capsys, tmp_path):
    root, pbs, _ = synth
    pb, arcs, dcm, apath = pbs[0]
    res = api.ics(dcm, apath, frames="2:12")
    assert _json(capsys, ["ics", str(dcm), "--arcs", str(apath), "--frames", "2:12"]) == \
        json.loads(res.to_json_text())
    # rows: the cohort table's row (plus its study columns); in memory: the same numbers
    assert main(["ics", str(dcm), "--arcs", str(apath), "--frames", "2:12",
                 "--table", str(tmp_path / "t.csv")]) == 0
    (row,) = csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text()))
    (mine,) = csv.DictReader(io.StringIO(res.to_csv_text()))
    assert {k: row[k] for k in mine} == mine
    assert api.ics(pb, arcs, frames="2:12").to_rows() == res.to_rows()


def test_api_train_predict_propose_equal_the_cli(synth, capsys, tmp_path):
    root, pbs, ds = synth
    m1, m2 = tmp_path / "cli.npz", tmp_path / "api.npz"
    cli = _json(capsys, ["train-svm", str(ds), "--out", str(m1), "--folds", "2"])
    res = api.train_svm(ds, out=m2, folds=2)
    mine = json.loads(res.to_json_text())
    assert mine.pop("model") == str(m2) and cli.pop("model") == str(m1)
    assert cli == mine and res.model is not None
    assert [r["fold"] for r in res.to_rows()][-1] == "all"

    pb, arcs, dcm, apath = pbs[1]
    out = tmp_path / "pred.arcs.json"
    cli = _json(capsys, ["predict-arcs", str(dcm), "--model", str(m1), "--out", str(out)])
    res = api.predict_arcs(dcm, model=m1, out=out)
    assert cli == json.loads(res.to_json_text()) and res.arcs is not None
    assert "pullback" not in res.to_rows()[0]

    keep = ArcSet(pb.n_frames, pb.frame_shape)
    keep.add_many([a for a in arcs.arcs if a.frame in (3, 9)])
    few = save_arcs(keep, tmp_path / "few.arcs.json")
    cli = _json(capsys, ["propose-frames", str(dcm), "--arcs", str(few), "--model", str(m1),
                         "--n", "3"])
    res = api.propose_frames(dcm, arcs=few, model=m1, n=3)
    assert cli == json.loads(res.to_json_text())
    assert [r["frame"] for r in res.to_rows()] == res.to_dict()["frames"]


def test_api_export_alines_equals_the_cli(synth, capsys, tmp_path):
    root, pbs, _ = synth
    pairs = [(str(dcm), str(apath)) for _, _, dcm, apath in pbs]
    assert main(["export-alines", *[p for p, _ in pairs], "--arcs", *[a for _, a in pairs],
                 "--out", str(tmp_path / "cli"), "--depth-samples", "64"]) == 0
    res = api.export_alines(pairs, out=tmp_path / "api", depth_samples=64)
    assert f"{res.to_dict()['n_frames']} frames" in capsys.readouterr().out
    cli = json.loads((tmp_path / "cli" / "manifest.json").read_text())
    mine = json.loads((tmp_path / "api" / "manifest.json").read_text())
    for key in ("n_alines", "depth_samples", "depth_mm"):
        assert cli[key] == mine[key]
    assert [r["n_frames"] for r in res.to_rows()] == [pb.n_frames for pb, _, _, _ in pbs]
    with pytest.raises(ValueError, match="no arcs file"):
        api.export_alines([(pairs[0][0], "")], out=tmp_path / "x")


def test_api_interpolate_arcs_equals_the_cli(synth, capsys, tmp_path):
    root, pbs, _ = synth
    pb, arcs, dcm, apath = pbs[0]
    keep = ArcSet(pb.n_frames, pb.frame_shape)
    keep.add_many([a for a in arcs.arcs if a.frame in (2, 6, 15)])
    src = save_arcs(keep, tmp_path / "keys.arcs.json")
    cli = _json(capsys, ["arcs", "interpolate", str(src), "--out", str(tmp_path / "a.json"),
                         "--max-gap", "5"])
    res = api.interpolate_arcs(src, out=tmp_path / "a.json", max_gap=5)
    assert cli == json.loads(res.to_json_text())
    assert res.warnings == res.to_dict()["warnings"] and len(res.warnings) == 1  # 6 -> 15
    assert res.to_rows()[0]["n_arcs_added"] == res.to_dict()["n_arcs_added"]


def test_api_ivus_bad_input_names_the_file(synth, tmp_path):
    root, pbs, ds = synth
    pb, arcs, dcm, apath = pbs[0]
    with pytest.raises((ValueError, OSError), match="missing.dcm"):
        api.ics(tmp_path / "missing.dcm", apath)
    other = save_arcs(ArcSet(7, (128, 128)), tmp_path / "other.json")
    with pytest.raises(ValueError, match="other.json"):
        api.ics(dcm, other)
    with pytest.raises(ValueError, match="keys.json"):
        keys = save_arcs(ArcSet(pb.n_frames, pb.frame_shape), tmp_path / "keys.json")
        api.interpolate_arcs(keys, out=keys)
    with pytest.raises(ValueError, match="--n"):
        api.propose_frames(dcm, arcs=apath, model=tmp_path / "m.npz", n=0)
    with pytest.raises((ValueError, OSError), match="nothing.npz"):
        api.predict_arcs(dcm, model=tmp_path / "nothing.npz")
