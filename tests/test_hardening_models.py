"""Model files are validated before use; exports nnU-Net accepts; polar convention; kappa CI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_plaque.io.errors import FormatError

# -- SVM model files ------------------------------------------------------------------------


def _svm(tmp_path, **meta_edit):
    from napari_plaque.ivus.features import FEATURE_NAMES, FEATURE_VERSION
    from napari_plaque.ivus.svm import MODEL_FORMAT, MODEL_VERSION, SVMModel, save_model

    n = len(FEATURE_NAMES)
    meta = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "class": "calcium",
        "feature_names": list(FEATURE_NAMES),
        "feature_version": FEATURE_VERSION,
        "n_alines": 90,
        "depth_samples": 32,
        "depth_mm": 2.0,
        "smooth_alines": 3,
        "smooth_frames": 1,
        "threshold": 0.0,
        "n_train_alines": 100,
        "n_pullbacks": 2,
    }
    arrays = {"coef": np.ones(n), "mean": np.zeros(n), "scale": np.ones(n), "intercept": 0.0}
    for k, v in meta_edit.items():
        if k in arrays:
            arrays[k] = v
        elif v is None:
            meta.pop(k)
        else:
            meta[k] = v
    m = SVMModel(arrays["coef"], arrays["intercept"], arrays["mean"], arrays["scale"], meta)
    return save_model(m, tmp_path / "m.npz")


def test_valid_svm_loads(tmp_path):
    from napari_plaque.ivus.svm import load_model

    assert load_model(_svm(tmp_path)).meta["n_alines"] == 90


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        ({"n_alines": 10**7}, "n_alines"),  # the 179 GiB A-line grid
        ({"depth_samples": -4}, "depth_samples"),
        ({"depth_mm": 0}, "depth_mm"),
        ({"depth_mm": "5"}, "depth_mm"),
        ({"class": None}, "class"),
        ({"smooth_alines": 0}, "smooth_alines"),
        ({"n_train_alines": 0}, "n_train_alines"),
        ({"n_pullbacks": -1}, "n_pullbacks"),
        ({"threshold": float("inf")}, "threshold"),
        ({"scale": np.zeros(1)}, "feature"),
    ],
)
def test_svm_metadata_refused(tmp_path, edit, words):
    from napari_plaque.ivus.features import FEATURE_NAMES
    from napari_plaque.ivus.svm import load_model

    if "scale" in edit:
        edit = {"scale": np.zeros(len(FEATURE_NAMES))}
        words = "scale"
    p = _svm(tmp_path, **edit)
    with pytest.raises(FormatError) as ei:
        load_model(p)
    assert "m.npz" in str(ei.value) and words in str(ei.value)


def test_svm_nan_coefficients_and_garbage_refused(tmp_path):
    from napari_plaque.ivus.features import FEATURE_NAMES
    from napari_plaque.ivus.svm import load_model

    coef = np.ones(len(FEATURE_NAMES))
    coef[2] = np.nan
    with pytest.raises(FormatError, match="NaN"):
        load_model(_svm(tmp_path, coef=coef))
    bad = tmp_path / "nested.npz"
    np.savez(bad, meta_json=np.asarray("[" * 100_000 + "]" * 100_000), coef=coef)
    with pytest.raises(FormatError, match="nested.npz"):
        load_model(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FormatError, match="junk.npz"):
        load_model(junk)


# -- checkpoints ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_raw():
    torch = pytest.importorskip("torch")
    from napari_plaque.models import pretrained_models

    p = pretrained_models()["demo_alines"]
    return torch.load(p, map_location="cpu", weights_only=True)


def _tampered(tmp_path, raw, edit):
    import torch

    meta = json.loads(raw["metadata"])
    text = edit(meta)
    p = tmp_path / "tampered.pt"
    torch.save(
        {
            "metadata": text if isinstance(text, str) else json.dumps(meta),
            "state_dict": raw["state_dict"],
        },
        p,
    )
    return p


def _set(path, value):
    def edit(meta):
        d = meta
        for k in path[:-1]:
            d = d[k]
        if value is _DEL:
            del d[path[-1]]
        else:
            d[path[-1]] = value

    return edit


_DEL = object()


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (_set(["hparams", "width"], 3_000_000), "hparams.width"),  # a 36 GB allocation
        (_set(["hparams", "n_blocks"], 2.5), "hparams.n_blocks"),
        (_set(["hparams", "evil"], 1), "evil"),
        (_set(["input", "polar", "n_alines"], 10**7), "n_alines"),
        (_set(["input", "polar", "depth_mm"], 0), "depth_mm"),
        (_set(["normalisation", "scale"], 0), "scale"),
        (_set(["classes"], "calcium"), "classes"),
        (_set(["classes"], ["calcium"]), "n_classes"),
        (_set(["classes"], _DEL), "lacks"),
        (_set(["version"], "1"), "version"),
        (_set(["hparams"], [1, 2]), "hparams"),
        (_set(["hparams", "context"], _DEL), "lack ['context']"),  # was KeyError at inference
        (_set(["architecture"], "UNet"), "not 'alines'"),
        (_set(["architecture"], "Evil"), "unknown architecture"),
        (lambda meta: "[" * 200_000 + "]" * 200_000, "JSON"),  # RecursionError before
        (lambda meta: json.dumps({**meta, "pad": "x" * 2_000_000}), "too large"),
    ],
)
def test_checkpoint_metadata_refused(tmp_path, demo_raw, edit, words):
    from napari_plaque.models.checkpoint import load_checkpoint

    p = _tampered(tmp_path, demo_raw, edit)
    with pytest.raises(FormatError) as ei:
        load_checkpoint(p)
    assert "tampered.pt" in str(ei.value) and words in str(ei.value), str(ei.value)


def test_ct_checkpoint_window_checked(tmp_path):
    torch = pytest.importorskip("torch")
    from napari_plaque.models import pretrained_models
    from napari_plaque.models.checkpoint import load_checkpoint

    raw = torch.load(pretrained_models()["demo_ccta_plaque"], map_location="cpu", weights_only=True)
    for window, words in (([100.0, 100.0], "empty HU window"), ([0, "x"], r"window_hu\[1\]")):
        p = _tampered(tmp_path, raw, _set(["normalisation", "window_hu"], window))
        with pytest.raises(FormatError, match=words):
            load_checkpoint(p)


def test_checkpoint_save_on_full_disk_names_the_file(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from napari_plaque.models import checkpoint
    from napari_plaque.models.nets import build_model

    model = build_model("ALineNet", {"n_classes": 1, "context": 0, "width": 4, "n_blocks": 1})
    meta = checkpoint.make_metadata(
        model,
        "alines",
        ["calcium"],
        {"kind": "uint8_scale", "scale": 1 / 255},
        {"polar": {"n_alines": 90, "depth_samples": 32, "depth_mm": 2.0}},
        metrics={"val_loss": float("nan")},
    )
    out = tmp_path / "m.pt"
    checkpoint.save_model(out, model, meta)  # NaN metric written as null, standard JSON
    assert checkpoint.read_metadata(out)["metrics"]["val_loss"] is None

    def full(*a, **k):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing "
            "file data/0: file write failed"
        )

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError) as ei:
        checkpoint.save_model(out, model, meta)
    assert ei.value.filename == str(out) and "could not save the model" in str(ei.value)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["m.pt"]  # old kept, no temp left


def test_export_onnx_without_onnx_is_a_clear_cli_error(tmp_path, capsys):
    pytest.importorskip("torch")
    try:
        import onnx  # noqa: F401

        pytest.skip("onnx is installed")
    except ImportError:
        pass
    from napari_plaque.cli import main

    rc = main(["export-model", "demo_alines", "--onnx", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and "onnx package" in err and "pip install" in err
    assert "Traceback" not in err and not (tmp_path / "m.onnx").exists()


# -- nnU-Net export -------------------------------------------------------------------------


def check_nnunet_dataset(root: Path) -> None:
    """nnU-Net v2's dataset rules (nnunetv2.experiment_planning.verify_dataset_integrity and
    LabelManager), reproduced because installing nnunetv2 here would replace torch."""
    from napari_plaque.io.nifti import read_nifti

    d = json.loads((root / "dataset.json").read_text())
    for key in ("labels", "channel_names", "numTraining", "file_ending"):
        assert key in d, f"dataset.json lacks {key}"
    labels = d["labels"]
    assert "background" in labels, "Background label not declared (must be label 0)"
    assert not isinstance(labels["background"], list | tuple) and int(labels["background"]) == 0
    values = sorted({int(x) for v in labels.values() for x in (v if isinstance(v, list) else [v])})
    assert np.all(np.diff(values) == 1) and values[0] == 0, "labels must be 0, 1, 2, ..."
    ending = d["file_ending"]
    n_ch = len(d["channel_names"])
    images = sorted(p.name for p in (root / "imagesTr").iterdir() if p.name.endswith(ending))
    ids = sorted({n[: -(len(ending) + 5)] for n in images})
    assert len(ids) == d["numTraining"], "numTraining does not match the cases in imagesTr"
    for cid in ids:
        for c in range(n_ch):
            assert (root / "imagesTr" / f"{cid}_{c:04d}{ending}").is_file()
        lab = root / "labelsTr" / f"{cid}{ending}"
        assert lab.is_file(), f"no label for {cid}"
        lv = read_nifti(lab)
        iv = read_nifti(root / "imagesTr" / f"{cid}_0000{ending}")
        assert lv.shape == iv.shape and lv.spacing_mm == iv.spacing_mm
        assert set(np.unique(lv.hu).tolist()) <= set(values)
    extra = [p.name for p in (root / "labelsTr").iterdir() if p.name[: -len(ending)] not in ids]
    assert not extra, f"labels without images: {extra}"


def _cases(n, seed=0):
    from napari_plaque.types import CTVolume

    rng = np.random.default_rng(seed)
    vols, labs = [], []
    for i in range(n):
        hu = rng.integers(-100, 600, (4, 12, 10)).astype(np.int16)
        vols.append(CTVolume(hu=hu, spacing_mm=(2.0, 0.5, 0.5), origin_mm=(0, 0, 0), name=f"c{i}"))
        labs.append((hu > 400).astype(np.uint8))
    return vols, labs


def test_nnunet_export_passes_nnunet_rules(tmp_path):
    from napari_plaque.models.data import export_nnunet, read_ct_training_set

    vols, labs = _cases(3)
    root = export_nnunet(vols, labs, tmp_path / "raw", 7, "Calc", ["bg", "calcium"])
    check_nnunet_dataset(root)
    assert json.loads((root / "dataset.json").read_text())["labels"] == {
        "background": 0,
        "calcium": 1,
    }
    # exporting 2 cases into the same dataset replaces it: no leftover third case
    root = export_nnunet(vols[:2], labs[:2], tmp_path / "raw", 7, "Calc", ["bg", "calcium"])
    check_nnunet_dataset(root)
    assert len(list((root / "imagesTr").iterdir())) == 2
    assert read_ct_training_set(root).classes == ["background", "calcium"]
    # a folder with that name that is not an nnU-Net dataset is refused, untouched
    foreign = tmp_path / "raw" / "Dataset008_Calc"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a dataset"):
        export_nnunet(vols, labs, tmp_path / "raw", 8, "Calc")
    assert (foreign / "notes.txt").exists()


def test_nnunet_region_based_labels_read(tmp_path):
    from napari_plaque.models.data import export_nnunet, read_ct_training_set

    vols, labs = _cases(1)
    labs = [np.where(labs[0] > 0, 2, (vols[0].hu > 200).astype(np.uint8)).astype(np.uint8)]
    root = export_nnunet(vols, labs, tmp_path, 9, "Reg", ["background", "soft", "calcium"])
    d = json.loads((root / "dataset.json").read_text())
    d["labels"] = {"background": 0, "plaque": [1, 2], "calcium": 2}
    d["regions_class_order"] = [1, 2]
    (root / "dataset.json").write_text(json.dumps(d))
    ts = read_ct_training_set(root)
    assert ts.classes == ["background", "label_1", "calcium"]
    d["labels"] = {"background": 0, "x": {"a": 1}}
    (root / "dataset.json").write_text(json.dumps(d))
    with pytest.raises(FormatError, match="dataset.json"):
        read_ct_training_set(root)


# -- polar convention with non-square pixels ------------------------------------------------


def test_polar_uses_pixel_angle_with_non_square_pixels():
    from napari_plaque.ivus.polar import from_polar, pixel_angles_deg, to_polar

    shape, cen = (200, 200), (99.5, 99.5)
    wedge = (pixel_angles_deg(shape, cen) >= 30) & (pixel_angles_deg(shape, cen) < 60)
    pol = to_polar(
        wedge.astype(np.float32), cen, 360, 64, depth_mm=1.5, pixel_spacing_mm=(0.02, 0.04)
    )
    on = np.flatnonzero(pol[:, 40] > 0.5)
    # the [30, 60) deg wedge lands on A-lines 30..59 (was 16..40: the physical angle)
    assert on.min() >= 29 and on.max() <= 60 and len(on) >= 28
    back = from_polar(pol > 0.5, shape, cen, depth_mm=1.5, pixel_spacing_mm=(0.02, 0.04))
    rr, cc = np.indices(shape)
    rad = np.hypot((rr - cen[0]) / 75.0, (cc - cen[1]) / 37.5)  # 1.5 mm in rows / columns
    ang = pixel_angles_deg(shape, cen)
    core = (rad > 0.2) & (rad < 0.9) & (ang >= 32) & (ang < 58)
    assert back[core].mean() > 0.95  # the round trip lands on the same pixels
    outside = (rad > 0.2) & (rad < 0.9) & ((ang < 25) | (ang >= 65))
    assert back[outside].mean() < 0.01
    # the covered depth is physical: 1.5 mm = 75 rows or 37.5 columns
    full = np.ones(shape, np.float32)
    p = to_polar(full, cen, 4, 16, depth_mm=1.5, pixel_spacing_mm=(0.02, 0.04))
    assert p.min() > 0.999  # every sample inside the frame
