"""``api.train`` / ``api.predict`` / ``api.export_model`` against the CLI (issue 23)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_plaque import api  # noqa: E402
from napari_plaque.cli import main  # noqa: E402
from napari_plaque.io import read_labels  # noqa: E402
from napari_plaque.io.nifti import write_nifti  # noqa: E402
from napari_plaque.models import PREDICT_DEFAULTS, TRAIN_OPTION_DEFAULTS, TrainSettings  # noqa: E402
from napari_plaque.models.synthetic import synthetic_ct_case, synthetic_polar_pullback  # noqa: E402


def _cli_json(capsys, argv) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_defaults_are_read_from_the_core():
    import inspect

    from napari_plaque.api.deep import predict, train

    p = inspect.signature(predict).parameters
    assert p["device"].default == PREDICT_DEFAULTS["device"]
    assert p["overlap"].default == PREDICT_DEFAULTS["overlap"]
    assert p["blend"].default == PREDICT_DEFAULTS["blend"]
    t = inspect.signature(train).parameters
    ts = TrainSettings()
    for k in ("epochs", "lr", "seed", "patience", "val_fraction", "device"):
        assert t[k].default == getattr(ts, k), k
    for k, v in TRAIN_OPTION_DEFAULTS.items():
        assert t[k].default == v, k


def test_predict_demo_ct_model_matches_the_cli(tmp_path, capsys):
    vol, _ = synthetic_ct_case((3, 24, 28), seed=2)
    img = write_nifti(tmp_path / "ct.nii.gz", vol.hu.astype(np.int16), vol.spacing_mm)
    cli = _cli_json(capsys, ["predict", "demo_ccta_plaque", str(img), "--out",
                             str(tmp_path / "cli.npy"), "--json", "--device", "cpu"])
    res = api.predict("demo_ccta_plaque", str(img), out=tmp_path / "cli.npy", device="cpu")
    assert json.loads(res.to_json_text()) == cli
    assert res.to_rows()[0]["voxels_background"] == cli["voxels"]["background"]
    # an in-memory volume (the same file, read) gives the same labels
    from napari_plaque.io import read_image

    mem = api.predict("demo_ccta_plaque", read_image(img), out=tmp_path / "mem.npy",
                      device="cpu")
    assert np.array_equal(read_labels(tmp_path / "mem.npy"), read_labels(tmp_path / "cli.npy"))
    assert mem.to_dict()["voxels"] == cli["voxels"]
    with pytest.raises(ValueError, match="lab.txt"):
        api.predict("demo_ccta_plaque", vol, out=tmp_path / "lab.txt")


def test_predict_demo_alines_model_matches_the_cli(tmp_path, capsys):
    from napari_plaque.samples.ivus import make_ivus_sample

    pb, _ = make_ivus_sample(tmp_path / "pb.dcm", n_frames=4, size=96, seed=1)
    cli = _cli_json(capsys, ["predict", "demo_alines", str(tmp_path / "pb.dcm"), "--out",
                             str(tmp_path / "a.json"), "--json"])
    res = api.predict("demo_alines", str(tmp_path / "pb.dcm"), out=tmp_path / "a.json")
    assert json.loads(res.to_json_text()) == cli and "ics" in cli
    mem = api.predict("demo_alines", pb, out=tmp_path / "m.json")
    assert mem.to_dict()["calcium"] == cli["calcium"]
    with pytest.raises(ValueError, match="arcs .json"):
        api.predict("demo_alines", pb, out=tmp_path / "m.npy")


def test_predict_refuses_a_radiograph_model(tmp_path):
    with pytest.raises(ValueError, match="cxr predict"):
        api.predict("demo_cxr", np.zeros((4, 4)), out=tmp_path / "x.npy")


def test_train_alines_matches_the_cli(tmp_path, capsys):
    from napari_plaque.ivus.dataset import write_aline_dataset

    pbs = [(f"p{s}", *synthetic_polar_pullback(12, seed=s)) for s in range(2)]
    data = write_aline_dataset(tmp_path / "ds", pbs, ["calcium", "attenuation"], 4.0)
    args = ["--task", "alines", "--width", "4", "--epochs", "1", "--threads", "1"]
    cli = _cli_json(capsys, ["train", str(data), "--out", str(tmp_path / "c.pt"), *args,
                             "--json"])
    epochs = []
    res = api.train(str(data), task="alines", out=tmp_path / "a.pt", width=4, epochs=1,
                    threads=1, on_epoch=epochs.append)
    got = res.to_dict()
    assert got["model"] == str(tmp_path / "a.pt") and cli["model"] == str(tmp_path / "c.pt")
    for k in ("task", "best_epoch", "epochs_run", "stopped_early"):
        assert got[k] == cli[k], k
    assert set(got["metrics"]) == set(cli["metrics"])
    assert len(epochs) == 1 and res.to_rows()[0]["epoch"] == epochs[0]["epoch"]
    with pytest.raises(ValueError, match="--task"):
        api.train(str(data), task="nope", out=tmp_path / "x.pt")


def test_export_model_torchscript(tmp_path, capsys):
    res = api.export_model("demo_alines", torchscript=tmp_path / "m.ts")
    assert res.to_dict() == {"out": str(tmp_path / "m.ts"), "format": "torchscript"}
    assert torch.jit.load(str(tmp_path / "m.ts")) is not None
    assert main(["export-model", "demo_alines", "--torchscript", str(tmp_path / "c.ts")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'c.ts'}"
    with pytest.raises(ValueError, match="one of"):
        api.export_model("demo_alines")


def test_export_ct_dataset_matches_the_cli(tmp_path, capsys):
    from napari_plaque.models.data import read_ct_training_set

    pairs = []
    for s in range(2):
        vol, lab = synthetic_ct_case((3, 32, 32), seed=s)
        img = write_nifti(tmp_path / f"i{s}.nii.gz", vol.hu, vol.spacing_mm)
        np.save(tmp_path / f"l{s}.npy", lab)
        pairs += [str(img), str(tmp_path / f"l{s}.npy")]
    opts = ["--patch-size", "1,32,32", "--n-patches", "3", "--classes", "background,calcium"]
    assert main(["export-ct-dataset", *pairs, "--out", str(tmp_path / "cli"), *opts]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'cli'}"
    res = api.export_ct_dataset(list(zip(pairs[::2], pairs[1::2], strict=True)),
                                out=tmp_path / "api", patch_size=(1, 32, 32), n_patches=3,
                                classes="background,calcium")
    assert res.to_dict() == {"out": str(tmp_path / "api"), "format": "patches", "n_cases": 2}
    a, c = read_ct_training_set(tmp_path / "api"), read_ct_training_set(tmp_path / "cli")
    assert a.classes == c.classes and len(a.cases) == len(c.cases)
    for x, y in zip(a.cases, c.cases, strict=True):
        assert x.id == y.id and np.array_equal(x.hu, y.hu) and np.array_equal(x.labels, y.labels)
    with pytest.raises(ValueError, match="pairs"):
        api.export_ct_dataset(pairs[:3], out=tmp_path / "x")
