"""Deep models core: checkpoint safety, training, inference consistency, dataset export."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_plaque.io.errors import FormatError  # noqa: E402
from napari_plaque.ivus.dataset import read_aline_dataset, write_aline_dataset  # noqa: E402
from napari_plaque.ivus.deep import predict_polar, predict_pullback, train_alines  # noqa: E402
from napari_plaque.models.checkpoint import (  # noqa: E402
    export_torchscript,
    load_checkpoint,
    make_metadata,
    read_metadata,
    save_model,
)
from napari_plaque.models.data import (  # noqa: E402
    ct_training_set_from_arrays,
    export_ct_patches,
    export_nnunet,
    read_ct_training_set,
)
from napari_plaque.models.inference import predict_volume, select_device  # noqa: E402
from napari_plaque.models.nets import ALineNet, UNet  # noqa: E402
from napari_plaque.models.synthetic import (  # noqa: E402
    synthetic_ct_case,
    synthetic_polar_pullback,
)
from napari_plaque.models.train import state_path, train_ctseg  # noqa: E402
from napari_plaque.types import Pullback  # noqa: E402

CLASSES = ["calcium", "attenuation"]


def _randomise_bn(net) -> None:
    """Non-trivial BatchNorm statistics, so eval-mode outputs are not a near-identity."""
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _aline_model(tmp_path, n_alines=90, depth=48, depth_mm=4.0, context=1):
    torch.manual_seed(0)
    net = ALineNet(n_classes=2, context=context, width=4, n_blocks=2, k_smooth=5)
    _randomise_bn(net)
    meta = make_metadata(
        net,
        "alines",
        CLASSES,
        {"kind": "uint8_scale", "scale": 1 / 255},
        {"polar": {"n_alines": n_alines, "depth_samples": depth, "depth_mm": depth_mm}},
        {"synthetic": True},
    )
    return save_model(tmp_path / "alines.pt", net, meta)


def _unet_model(tmp_path, dims=2, levels=2):
    torch.manual_seed(0)
    net = UNet(dims=dims, n_classes=3, base_channels=4, levels=levels)
    _randomise_bn(net)
    meta = make_metadata(
        net,
        "ct-seg",
        ["background", "calcium", "other"],
        {"kind": "hu_window", "window_hu": [-300, 1300]},
        {"spacing_mm": [1.0, 0.5, 0.5]},
    )
    return save_model(tmp_path / f"unet{dims}d.pt", net, meta)


@pytest.fixture(scope="module")
def aline_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("alines")
    pbs = []
    for s in range(4):
        polar, labels = synthetic_polar_pullback(40, seed=s)
        pbs.append((f"pb{s}", polar, labels))
    return write_aline_dataset(root / "ds", pbs, CLASSES, depth_mm=4.0)


# --------------------------------------------------------------------------- torch optional


def test_models_import_without_torch_gives_install_hint():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import napari_plaque.models as m\n"
        "assert not m.torch_available()\n"
        "try:\n"
        "    m.load_checkpoint('x.pt')\n"
        "except ImportError as e:\n"
        "    print('HINT', e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "pip install 'napari-plaque[torch]'" in res.stdout


def test_models_package_import_does_not_import_torch():
    code = (
        "import sys, napari_plaque.models, napari_plaque.cli.models; print('torch' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "False", res.stderr


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_and_metadata(tmp_path):
    path = _aline_model(tmp_path)
    lm = load_checkpoint(path)
    meta = lm.metadata
    assert meta["format"] == "napari-plaque/model" and meta["version"] == 1
    assert meta["architecture"] == "ALineNet" and meta["hparams"]["width"] == 4
    assert meta["classes"] == CLASSES and meta["task"] == "alines"
    assert set(meta["software"]) >= {"napari_plaque", "torch", "python"}
    assert lm.synthetic is True
    assert read_metadata(path)["hparams"] == meta["hparams"]
    # the reloaded net computes the same as a second load
    x = torch.rand(2, 3, 90, 48)
    with torch.no_grad():
        assert torch.allclose(lm.module(x), load_checkpoint(path).module(x))
    # the file holds only tensors and a JSON string
    raw = torch.load(path, weights_only=True)
    assert isinstance(raw["metadata"], str) and json.loads(raw["metadata"])["task"] == "alines"
    assert all(torch.is_tensor(v) for v in raw["state_dict"].values())


class _Evil:
    """A pickle payload whose loading would write a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_malicious_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned.txt"
    bad = tmp_path / "evil.pt"
    torch.save({"metadata": "{}", "state_dict": {}, "payload": _Evil(marker)}, bad)
    with pytest.raises(FormatError) as err:
        load_checkpoint(bad)
    assert str(bad) in str(err.value) and "refused" in str(err.value)
    assert not marker.exists()
    with pytest.raises(FormatError):
        read_metadata(bad)
    assert not marker.exists()
    # the payload is real: an unsafe load would have run it
    torch.load(bad, weights_only=False)
    assert marker.read_text() == "pwned"


