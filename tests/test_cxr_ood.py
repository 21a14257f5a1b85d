"""Radiographs that are not frontal chest radiographs never get a CAC category without a word
(issue 22 item 7): DICOM header checks, a uniform-image check and an out-of-distribution check
against the training images' reference stored in the checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.cli import main
from napari_plaque.cxr.io import read_radiograph
from napari_plaque.cxr.ood import NO_REFERENCE, header_warnings, ood_reference, signature

torch = pytest.importorskip("torch")


def _png(path, arr):
    from PIL import Image

    Image.fromarray(arr).save(path)
    return path


def _u8(x):
    x = np.asarray(x, np.float64)
    return np.clip(255 * (x - x.min()) / max(np.ptp(x), 1e-9), 0, 255).astype(np.uint8)


def test_header_checks(pydicom_testfile):
    assert header_warnings({"body_part": "CHEST", "view_position": "PA"}) == []
    assert header_warnings({}) == []  # nothing said: nothing to check in the header
    (w,) = header_warnings({"body_part": "EXTREMITY", "view_position": "AP"})
    assert "BodyPartExamined is 'EXTREMITY'" in w
    (w,) = header_warnings({"body_part": "chest", "view_position": "LL"})
    assert "ViewPosition is 'LL'" in w
    assert read_radiograph(pydicom_testfile("RG3_UNCR.dcm")).meta["body_part"] == "EXTREMITY"
    assert read_radiograph(pydicom_testfile("RG1_UNCR.dcm")).meta["body_part"] == "CHEST"


def test_extremity_radiograph_is_flagged_in_json_and_on_stderr(capsys, pydicom_testfile):
    """The demo model (its checkpoint stores the OOD reference of its synthetic training
    images) on pydicom-data's extremity CR: flagged by its header and by the distribution
    check; the real chest CR gets no body-part warning but is outside the synthetic training
    distribution (flagged, with its score: the demo is not for real radiographs)."""
    assert main(["cxr", "predict", "demo_cxr", str(pydicom_testfile("RG3_UNCR.dcm")), "--json"]) == 0
    cap = capsys.readouterr()
    res = json.loads(cap.out)
    assert any("BodyPartExamined is 'EXTREMITY'" in w for w in res["warnings"])
    assert NO_REFERENCE not in res["warnings"] and res["ood"]["flagged"] is True
    assert res["ood"]["in_distribution"] is False and res["ood"]["score"] > res["ood"]["threshold"]
    assert "napari-plaque: warning:" in cap.err and "EXTREMITY" in cap.err
    assert main(["cxr", "predict", "demo_cxr", str(pydicom_testfile("RG1_UNCR.dcm")), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert not any("BodyPartExamined" in w for w in res["warnings"])
    assert NO_REFERENCE not in res["warnings"] and res["ood"]["score"] is not None
    assert res["ood"]["in_distribution"] is False


def test_the_demo_model_passes_its_own_kind_of_radiograph(tmp_path):
    """Unseen synthetic radiographs (the demo's training kind) are in its distribution."""
    from napari_plaque.cxr.model import predict_radiograph
    from napari_plaque.cxr.synthetic import write_manifest

    man = write_manifest(tmp_path / "s", 3, size=256, seed=7)
    import csv

    with open(man, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        pred = predict_radiograph("demo_cxr", man.parent / r["path"], device="cpu")
        assert pred.to_dict()["ood"]["in_distribution"] is True, r["path"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained on synthetic radiographs: its checkpoint stores the reference."""
    from napari_plaque.cxr.synthetic import write_manifest
    from napari_plaque.cxr.train import train_cxr

    root = tmp_path_factory.mktemp("cxr_ood")
    torch.manual_seed(0)
    man = write_manifest(root / "train", 40, size=64, seed=0)
    res = train_cxr(man, root / "m.pt", folds=0, epochs=1, batch_size=16, image_size=64,
                    width=8, seed=0, synthetic=True)  # fmt: skip
    return root, res.path


def test_checkpoint_stores_the_training_reference_and_flags_what_is_not_like_it(
    trained, pydicom_testfile
):
    from napari_plaque.cxr.model import predict_radiograph
    from napari_plaque.cxr.synthetic import write_manifest
    from napari_plaque.models.checkpoint import load_checkpoint
    from napari_plaque.samples.ivus import make_pullback_frames

    root, model = trained
    ref = load_checkpoint(model).metadata["ood"]
    assert ref["n_images"] >= 20 and ref["threshold"] >= 4.0
    assert len(ref["mean"]) == len(ref["std"]) == len(signature(np.zeros((64, 64))))
    held = write_manifest(root / "held", 4, size=64, seed=7)
    paths = [held.parent / line.split(",")[0] for line in held.read_text().splitlines()[1:]]
    clin = {"age": 60.0, "sex": "M", "bmi": 26.0}
    for p in paths:  # unseen synthetic radiographs of the training kind: no OOD flag
        pred = predict_radiograph(model, p, clinical=clin, device="cpu")
        assert pred.meta["ood"]["in_distribution"] is True, pred.warnings
        assert not pred.meta["ood"]["flagged"]
    tibia = read_radiograph(pydicom_testfile("RG3_UNCR.dcm")).bone_bright()
    frames, _ = make_pullback_frames(n_frames=2, seed=0)
    odd = {
        "tibia.png": _u8(tibia[::8, ::8]),  # the extremity CR without its header
        "ivus.png": _u8(np.asarray(frames[0])),  # an IVUS frame saved as PNG
        "black.png": np.zeros((64, 64), np.uint8),
    }
    for name, arr in odd.items():
        pred = predict_radiograph(model, _png(root / name, arr), clinical=clin, device="cpu")
        facts = pred.meta["ood"]
        assert facts["flagged"] and facts["in_distribution"] is False, (name, facts)
        assert any("outside the model's training distribution" in w for w in pred.warnings)
    black = predict_radiograph(model, root / "black.png", clinical=clin, device="cpu")
    assert any("uniform" in w for w in black.warnings)


def test_reference_needs_images_and_ignores_a_malformed_one():
    from napari_plaque.cxr.ood import check_input

    with pytest.raises(ValueError, match="two or more"):
        ood_reference(np.zeros((1, 32, 32)))
    x = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    ref = ood_reference(x)
    facts, warns = check_input(x[0], {"ood": {**ref, "mean": [0.0]}})  # wrong length
    assert facts["score"] is None and NO_REFERENCE in warns
    facts, warns = check_input(x[0], {"ood": ref})
    assert facts["in_distribution"] is True and warns == []


@pytest.mark.gui
def test_the_cxr_dock_shows_the_flag(make_napari_viewer, qtbot, pydicom_testfile):
    viewer = make_napari_viewer()
    viewer.open(str(pydicom_testfile("RG3_UNCR.dcm")), plugin="napari-plaque")
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Radiograph CAC category")
    w.run()
    qtbot.waitUntil(lambda: w.last_result is not None, timeout=60000)
    assert "FLAGGED" in w.status.text()
    notes = " ".join(lbl.text() for lbl in w.findChildren(type(w.status)))
    assert "BodyPartExamined is 'EXTREMITY'" in notes
    assert "outside the model's training distribution" in notes


def test_evaluation_counts_flagged_images(trained, tmp_path, capsys):
    """An external evaluation that holds non-chest images says how many, on stderr too."""
    from napari_plaque.cxr.synthetic import write_manifest

    _, model = trained
    man = write_manifest(tmp_path / "ev", 6, size=64, seed=3)
    lines = man.read_text().splitlines()
    _png(man.parent / "black.png", np.zeros((64, 64), np.uint8))
    man.write_text("\n".join([*lines, "black.png,0.0,60,M,26,pblack"]) + "\n")
    assert main(["cxr", "evaluate", str(model), str(man), "--json"]) == 0
    cap = capsys.readouterr()
    rep = json.loads(cap.out)
    assert rep["n_flagged"] == 1 and [r["flagged"] for r in rep["rows"]][-1] is True
    assert "1 of 7 images are flagged" in cap.err
