"""Chest radiographs: reader (real CR from pydicom-data), ordinal model, training, CLI, widget."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque._napari.reader import radiograph_layers
from napari_plaque.cli import main
from napari_plaque.cxr.io import read_radiograph

torch = pytest.importorskip("torch")


def test_real_cr_monochrome1_inverted_and_unknown_spacing(pydicom_testfile):
    unc = read_radiograph(pydicom_testfile("RG1_UNCR.dcm"))
    j2k = read_radiograph(pydicom_testfile("RG1_J2KR.dcm"))
    # the JPEG 2000 twin decodes to identical stored values
    assert np.array_equal(unc.stored, j2k.stored)
    assert unc.photometric == "MONOCHROME1" and unc.inverted
    # stored values are kept; the bone-bright view is the inversion over the value range
    lo, hi = unc.value_range
    assert np.allclose(unc.bone_bright().astype(float), lo + hi - unc.stored.astype(float))
    # PixelSpacing "0.000": unknown, never used as 0 mm
    assert unc.spacing_mm is None and not unc.spacing_known
    data, meta, kind = radiograph_layers(pydicom_testfile("RG1_UNCR.dcm"))[0]
    assert kind == "image"
    assert tuple(meta.get("scale", (1.0, 1.0))) == (1.0, 1.0)
    assert "PatientName" not in json.dumps(meta, default=str)


def test_png_radiograph_is_read_through_the_napari_reader(tmp_path):
    from PIL import Image

    from napari_plaque._napari.reader import get_reader

    img = (np.add.outer(np.arange(64), np.arange(64)) % 255).astype(np.uint8)
    p = tmp_path / "cxr.png"
    Image.fromarray(img).save(p)
    rg = read_radiograph(p)
    assert np.array_equal(rg.stored, img) and rg.spacing_mm is None
    layers = get_reader(str(p))(str(p))
    assert layers[0][2] == "image" and np.asarray(layers[0][0]).shape == (64, 64)


def test_outputs_are_ordered_on_any_input():
    from napari_plaque.cxr.model import CXRNet

    torch.manual_seed(0)
    for n_clin in (0, 3):
        net = CXRNet(width=8, n_clinical=n_clin).eval()
        # push the raw head to extremes: order must hold by construction, not by training
        with torch.no_grad():
            net.head.bias.copy_(torch.tensor([-5.0, 8.0, 12.0]))
            x = torch.randn(6, 1, 32, 32) * 10
            clin = torch.randn(6, n_clin) * 10 if n_clin else None
            p = torch.sigmoid(net(x, clin)).numpy()
        assert np.all(p[:, 0] >= p[:, 1]) and np.all(p[:, 1] >= p[:, 2])


def test_demo_model_predicts_ordered_probabilities_and_says_synthetic(tmp_path, pydicom_testfile):
    out = tmp_path / "sal.npy"
    f = pydicom_testfile("RG1_UNCR.dcm")
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["cxr", "predict", "demo_cxr", str(f), "--json", "--saliency", str(out)])
    assert rc == 0
    res = json.loads(buf.getvalue())
    assert res["p_cac_gt0"] >= res["p_cac_ge100"] >= res["p_cac_ge400"]
    assert res["category"] in ("0", "1-99", "100-399", ">=400")
    assert res["synthetic_training"] is True
    assert any("spacing unknown" in w for w in res["warnings"])
    sal = np.load(out)
    assert sal.shape == read_radiograph(f).stored.shape and np.isfinite(sal).all()


def test_malicious_checkpoint_is_refused(tmp_path, pydicom_testfile):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('" + str(tmp_path / "pwned") + "', 'w').write('x')",))

    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": Evil(), "metadata": "{}"}, bad, pickle_protocol=2)
    rc = main(["cxr", "predict", str(bad), str(pydicom_testfile("RG1_UNCR.dcm")), "--json"])
    assert rc == 2
    assert not (tmp_path / "pwned").exists()


def test_synthetic_training_lowers_loss_and_beats_chance(tmp_path):
    from napari_plaque.cxr.synthetic import write_manifest
    from napari_plaque.cxr.train import evaluate_cxr, train_cxr

    torch.manual_seed(0)
    man = write_manifest(tmp_path / "train", 96, size=64, seed=0, signal=2.0)
    res = train_cxr(
        man, tmp_path / "m.pt", folds=0, epochs=6, batch_size=16, image_size=64, width=8,
        seed=0, synthetic=True, patience=10,
    )
    losses = [h["train_loss"] for h in res.history if "train_loss" in h]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    held = write_manifest(tmp_path / "held", 60, size=64, seed=1, signal=2.0)
    rep = evaluate_cxr(res.path, held)
    aucs = json.dumps(rep)
    assert "auc" in aucs
    gt0 = _find_auc(rep, "gt0")
    assert gt0 is not None and gt0 > 0.6, rep


def _find_auc(obj, key):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if key in k and "auc" in k and isinstance(v, (int, float)):
                return float(v)
            if key in k and isinstance(v, dict) and isinstance(v.get("auc"), (int, float)):
                return float(v["auc"])
            found = _find_auc(v, key)
            if found is not None:
                return found
    return None


@pytest.mark.gui
def test_widget_through_the_plugin_menu(make_napari_viewer, qtbot, pydicom_testfile):
    viewer = make_napari_viewer()
    viewer.open(str(pydicom_testfile("RG1_UNCR.dcm")), plugin="napari-plaque")
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Radiograph CAC category")
    n0 = len(viewer.layers)
    w.run()
    qtbot.waitUntil(lambda: len(viewer.layers) > n0, timeout=60000)
    names = [layer.name for layer in viewer.layers]
    assert any("saliency" in n.lower() or "grad" in n.lower() for n in names), names


def test_predict_cohort_through_the_runner(tmp_path, capsys):
    """A manifest of radiographs: one row per study (with provenance), a broken one isolated."""
    import csv

    from napari_plaque.cxr.synthetic import write_manifest

    man = write_manifest(tmp_path / "imgs", 3, size=96, seed=2)
    (tmp_path / "imgs" / "broken.png").write_bytes(b"not a png")
    rows = list(csv.DictReader(man.open()))
    cohort = tmp_path / "cohort.csv"
    cohort.write_text(
        "study_id,path\n"
        + "".join(f"s{i},imgs/{r['path']}\n" for i, r in enumerate(rows))
        + "bad,imgs/broken.png\n"
    )
    out = tmp_path / "pred.csv"
    rc = main(["cxr", "predict", "demo_cxr", "--manifest", str(cohort), "--table", str(out)])
    assert rc == 1  # one study failed, the others completed
    table = list(csv.DictReader(out.open()))
    assert [r["study"] for r in table] == ["s0", "s1", "s2", "bad"]
    for r in table[:3]:
        assert r["status"] == "ok"
        assert float(r["p_cac_gt0"]) >= float(r["p_cac_ge100"]) >= float(r["p_cac_ge400"])
        assert r["params_hash"] and r["napari_plaque_version"]
    assert table[3]["status"] == "error" and "broken.png" in table[3]["error"]
    # the same radiograph alone gives the same probability as in the cohort
    capsys.readouterr()
    assert main(["cxr", "predict", "demo_cxr", str(tmp_path / "imgs" / rows[0]["path"]), "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert abs(single["p_cac_gt0"] - float(table[0]["p_cac_gt0"])) < 1e-5


def test_predict_refuses_a_broken_radiograph_naming_it(tmp_path, capsys, pydicom_testfile):
    bad = tmp_path / "truncated.dcm"
    bad.write_bytes(pydicom_testfile("RG1_UNCR.dcm").read_bytes()[:2000])  # header, no pixels
    out = tmp_path / "sal.npy"
    rc = main(["cxr", "predict", "demo_cxr", str(bad), "--json", "--saliency", str(out)])
    assert rc == 2
    assert "truncated.dcm" in capsys.readouterr().err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