def test_bad_model_files_are_refused_with_the_file_name(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(FormatError, match="junk.pt"):
        load_checkpoint(junk)
    with pytest.raises(FormatError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"metadata": json.dumps({"format": "something-else"}), "state_dict": {}}, other)
    with pytest.raises(FormatError, match="other.pt"):
        load_checkpoint(other)
    # weights that do not fit the architecture
    good = load_checkpoint(_aline_model(tmp_path))
    meta = dict(good.metadata, hparams={**good.metadata["hparams"], "width": 8})
    wrong = tmp_path / "wrong.pt"
    torch.save({"metadata": json.dumps(meta), "state_dict": good.module.state_dict()}, wrong)
    with pytest.raises(FormatError, match="do not fit"):
        load_checkpoint(wrong)


def test_torchscript_export_matches(tmp_path):
    lm = load_checkpoint(_unet_model(tmp_path))
    out = export_torchscript(lm, tmp_path / "m.ts")
    extra = {"metadata.json": ""}
    ts = torch.jit.load(str(out), _extra_files=extra)
    assert json.loads(extra["metadata.json"])["task"] == "ct-seg"
    x = torch.rand(1, 1, 16, 24)
    with torch.no_grad():
        assert torch.allclose(ts(x), lm.module(x), atol=1e-5)


def test_onnx_export(tmp_path):
    pytest.importorskip("onnx")
    from napari_plaque.models.checkpoint import export_onnx

    out = export_onnx(load_checkpoint(_unet_model(tmp_path)), tmp_path / "m.onnx")
    assert out.stat().st_size > 0


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            select_device("cuda")


# --------------------------------------------------------------------------- A-line inference


def test_aline_inference_identical_across_batch_sizes(tmp_path):
    path = _aline_model(tmp_path)
    polar, _ = synthetic_polar_pullback(13, seed=3)
    runs = [predict_polar(path, polar, batch_size=b, device="cpu").probs for b in (1, 4, 64)]
    assert runs[0].shape == (13, 90, 2)
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-5)
    np.testing.assert_allclose(runs[0], runs[2], atol=1e-5)


class _CountingFrames:
    """A lazy frame array that records which frame ranges were read."""

    def __init__(self, arr):
        self.arr = arr
        self.shape = arr.shape
        self.reads = []

    def __getitem__(self, key):
        self.reads.append(key)
        return self.arr[key]


def test_pullback_streamed_in_batches_and_batch_size_independent(tmp_path):
    path = _aline_model(tmp_path, depth_mm=3.0)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (11, 64, 64), dtype=np.uint8)
    lazy = _CountingFrames(frames)
    pb = Pullback(lazy, 0.4, 0.5, (0.05, 0.05))
    a = predict_pullback(path, pb, batch_size=3, device="cpu")
    # read in bounded slices (batch + context), never the whole pullback at once
    assert len(lazy.reads) == 4
    assert all((k.stop - k.start) <= 3 + 2 for k in lazy.reads)
    b = predict_pullback(path, pb, batch_size=1, device="cpu")
    c = predict_pullback(path, pb, batch_size=32, device="cpu")
    np.testing.assert_allclose(a.probs, b.probs, atol=1e-5)
    np.testing.assert_allclose(a.probs, c.probs, atol=1e-5)
    assert a.frame_shape == (64, 64) and a.center == (31.5, 31.5)


