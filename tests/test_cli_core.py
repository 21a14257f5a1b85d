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


# ---------------------------------------------- `info` on napari-plaque's own files (issue 21)
def _info_json(capsys, path) -> dict:
    assert main(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_arcs_file(tmp_path, capsys):
    from napari_plaque.ivus.arcs import ArcSet, save_arcs

    p = save_arcs(ArcSet(12, (32, 40)), tmp_path / "pb.arcs.json")
    d = _info_json(capsys, p)
    assert d["kind"] == "arcs" and d["format"] == "napari-plaque/arcs"
    assert d["n_frames"] == 12 and d["frame_shape"] == [32, 40] and d["n_arcs"] == 0
    assert main(["info", str(p)]) == 0  # text output
    out = capsys.readouterr().out
    assert ": arcs" in out and "n_frames: 12" in out


def test_info_centreline_and_review_and_session(tmp_path, capsys):
    from napari_plaque.ccta.centreline import Centreline
    from napari_plaque.cli.core import ARC_SESSION_FORMAT
    from napari_plaque.qc.review import ReviewFile

    c = Centreline(np.array([[0.0, 0, 0], [0, 0, 5], [0, 0, 10]]), name="LAD")
    cp = c.save(tmp_path / "lad.centreline.json")
    d = _info_json(capsys, cp)
    assert d["kind"] == "centreline" and d["n_points_mm"] >= 3
    r = ReviewFile(tmp_path / "review.json")
    r.set_flag("case1", "accept")
    d = _info_json(capsys, r.save())
    assert d["kind"] == "review" and d["n_cases"] == 1
    (tmp_path / "s.json").write_text(json.dumps({"format": ARC_SESSION_FORMAT, "version": 1,
                                                 "reader": "A", "loop": {}}))
    d = _info_json(capsys, tmp_path / "s.json")
    assert d["kind"] == "arc-session" and "reader" not in d  # no names printed


def test_arc_session_format_is_the_widgets(tmp_path):
    pytest.importorskip("qtpy")
    from napari_plaque.cli.core import ARC_SESSION_FORMAT
    from napari_plaque.widgets.ivus import SESSION_FORMAT

    assert ARC_SESSION_FORMAT == SESSION_FORMAT


def test_info_borders_file(tmp_path, capsys):
    from napari_plaque.ivus.borders import detect_borders
    from napari_plaque.ivus.vessel_files import save_borders

    b = detect_borders(np.zeros((3, 48, 48), np.uint8), (0.05, 0.05), n_alines=32,
                       depth_samples=16)
    p = save_borders(tmp_path / "pb.dcm.borders.json", b, (48, 48), source="pb.dcm")
    d = _info_json(capsys, p)
    assert d["kind"] == "ivus-borders" and d["n_frames"] == 3 and d["n_alines"] == 32
    assert "source" not in d
    # version 2 keeps the radii as binary blocks: info gives their shape, not the JSON entry's
    # key count (was n_lumen_r_px: 3)
    assert d["lumen_r_px_shape"] == [3, 32] and "n_lumen_r_px" not in d


def test_info_vessel_json(tmp_path, capsys):
    (tmp_path / "v.json").write_text(json.dumps({"vessel": "LAD", "length_mm": 42.5,
                                                 "lesions": [{"index": 1}], "profile": []}))
    d = _info_json(capsys, tmp_path / "v.json")
    assert d["kind"] == "vessel-analysis"
    assert d["vessels"] == [{"vessel": "LAD", "length_mm": 42.5, "n_lesions": 1}]


def test_info_unknown_json_names_the_file(tmp_path, capsys):
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    assert main(["info", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "x.json" in err and "'something-else'" in err and "Traceback" not in err
    (tmp_path / "t.txt").write_text("hello")
    assert main(["info", str(tmp_path / "t.txt")]) == 2
    err = capsys.readouterr().err
    assert "t.txt: not a file napari-plaque reads" in err


def test_info_model_checkpoint(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from napari_plaque.models.checkpoint import make_metadata, save_model
    from napari_plaque.models.nets import ALineNet

    torch.manual_seed(0)
    net = ALineNet(n_classes=2, context=1, width=4, n_blocks=2)
    meta = make_metadata(net, "alines", ["calcium", "attenuation"], {"kind": "uint8_scale"},
                         {"polar": {"n_alines": 90, "depth_samples": 32, "depth_mm": 4.0}})
    p = save_model(tmp_path / "a.pt", net, meta)
    d = _info_json(capsys, p)
    assert d["kind"] == "model" and d["task"] == "alines" and d["architecture"] == "ALineNet"
    assert d["classes"] == ["calcium", "attenuation"]
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    assert main(["info", str(tmp_path / "bad.pt")]) == 2
    assert "bad.pt" in capsys.readouterr().err


def test_info_aline_dataset_folder(tmp_path, capsys):
    from napari_plaque.ivus.dataset import export_training_set
    from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

    pb, truth = make_ivus_sample(tmp_path / "pb.dcm", n_frames=4, size=64, seed=1)
    ds = export_training_set([(pb, truth_arcset(truth))], tmp_path / "ds")
    d = _info_json(capsys, ds)
    assert d["kind"] == "aline-dataset" and d["n_frames"] == 4 and d["n_pullbacks"] == 1
    assert d["manifest"] == "manifest.json"


def test_info_dicom_seg_is_a_seg(tmp_path, capsys):
    from _interop_util import make_series
    from napari_plaque.io import read_ct
    from napari_plaque.io.seg import write_seg

    folder = make_series(tmp_path / "ct", shape=(4, 10, 12))
    lab = np.zeros(read_ct(folder)[0].shape, np.uint8)
    lab[1:3, 2:5, 3:7] = 1
    seg = write_seg(tmp_path / "seg" / "x.dcm", lab, folder, names=["calcium"])
    d = _info_json(capsys, seg)
    assert d["kind"] == "dicom-seg" and d["segments"] == {"1": "calcium"}
    d = _info_json(capsys, seg.parent)  # the folder holding it, too
    assert d["kind"] == "dicom-seg"
