"""Keyframe interpolation of arcs: on the circle, paired by centre, shrinking when unpaired."""

from __future__ import annotations

import json

import pytest

from napari_plaque.ivus.arcs import ArcSet, arc_extent, load_arcs, save_arcs
from napari_plaque.ivus.keyframes import (
    circular_lerp,
    interpolate_arcs,
    interpolate_pair,
    keyframe_gaps,
)


def _set(arcs, n=20):
    s = ArcSet(n, (64, 64))
    for f, c, a, b in arcs:
        s.add(f, c, a, b)
    return s


def _t(arcs):
    return [(a.frame, a.cls, round(a.start_deg, 3), round(a.end_deg, 3)) for a in arcs]


def test_circular_lerp_goes_the_short_way():
    assert circular_lerp(350, 10, 0.5) == pytest.approx(0.0)
    assert circular_lerp(10, 350, 0.25) == pytest.approx(5.0)
    assert circular_lerp(90, 100, 0.5) == pytest.approx(95.0)


def test_interpolation_through_zero_never_180():
    s = _set([(0, "calcium", 350, 30), (4, "calcium", 10, 50)])
    out = interpolate_pair(s, 0, 4)
    assert _t(out) == [
        (1, "calcium", 355.0, 35.0),
        (2, "calcium", 0.0, 40.0),
        (3, "calcium", 5.0, 45.0),
    ]
    for a in out:  # the arcs all contain 20 deg and none 180
        assert arc_extent(a.start_deg, a.end_deg) == pytest.approx(40.0)


def test_extent_changes_linearly_and_unpaired_arcs_shrink():
    s = _set([(2, "calcium", 0, 40), (2, "calcium", 180, 200), (6, "calcium", 0, 80)])
    out = interpolate_pair(s, 2, 6)
    by_frame = {f: [a for a in out if a.frame == f] for f in (3, 4, 5)}
    # the paired arc: start stays 0, extent 40 -> 80
    assert [round(arc_extent(a.start_deg, a.end_deg), 3) for a in by_frame[3]] == [50.0, 15.0]
    # the unpaired arc (centre 190) shrinks about its centre: 20 -> 15 -> 10 -> 5
    shrink = [a for a in out if a.start_deg > 100]
    assert [(a.frame, a.start_deg, a.end_deg) for a in shrink] == [
        (3, 182.5, 197.5),
        (4, 185.0, 195.0),
        (5, 187.5, 192.5),
    ]


def test_reviewed_empty_keyframe_and_classes_apart():
    s = _set([(0, "calcium", 90, 130), (0, "attenuation", 300, 320)])
    out = interpolate_arcs(s, keyframes=[0, 4])  # frame 4 reviewed without calcium
    assert {a.frame for a in out.arcs} == {1, 2, 3}
    assert {a.cls for a in out.arcs} == {"calcium", "attenuation"}
    ca = [arc_extent(a.start_deg, a.end_deg) for a in out.arcs_for(1, "calcium")]
    assert ca == [pytest.approx(30.0)]


def test_max_gap_and_keyframes_untouched():
    s = _set([(0, "calcium", 0, 10), (3, "calcium", 0, 10), (15, "calcium", 0, 10)])
    out = interpolate_arcs(s, max_gap=10)
    assert sorted({a.frame for a in out.arcs}) == [1, 2]  # 3 -> 15 is too far
    assert keyframe_gaps([0, 3, 15, 16], 10) == [(0, 3)]
    assert out.n_frames == 20 and s.arcs_for(1) == []  # the input is not changed
    with pytest.raises(ValueError, match="max_gap"):
        interpolate_arcs(s, max_gap=1)
    with pytest.raises(ValueError, match="outside"):
        interpolate_arcs(s, keyframes=[0, 30])


def test_full_ring_keyframe():
    s = _set([(0, "calcium", 0, 360), (2, "calcium", 100, 200)])
    out = interpolate_pair(s, 0, 2)
    assert [(a.frame, a.start_deg, arc_extent(a.start_deg, a.end_deg)) for a in out] == [
        (1, 100.0, pytest.approx(230.0))
    ]


def test_cli_arcs_interpolate(tmp_path, capsys):
    from napari_plaque.cli import main

    src = tmp_path / "a.arcs.json"
    save_arcs(_set([(0, "calcium", 350, 30), (4, "calcium", 10, 50)]), src)
    out = tmp_path / "b.arcs.json"
    assert main(["arcs", "interpolate", str(src), "--out", str(out), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["frames_filled"] == [1, 2, 3] and res["gaps_interpolated"] == [[0, 4]]
    assert res["n_arcs_added"] == 3 and res["warnings"] == []
    got = load_arcs(out)
    assert sorted({a.frame for a in got.arcs}) == [0, 1, 2, 3, 4]
    assert _t(got.arcs_for(2)) == [(2, "calcium", 0.0, 40.0)]
    assert "interpolated" in got.arcs_for(2)[0].annotator
    # never over the input unless asked
    before = src.read_text()
    assert main(["arcs", "interpolate", str(src), "--out", str(src)]) == 2
    err = capsys.readouterr().err
    assert "a.arcs.json" in err and "--overwrite" in err
    assert src.read_text() == before
    assert main(["arcs", "interpolate", str(src), "--out", str(src), "--overwrite"]) == 0
    assert len(load_arcs(src).arcs) == 5
    # bad input: exit 2 naming the file
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something else"}))
    capsys.readouterr()
    assert main(["arcs", "interpolate", str(bad), "--out", str(tmp_path / "c.json")]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()
    assert main(["arcs", "interpolate", str(src), "--out", str(out), "--max-gap", "1"]) == 2