def test_pullback_inference_matches_the_ivus_export_sampling(tmp_path):
    """predict_pullback (cartesian frames) == predict_polar (the exporter's polar frames)."""
    from napari_plaque.ivus.arcs import ArcSet
    from napari_plaque.ivus.dataset import export_training_set
    from napari_plaque.samples.ivus import make_pullback_frames

    frames, truth = make_pullback_frames(n_frames=10, size=96, seed=2)
    pb = Pullback(frames, 0.4, 0.5, tuple(truth["pixel_spacing_mm"]), uid_hash="pbtest")
    arcs = ArcSet.from_dicts(truth["arcs"], 10, frames.shape[1:], list(truth["classes"]))
    out = export_training_set([(pb, arcs)], tmp_path / "ds", n_alines=90, depth_samples=48)
    ds = read_aline_dataset(out)
    assert ds.classes == CLASSES and ds.pullbacks[0].polar.shape == (10, 90, 48)
    path = _aline_model(tmp_path, depth_mm=ds.depth_mm)
    via_frames = predict_pullback(path, pb, batch_size=4, device="cpu").probs
    via_polar = predict_polar(path, ds.pullbacks[0].polar, batch_size=4, device="cpu").probs
    np.testing.assert_allclose(via_frames, via_polar, atol=1e-5)


# --------------------------------------------------------------------------- volume inference


@pytest.mark.parametrize("dims", [2, 3])
def test_volume_inference_identical_across_tile_and_batch_sizes(tmp_path, dims):
    path = _unet_model(tmp_path, dims=dims, levels=2)
    if dims == 2:
        vol, _ = synthetic_ct_case((10, 30, 38), seed=1)
        tiles = [(1, 28, 32), (1, 40, 60), (1, 64, 64)]
    else:
        vol, _ = synthetic_ct_case((6, 16, 20), seed=1)
        tiles = [(28, 28, 28), (28, 32, 36), (32, 40, 48)]
    preds = [
        predict_volume(path, vol, tile_size=t, batch_size=b, device="cpu", return_probs=True)
        for t, b in zip(tiles, (1, 3, 2), strict=True)
    ]
    assert preds[0].meta["tiles"] > preds[2].meta["tiles"] >= 1
    for p in preds[1:]:
        np.testing.assert_allclose(p.probs, preds[0].probs, atol=1e-5)
        assert np.array_equal(p.labels, preds[0].labels)
    lin = predict_volume(path, vol, tile_size=tiles[0], blend="linear", return_probs=True)
    np.testing.assert_allclose(lin.probs, preds[0].probs, atol=1e-5)
    assert preds[0].labels.shape == vol.shape and preds[0].probs.shape == (3, *vol.shape)
    np.testing.assert_allclose(preds[0].probs.sum(0), 1.0, atol=1e-5)


def test_volume_inference_warns_on_spacing_mismatch(tmp_path):
    path = _unet_model(tmp_path)
    vol, _ = synthetic_ct_case((4, 16, 16), spacing_mm=(1.0, 1.0, 0.5))
    with pytest.warns(UserWarning, match="spacing"):
        pred = predict_volume(path, vol, device="cpu")
    assert pred.warnings


# --------------------------------------------------------------------------- training


def test_aline_training_lowers_loss_and_beats_baseline_on_held_out(tmp_path, aline_data):
    out = tmp_path / "m.pt"
    res = train_alines(aline_data, out, epochs=6, batch_size=8, width=8, seed=0, device="cpu")
    hist = res.history
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert min(h["val_loss"] for h in hist) < hist[0]["val_loss"]
    lm = load_checkpoint(out)
    tr = lm.metadata["training"]
    assert tr["split"] == "pullback" and len(tr["val_ids"]) == 1
    assert set(tr["train_ids"]).isdisjoint(tr["val_ids"])
    assert lm.metadata["input"]["polar"] == {
        "n_alines": 90,
        "depth_samples": 48,
        "depth_mm": 4.0,
        "center": "catheter",
    }
    # held-out pullback (a seed never seen): beat the trivial all-negative baseline
    polar, truth = synthetic_polar_pullback(40, seed=11)
    pred = predict_polar(lm, polar, device="cpu").labels
    for c in range(2):
        t, p = truth[:, :, c], pred[:, :, c]
        acc = (t == p).mean()
        base_acc = (~t).mean()
        f1 = 2 * (t & p).sum() / (t.sum() + p.sum())
        assert acc > base_acc + 0.02
        assert f1 > 0.6, (c, f1)


