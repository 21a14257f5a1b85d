"""`napari-plaque samples DIR` (issue 21 item 15): every sample on disk with its truth, masks and
manifests; the commands it lists run on what it wrote. The parser is built here from the
module's own `register` (the command joins the CLI's module list separately)."""

from __future__ import annotations

import argparse
import json
import shlex

import pytest

from napari_plaque.cli import samples as samples_cli


def _run(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="napari-plaque")
    sub = ap.add_subparsers()
    samples_cli.register(sub)
    args = ap.parse_args(["samples", *argv])
    return args.func(args)


def test_cxr_sample_and_no_silent_overwrite(tmp_path, capsys):
    d = tmp_path / "s"
    assert _run([str(d), "--only", "cxr"]) == 0
    listed = json.loads((d / "samples.json").read_text())
    files = listed["samples"]["cxr"]["files"]
    assert "manifest.csv" in files and all((d / "cxr" / f).is_file() for f in files)
    rows = (d / "cxr" / "manifest.csv").read_text().splitlines()
    assert rows[0].startswith("path,cac_score") and len(rows) == samples_cli.N_CXR + 1
    capsys.readouterr()
    assert _run([str(d), "--only", "cxr"]) == 2  # would replace the files it wrote before
    err = capsys.readouterr().err
    assert "--overwrite" in err and str(d) in err
    assert _run([str(d), "--only", "cxr", "--overwrite"]) == 0
    f = tmp_path / "file"
    f.write_text("x")
    assert _run([str(f)]) == 2


@pytest.mark.slow
def test_all_samples_written_and_their_commands_run(tmp_path, monkeypatch):
    from napari_plaque.cli import main
    from napari_plaque.io import read_image, read_pullback
    from napari_plaque.ivus.arcs import load_arcs

    d = tmp_path / "samples"
    assert _run([str(d)]) == 0
    listed = json.loads((d / "samples.json").read_text())
    assert set(listed["samples"]) == {"ccta", "ivus", "vessels", "cxr"}
    for name, info in listed["samples"].items():
        for f in info["files"]:
            assert (d / name / f).is_file(), (name, f)
    # the readers take the files, and the masks lie on their scans' grids
    ct = read_image(d / "ccta" / "cac.nii.gz")
    assert read_image(d / "ccta" / "plaques.nii.gz").shape == ct.shape
    truth = json.loads((d / "ccta" / "truth.json").read_text())
    assert truth["cac"]["n_lesions"] > 0
    pb = read_pullback(d / "ivus" / "pullback.dcm")
    assert load_arcs(d / "ivus" / "pullback.arcs.json", n_frames=pb.n_frames).n_frames == pb.n_frames
    vt = json.loads((d / "vessels" / "truth.json").read_text())
    assert [v["vessel"] for v in vt["vessels"]] == ["LAD", "RCA"]
    # every listed command runs on them (from DIR, as docs/samples.md shows), but training
    monkeypatch.chdir(d)
    for info in listed["samples"].values():
        for cmd in info["commands"]:
            if " train " in cmd:
                continue
            argv = shlex.split(cmd)[1:]
            assert main(argv) == 0, cmd


def test_samples_is_a_napari_plaque_command(tmp_path):
    """Registered with the CLI (not only a module with a parser): ``napari-plaque samples``."""
    from napari_plaque.cli import main

    assert main(["samples", str(tmp_path / "s"), "--only", "cxr"]) == 0
    assert any((tmp_path / "s").rglob("*"))
