"""``predict-arcs`` and ``predict`` run an A-line model through the one detector interface
(``ivus.detector``, issue 23): the SVM's predict-arcs output and predict's output are those of
the code they replace (computed here the old way), predict-arcs takes a deep A-line model too
(the SVM's report keys plus the model's), and a CT model is refused with the detector's
message."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from napari_plaque import api
from napari_plaque.cli import main
from napari_plaque.ivus import export_training_set, save_arcs
from napari_plaque.ivus.arcs import load_arcs
from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

SVM_KEYS = ["pullback", "arcs", "arcs_file", "class", "ics", "positive_alines", "total_alines",
            "max_arc_deg", "calcium_length_mm", "n_arcs"]  # fmt: skip


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("aline_det")
    pbs = []
    for s in (1, 2):
        pb, truth = make_ivus_sample(root / f"pb{s}.dcm", n_frames=8, seed=s, size=96)
        pbs.append((pb, truth_arcset(truth)))
    ds = export_training_set(pbs, root / "ds")
    assert main(["train-svm", str(ds), "--out", str(root / "svm.npz"), "--folds", "2"]) == 0
    return root, [p for p, _ in pbs]


def _json(capsys, argv) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _arcs_doc(path) -> dict:
    """An arcs file's JSON without the save times (the only thing that differs run to run)."""
    def strip(x):
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "time"}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    return strip(json.loads(path.read_text()))


def _legacy_predict_arcs(pb_path, model_path, out, center):
    """predict-arcs as it was before the detector interface: the SVM directly."""
    from napari_plaque.io import read_pullback
    from napari_plaque.ivus import (
        arc_measurements,
        estimate_lumen_centers,
        load_model,
        predict_pullback,
    )

    svm = load_model(model_path)
    pb = read_pullback(pb_path)
    centres = estimate_lumen_centers(pb.frames) if center == "lumen" else None
    labels, arcs = predict_pullback(svm, pb, center=centres)
    save_arcs(arcs, out, on_conflict="overwrite")
    m = arc_measurements(labels, pb.mm_per_frame)
    return {"pullback": str(pb_path), "arcs": str(out), "arcs_file": out.name,
            "class": svm.meta.get("class", "calcium"), "ics": m["ics"],
            "positive_alines": m["positive_alines"], "total_alines": m["total_alines"],
            "max_arc_deg": m["max_arc_deg"], "calcium_length_mm": m["length_mm"],
            "n_arcs": len(arcs.arcs)}  # fmt: skip


@pytest.mark.parametrize("center", ["catheter", "lumen"])
def test_svm_predict_arcs_output_is_unchanged(synth, capsys, tmp_path, center):
    root, _ = synth
    dcm, model = root / "pb2.dcm", root / "svm.npz"
    old = _legacy_predict_arcs(dcm, model, tmp_path / "old.arcs.json", center)
    got = _json(capsys, ["predict-arcs", str(dcm), "--model", str(model), "--out",
                         str(tmp_path / "new.arcs.json"), "--center", center])
    assert list(got) == SVM_KEYS  # no key added for the SVM, same order
    assert {k: v for k, v in got.items() if k not in ("arcs", "arcs_file")} == \
        {k: v for k, v in old.items() if k not in ("arcs", "arcs_file")}
    assert old["n_arcs"] > 0 and got["arcs_file"] == "new.arcs.json"
    assert _arcs_doc(tmp_path / "new.arcs.json") == _arcs_doc(tmp_path / "old.arcs.json")


