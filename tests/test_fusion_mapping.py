"""fusion.mapping and fusion.join: exact frame <-> s mapping, angles, lesion join, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.fusion import FrameMapping, Landmark, join_lesions, parse_landmark
from napari_plaque.fusion.join import attenuated_rule
from napari_plaque.fusion.synthetic import make_case, make_cohort
from napari_plaque.ivus.arcs import ArcSet
from napari_plaque.types import Pullback

MMPF = 0.5 / 30  # 30 frames/s at 0.5 mm/s


def test_one_landmark_exact_and_direction():
    m = FrameMapping.uniform(3000, MMPF, ["40:300"], 80.0)
    f = np.arange(3000)
    # frame grows towards the ostium: s = 40 - (f - 300) * mm/frame
    np.testing.assert_allclose(m.frame_s_mm, 40.0 - (f - 300) * MMPF, atol=1e-12)
    assert m.s_of_frame(300) == pytest.approx(40.0)
    assert m.frame_of_s(40.0 - 600 * MMPF) == pytest.approx(900.0)
    assert m.mm_per_frame_used == pytest.approx(MMPF)
    assert m.covered_s_mm == pytest.approx((40 - 2699 * MMPF, 40 + 300 * MMPF))
    # declared push-forward pullback: s grows with the frame
    d = FrameMapping.uniform(3000, MMPF, ["40:300"], 80.0, direction="distal")
    assert d.s_of_frame(600) == pytest.approx(40.0 + 300 * MMPF)
    with pytest.raises(ValueError, match="direction"):
        FrameMapping.uniform(3000, MMPF, ["40:300"], 80.0, direction="up")


def test_two_landmarks_rescale_both_exact_and_speed_warning():
    # the true speed is 8 % faster than nominal: both landmarks land exactly, no warning
    true = MMPF * 1.08
    lms = [Landmark(60.0, 100), Landmark(60.0 - 2000 * true, 2100)]
    m = FrameMapping.uniform(3000, MMPF, lms, 80.0)
    assert m.s_of_frame(100) == pytest.approx(60.0)
    assert m.s_of_frame(2100) == pytest.approx(lms[1].s_mm)
    assert m.scale == pytest.approx(1.08)
    assert m.mm_per_frame_used == pytest.approx(true)
    np.testing.assert_allclose(m.frame_s_mm, 60.0 - (np.arange(3000) - 100) * true, atol=1e-9)
    assert m.warnings == []
    # 30 % faster than nominal: warned (more than 20 %)
    lms = [Landmark(60.0, 100), Landmark(60.0 - 2000 * MMPF * 1.3, 2100)]
    w = FrameMapping.uniform(3000, MMPF, lms, 80.0)
    assert len(w.warnings) == 1 and "1.30 x nominal" in w.warnings[0]
    # landmarks given in either order give the same line
    r = FrameMapping.uniform(3000, MMPF, lms[::-1], 80.0)
    np.testing.assert_allclose(r.frame_s_mm, w.frame_s_mm, atol=1e-9)


def test_two_landmarks_against_the_declared_direction_are_refused():
    lms = [Landmark(20.0, 100), Landmark(40.0, 1300)]  # s rises with frame
    with pytest.raises(ValueError, match="grows towards the distal.*direction is 'ostium'"):
        FrameMapping.uniform(3000, MMPF, lms, 80.0)
    d = FrameMapping.uniform(3000, MMPF, lms, 80.0, direction="distal")
    assert d.s_of_frame(1300) == pytest.approx(40.0)


def test_irregular_frame_times_from_pullback():
    rng = np.random.default_rng(0)
    dt = rng.uniform(0.03, 0.04, 499)
    times = np.concatenate([[0.0], np.cumsum(dt)])
    pb = Pullback(np.zeros((500, 4, 4), np.uint8), float(dt.mean()), 0.5, (0.02, 0.02),
                  frame_times_s=times)  # fmt: skip
    m = FrameMapping.from_pullback(pb, ["30:0"], 80.0)
    np.testing.assert_allclose(m.frame_s_mm, 30.0 - times * 0.5, atol=1e-12)
    pb.assumed = {"pullback_rate_mm_s"}
    m = FrameMapping.from_pullback(pb, ["30:0"], 80.0)
    assert any("assumed" in w for w in m.warnings)


def test_bad_landmarks():
    with pytest.raises(ValueError, match="outside the centreline"):
        FrameMapping.uniform(3000, MMPF, ["85:10"], 80.0)
    with pytest.raises(ValueError, match="outside the centreline"):
        FrameMapping.uniform(3000, MMPF, ["-1:10"], 80.0)
    with pytest.raises(ValueError, match="outside the pullback"):
        FrameMapping.uniform(3000, MMPF, ["20:3000"], 80.0)
    with pytest.raises(ValueError, match="same frame"):
        FrameMapping.uniform(3000, MMPF, ["20:10", "30:10"], 80.0)
    with pytest.raises(ValueError, match="one or two landmarks"):
        FrameMapping.uniform(3000, MMPF, ["20:10", "30:5", "40:1"], 80.0)
    with pytest.raises(ValueError, match="S_MM:FRAME"):
        parse_landmark("20")
    with pytest.raises(ValueError, match="numbers"):
        parse_landmark("a:b")


def test_angles_and_arcs_round_trip():
    m = FrameMapping.uniform(100, MMPF, ["1:0"], 80.0, rotation_deg=100.0)
    assert m.ivus_to_ct_angle(300.0) == pytest.approx(40.0)
    assert m.ct_to_ivus_angle(40.0) == pytest.approx(300.0)
    assert m.arc_to_ct(350.0, 20.0) == pytest.approx((90.0, 120.0))
    mir = FrameMapping.uniform(100, MMPF, ["1:0"], 80.0, rotation_deg=100.0, mirror=True)
    assert mir.ivus_to_ct_angle(30.0) == pytest.approx(70.0)
    # mirrored arc keeps its extent, clockwise order reversed: [10, 40) -> [60, 90)
    assert mir.arc_to_ct(10.0, 40.0) == pytest.approx((60.0, 90.0))
    for mm in (m, mir):
        a = np.linspace(0, 359, 50)
        np.testing.assert_allclose(mm.ct_to_ivus_angle(mm.ivus_to_ct_angle(a)), a, atol=1e-9)
        assert mm.arc_to_ivus(*mm.arc_to_ct(200.0, 250.0)) == pytest.approx((200.0, 250.0))
    assert m.arc_to_ct(0.0, 360.0) == (0.0, 360.0)


def test_frames_for_s_range_is_exact():
    m = FrameMapping.uniform(1000, 0.1, ["50:0"], 80.0)  # s = 50 - 0.1 f
    assert m.frames_for_s_range(40.0, 45.0) == (50, 100)  # both ends land on frames
    assert m.frames_for_s_range(40.05, 44.95) == (51, 99)
    assert m.frames_for_s_range(45.0, 40.0) == (50, 100)
    assert m.frames_for_s_range(60.0, 70.0) is None
    assert m.coverage(45.0, 55.0) == pytest.approx(0.5)
    assert m.nearest_frame(42.04) == 80
    with pytest.raises(ValueError, match="not in the pullback"):
        m.nearest_frame(55.0)


def test_join_synthetic_cases_hit_the_true_frames_and_outcome():
    cases = make_cohort(12, seed=5)
    n = 0
    for case in cases:
        # the two landmarks recover the true registration exactly
        m = case.mapping()
        f = np.arange(0, case.n_frames, 97)
        np.testing.assert_allclose(m.s_of_frame(f), case.true_s(f), atol=1e-6)
        assert m.scale == pytest.approx(case.speed_factor, rel=1e-9)
        res = join_lesions(case.lesions, m, case.arcs)
        for les, frames, att in zip(
            res.lesions, case.truth_frames, case.truth_attenuated, strict=True
        ):
            assert tuple(les["ivus_frames"]) == frames
            assert les["attenuated"] == att
            assert les["ivus_coverage"] == 1.0
            n += 1
    assert n > 12


def test_join_metrics_exact_on_hand_made_arcs():
    arcs = ArcSet(200, (64, 64), ["calcium", "attenuation"])
    for f in range(50, 60):
        arcs.add(f, "calcium", 0.0, 90.0 if f < 55 else 180.0)
    for f in range(52, 58):  # 6 frames of 45 deg attenuation
        arcs.add(f, "attenuation", 200.0, 245.0)
    arcs.add(56, "attenuation", 0.0, 30.0)  # under calcium: excluded by default
    m = FrameMapping.uniform(200, 0.2, ["40:0"], 80.0)  # s = 40 - 0.2 f
    lesion = {"start_mm": 40 - 0.2 * 61, "end_mm": 40 - 0.2 * 48, "calcium_density_hu": 300.0}
    out = join_lesions([lesion], m, arcs).lesions[0]
    assert out["ivus_frames"] == [48, 61]
    assert out["calcium_density_hu"] == 300.0  # the CT fields pass through
    assert out["ivus_calcium_max_arc_deg"] == 180.0
    assert out["ivus_calcium_mean_arc_deg"] == pytest.approx((5 * 90 + 5 * 180) / 10)
    assert out["ivus_ics"] == pytest.approx(1000 * (5 * 90 + 5 * 180) / (14 * 360))
    assert out["ivus_attenuation_max_arc_deg"] == 45.0
    assert out["ivus_attenuation_length_mm"] == pytest.approx(6 * 0.2)
    assert out["attenuated"] is True
    strict = join_lesions([lesion], m, arcs, attenuation_min_arc_deg=60.0).lesions[0]
    assert strict["attenuated"] is False
    longer = join_lesions([lesion], m, arcs, attenuation_min_length_mm=1.5).lesions[0]
    assert longer["attenuated"] is False
    keep = join_lesions([lesion], m, arcs, exclude_calcium_alines=False).lesions[0]
    assert keep["ivus_attenuation_max_arc_deg"] == 75.0
    assert out["ivus_attenuation_run_mm"] == pytest.approx(6 * 0.2)
    # the rule on per-frame arcs: max arc and the run of frames at or above it
    arcs_deg = np.array([0, 20, 40, 40, 40, 10, 200, 200, 0])
    assert attenuated_rule(arcs_deg, 1.0, 30.0, 0.0) is True
    assert attenuated_rule(arcs_deg, 1.0, 30.0, 3.0) is True  # frames 2-4: 3 mm
    assert attenuated_rule(arcs_deg, 1.0, 30.0, 3.5) is False
    assert attenuated_rule(arcs_deg, 1.0, 180.0, 2.0) is True  # 200 deg over 2 frames
    assert attenuated_rule(arcs_deg, 1.0, 180.0, 2.5) is False
    assert attenuated_rule(arcs_deg, 1.0, 201.0, 0.0) is False
    assert attenuated_rule(np.zeros(5), 1.0, 0.0, 0.0) is False  # no attenuation at all


def test_join_refuses_a_pullback_shorter_than_the_segment():
    case = make_case(np.random.default_rng(1), n_lesions=2)
    m = case.mapping()
    lo, hi = m.covered_s_mm
    far = {"start_mm": hi - 2.0, "end_mm": hi + 3.0}
    with pytest.raises(ValueError, match="only partly imaged.*shorter than the segment"):
        join_lesions([*case.lesions, far], m, case.arcs)
    res = join_lesions([*case.lesions, far], m, case.arcs, allow_partial=True)
    assert res.lesions[-1]["ivus_coverage"] == pytest.approx(0.4)
    assert any("images 40 %" in w for w in res.warnings)
    gone = {"start_mm": hi + 1.0, "end_mm": hi + 3.0}
    res = join_lesions([gone], m, case.arcs, allow_partial=True)
    assert res.lesions[0]["ivus_frames"] is None and res.lesions[0]["attenuated"] is None
    with pytest.raises(ValueError, match="unknown join parameters"):
        join_lesions(case.lesions, m, case.arcs, min_arc=3)
    other = ArcSet(case.n_frames + 1, (64, 64))
    with pytest.raises(ValueError, match="frames"):
        join_lesions(case.lesions, m, other)


def test_join_without_arcs_reports_frames_but_no_scores():
    case = make_case(np.random.default_rng(2), n_lesions=2)
    res = join_lesions(case.lesions, case.mapping(), None)
    for les, frames in zip(res.lesions, case.truth_frames, strict=True):
        assert tuple(les["ivus_frames"]) == frames
        assert les["attenuated"] is None and les["ivus_ics"] is None
    assert any("no IVUS arcs" in w for w in res.warnings)
