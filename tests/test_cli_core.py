"""`napari-plaque` CLI: --help everywhere, `info`, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_plaque.cli import build_parser, main
from napari_plaque.io.ivus_dicom import write_pullback_dicom


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert {"demo", "info"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: napari-plaque " + name in capsys.readouterr().out


def test_info_phantom_json(phantom_dir, capsys):
    assert main(["info", str(phantom_dir), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["kind"] == "dicom-series"
    s = d["series"][0]
    assert s["shape"] == [47, 512, 512]
    assert s["spacing_mm"] == pytest.approx([3.0, 0.488, 0.488])
    assert s["meta"]["kvp"] == 120


def test_info_pullback_text(tmp_path, capsys):
    frames = np.zeros((10, 16, 16), np.uint8)
    p = write_pullback_dicom(frames, tmp_path / "pb.dcm", pullback_rate_mm_s=None)
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "frames 10" in out and "assumed (not in the file): pullback_rate_mm_s" in out


def test_info_bad_path_exit_2(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "napari-plaque: error:" in err and "nothing" in err


def test_console_script_installed():
    script = Path(sys.executable).parent / "napari-plaque"
    assert script.exists(), "console script napari-plaque not installed"
    for cmd in (
        [str(script), "--version"],
        [sys.executable, "-m", "napari_plaque.cli", "--version"],
    ):
        out = subprocess.run(cmd, capture_output=True, text=True)
        assert out.returncode == 0 and "napari-plaque 0.1.0" in out.stdout


def test_info_describes_labels_and_radiographs_by_their_own_format(tmp_path, capsys):
    """`info` follows io.detect: a .npy label map and a PNG radiograph are not CT series."""
    from PIL import Image

    np.save(tmp_path / "lab.npy", np.zeros((4, 8, 9), np.uint8))
    assert main(["info", str(tmp_path / "lab.npy"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["kind"] == "npy" and d["shape"] == [4, 8, 9] and d["dtype"] == "uint8"
    Image.fromarray((np.arange(64 * 48) % 251).astype(np.uint8).reshape(64, 48)).save(
        tmp_path / "cxr.png"
    )
    assert main(["info", str(tmp_path / "cxr.png"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["kind"] == "radiograph" and d["shape"] == [64, 48] and d["spacing_mm"] is None
