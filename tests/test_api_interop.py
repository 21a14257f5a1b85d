"""``api.export_seg``, ``api.pull``, ``api.push`` against the CLI's ``--json`` (issue 23)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _interop_util import make_series
from napari_plaque import api
from napari_plaque.cli import main


def test_export_seg_equals_cli_json(tmp_path, capsys):
    from napari_plaque.io.seg import read_seg

    series = make_series(tmp_path / "ct")
    lab = np.zeros((6, 20, 24), np.uint8)
    lab[1:4, 5:9, 6:10] = 1
    lab[4, 12:15, 15:20] = 2
    np.save(tmp_path / "lab.npy", lab)
    res = api.export_seg(str(tmp_path / "lab.npy"), series=str(series),
                         out=str(tmp_path / "api.seg.dcm"), names="calcium,lumen")
    capsys.readouterr()
    assert main(["export-seg", str(tmp_path / "lab.npy"), "--series", str(series), "--out",
                 str(tmp_path / "cli.seg.dcm"), "--names", "calcium,lumen", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    want = res.to_dict()
    assert cli == {**want, "out": str(tmp_path / "cli.seg.dcm")}
    assert [r["name"] for r in res.to_rows()] == ["calcium", "lumen"]
    # the array in memory writes the same voxels
    mem = api.export_seg(lab, series=series, out=tmp_path / "mem.seg.dcm")
    a = read_seg(tmp_path / "api.seg.dcm", series)
    b = read_seg(mem.out, series)
    np.testing.assert_array_equal(a.labels[0][1], b.labels[0][1])
    np.testing.assert_array_equal(a.labels[0][1], lab)
    assert main(["export-seg", str(tmp_path / "lab.npy"), "--series", str(series), "--out",
                 str(tmp_path / "x.seg.dcm")]) == 0
    assert capsys.readouterr().out.startswith("wrote ")


@pytest.fixture
def fake_web(monkeypatch, tmp_path):
    """iter_pull / iter_push without a server: what they are called with, and a fixed answer
    (the network side has its own tests: test_interop_dicomweb, test_dicomweb_hostile)."""
    from napari_plaque.io import dicomweb

    calls: list[dict] = []

    def iter_pull(url, study, out, **kw):
        calls.append({"url": url, "study": study, **kw})
        folder = __import__("pathlib").Path(out) / "1.2.3"
        folder.mkdir(parents=True)
        for i in range(3):
            (folder / f"{i}.dcm").write_bytes(b"x")
        yield (3, 3)
        return [folder]

    def iter_push(url, paths, **kw):
        calls.append({"url": url, "paths": [str(p) for p in paths], **kw})
        yield (2, 2)
        return {"sent": 2, "studies": ["1.2.9"]}

    monkeypatch.setattr(dicomweb, "iter_pull", iter_pull)
    monkeypatch.setattr(dicomweb, "iter_push", iter_push)
    return calls


def test_pull_and_push_equal_cli_json(fake_web, tmp_path, capsys, monkeypatch):
    from napari_plaque.io.dicomweb import DICOMWEB_DEFAULTS

    monkeypatch.setenv("NP_API_PW", "s3cret-pw")
    url = "http://127.0.0.1:9/dicom-web"
    common = ["--user", "u", "--password-env", "NP_API_PW"]
    res = api.pull(url, study="1.2", out=tmp_path / "a", series="1.2.3", user="u",
                   password_env="NP_API_PW", max_series=5)
    capsys.readouterr()
    assert main(["pull", url, "--study", "1.2", "--series", "1.2.3", "--out",
                 str(tmp_path / "b"), "--max-series", "5", "--json", *common]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli == {**res.to_dict(), "out": str(tmp_path / "b"),
                   "series": [str(tmp_path / "b" / "1.2.3")]}
    assert res.to_dict()["instances"] == 3 and res.to_rows()[0]["instances"] == 3
    api_call, cli_call = fake_web
    assert api_call == cli_call  # the same options reach the core (auth included)
    assert api_call["max_series"] == 5
    assert api_call["deadline_s"] == DICOMWEB_DEFAULTS["deadline_s"]
    assert api_call["auth"].password == "s3cret-pw"
    fake_web.clear()
    pres = api.push(url, [tmp_path / "a"], user="u", password_env="NP_API_PW")
    assert main(["push", url, str(tmp_path / "a"), "--json", *common]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == pres.to_dict() == {"sent": 2, "studies": ["1.2.9"]}
    assert fake_web[0] == fake_web[1]
    assert "s3cret-pw" not in out.out + out.err
    assert main(["push", url, str(tmp_path / "a"), *common]) == 0
    assert capsys.readouterr().out.strip() == pres.summary()
