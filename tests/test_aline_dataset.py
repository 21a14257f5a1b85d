"""The A-line training-set format has one home (ivus/dataset.py): one writer, one reader that
checks before it trusts; the export, the deep trainer's data path and the tests share them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from napari_plaque.io.errors import FormatError
from napari_plaque.ivus import dataset as D
from napari_plaque.models.synthetic import synthetic_polar_pullback
from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

CLASSES = ["calcium", "attenuation"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One synthetic pullback exported the way ``export-alines`` does."""
    root = tmp_path_factory.mktemp("al")
    pb, truth = make_ivus_sample(root / "pb.dcm", seed=3, n_frames=8, size=96)
    out = D.export_training_set(
        [(pb, truth_arcset(truth))], root / "ds", n_alines=90, depth_samples=32
    )
    return out


@pytest.fixture()
def written(tmp_path):
    pbs = [(f"pb{s}", *synthetic_polar_pullback(6, 24, 16, seed=s)) for s in range(2)]
    return D.write_aline_dataset(
        tmp_path / "ds", pbs, CLASSES, 3.0, manifest_extra={"synthetic": True}
    )


def test_one_writer_the_export_and_the_array_writer_give_the_same_set(exported, tmp_path):
    ds = D.read_aline_dataset(exported)
    pb = ds.pullbacks[0]
    assert ds.features is not None and pb.polar.dtype == np.uint8
    man = ds.manifest
    assert man["n_frames"] == pb.n_frames and man["n_rows"] == pb.n_frames * ds.n_alines
    # the same polar frames and labels through the array writer: the same features, bit for bit
    again = D.write_aline_dataset(tmp_path / "again", [(pb.id, pb.polar, pb.labels)],
                                  ds.classes, ds.depth_mm)  # fmt: skip
    a, b = D.load_training_set(exported), D.load_training_set(again)
    for k in ("X", "y", "pullback", "frame", "aline"):
        assert np.array_equal(a[k], b[k]), k
    for k in ("format", "version", "classes", "n_alines", "depth_samples", "feature_names"):
        assert a["manifest"][k] == b["manifest"][k], k


def test_the_aline_dataset_has_one_home():
    """ivus.dataset is the one reader and writer; models (the generic engine) has no copy."""
    from napari_plaque.models import data as md

    for name in ("read_aline_dataset", "write_aline_dataset", "ALineDataset", "ALINE_FORMAT"):
        assert not hasattr(md, name), name


def test_written_set_reads_for_both_the_deep_trainer_and_the_svm(written):
    ds = D.read_aline_dataset(written, features=False)
    assert ds.features is None and ds.manifest["synthetic"] is True
    assert [p.polar.shape for p in ds.pullbacks] == [(6, 24, 16)] * 2
    table = D.load_training_set(written)
    assert table["X"].shape == (2 * 6 * 24, len(table["manifest"]["feature_names"]))
    lean = D.read_aline_dataset(written, polar=False)
    assert all(p.polar is None and p.labels.shape == (6, 24, 2) for p in lean.pullbacks)


def _edit(src, dst, fn):
    shutil.copytree(src, dst)
    man = json.loads((dst / "manifest.json").read_text())
    fn(man)
    (dst / "manifest.json").write_text(json.dumps(man))
    return dst


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda m: m["pullbacks"][0].update(polar_file="../../etc/x.npz"), "outside"),
        (lambda m: m["pullbacks"][0].update(polar_file="/tmp/x.npz"), "outside"),
        (lambda m: m["pullbacks"][1].update(id=m["pullbacks"][0]["id"]), "not unique"),
        (lambda m: m["pullbacks"][0].update(id="a/b"), "path or control"),
        (lambda m: m["pullbacks"][0].update(n_frames=7), "n_frames"),
        (lambda m: m.update(version=99), "version 99"),
        (lambda m: m.update(format="other"), "not a napari-plaque/aline-dataset"),
        (lambda m: m.update(classes=["calcium", "calcium"]), "unique names"),
        (lambda m: m.update(depth_mm=-1), "depth_mm"),
        (lambda m: m.update(n_alines=True), "n_alines"),
        (lambda m: m.update(n_rows=5), "n_rows"),
        (lambda m: m.update(pullbacks=[]), "no pullbacks"),
        (lambda m: m.update(n_alines=25), "n_rows"),
        (lambda m: [m.pop("n_rows"), m.pop("n_frames"), m.update(n_alines=25)], "labels"),
    ],
)
def test_reader_validates_the_manifest_before_it_trusts_it(written, tmp_path, edit, match):
    bad = _edit(written, tmp_path / "bad", edit)
    with pytest.raises(FormatError, match=match) as info:
        D.read_aline_dataset(bad)
    assert str(bad) in str(info.value)  # the message names the file or folder


def test_reader_checks_every_array(written, tmp_path):
    man = json.loads((written / "manifest.json").read_text())
    rel = man["pullbacks"][0]["polar_file"]

    def rewrite(name, **arrays):
        bad = tmp_path / name
        shutil.copytree(written, bad)
        with np.load(bad / rel) as z:
            cur = {k: z[k] for k in z.files}
        cur.update(arrays)
        np.savez(bad / rel, **cur)
        return bad

    polar = np.zeros((6, 24, 16), np.float32)
    with pytest.raises(FormatError, match="polar float32"):
        D.read_aline_dataset(rewrite("f32", polar=polar))
    with pytest.raises(FormatError, match="labels int64"):
        D.read_aline_dataset(rewrite("lab", labels=np.zeros((6, 24, 2), np.int64)))
    bad = tmp_path / "feat"
    shutil.copytree(written, bad)
    with np.load(bad / "features.npz") as z:
        cur = {k: z[k] for k in z.files}
    cur["X"] = cur["X"].copy()
    cur["X"][3, 1] = np.nan
    np.savez(bad / "features.npz", **cur)
    with pytest.raises(FormatError, match="non-finite"):
        D.load_training_set(bad)
    cur["X"] = cur["X"][:-1]
    np.savez(bad / "features.npz", **cur)
    with pytest.raises(FormatError, match="rows"):
        D.load_training_set(bad)
    (written / "features.npz").unlink()  # a set of the former low-level writer: deep only
    assert len(D.read_aline_dataset(written).pullbacks) == 2
    with pytest.raises(FormatError, match="no feature table|features.npz"):
        D.load_training_set(written)


def test_missing_set_and_foreign_folder(tmp_path):
    with pytest.raises(FormatError, match="no manifest"):
        D.read_aline_dataset(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    polar, labels = synthetic_polar_pullback(4, 24, 16)
    with pytest.raises(ValueError, match="not a dataset"):
        D.write_aline_dataset(tmp_path / "mine", [("a", polar, labels)], CLASSES, 3.0)
    with pytest.raises(ValueError, match="uint8"):
        D.write_aline_dataset(tmp_path / "f", [("a", polar * 1.0, labels)], CLASSES, 3.0)
    with pytest.raises(ValueError, match="manifest_extra"):
        D.write_aline_dataset(tmp_path / "g", [("a", polar, labels)], CLASSES, 3.0,
                              manifest_extra={"version": 7})  # fmt: skip
    assert not (tmp_path / "f").exists() and not (tmp_path / "g").exists()
