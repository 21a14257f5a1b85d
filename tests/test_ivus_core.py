"""IVUS core: polar transforms, arc model, file format, ICS and arc measurements."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.io.errors import FormatError
from napari_plaque.ivus import (
    ArcSet,
    arc_measurements,
    arcs_to_labels,
    from_polar,
    ics,
    labels_to_arcs,
    load_arcs,
    merge_arcs,
    normalise_arc,
    parse_frame_range,
    save_arcs,
    to_polar,
)
from napari_plaque.ivus.polar import aline_angles_deg, pixel_angles_deg

# ---------------------------------------------------------------- polar transforms


def _ring(shape=(201, 201), center=(100.0, 100.0), r0=40.0, r1=50.0):
    rr, cc = np.indices(shape)
    rad = np.hypot(rr - center[0], cc - center[1])
    return ((rad >= r0) & (rad < r1)).astype(np.float32) * 200


def test_polar_ring_is_a_band_at_the_right_depth():
    img = _ring()
    pol = to_polar(img, center=(100.0, 100.0), n_alines=360, depth_samples=100, depth_px=100)
    assert pol.shape == (360, 100)
    # depth sample j is at (j + 0.5) px: the ring 40..50 px is samples 40..49 on every A-line
    assert np.all(pol[:, 41:49] > 190)
    assert np.all(pol[:, :39] < 1) and np.all(pol[:, 51:] < 1)
    # the ring's band edges are within one sample on every A-line
    inner = np.argmax(pol > 100, axis=1)
    assert np.all(np.abs(inner - 40) <= 1)


def test_polar_angle_convention_and_offcentre():
    # a bright dot at 3 o'clock (+col) must land on A-line 0..1 and at 6 o'clock (+row) on ~90
    img = np.zeros((101, 121), np.float32)
    c = (50.0, 70.0)  # off-centre "catheter"
    img[50, 100] = 255  # +col direction, 30 px
    img[80, 70] = 255  # +row direction (below on screen): 90 deg clockwise
    pol = to_polar(img, center=c, n_alines=360, depth_samples=40, depth_px=40)
    k_right = np.unravel_index(np.argmax(pol[:, :]), pol.shape)[0]
    assert k_right in (0, 359)
    assert pol[89:91, 29:31].max() > 50
    # pixel angle map agrees: pixel (80, 70) is at 90 deg
    assert pixel_angles_deg(img.shape, c)[80, 70] == pytest.approx(90.0)


def test_polar_roundtrip_and_per_frame_centres():
    rng = np.random.default_rng(0)
    smooth = np.zeros((3, 128, 128), np.float32)
    rr, cc = np.indices((128, 128))
    for i in range(3):
        smooth[i] = 100 + 50 * np.sin(rr / 9.0 + i) * np.cos(cc / 11.0)
    centers = np.array([[63.5, 63.5], [60.0, 66.0], [63.5, 63.5]])
    pol = to_polar(smooth, centers, n_alines=720, depth_samples=128, depth_px=60)
    back = from_polar(pol, (128, 128), centers, depth_px=60)
    for i in range(3):
        rad = np.hypot(rr - centers[i, 0], cc - centers[i, 1])
        m = (rad > 5) & (rad < 55)
        assert np.abs(back[i][m] - smooth[i][m]).mean() < 2.0
        assert np.all(back[i][rad > 61] == 0)
    # a per-frame centre really changes frame 1 only
    same = to_polar(smooth, (63.5, 63.5), n_alines=720, depth_samples=128, depth_px=60)
    assert np.allclose(same[0], pol[0]) and not np.allclose(same[1], pol[1])
    del rng


def test_polar_uint8_and_depth_mm():
    img = (_ring() > 0).astype(np.uint8) * 200
    pol = to_polar(
        img, (100.0, 100.0), 180, 50, depth_mm=5.0, pixel_spacing_mm=(0.05, 0.05), dtype=np.uint8
    )
    assert pol.dtype == np.uint8 and pol.shape == (180, 50)
    # 5 mm / 0.05 mm = 100 px over 50 samples: ring 40..50 px -> samples 20..24
    assert np.all(pol[:, 21:24] > 150)
    with pytest.raises(ValueError, match="pixel_spacing_mm"):
        to_polar(img, depth_mm=5.0)


def _to_polar_by_gathers(monkeypatch, *args, **kw):
    """to_polar with the four-gather reference formula (as before the sparse-matrix form)."""
    from napari_plaque.ivus import polar

    with monkeypatch.context() as m:
        m.setattr(polar.PolarGrid, "sample", polar.PolarGrid.sample_gather)
        return polar.to_polar(*args, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_polar_matrix_form_equals_the_gathers_bit_for_bit(monkeypatch, dtype):
    from napari_plaque.samples.ivus import make_pullback_frames

    frames, truth = make_pullback_frames(n_frames=6, size=160, seed=2)
    px = truth["pixel_spacing_mm"]
    rng = np.random.default_rng(3)
    lumen = np.asarray(truth["center"]) + rng.normal(0, 15, (6, 2))  # per-frame centres
    ints = frames.astype(np.int16) - 40  # negative grey values: the gathers' -0 kept
    odd = frames.astype(np.float32) * 1.37
    odd[0, 0, 0] = np.nan  # NaN times a zero weight stays NaN
    odd[1, 0, 0] = -0.0
    cases = [
        (frames, None, {"depth_mm": 4.5, "pixel_spacing_mm": px}),
        (frames, lumen, {"depth_mm": 4.5, "pixel_spacing_mm": px}),
        (frames, (10.3, 150.7), {"depth_mm": 4.0, "pixel_spacing_mm": (0.02, 0.03)}),
        (frames.astype(np.float64) / 3, lumen, {"depth_px": 120}),
        (ints, None, {"depth_px": 100}),
        (odd, lumen, {"depth_px": 100}),
    ]
    for img, cen, kw in cases:
        got = to_polar(img, cen, 360, 128, dtype=dtype, **kw)
        want = _to_polar_by_gathers(monkeypatch, img, cen, 360, 128, dtype=dtype, **kw)
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes(), (img.dtype, kw)


def _reference_grid_maps(frame_shape, center, n_alines, depth_samples, depth_px):
    """The sampling maps as computed before issue 25's rewrite, kept as the reference."""
    rows, cols = frame_shape
    theta = np.radians(aline_angles_deg(n_alines))[:, None]
    frac = ((np.arange(depth_samples) + 0.5) / depth_samples)[None, :]
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    reach = 1.0 / np.hypot(sin_t / depth_px[0], cos_t / depth_px[1])
    r = center[0] + sin_t * frac * reach
    c = center[1] + cos_t * frac * reach
    r0, c0 = np.floor(r), np.floor(c)
    fr, fc = (r - r0).astype(np.float32), (c - c0).astype(np.float32)
    idx, w = [], []
    for dr, dc, wt in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        rr, cc = r0 + dr, c0 + dc
        inside = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        flat = np.where(inside, np.clip(rr, 0, rows - 1) * cols + np.clip(cc, 0, cols - 1), 0)
        idx.append(flat.astype(np.int64).ravel())
        w.append(np.where(inside, wt, 0).astype(np.float32).ravel())
    return np.stack(idx), np.stack(w)