def test_aline_training_resumes_and_refuses_other_settings(tmp_path, aline_data):
    out = tmp_path / "r.pt"
    train_alines(aline_data, out, epochs=2, batch_size=16, width=4, device="cpu")
    assert state_path(out).is_file()
    res = train_alines(aline_data, out, epochs=3, batch_size=16, width=4, device="cpu", resume=True)
    assert [h["epoch"] for h in res.history] == [1, 2, 3]
    with pytest.raises(FormatError, match="cannot resume"):
        train_alines(aline_data, out, epochs=4, batch_size=16, width=8, resume=True)


def test_aline_training_early_stopping(tmp_path, aline_data):
    res = train_alines(
        aline_data, tmp_path / "e.pt", epochs=30, batch_size=16, width=4, patience=1, lr=1e-9
    )
    assert res.stopped_early and len(res.history) < 30


def test_aline_dataset_errors_name_the_file(tmp_path, aline_data):
    with pytest.raises(FormatError, match="manifest"):
        read_aline_dataset(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    with pytest.raises(FormatError, match="manifest.json"):
        read_aline_dataset(bad)
    man = json.loads((aline_data / "manifest.json").read_text())
    man["pullbacks"][0]["polar_file"] = "polar/nothere.npz"
    miss = tmp_path / "miss"
    miss.mkdir()
    (miss / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(FormatError, match="nothere.npz"):
        read_aline_dataset(miss)


def test_ct_training_lowers_loss_and_beats_baseline(tmp_path):
    cases = [synthetic_ct_case((6, 40, 40), n_blobs=5, seed=s) for s in range(4)]
    ts = ct_training_set_from_arrays(
        [c[0] for c in cases], [c[1] for c in cases], ["background", "calcium"]
    )
    out = tmp_path / "ct.pt"
    res = train_ctseg(
        ts,
        out,
        epochs=8,
        dims=2,
        patch_size=(1, 32, 32),
        base_channels=4,
        levels=2,
        patches_per_epoch=32,
        batch_size=8,
        device="cpu",
        patience=8,
        synthetic=True,
    )
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    lm = load_checkpoint(out)
    assert lm.metadata["normalisation"]["window_hu"] == [-300.0, 1300.0]
    assert lm.metadata["input"]["spacing_mm"] == [1.0, 0.5, 0.5]
    # held-out volume: the model finds the blobs, the all-background baseline finds nothing
    vol, truth = synthetic_ct_case((6, 40, 40), n_blobs=5, seed=21)
    pred = predict_volume(lm, vol, device="cpu").labels
    dice = 2 * ((pred == 1) & (truth == 1)).sum() / ((pred == 1).sum() + (truth == 1).sum())
    assert dice > 0.6
    assert (pred == truth).mean() > (truth == 0).mean()


def test_ct_training_dice_excludes_classes_absent_from_prediction_and_truth(tmp_path):
    """A class in neither prediction nor truth has no Dice (NaN), not 1.0 (issue 21 item 10)."""
    from napari_plaque.models.train import _dice_or_nan, _nan_mean

    empty = np.zeros((4, 4), bool)
    assert np.isnan(_dice_or_nan(empty, empty))
    assert _dice_or_nan(empty, ~empty) == 0.0
    assert _nan_mean([0.5, float("nan")]) == 0.5 and np.isnan(_nan_mean([float("nan")]))
    cases = [synthetic_ct_case((6, 32, 32), n_blobs=3, seed=s) for s in range(3)]
    # class 2 ("other") is named but never labelled
    ts = ct_training_set_from_arrays(
        [c[0] for c in cases], [c[1] for c in cases], ["background", "calcium", "other"]
    )
    out = tmp_path / "ct3.pt"
    res = train_ctseg(
        ts, out, epochs=1, dims=2, patch_size=(1, 32, 32), base_channels=4, levels=2,
        patches_per_epoch=8, batch_size=8, val_patches=4, device="cpu",
    )  # fmt: skip
    rec = res.history[0]
    if np.isnan(rec["other_dice"]):  # the untrained net predicted no "other" voxel
        assert rec["absent_classes"] == ["other"]
        assert rec["mean_dice"] == rec["calcium_dice"]
    else:  # it predicted some: they are all false positives
        assert rec["other_dice"] == 0.0
    assert rec["mean_dice"] <= 1.0 and not (rec["mean_dice"] == 1.0 and rec["accuracy"] < 0.5)
    meta = load_checkpoint(out).metadata["metrics"]
    assert meta["other_baseline_dice"] is None  # NaN is stored as null in the checkpoint


def test_ct_patch_and_nnunet_exports_read_back(tmp_path):
    cases = [synthetic_ct_case((6, 20, 24), seed=s) for s in range(2)]
    vols, labs = [c[0] for c in cases], [c[1] for c in cases]
    pdir = export_ct_patches(vols, labs, tmp_path / "p", (1, 16, 16), n_patches=5)
    ts = read_ct_training_set(pdir)
    assert len(ts.cases) == 10 and ts.cases[0].hu.shape == (1, 16, 16)
    assert ts.classes == ["background", "label_1"]
    assert len({c.id for c in ts.cases}) == 2  # grouped by source case
    assert any(c.labels.any() for c in ts.cases)  # foreground-centred sampling

    root = export_nnunet(vols, labs, tmp_path / "nn", 7, "Calc", ["background", "calcium"])
    assert root.name == "Dataset007_Calc"
    ds = json.loads((root / "dataset.json").read_text())
    assert ds["labels"] == {"background": 0, "calcium": 1} and ds["numTraining"] == 2
    assert ds["channel_names"] == {"0": "CT"} and ds["file_ending"] == ".nii.gz"
    imgs = sorted((root / "imagesTr").iterdir())
    assert len(imgs) == 2 and all(p.name.endswith("_0000.nii.gz") for p in imgs)
    back = read_ct_training_set(root)
    assert back.classes == ["background", "calcium"]
    got = sorted((c.labels.sum(), c.hu.shape) for c in back.cases)
    want = sorted((lab.sum(), lab.shape) for lab in labs)
    assert got == want
    with pytest.raises(ValueError, match="does not match"):
        export_ct_patches(vols[:1], [labs[1][:3]], tmp_path / "x")


# --------------------------------------------------------------------------- shipped demos


def test_shipped_demo_models_load_and_say_synthetic():
    from napari_plaque.models import pretrained_models

    shipped = pretrained_models()
    assert set(shipped) >= {"demo_alines", "demo_ccta_plaque"}
    for path in shipped.values():
        assert path.stat().st_size < 2 * 1024 * 1024
        lm = load_checkpoint(path)
        assert lm.synthetic and "synthetic" in lm.metadata["training"]["notes"]
        assert "held_out" in lm.metadata["metrics"]


def test_demo_alines_model_detects_calcium_on_an_unseen_synthetic_pullback():
    from napari_plaque.models import pretrained_models
    from napari_plaque.samples.ivus import make_pullback_frames

    frames, truth = make_pullback_frames(n_frames=40, seed=202)
    pb = Pullback(frames, 0.4, 0.5, tuple(truth["pixel_spacing_mm"]))
    pred = predict_pullback(pretrained_models()["demo_alines"], pb, device="cpu")
    t, p = truth["labels"][:, :, 0], pred.class_labels("calcium")
    assert t.any()
    assert (t & p).sum() / p.sum() > 0.9  # precision
    assert (t & p).sum() / t.sum() > 0.85  # recall
    assert pred.ics() == pytest.approx(truth["ics"], rel=0.1)


def test_binary_metrics_are_undefined_not_perfect_without_positives():
    """A validation set without calcium, with none predicted: F1, precision and recall are NaN
    (null in JSON), never a vacuous 1.0."""
    import math

    from napari_plaque.models.train import binary_metrics

    none = np.zeros(50, bool)
    m = binary_metrics(none, none)
    assert math.isnan(m["f1"]) and math.isnan(m["precision"]) and math.isnan(m["recall"])
    assert m["accuracy"] == 1.0
    y = np.r_[np.ones(5, bool), np.zeros(45, bool)]
    assert binary_metrics(y, y)["f1"] == 1.0 and binary_metrics(none, y)["f1"] == 0.0