def test_svm_predict_arcs_cohort_table_is_unchanged(synth, tmp_path):
    root, _ = synth
    dcms = [root / "pb1.dcm", root / "pb2.dcm"]
    man = tmp_path / "m.csv"
    man.write_text("study_id,path\n" + "".join(f"{d.stem},{d}\n" for d in dcms))
    assert main(["predict-arcs", "--manifest", str(man), "--model", str(root / "svm.npz"),
                 "--out", str(tmp_path / "out"), "--table", str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    for d, row in zip(dcms, rows, strict=True):
        old = _legacy_predict_arcs(d, root / "svm.npz", tmp_path / f"{d.stem}.old.json",
                                   "catheter")
        for k in SVM_KEYS[2:]:
            want = old[k] if k != "arcs_file" else f"{d.stem}.arcs.json"
            assert row[k] == str(want), k
        assert _arcs_doc(tmp_path / "out" / f"{d.stem}.arcs.json") == \
            _arcs_doc(tmp_path / f"{d.stem}.old.json")
    assert "model" not in rows[0]  # the SVM's table columns are as they were


def test_a_ct_model_is_refused_with_the_detectors_message(synth, capsys, tmp_path):
    pytest.importorskip("torch")
    root, _ = synth
    out = tmp_path / "a.arcs.json"
    assert main(["predict-arcs", str(root / "pb1.dcm"), "--model", "demo_ccta_plaque",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "demo_ccta_plaque.pt: a 'ct-seg' model (for CT volumes) cannot detect calcium" in err
    assert "choose an A-line model" in err and "--debug" not in err  # a user error
    assert not out.exists()


def test_predict_arcs_with_a_deep_model(synth, capsys, tmp_path):
    pytest.importorskip("torch")
    from napari_plaque.models import pretrained_models

    root, _ = synth
    dcm = root / "pb1.dcm"
    by_name = _json(capsys, ["predict-arcs", str(dcm), "--model", "demo_alines", "--out",
                             str(tmp_path / "a.arcs.json")])
    assert list(by_name)[:len(SVM_KEYS)] == SVM_KEYS
    assert {k: by_name[k] for k in ("model", "model_kind", "synthetic_training", "n_frames")} \
        == {"model": "demo_alines.pt", "model_kind": "deep", "synthetic_training": True,
            "n_frames": 8}
    # the same numbers as predict with that model (one code path), the file or the name
    pd = api.predict("demo_alines", dcm, out=tmp_path / "p.arcs.json").to_dict()
    assert by_name["class"] == "calcium" and by_name["ics"] == pd["ics"]
    for k in ("positive_alines", "total_alines", "max_arc_deg"):
        assert by_name[k] == pd["calcium"][k]
    assert by_name["calcium_length_mm"] == pd["calcium"]["length_mm"]
    pb = make_ivus_sample(tmp_path / "x.dcm", n_frames=8, seed=1, size=96)[0]
    a = load_arcs(tmp_path / "a.arcs.json", n_frames=8, frame_shape=pb.frame_shape)
    p = load_arcs(tmp_path / "p.arcs.json", n_frames=8, frame_shape=pb.frame_shape)
    assert np.array_equal(a.labels(360, ["calcium"]), p.labels(360, ["calcium"]))
    assert by_name["n_arcs"] == len(a.arcs) > 0
    res = api.predict_arcs(dcm, model=pretrained_models()["demo_alines"])
    assert res.to_dict()["ics"] == by_name["ics"] and res.labels.shape == (8, 360)
    # one centre per pullback: --center lumen is refused, naming the option
    assert main(["predict-arcs", str(dcm), "--model", "demo_alines", "--out",
                 str(tmp_path / "l.json"), "--center", "lumen"]) == 2
    assert "--center catheter" in capsys.readouterr().err


def test_predict_arcs_cohort_with_a_deep_model(synth, tmp_path):
    pytest.importorskip("torch")
    root, _ = synth
    man = tmp_path / "m.csv"
    man.write_text("study_id,path\n" + "".join(f"s{s},{root / f'pb{s}.dcm'}\n" for s in (1, 2)))
    assert main(["predict-arcs", "--manifest", str(man), "--model", "demo_alines",
                 "--out", str(tmp_path / "out"), "--table", str(tmp_path / "t.csv")]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text())))
    assert [(r["study"], r["status"], r["model"], r["model_kind"]) for r in rows] == \
        [("s1", "ok", "demo_alines.pt", "deep"), ("s2", "ok", "demo_alines.pt", "deep")]
    assert all((tmp_path / "out" / f"s{s}.arcs.json").is_file() for s in (1, 2))


def test_predict_alines_output_is_unchanged(synth, tmp_path):
    """predict with an A-line checkpoint: as before (ivus.deep directly, annotator 'model')."""
    pytest.importorskip("torch")
    from napari_plaque.io import read_pullback
    from napari_plaque.ivus.deep import alines_to_arcset, predict_pullback
    from napari_plaque.ivus.measure import arc_measurements
    from napari_plaque.models import pretrained_models
    from napari_plaque.models.checkpoint import load_checkpoint

    root, _ = synth
    dcm = root / "pb2.dcm"
    lm = load_checkpoint(pretrained_models()["demo_alines"])
    pb = read_pullback(dcm)
    pred = predict_pullback(lm, pb, device="cpu")
    save_arcs(alines_to_arcset(pred), tmp_path / "old.json")
    res = api.predict(lm, dcm, out=tmp_path / "new.json", device="cpu")
    assert _arcs_doc(tmp_path / "new.json") == _arcs_doc(tmp_path / "old.json")
    assert np.array_equal(res.prediction.probs, pred.probs)
    got = res.to_dict()
    assert got["n_alines"] == pred.probs.shape[1] and got["device"] == pred.meta["device"]
    m = arc_measurements(pred.class_labels("calcium"), pb.mm_per_frame)
    m.pop("arc_deg")
    assert got["calcium"] == json.loads(json.dumps(m)) and got["ics"] == m["ics"]


@pytest.mark.parametrize("name, what", [("demo_cxr", "chest radiographs"),
                                        ("demo_ccta_plaque", "CT volumes")])
def test_a_model_of_another_task_is_refused_naming_what_it_is_for(name, what):
    pytest.importorskip("torch")
    from napari_plaque.io.errors import OptionError
    from napari_plaque.ivus.detector import load_aline_detector

    with pytest.raises(OptionError, match=f"for {what}"):
        load_aline_detector(name)