def test_polar_grid_maps_equal_the_reference_bit_for_bit():
    from napari_plaque.ivus import polar

    rng = np.random.default_rng(0)
    for shape in ((512, 512), (161, 200), (40, 41)):
        centres = [(255.5, 255.5), (10.3, 150.7), (-5.2, 3.0), (0.0, 0.0)]
        centres += [(shape[0] - 1.0, shape[1] + 3.5)]
        centres += [tuple(rng.uniform(-10, 520, 2)) for _ in range(3)]
        for cen in centres:
            for dpx in ((200.0, 200.0), (230.4, 153.6), (20.0, 20.0)):
                g = polar._grid(shape, cen, 360, 64, dpx)
                idx, w = _reference_grid_maps(shape, cen, 360, 64, dpx)
                assert np.array_equal(g.idx, idx) and g.w.tobytes() == w.tobytes(), (cen, dpx)


# ---------------------------------------------------------------- arcs


def test_normalise_and_merge_wraparound():
    assert normalise_arc(-30, 30) == (330.0, 30.0)
    assert normalise_arc(0, 360) == (0.0, 360.0)
    assert merge_arcs([(10, 50), (40, 90)]) == [(10.0, 90.0)]
    assert merge_arcs([(10, 50), (60, 90)]) == [(10.0, 50.0), (60.0, 90.0)]
    # overlapping through 0 deg merge into one wrapping arc
    assert merge_arcs([(300, 20), (350, 60)]) == [(300.0, 60.0)]
    assert merge_arcs([(0, 30), (330, 360)]) == [(330.0, 30.0)]
    assert merge_arcs([(300, 200), (190, 310)]) == [(0.0, 360.0)]


def test_arc_to_labels_convention():
    # A-line k belongs when its centre (k + 0.5) deg lies in [start, end)
    lab = arcs_to_labels([0], [0], [10.0], [20.0], 1, 1, 360)[0, :, 0]
    assert np.flatnonzero(lab).tolist() == list(range(10, 20))
    lab = arcs_to_labels([0], [0], [350.0], [10.0], 1, 1, 360)[0, :, 0]
    assert np.flatnonzero(lab).tolist() == list(range(0, 10)) + list(range(350, 360))
    full = arcs_to_labels([0], [0], [0.0], [360.0], 1, 1, 360)
    assert full.all()
    # 10.4 deg start: A-line 10 (centre 10.5) is in, with N = 36 A-line 1 (centre 15) is in
    lab36 = arcs_to_labels([0], [0], [10.4], [20.0], 1, 1, 36)[0, :, 0]
    assert np.flatnonzero(lab36).tolist() == [1]


