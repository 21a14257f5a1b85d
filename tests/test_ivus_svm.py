"""Training-set export, SVM training/prediction on held-out synthetic seeds, and the IVUS CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.cli import main
from napari_plaque.io.errors import FormatError
from napari_plaque.ivus import (
    FEATURE_NAMES,
    ArcSet,
    export_training_set,
    ics,
    load_arcs,
    load_model,
    load_training_set,
    predict_pullback,
    save_arcs,
    save_model,
    train_svm,
)
from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

TRAIN_SEEDS = (1, 2, 3)
TEST_SEEDS = (101, 102)
KW = {"n_frames": 48, "size": 160}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """Synthetic pullbacks written as DICOM (+ truth arcs files), a dataset and a model."""
    root = tmp_path_factory.mktemp("ivus")
    out = {"root": root, "train": [], "test": []}
    for key, seeds in (("train", TRAIN_SEEDS), ("test", TEST_SEEDS)):
        for s in seeds:
            dcm = root / f"pb{s}.dcm"
            pb, truth = make_ivus_sample(dcm, seed=s, **KW)
            arcs = truth_arcset(truth)
            apath = save_arcs(arcs, root / f"pb{s}.arcs.json")
            out[key].append((pb, truth, arcs, dcm, apath))
    ds = export_training_set([(pb, arcs) for pb, _, arcs, _, _ in out["train"]], root / "ds")
    out["ds"] = ds
    out["data"] = load_training_set(ds)
    out["model"], out["report"] = train_svm(out["data"], n_folds=3)
    return out


def test_export_layout_and_manifest(synth):
    ds = synth["ds"]
    man = json.loads((ds / "manifest.json").read_text())
    assert man["format"] == "napari-plaque/aline-dataset" and man["version"] == 1
    assert man["classes"] == ["calcium", "attenuation"]
    assert man["n_alines"] == 360 and man["depth_samples"] == 256
    assert man["depth_mm"] == pytest.approx(80 * 10.0 / 160)
    assert man["feature_names"] == list(FEATURE_NAMES)
    assert len(man["pullbacks"]) == 3
    n = KW["n_frames"]
    for i, entry in enumerate(man["pullbacks"]):
        pb, truth = synth["train"][i][:2]
        assert entry["id"] == pb.uid_hash and len(entry["id"]) == 16
        assert entry["n_frames"] == n and entry["pixel_spacing_mm"] == pytest.approx([0.0625] * 2)
        assert entry["center"] == pytest.approx(list(truth["center"]))
        with np.load(ds / entry["polar_file"], allow_pickle=False) as z:
            assert z["polar"].dtype == np.uint8 and z["polar"].shape == (n, 360, 256)
            assert z["labels"].dtype == bool and z["labels"].shape == (n, 360, 2)
            assert np.array_equal(z["labels"], truth["labels"])
            assert z["frames"].tolist() == list(range(n))
    d = synth["data"]
    assert d["X"].dtype == np.float32 and d["X"].shape == (3 * n * 360, len(FEATURE_NAMES))
    assert d["y"].dtype == bool and d["y"].shape == (3 * n * 360, 2)
    assert d["pullback"].max() == 2
    # row r <-> (pullback, frame, aline): y agrees with the truth labels
    r = 1 * n * 360 + 7 * 360 + 123
    assert (d["pullback"][r], d["frame"][r], d["aline"][r]) == (1, 7, 123)
    assert np.array_equal(d["y"][r], synth["train"][1][1]["labels"][7, 123])
    # no patient identifiers anywhere in the manifest
    text = (ds / "manifest.json").read_text()
    assert "Synthetic^IVUS" not in text and "SYNTH-0001" not in text


def test_cv_report(synth):
    rep = synth["report"]
    assert rep["n_folds"] == 3 and len(rep["folds"]) == 3
    tested = sorted(p for f in rep["folds"] for p in f["test_pullbacks"])
    assert tested == [0, 1, 2]  # every pullback is held out exactly once
    for key in ("accuracy", "precision", "recall", "f1"):
        assert 0.0 <= rep["overall"]["smoothed"][key] <= 1.0
    assert rep["overall"]["smoothed"]["precision"] > 0.9


def test_heldout_seeds_reach_published_figures(synth):
    """Precision >= 0.92, recall >= 0.85 per A-line and ICS within 10 % on unseen seeds."""
    model = synth["model"]
    tp = fp = fn = 0
    for pb, truth, *_ in synth["test"]:
        labels, arcs = predict_pullback(model, pb)
        t = truth["labels"][:, :, 0]
        tp += np.count_nonzero(labels & t)
        fp += np.count_nonzero(labels & ~t)
        fn += np.count_nonzero(~labels & t)
        true_ics = ics(t)
        assert abs(ics(labels) - true_ics) <= 0.10 * true_ics
        assert arcs.classes == ["calcium"] and arcs.n_frames == pb.n_frames
        assert np.array_equal(arcs.class_labels("calcium"), labels)
    assert tp / (tp + fp) >= 0.92
    assert tp / (tp + fn) >= 0.85


def test_model_file_roundtrip_and_refusals(synth, tmp_path):
    model = synth["model"]
    p = save_model(model, tmp_path / "m.npz")
    back = load_model(p)
    X = synth["data"]["X"][:500]
    assert np.allclose(back.decision(X), model.decision(X), atol=1e-4)
    # the file holds only plain arrays: loads with allow_pickle=False
    with np.load(p, allow_pickle=False) as z:
        meta = json.loads(str(z["meta_json"]))
    assert meta["feature_version"] == 1 and meta["class"] == "calcium"
    # a mismatched feature version is refused
    with np.load(p, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta["feature_version"] = 99
    arrays["meta_json"] = np.asarray(json.dumps(meta))
    bad = tmp_path / "old.npz"
    with open(bad, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(FormatError, match="old.npz.*feature version 99"):
        load_model(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a model")
    with pytest.raises(FormatError, match="junk.npz"):
        load_model(junk)


def test_bad_training_sets(synth, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        export_training_set([], tmp_path / "e")
    data = dict(synth["data"])
    one = {**data, "y": np.zeros_like(data["y"])}
    with pytest.raises(ValueError, match="only one class"):
        train_svm(one)
    empty = {k: v[:0] if isinstance(v, np.ndarray) else v for k, v in data.items()}
    with pytest.raises(ValueError, match="empty"):
        train_svm(empty)
    with pytest.raises(FormatError, match="no manifest"):
        load_training_set(tmp_path)
    # arcs made for another pullback are refused
    pb = synth["train"][0][0]
    with pytest.raises(FormatError, match="another pullback"):
        export_training_set([(pb, ArcSet(pb.n_frames + 1, pb.frame_shape))], tmp_path / "x")
    # a folder that is not a training set is never overwritten
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "precious.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        export_training_set([(pb, synth["train"][0][2])], tmp_path / "keep")
    assert (tmp_path / "keep" / "precious.txt").exists()


# ---------------------------------------------------------------- CLI


def test_cli_ics(synth, capsys):
    pb, truth, arcs, dcm, apath = synth["test"][0]
    assert main(["ics", str(dcm), "--arcs", str(apath), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ics"] == pytest.approx(ics(truth["labels"][:, :, 0]))
    assert out["total_alines"] == pb.n_frames * 360
    assert out["positive_alines"] == int(truth["labels"][:, :, 0].sum())
    assert out["max_arc_deg"] == pytest.approx(truth["labels"][:, :, 0].sum(1).max())
    n_pos_frames = int(truth["labels"][:, :, 0].any(1).sum())
    assert out["calcium_length_mm"] == pytest.approx(n_pos_frames * 0.2)
    assert main(["ics", str(dcm), "--arcs", str(apath), "--frames", "0:10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_alines"] == 3600
    assert main(["ics", str(dcm), "--arcs", str(apath)]) == 0
    assert "ICS" in capsys.readouterr().out


def test_cli_refuses_arcs_of_another_pullback(synth, tmp_path, capsys):
    _, _, _, dcm, _ = synth["test"][0]
    other = save_arcs(ArcSet(7, (160, 160)), tmp_path / "other.json")
    assert main(["ics", str(dcm), "--arcs", str(other)]) == 2
    err = capsys.readouterr().err
    assert "other.json" in err and "another pullback" in err


def test_cli_export_train_predict(synth, tmp_path, capsys):
    train = synth["train"][:2]
    args = ["export-alines", *[str(t[3]) for t in train], "--arcs", *[str(t[4]) for t in train]]
    assert main([*args, "--out", str(tmp_path / "ds"), "--depth-samples", "128"]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "ds" / "manifest.json").read_text())["depth_samples"] == 128
    model = tmp_path / "model.npz"
    assert main(["train-svm", str(tmp_path / "ds"), "--out", str(model), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["n_folds"] == 2 and set(rep["overall"]["smoothed"]) >= {"precision", "recall"}
    assert main(["train-svm", str(tmp_path / "ds"), "--out", str(model)]) == 0
    assert "recall" in capsys.readouterr().out
    pb, truth, _, dcm, _ = synth["test"][1]
    out = tmp_path / "pred.arcs.json"
    assert main(["predict-arcs", str(dcm), "--model", str(model), "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    pred = load_arcs(out, n_frames=pb.n_frames, frame_shape=pb.frame_shape)
    assert res["ics"] == pytest.approx(ics(pred.class_labels("calcium")))
    assert abs(res["ics"] - truth["ics"]) <= 0.15 * truth["ics"]
    # mismatched counts of pullbacks and arcs files
    assert main(["export-alines", str(dcm), "--arcs", "a.json", "b.json", "--out", "x"]) == 2
    assert "one --arcs file per pullback" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", ["ics", "export-alines", "train-svm", "predict-arcs"])
def test_cli_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_cli_predict_lumen_centred(synth, tmp_path, capsys):
    model = save_model(synth["model"], tmp_path / "m.npz")
    pb, _, _, dcm, _ = synth["test"][0]
    out = tmp_path / "lumen.arcs.json"
    args = ["predict-arcs", str(dcm), "--model", str(model), "--out", str(out), "--center", "lumen"]
    assert main(args) == 0
    capsys.readouterr()
    doc = json.loads(out.read_text())
    assert doc["center_mode"] == "lumen" and len(doc["centers"]) == pb.n_frames
    assert load_arcs(out, n_frames=pb.n_frames).center_mode == "lumen"


def test_single_pullback_trains_without_cv(synth):
    data = synth["data"]
    sel = data["pullback"] == 0
    sub = {k: v[sel] if isinstance(v, np.ndarray) else v for k, v in data.items()}
    model, rep = train_svm(sub)
    assert rep["n_folds"] == 0 and rep["overall"] is None
    assert "at least 2 pullbacks" in rep["note"]
    assert model.coef.shape == (len(FEATURE_NAMES),)
    with pytest.raises(ValueError, match="not in the training set"):
        train_svm(sub, cls="lipid")


# --------------------------------------------------------------------------- hot-path reference
from scipy.ndimage import uniform_filter1d  # noqa: E402


def _reference_base_features(
    polar: np.ndarray,
    depth_mm: float,
    skip_mm: float = 0.6,
    shadow_window_mm: float = 1.0,
) -> np.ndarray:
    """The feature code as it was before the vectorisation work (issue 25), kept as the
    reference: the fast code must give the same float32 features bit for bit."""
    pol = np.asarray(polar, dtype=np.float32)
    b, n, d = pol.shape
    dz = depth_mm / d
    j0 = min(d - 4, int(np.ceil(skip_mm / dz)))
    p = uniform_filter1d(pol[:, :, j0:], size=3, axis=2, mode="nearest")
    m = p.shape[2]
    win = max(2, int(round(shadow_window_mm / dz)))
    gap = max(1, int(round(0.1 / dz)))
    ipk = np.argmax(p, axis=2)
    peak = np.take_along_axis(p, ipk[..., None], axis=2)[..., 0]
    cs = np.concatenate([np.zeros((b, n, 1), np.float32), np.cumsum(p, axis=2)], axis=2)

    def window_mean(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        lo = np.clip(lo, 0, m)
        hi = np.clip(hi, 0, m)
        hi = np.maximum(hi, lo + 1)
        lo = np.minimum(lo, m - 1)
        hi = np.minimum(hi, m)
        s = np.take_along_axis(cs, hi[..., None], 2) - np.take_along_axis(cs, lo[..., None], 2)
        return s[..., 0] / (hi - lo)

    pre = np.where(ipk > 0, window_mean(np.zeros_like(ipk), ipk), peak)
    post = window_mean(ipk + gap, ipk + gap + win)
    deep = p[:, :, int(m * 0.6) :].mean(axis=2)
    grad = np.diff(p, axis=2)
    idx = np.arange(m - 1)[None, None, :]
    rise = np.where(idx < np.maximum(ipk, 1)[..., None], grad, -np.inf).max(axis=2)
    rise = np.where(np.isfinite(rise), rise, 0.0)
    fall = np.where(idx >= ipk[..., None], grad, np.inf).min(axis=2)
    fall = np.where(np.isfinite(fall), fall, 0.0)
    mean = p.mean(axis=2)
    std = p.std(axis=2)
    # fraction of the shadow window darker than 15 % of the peak
    dark = (p < 0.15 * peak[..., None]).astype(np.float32)
    csd = np.concatenate([np.zeros((b, n, 1), np.float32), np.cumsum(dark, axis=2)], axis=2)
    lo = np.clip(ipk + gap, 0, m - 1)
    hi = np.clip(ipk + gap + win, lo + 1, m)
    dark_frac = (
        np.take_along_axis(csd, hi[..., None], 2) - np.take_along_axis(csd, lo[..., None], 2)
    )[..., 0] / (hi - lo)
    feats = np.stack(
        [
            peak,
            (ipk + j0 + 0.5) * dz,
            pre,
            post,
            deep,
            np.log((post + 1.0) / (peak + 1.0)),
            np.log((deep + 1.0) / (peak + 1.0)),
            rise,
            fall,
            mean,
            std,
            dark_frac,
        ],
        axis=2,
    )
    return feats.astype(np.float32)


def _polar_cases(rng):
    """Polar images with the edge cases of the features: peak at the first / last sample,
    flat A-lines, saturated and dark ones, and noisy speckle."""
    pol = rng.integers(0, 256, (5, 40, 64)).astype(np.uint8)
    pol[0, 0] = 0
    pol[0, 1] = 255
    pol[0, 2, :] = 7
    pol[0, 3, -1] = 255  # peak at the last sample (no fall)
    pol[0, 4, :12] = 255  # peak right after the catheter zone
    pol[1] = np.sort(pol[1], axis=1)  # rising A-lines: peak at the end
    pol[2] = np.sort(pol[2], axis=1)[:, ::-1]  # falling A-lines
    return pol


@pytest.mark.parametrize("depth_mm", [4.5, 2.0])
def test_base_features_equal_the_reference_bit_for_bit(depth_mm):
    from napari_plaque.ivus.features import base_features

    rng = np.random.default_rng(7)
    for pol in (_polar_cases(rng), rng.integers(0, 256, (3, 360, 256)).astype(np.uint8)):
        want = _reference_base_features(pol, depth_mm)
        got = base_features(pol, depth_mm)
        assert got.dtype == want.dtype == np.float32
        assert np.array_equal(got, want), np.argwhere(got != want)[:5]


def test_pullback_features_do_not_depend_on_batching_or_threads():
    from napari_plaque.ivus.features import aline_features, iter_pullback_features
    from napari_plaque.ivus.polar import to_polar
    from napari_plaque.samples.ivus import make_pullback_frames

    frames, truth = make_pullback_frames(n_frames=21, size=160, seed=4)
    px = truth["pixel_spacing_mm"]
    kw = {"n_alines": 360, "depth_samples": 256, "depth_mm": 4.5, "pixel_spacing_mm": px}
    pol = to_polar(frames, None, 360, 256, depth_mm=4.5, pixel_spacing_mm=px, dtype=np.uint8)
    want = np.concatenate([_reference_base_features(pol[i : i + 5], 4.5) for i in (0, 5, 10, 15, 20)])
    ref = aline_features(pol, 4.5)
    assert np.array_equal(ref[..., : want.shape[2]], want)
    for batch, workers in ((32, 1), (4, 2), (7, 3)):
        gen = iter_pullback_features(frames, None, batch=batch, workers=workers, **kw)
        while True:
            try:
                next(gen)
            except StopIteration as stop:
                feats, _ = stop.value
                break
        assert np.array_equal(feats, ref), (batch, workers)
