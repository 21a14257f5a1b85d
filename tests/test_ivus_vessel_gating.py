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