def test_arcs_labels_arcs_roundtrip():
    s = ArcSet(4, (64, 64))
    s.add(0, "calcium", 10, 100)
    s.add(0, "calcium", 200, 250)
    s.add(1, "calcium", 300, 40)  # wraps
    s.add(2, "attenuation", 0, 360)
    s.add(3, "calcium", 90, 120)
    s.add(3, "attenuation", 120, 180)
    lab = s.labels(360)
    back = ArcSet.from_labels(lab, s.classes, (64, 64))
    got = sorted((a.frame, a.cls, a.start_deg, a.end_deg) for a in back.arcs)
    want = sorted((a.frame, a.cls, a.start_deg, a.end_deg) for a in s.arcs)
    assert got == want
    assert (1, "calcium", 300.0, 40.0) in got
    assert labels_to_arcs(np.zeros((2, 360), bool)) == []


def test_arcset_merge_remove_copy():
    s = ArcSet(3, (64, 64))
    s.add(0, "calcium", 10, 50)
    s.add(0, "calcium", 40, 80)
    assert [(a.start_deg, a.end_deg) for a in s.arcs_for(0, "calcium")] == [(10.0, 80.0)]
    s.add(0, "attenuation", 40, 80)  # another class does not merge
    assert len(s.arcs_for(0)) == 2
    assert s.copy_frame(0, 1) == 2 and len(s.arcs_for(1)) == 2
    removed = s.remove_at(1, 45.0, "calcium")
    assert removed is not None and removed.cls == "calcium"
    assert [a.cls for a in s.arcs_for(1)] == ["attenuation"]
    assert s.remove_at(1, 200.0) is None
    with pytest.raises(ValueError, match="outside the pullback"):
        s.add(5, "calcium", 0, 10)


# ---------------------------------------------------------------- file format


def test_save_load_roundtrip(tmp_path):
    s = ArcSet(5, (100, 120), center_mode="manual", centers=[50.0, 61.0])
    s.add(0, "calcium", 350, 20, annotator="me", time="2026-01-01T00:00:00+00:00")
    s.add(4, "attenuation", 30, 90)
    p = save_arcs(s, tmp_path / "pb.arcs.json")
    doc = json.loads(p.read_text())
    assert doc["format"] == "napari-plaque/arcs" and doc["version"] == 1
    assert doc["frame_shape"] == [100, 120] and doc["n_frames"] == 5
    assert doc["arcs"][0] == {
        "frame": 0,
        "class": "calcium",
        "start_deg": 350.0,
        "end_deg": 20.0,
        "annotator": "me",
        "time": "2026-01-01T00:00:00+00:00",
    }
    back = load_arcs(p, n_frames=5, frame_shape=(100, 120))
    assert back.to_json() == s.to_json()
    assert back.center_of(3) == (50.0, 61.0)
    assert not list(tmp_path.glob(".*tmp*"))  # no temp file left


def test_load_refuses_other_pullback_and_bad_files(tmp_path):
    s = ArcSet(5, (100, 120))
    p = save_arcs(s, tmp_path / "a.json")
    with pytest.raises(FormatError, match="another pullback.*5 frames.*has 6"):
        load_arcs(p, n_frames=6)
    with pytest.raises(FormatError, match="another pullback.*frame shape"):
        load_arcs(p, n_frames=5, frame_shape=(120, 100))
    bad = tmp_path / "corrupt.json"
    bad.write_text('{"format": "napari-plaque/arcs", "vers')
    with pytest.raises(FormatError, match="corrupt.json.*not valid JSON"):
        load_arcs(bad)
    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else"}')
    with pytest.raises(FormatError, match="other.json.*not a napari-plaque/arcs"):
        load_arcs(other)
    v2 = tmp_path / "v2.json"
    v2.write_text(json.dumps({**s.to_json(), "version": 2}))
    with pytest.raises(FormatError, match="version 2"):
        load_arcs(v2)
    badarc = tmp_path / "badarc.json"
    badarc.write_text(
        json.dumps(
            {
                **s.to_json(),
                "arcs": [{"frame": 9, "class": "calcium", "start_deg": 0, "end_deg": 9}],
            }
        )
    )
    with pytest.raises(FormatError, match="badarc.json.*outside the pullback"):
        load_arcs(badarc)
    with pytest.raises(FormatError, match="not found"):
        load_arcs(tmp_path / "missing.json")


# ---------------------------------------------------------------- measurements


