"""`napari-plaque ivus-vessel`: JSON report, contour CSV round trip, gating, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from napari_plaque.cli import main
from napari_plaque.ivus.vessel_synthetic import make_vessel_frames

ROW_KEYS = {"frame", "position_mm", "lumen_area_mm2", "eem_area_mm2", "plaque_burden_pct",
            "lumen_min_diameter_mm"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    frames, truth = make_vessel_frames(n_frames=8, size=128, seed=5, field_of_view_mm=6.0)
    d = tmp_path_factory.mktemp("pb") / "frames"
    d.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(d / f"{i}.png")
    (d / "export.log").write_text("console")
    return d, truth


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_ivus_vessel_json_report(folder, capsys):
    d, truth = folder
    px = truth["pixel_spacing_mm"][0]
    out = _json(capsys, ["ivus-vessel", str(d), "--pixel-mm", str(px), "--frame-rate", "30",
                         "--pullback-mm-s", "0.5", "--no-mask", "--json"])
    assert out["assumed"] == []
    assert len(out["frames"]) == 8 and ROW_KEYS <= set(out["frames"][0])
    la = np.array([r["lumen_area_mm2"] for r in out["frames"]])
    np.testing.assert_allclose(la, truth["lumen_area_mm2"], rtol=0.08)
    assert out["frames"][3]["position_mm"] == pytest.approx(3 * 0.5 / 30)
    s = out["summary"]
    assert s["mla_frame"] == int(np.argmin(la))
    assert s["mla_mm2"] == pytest.approx(la.min())
    # burden (EEM ~16 mm2, lumen ~4.5 mm2: ~70 %) over 40 % everywhere: one segment, all frames
    assert len(s["burden_segments"]) == 1
    assert s["burden_segments_length_mm"] == pytest.approx(8 * 0.5 / 30)
    assert any("non-image" in n for n in out["notes"])


def test_assumed_values_flagged_in_report(folder, capsys):
    d, _ = folder
    out = _json(capsys, ["ivus-vessel", str(d), "--json"])
    assert set(out["assumed"]) == {"pixel_spacing_mm", "frame_time_s", "pullback_rate_mm_s"}
    main(["ivus-vessel", str(d)])
    assert "assumed: " in capsys.readouterr().out


def test_contours_csv_round_trip_through_cli(folder, tmp_path, capsys):
    d, truth = folder
    px = str(truth["pixel_spacing_mm"][0])
    csv1 = tmp_path / "c.csv"
    a = _json(capsys, ["ivus-vessel", str(d), "--pixel-mm", px, "--no-mask",
                       "--contours-out", str(csv1), "--json"])
    assert csv1.read_text().splitlines()[0] == "frame,contour,x_mm,y_mm"
    # the exported contours, read back, measure the same
    b = _json(capsys, ["ivus-vessel", str(d), "--pixel-mm", px, "--no-mask",
                       "--contours-in", str(csv1), "--json"])
    for ra, rb in zip(a["frames"], b["frames"], strict=True):
        assert rb["lumen_area_mm2"] == pytest.approx(ra["lumen_area_mm2"], rel=1e-3)
        assert rb["eem_area_mm2"] == pytest.approx(ra["eem_area_mm2"], rel=1e-3)


def test_gated_dicom_pullback(tmp_path, capsys):
    from napari_plaque.io.ivus_dicom import write_pullback_dicom

    frames, truth = make_vessel_frames(n_frames=100, size=96, seed=1, cardiac_period_frames=20)
    p = tmp_path / "pb.dcm"
    write_pullback_dicom(frames, p, frame_time_s=1 / 30, pullback_rate_mm_s=0.5,
                         pixel_spacing_mm=truth["pixel_spacing_mm"])
    out = _json(capsys, ["ivus-vessel", str(p), "--gated", "--save-borders", "--json"])
    g = out["gating"]
    assert g["heart_rate_bpm"] == pytest.approx(90, rel=0.05)
    assert [r["frame"] for r in out["frames"]] == g["frames"]
    assert 4 <= len(g["frames"]) <= 6
    assert (tmp_path / "pb.dcm.borders.json").is_file()


def test_bad_input_exit_2(tmp_path, capsys, folder):
    d, _ = folder
    assert main(["ivus-vessel", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n")
    assert main(["ivus-vessel", str(d), "--contours-in", str(bad)]) == 2
    assert "bad.csv" in capsys.readouterr().err
    assert main(["ivus-vessel", str(d), "--pixel-mm", "-1"]) == 2
    assert "positive" in capsys.readouterr().err
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    assert main(["ivus-vessel", str(txt)]) == 2
    assert "not an IVUS pullback" in capsys.readouterr().err


def test_a_field_of_view_smaller_than_the_catheter_is_refused(tmp_path, capsys):
    """32-px frames at 0.02 mm/px image 0.32 mm: no room for a lumen (was an IndexError)."""
    d = tmp_path / "tiny"
    d.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32), 40, np.uint8)).save(d / f"{i}.png")
    assert main(["ivus-vessel", str(d), "--pixel-mm", "0.02"]) == 2
    err = capsys.readouterr().err
    assert "catheter zone" in err and "--pixel-mm" in err and "Traceback" not in err
    assert str(d) in err  # names the pullback
    assert "--debug" not in err  # a refusal, not a bug
