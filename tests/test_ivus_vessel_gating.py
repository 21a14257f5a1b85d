"""Image-based gating on a synthetic pullback with a known cardiac period and quiet phase."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.ivus.gating import end_diastolic_frames, motion_signal
from napari_plaque.ivus.vessel_synthetic import make_vessel_frames


@pytest.mark.parametrize("period", [15.3, 22.0, 28.5])
def test_end_diastolic_frames_one_per_cycle_in_the_quiet_phase(period):
    n = 150
    frames, truth = make_vessel_frames(n_frames=n, size=96, seed=1, cardiac_period_frames=period)
    g = end_diastolic_frames(frames, truth["frame_time_s"])
    # the period is found within 3 % (heart rate 118, 82, 63 bpm at 30 frames/s)
    assert g.period_frames == pytest.approx(period, rel=0.03)
    assert g.heart_rate_bpm == pytest.approx(60 * 30 / period, rel=0.03)
    # one frame per complete cycle
    assert abs(len(g.frames) - n / period) <= 1.5
    assert np.all(np.diff(g.frames) > 0.6 * period)
    # every gated frame lies in the quiet (end-diastolic) phase [0, 0.25) of its cycle, with a
    # margin of 2 frames (the motion signal compares a frame with the previous one)
    ph = truth["phase"][g.frames]
    margin = 2.0 / period
    assert np.all((ph < 0.25 + margin) | (ph > 1 - margin)), ph


def test_motion_signal_zero_for_identical_frames_and_too_short_refused():
    f = np.random.default_rng(0).integers(0, 255, (5, 32, 32), dtype=np.uint8)
    same = np.repeat(f[:1], 5, axis=0)
    assert np.allclose(motion_signal(same), 0, atol=1e-6)
    assert motion_signal(f).min() > 0.5
    with pytest.raises(ValueError, match="too few to gate"):
        end_diastolic_frames(f, 1 / 30)


# ---------------------------------------- ivus-vessel --gated: warnings and reasons (issue 21)
@pytest.fixture
def small_pullback(tmp_path):
    from napari_plaque.io.ivus_dicom import write_pullback_dicom

    frames, truth = make_vessel_frames(n_frames=30, size=64, seed=2)
    p = tmp_path / "pb.dcm"
    write_pullback_dicom(frames, p, frame_time_s=1 / 30, pullback_rate_mm_s=0.5,
                         pixel_spacing_mm=truth["pixel_spacing_mm"])
    return p


def _fake_gating(monkeypatch, frames, confidence):
    import napari_plaque.ivus.gating as gating

    def fake(frames_, frame_time_s, **kw):
        n = int(frames_.shape[0])
        return gating.GatingResult(np.asarray(frames, np.int64), 10.0, 180.0, np.zeros(n),
                                   confidence)

    monkeypatch.setattr(gating, "end_diastolic_frames", fake)


def test_gated_low_confidence_warned_in_text_and_json(small_pullback, monkeypatch, capsys):
    import json

    from napari_plaque.cli import main

    _fake_gating(monkeypatch, [5, 15, 25], 0.05)
    assert main(["ivus-vessel", str(small_pullback), "--gated"]) == 0
    out = capsys.readouterr().out
    assert "confidence 0.05" in out
    assert "warning: gating: weak cardiac periodicity" in out
    assert main(["ivus-vessel", str(small_pullback), "--gated", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert any(w.startswith("gating: weak cardiac periodicity") for w in d["warnings"])
    assert "gating: weak" in d["summary"]["warning"]  # the cohort table's column


def test_gated_without_frames_says_why(small_pullback, monkeypatch, capsys):
    from napari_plaque.cli import main

    _fake_gating(monkeypatch, [], 0.5)
    assert main(["ivus-vessel", str(small_pullback), "--gated"]) == 2
    err = capsys.readouterr().err
    assert "no frames to measure: gating found no end-diastolic frame in 30 frames" in err
    assert str(small_pullback) in err and "without --gated" in err


def test_too_short_to_gate_names_the_file(small_pullback, capsys):
    from napari_plaque.cli import main

    assert main(["ivus-vessel", str(small_pullback), "--gated"]) == 2  # 30 frames at 30 fps
    err = capsys.readouterr().err
    assert str(small_pullback) in err and "cannot gate" in err and "too few" in err


def test_no_frame_measured_says_why():
    from napari_plaque.ivus.borders import detect_borders
    from napari_plaque.ivus.vessel_measure import measure_vessel

    b = detect_borders(np.zeros((3, 48, 48), np.uint8), (0.05, 0.05), n_alines=32,
                       depth_samples=16)
    for f in range(3):
        b.flags[f] = ["shadow not bridged"]
    m = measure_vessel(b, 0.1)
    assert m.summary["mla_mm2"] is None
    assert "no frame could be measured: all 3 frame(s) refused" in " ".join(m.notes)
    with pytest.raises(ValueError, match="list of frames to measure is empty"):
        measure_vessel(b, 0.1, frames=[])
