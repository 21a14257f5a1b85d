"""``api.qc`` / ``api.agreement`` equal ``napari-plaque qc`` / ``agreement`` (issue 23)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from napari_plaque import api
from napari_plaque.cli import main

SP = ["--spacing", "2", "0.5", "0.5"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("api_qc")
    ref = np.zeros((6, 24, 24), np.uint8)
    ref[1:5, 4:12, 4:12] = 1
    ref[2:4, 15:20, 15:20] = 2
    pred = np.roll(ref, 1, axis=2)
    pred[0, 0:3, 0:3] = 1  # a false-positive lesion
    np.save(d / "pred.npy", pred)
    np.save(d / "ref.npy", ref)
    return d, d / "pred.npy", d / "ref.npy", pred, ref


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_api_qc_equals_the_cli_json_and_cohort_rows(pair, capsys, tmp_path):
    d, p, r, pred, ref = pair
    res = api.qc(p, r, spacing=(2, 0.5, 0.5))
    assert isinstance(res, api.Result) and res.command == "qc"
    assert main(["qc", str(p), str(r), *SP, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(res.to_json_text())
    # the rows: those of a qc cohort table (plus its study / status columns)
    assert main(["qc", str(p), str(r), *SP, "--table", str(tmp_path / "t.csv")]) == 0
    table = _csv((tmp_path / "t.csv").read_text())
    mine = _csv(res.to_csv_text())
    assert len(table) == len(mine) == len(res.to_rows()) == 2
    for t, m in zip(table, mine, strict=True):
        assert {k: t[k] for k in m} == m
    # arrays in memory: the same metrics (no file names)
    mem = api.qc(pred, ref, spacing=(2, 0.5, 0.5))
    assert mem.to_rows() == res.to_rows() and mem.to_dict()["pred"] is None
    # no spacing: 1 mm, said in warnings (the CLI prints it on stderr)
    assert any("1 mm" in w for w in api.qc(p, r).warnings)


def test_api_qc_bad_input_names_the_file(pair, tmp_path):
    d, p, r, pred, ref = pair
    with pytest.raises((ValueError, OSError), match="missing.npy"):
        api.qc(tmp_path / "missing.npy", r)
    np.save(tmp_path / "small.npy", ref[:3])
    with pytest.raises(ValueError, match="small.npy"):
        api.qc(tmp_path / "small.npy", r)


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    d = tmp_path_factory.mktemp("api_agreement")
    rng = np.random.default_rng(3)
    a = rng.gamma(2.0, 150.0, 40)
    lines = ["study,r1,r2,r3"] + [
        f"S{i},{x:.1f},{x * 1.05 + rng.normal(0, 10):.1f},{x * 0.97 + rng.normal(0, 12):.1f}"
        for i, x in enumerate(a)
    ]
    lines.append("S99,,12,13")  # an empty value: skipped, counted
    (d / "scores.csv").write_text("\n".join(lines) + "\n")
    return d / "scores.csv"


@pytest.mark.parametrize("argv, kwargs", [
    (["--a", "r1", "--b", "r2", "--categories", "cacdrs"],
     {"col_a": "r1", "col_b": "r2", "categories": "cacdrs"}),
    (["--readers", "r1,r2,r3", "--reference", "r2", "--ba-scale", "percent"],
     {"readers": "r1,r2,r3", "reference": "r2", "ba_scale": "percent"}),
])  # fmt: skip
def test_api_agreement_equals_the_cli_json(scores, capsys, argv, kwargs):
    res = api.agreement(scores, **kwargs)
    assert main(["agreement", str(scores), *argv, "--json"]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out) == json.loads(res.to_json_text())
    assert res.warnings and res.warnings[0] in cap.err  # the skipped row, on stderr
    (row,) = res.to_rows()
    assert row["n"] == res.to_dict()["n"] == 40
    assert not any(isinstance(v, (list, dict)) for v in row.values())


def test_api_agreement_bad_input_names_the_file(scores, tmp_path):
    with pytest.raises(ValueError, match="scores.csv"):
        api.agreement(scores, col_a="r1", col_b="nope")
    with pytest.raises(ValueError, match="scores.csv"):
        api.agreement(scores, readers=["r1", "zz"])
    with pytest.raises(ValueError, match="missing.csv"):
        api.agreement(tmp_path / "missing.csv", col_a="r1", col_b="r2")
    with pytest.raises(ValueError, match="--ba-scale"):
        api.agreement(scores, col_a="r1", col_b="r2", ba_scale="relative")
