"""``api.cxr_predict`` / ``api.cxr_train`` / ``api.cxr_evaluate`` against the CLI (issue 23)."""

from __future__ import annotations

import csv
import inspect
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_plaque import api  # noqa: E402
from napari_plaque.cli import main  # noqa: E402
from napari_plaque.cxr.spec import DEFAULTS  # noqa: E402
from napari_plaque.cxr.synthetic import write_manifest  # noqa: E402
from napari_plaque.cxr.train import CV_DEFAULTS, TRAIN_DEFAULTS  # noqa: E402


def _cli_json(capsys, argv) -> dict:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = tmp_path_factory.mktemp("cxr")
    man = write_manifest(d / "imgs", 6, size=64, seed=3)
    rows = list(csv.DictReader(man.open()))
    return man, [str(man.parent / r["path"]) for r in rows]


def test_defaults_are_read_from_the_spec():
    from napari_plaque.api.radiograph import cxr_predict, cxr_train

    t = inspect.signature(cxr_train).parameters
    assert t["folds"].default == CV_DEFAULTS["folds"]
    assert t["image_size"].default == DEFAULTS["image_size"]
    assert t["width"].default == DEFAULTS["width"]
    assert t["thresholds"].default == DEFAULTS["thresholds"]
    assert t["epochs"].default == TRAIN_DEFAULTS.epochs and t["lr"].default == TRAIN_DEFAULTS.lr
    p = inspect.signature(cxr_predict).parameters
    assert p["saliency_target"].default == DEFAULTS["saliency_target"]


def test_cxr_predict_matches_the_cli(images, tmp_path, capsys):
    _, paths = images
    cli = _cli_json(capsys, ["cxr", "predict", "demo_cxr", paths[0], "--json"])
    res = api.cxr_predict("demo_cxr", paths[0])
    assert json.loads(res.to_json_text()) == cli
    assert cli["ood"]["in_distribution"] is True  # the demo stores its OOD reference now
    several = _cli_json(capsys, ["cxr", "predict", "demo_cxr", *paths[:2], "--json",
                                 "--saliency", str(tmp_path / "cli_sal")])
    res = api.cxr_predict("demo_cxr", paths[:2], saliency=tmp_path / "api_sal")
    got = json.loads(res.to_json_text())
    for a, b in zip(got["results"], several["results"], strict=True):
        assert a.pop("saliency") != b.pop("saliency")
        assert a == b
    assert len(res.to_rows()) == 2 and res.predictions[0].saliency is not None
    assert np.array_equal(np.load(tmp_path / "api_sal" / f"{paths[0].split('/')[-1]}.saliency.npy"),
                          np.load(tmp_path / "cli_sal" / f"{paths[0].split('/')[-1]}.saliency.npy"))
    note = api.cxr_predict("demo_cxr", paths[0], age=60)
    assert note.notes == ["this model is image-only; age ignored"]
    with pytest.raises(ValueError, match="no radiograph"):
        api.cxr_predict("demo_cxr", [])
    with pytest.raises(ValueError, match="a folder"):
        api.cxr_predict("demo_cxr", paths[:2], saliency=tmp_path / "x.npy")


def test_cxr_predict_cohort_row_is_the_api_row(images, tmp_path, capsys):
    from napari_plaque.api.radiograph import cohort_row

    _, paths = images
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("study_id,path\n" + f"s0,{paths[0]}\n")
    out = tmp_path / "t.csv"
    assert main(["cxr", "predict", "demo_cxr", "--manifest", str(cohort), "--table",
                 str(out)]) == 0
    row = list(csv.DictReader(out.open()))[0]
    want = cohort_row(api.cxr_predict("demo_cxr", paths[0], device="cpu").to_rows()[0])
    assert float(row["p_cac_gt0"]) == pytest.approx(want["p_cac_gt0"], abs=1e-6)
    assert row["category"] == want["category"]


def test_cxr_evaluate_matches_the_cli(images, capsys):
    man, _ = images
    cli = _cli_json(capsys, ["cxr", "evaluate", "demo_cxr", str(man), "--json"])
    res = api.cxr_evaluate("demo_cxr", man)
    assert json.loads(res.to_json_text()) == cli
    assert [r["cut_point"] for r in res.to_rows()] == list(cli["cut_points"])


def test_cxr_train_matches_the_cli(images, tmp_path, capsys):
    man, _ = images
    opts = ["--folds", "0", "--epochs", "1", "--image-size", "32", "--width", "4",
            "--device", "cpu"]
    cli = _cli_json(capsys, ["cxr", "train", str(man), "--out", str(tmp_path / "c.pt"),
                             *opts, "--json"])
    res = api.cxr_train(man, out=tmp_path / "a.pt", folds=0, epochs=1, image_size=32, width=4,
                        device="cpu")
    got = res.to_dict()
    assert set(got) == set(cli) and got["epochs_run"] == cli["epochs_run"]
    assert got["model"] == str(tmp_path / "a.pt")
    pred = api.cxr_predict(got["model"], images[1][0], age=60, sex="M", bmi=25, device="cpu")
    assert pred.to_dict()["synthetic_training"] is False and pred.notes == []
    with pytest.raises(ValueError, match="trained with age, sex and BMI"):
        api.cxr_predict(got["model"], images[1][0], device="cpu")


def test_cxr_predict_out_is_the_cohort_table(images, tmp_path):
    """``cxr predict --out T.csv`` is the table option, as the other cohort commands."""
    _, paths = images
    out = tmp_path / "t.csv"
    assert main(["cxr", "predict", "demo_cxr", paths[0], "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["category"]