def test_ics_hand_built():
    lab = np.zeros((10, 360), bool)
    lab[0, :90] = True  # 90 A-lines
    lab[5, :] = True  # 360
    assert ics(lab) == pytest.approx(1000 * 450 / 3600)
    assert ics(lab, (0, 5)) == pytest.approx(1000 * 90 / 1800)
    assert ics(lab, (6, 10)) == 0.0


def test_arc_measurements_flag_and_length():
    s = ArcSet(40, (64, 64))
    for f in range(5, 32):  # 27 frames > 180 deg
        s.add(f, "calcium", 0, 200)
    s.add(35, "calcium", 10, 40)
    m = arc_measurements(s.class_labels("calcium"), mm_per_frame=0.2)
    assert m["max_arc_deg"] == pytest.approx(200.0)
    assert m["positive_frames"] == 28
    assert m["length_mm"] == pytest.approx(28 * 0.2)
    assert m["longest_segment_mm"] == pytest.approx(27 * 0.2)
    assert m["length_over_threshold_mm"] == pytest.approx(5.4)
    assert m["arc_gt180_over_5mm"] is True
    assert m["ics"] == pytest.approx(1000 * (27 * 200 + 30) / (40 * 360))
    # 0.1 mm per frame: 2.7 mm, no flag
    assert arc_measurements(s.class_labels("calcium"), 0.1)["arc_gt180_over_5mm"] is False


def test_frame_range_parsing():
    assert parse_frame_range(None, 10) == (0, 10)
    assert parse_frame_range("2:5", 10) == (2, 5)
    assert parse_frame_range(":-2", 10) == (0, 8)
    with pytest.raises(ValueError, match="START:STOP"):
        parse_frame_range("5", 10)
    with pytest.raises(ValueError, match="no frames"):
        parse_frame_range("8:3", 10)


def test_aline_angles():
    a = aline_angles_deg(4)
    assert a.tolist() == [45.0, 135.0, 225.0, 315.0]


def test_lumen_centre_estimate_on_synthetic():
    from napari_plaque.ivus import estimate_lumen_centers
    from napari_plaque.samples.ivus import make_pullback_frames

    frames, truth = make_pullback_frames(n_frames=30, size=160, seed=2)
    est = estimate_lumen_centers(frames)
    err = np.hypot(*(est - truth["lumen_centers"]).T)
    offset = np.hypot(*(truth["lumen_centers"] - np.asarray(truth["center"])).T)
    assert est.shape == (30, 2)
    assert np.median(err) < 2.0 and np.median(err) < 0.5 * np.median(offset)
    # lumen-centred arcs save and load with one centre per frame
    s = ArcSet(30, (160, 160), center_mode="lumen", centers=est.tolist())
    s.add(3, "calcium", 10, 20)
    assert s.center_of(3) == pytest.approx(tuple(est[3]))


def test_from_polar_labels_nearest():
    lab = np.zeros((36, 20), np.uint8)
    lab[0:9, 10:15] = 3  # A-lines 0..8 = 0..90 deg, depth samples 10..14
    img = from_polar(lab, (41, 41), (20.0, 20.0), depth_px=20, order=0)
    assert set(np.unique(img)) == {0, 3}  # no blended values
    assert img[28, 28] == 3  # 45 deg, radius 11.3 px -> depth sample 11
    assert img[12, 12] == 0  # 225 deg, same radius
    assert img[26, 26] == 0  # 45 deg but radius 8.5 px -> depth sample 8
    bool_img = from_polar(lab > 0, (41, 41), (20.0, 20.0), depth_px=20)
    assert bool_img.dtype == bool and bool_img.sum() == (img == 3).sum()


def test_add_many_merges_like_add():
    from napari_plaque.ivus import Arc

    a = ArcSet(4, (32, 32))
    b = ArcSet(4, (32, 32))
    new = [
        Arc(0, "calcium", 10, 50),
        Arc(0, "calcium", 40, 80),
        Arc(1, "calcium", 350, 10),
        Arc(1, "calcium", 5, 20),
        Arc(2, "attenuation", 0, 360),
        Arc(3, "calcium", 100, 100),  # empty: ignored
    ]
    a.add(1, "calcium", 200, 220)
    b.add(1, "calcium", 200, 220)
    for arc in new:
        a.add(arc.frame, arc.cls, arc.start_deg, arc.end_deg)
    b.add_many(new)
    key = [(x.frame, x.cls, x.start_deg, x.end_deg) for x in a.arcs]
    assert key == [(x.frame, x.cls, x.start_deg, x.end_deg) for x in b.arcs]
    assert (1, "calcium", 350.0, 20.0) in key and (0, "calcium", 10.0, 80.0) in key
    with pytest.raises(ValueError, match="outside"):
        b.add_many([Arc(9, "calcium", 0, 10)])
