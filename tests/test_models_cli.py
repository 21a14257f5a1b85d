"""`napari-plaque train / predict / export-model / export-ct-dataset`."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_plaque.cli import main  # noqa: E402
from napari_plaque.io import read_labels  # noqa: E402
from napari_plaque.io.nifti import write_nifti  # noqa: E402
from napari_plaque.ivus.dataset import write_aline_dataset  # noqa: E402
from napari_plaque.ivus.deep import predict_pullback  # noqa: E402
from napari_plaque.models.checkpoint import load_checkpoint, make_metadata, save_model  # noqa: E402
from napari_plaque.models.inference import predict_volume  # noqa: E402
from napari_plaque.models.nets import ALineNet, UNet  # noqa: E402
from napari_plaque.models.synthetic import (  # noqa: E402
    synthetic_ct_case,
    synthetic_polar_pullback,
)


def _json_out(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


def test_train_alines_cli_writes_model_and_resumes(tmp_path, capsys):
    pbs = [(f"p{s}", *synthetic_polar_pullback(20, seed=s)) for s in range(3)]
    data = write_aline_dataset(tmp_path / "ds", pbs, ["calcium", "attenuation"], 4.0)
    out = tmp_path / "m.pt"
    args = ["train", "--task", "alines", str(data), "--out", str(out), "--width", "4"]
    rc = main([*args, "--epochs", "2", "--seed", "3", "--synthetic", "--json"])
    assert rc == 0
    err = capsys.readouterr()
    assert "epoch 1/2: batch 3/3, loss" in err.err  # progress within the epoch (batches)
    summ = json.loads(err.out)
    assert summ["metrics"]["batches"] == 3 and summ["metrics"]["threads"] >= 1
    assert summ["epochs_run"] == 2 and summ["model"] == str(out)
    meta = load_checkpoint(out).metadata
    assert meta["training"]["seed"] == 3 and meta["training"]["synthetic"] is True
    assert main([*args, "--epochs", "3", "--seed", "3", "--resume", "--json"]) == 0
    assert _json_out(capsys)["epochs_run"] == 3


def test_train_bad_data_is_a_user_error(tmp_path, capsys):
    rc = main(["train", "--task", "alines", str(tmp_path), "--out", str(tmp_path / "m.pt")])
    assert rc == 2
    assert "manifest.json" in capsys.readouterr().err


def _ct_model(tmp_path):
    torch.manual_seed(0)
    net = UNet(dims=2, n_classes=2, base_channels=4, levels=2)
    meta = make_metadata(
        net, "ct-seg", ["background", "calcium"], {"kind": "hu_window", "window_hu": [-300, 1300]}
    )
    return save_model(tmp_path / "ct.pt", net, meta)


def test_predict_ct_writes_labels_in_reader_order(tmp_path, capsys):
    model = _ct_model(tmp_path)
    vol, _ = synthetic_ct_case((5, 24, 28), seed=2)
    img = write_nifti(tmp_path / "ct.nii.gz", vol.hu.astype(np.int16), vol.spacing_mm)
    want = predict_volume(model, vol.hu.astype(np.int16), device="cpu").labels
    for name in ("lab.npy", "lab.nii.gz"):
        out = tmp_path / name
        rc = main(
            ["predict", str(model), str(img), "--out", str(out), "--json", "--tile-size", "1,40,40"]
        )
        assert rc == 0
        summ = _json_out(capsys)
        got = read_labels(out)
        assert got.shape == vol.shape
        assert np.array_equal(got, want)
        assert summ["voxels"]["calcium"] == int((want == 1).sum())
    probs = tmp_path / "p.npy"
    assert (
        main(
            [
                "predict",
                str(model),
                str(img),
                "--out",
                str(tmp_path / "l.npy"),
                "--probs",
                str(probs),
            ]
        )
        == 0
    )
    assert np.load(probs).shape == (2, *vol.shape)
    rc = main(["predict", str(model), str(img), "--out", str(tmp_path / "lab.txt")])
    assert rc == 2


def test_predict_ivus_writes_arcs_and_ics(tmp_path, capsys):
    from napari_plaque.ivus.arcs import load_arcs
    from napari_plaque.samples.ivus import make_ivus_sample

    pb, _ = make_ivus_sample(tmp_path / "pb.dcm", n_frames=8, size=96, seed=1)
    torch.manual_seed(0)
    net = ALineNet(n_classes=2, context=1, width=4, n_blocks=2)
    meta = make_metadata(
        net,
        "alines",
        ["calcium", "attenuation"],
        {"kind": "uint8_scale"},
        {"polar": {"n_alines": 90, "depth_samples": 32, "depth_mm": 4.0}, "threshold": 0.5},
    )
    model = save_model(tmp_path / "a.pt", net, meta)
    out = tmp_path / "pred.json"
    rc = main(
        [
            "predict",
            str(model),
            str(tmp_path / "pb.dcm"),
            "--out",
            str(out),
            "--batch-size",
            "3",
            "--json",
        ]
    )
    assert rc == 0
    summ = _json_out(capsys)
    arcs = load_arcs(out, n_frames=8, frame_shape=(96, 96))
    pred = predict_pullback(model, pb, device="cpu")
    lab = arcs.labels(90, ["calcium", "attenuation"])
    assert np.array_equal(lab, pred.labels)
    assert summ["ics"] == pytest.approx(1000 * pred.class_labels("calcium").mean())
    assert summ["n_frames"] == 8


def test_export_model_torchscript(tmp_path, capsys):
    model = _ct_model(tmp_path)
    out = tmp_path / "m.ts"
    assert main(["export-model", str(model), "--torchscript", str(out)]) == 0
    ts = torch.jit.load(str(out))
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(ts(x), load_checkpoint(model).module(x), atol=1e-5)


def test_export_ct_dataset_and_train_ctseg(tmp_path, capsys):
    pairs = []
    for s in range(3):
        vol, lab = synthetic_ct_case((4, 32, 32), seed=s)
        img = write_nifti(tmp_path / f"i{s}.nii.gz", vol.hu, vol.spacing_mm)
        np.save(tmp_path / f"l{s}.npy", lab)
        pairs += [str(img), str(tmp_path / f"l{s}.npy")]
    pdir = tmp_path / "patches"
    rc = main(
        [
            "export-ct-dataset",
            *pairs,
            "--out",
            str(pdir),
            "--patch-size",
            "1,32,32",
            "--n-patches",
            "4",
            "--classes",
            "background,calcium",
        ]
    )
    assert rc == 0 and (pdir / "manifest.json").is_file()
    assert (
        main(["export-ct-dataset", *pairs, "--out", str(tmp_path / "nn"), "--format", "nnunet"])
        == 0
    )
    assert (tmp_path / "nn" / "Dataset501_NapariPlaque" / "dataset.json").is_file()
    out = tmp_path / "ct.pt"
    rc = main(
        [
            "train",
            "--task",
            "ct-seg",
            str(pdir),
            "--out",
            str(out),
            "--epochs",
            "2",
            "--patch-size",
            "1,32,32",
            "--base-channels",
            "4",
            "--levels",
            "2",
            "--json",
        ]
    )
    assert rc == 0
    assert load_checkpoint(out).classes == ["background", "calcium"]
    assert main(["export-ct-dataset", pairs[0], "--out", str(tmp_path / "odd")]) == 2


PHANTOM = (
    __import__("pathlib").Path(__file__).resolve().parents[2] / "shared/data/qrm-phantom-canon"
)


@pytest.mark.skipif(not PHANTOM.is_dir(), reason="real phantom not available")
def test_predict_demo_ct_model_on_the_real_phantom(tmp_path, capsys):
    """The real DICOM series through the shipped demo model: labels in the reader's order."""
    from napari_plaque.io import read_ct

    out = tmp_path / "qrm.nii.gz"
    assert main(["predict", "demo_ccta_plaque", str(PHANTOM), "--out", str(out), "--json"]) == 0
    summ = _json_out(capsys)
    vol = read_ct(PHANTOM)[0]
    lab = read_labels(out)
    assert lab.shape == vol.shape == (47, 512, 512)
    assert summ["synthetic_training"] is True and summ["warnings"] == []
    assert set(np.unique(lab)) <= {0, 1, 2}
    assert summ["voxels"]["background"] == int((lab == 0).sum())
