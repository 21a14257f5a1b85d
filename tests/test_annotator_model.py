"""The Qt-free arc annotator model: edits, history, predictions, autosave failures, events."""

from __future__ import annotations

import json

import pytest

from napari_plaque.io.errors import FormatError
from napari_plaque.ivus.annotator import ArcAnnotator, ArcDrag, angle_about, autosave_path
from napari_plaque.ivus.arcs import ArcSet, save_arcs


def _arcs(ann):
    return [(a.frame, a.cls, round(a.start_deg, 3), round(a.end_deg, 3)) for a in ann.arcset.arcs]


@pytest.fixture
def ann(tmp_path):
    return ArcAnnotator(10, (64, 64), mm_per_frame=0.5, save_path=tmp_path / "pb.dcm.arcs.json")


def test_edits_undo_redo_and_events(ann, tmp_path):
    seen = []
    ann.arcs_changed.connect(lambda: seen.append("arcs"))
    ann.add_arc(2, "calcium", 30, 120)
    ann.add_arc(2, "calcium", 100, 150)  # merges with the first
    ann.add_arc(3, "attenuation", 340, 20)
    assert _arcs(ann) == [(2, "calcium", 30.0, 150.0), (3, "attenuation", 340.0, 20.0)]
    assert seen == ["arcs"] * 3
    # live measurements: 120 deg on one frame of ten
    m = ann.measurements()
    assert m["calcium"]["max_arc_deg"] == pytest.approx(120.0)
    assert m["calcium"]["ics"] == pytest.approx(1000 * 120 / 3600)
    assert m["calcium"]["length_mm"] == pytest.approx(0.5)
    summary = ann.summary()  # the `napari-plaque ics` row layout
    assert summary["calcium_length_mm"] == pytest.approx(0.5)
    assert summary["attenuation_max_arc_deg"] == pytest.approx(40.0)
    assert ann.undo() and _arcs(ann) == [(2, "calcium", 30.0, 150.0)]
    assert ann.measurements()["attenuation"]["max_arc_deg"] == 0.0
    assert ann.redo() and len(ann.arcset.arcs) == 2
    assert ann.copy_frame(2, 5) == 1 and (5, "calcium", 30.0, 150.0) in _arcs(ann)
    assert ann.delete_at(5, 60.0, prefer_cls="attenuation")  # falls back to any class
    assert (5, "calcium", 30.0, 150.0) not in _arcs(ann)
    assert not ann.delete_at(5, 60.0)
    assert ann.clear_frame(2) and not ann.clear_frame(2)
    # every edit was autosaved
    doc = json.loads(ann.save_path.read_text())
    assert [(a["frame"], a["class"]) for a in doc["arcs"]] == [(3, "attenuation")]


def test_restore_and_refuse_other_pullback(tmp_path):
    path = tmp_path / "a.arcs.json"
    s = ArcSet(10, (64, 64))
    s.add(1, "calcium", 0, 90)
    save_arcs(s, path)
    ann = ArcAnnotator(10, (64, 64), save_path=path)
    assert _arcs(ann) == [(1, "calcium", 0.0, 90.0)] and "restored 1 arcs" in ann.message
    # a file made for another pullback is not restored and never overwritten
    other = ArcAnnotator(12, (64, 64), save_path=path)
    assert (
        other.arcset.arcs == []
        and other.save_path is None
        and "another pullback" in (other.save_error or "")
    )
    other.add_arc(0, "calcium", 0, 10)
    assert json.loads(path.read_text())["n_frames"] == 10
    with pytest.raises(FormatError, match="another pullback"):
        other.load_from(path)


def test_predictions_accept_reject(ann):
    events = []
    ann.predictions_changed.connect(lambda: events.append(1))
    pred = ArcSet(10, (64, 64), ["calcium"])
    pred.add(4, "calcium", 100, 160)
    pred.add(6, "calcium", 300, 30)
    ann.set_predictions(pred, source="test")
    assert ann.prediction_summary()["max_arc_deg"] == pytest.approx(90.0)
    assert ann.accept_frame(4) == 1 and (4, "calcium", 100.0, 160.0) in _arcs(ann)
    assert ann.reject_frame(6) == 1
    assert ann.accept_all() == 0
    assert len(events) == 3
    assert sorted(ann.reviewed) == [4, 6]
    # undo takes back the reject (not the accept before it): the prediction is back
    assert ann.undo() and _arcs(ann) == [(4, "calcium", 100.0, 160.0)]
    assert [a.frame for a in ann.predicted.arcs] == [6] and sorted(ann.reviewed) == [4]
    assert ann.undo() and _arcs(ann) == [] and len(ann.predicted.arcs) == 2
    assert ann.redo() and ann.redo() and [a.frame for a in ann.predicted.arcs] == []
    with pytest.raises(ValueError, match="frames"):
        ann.set_predictions(ArcSet(3, (64, 64)))


def test_centre_change_refused_with_arcs(ann):
    assert ann.set_center_mode("lumen", [[30.0, 31.0]] * 10)
    assert ann.arcset.center_mode == "lumen"
    ann.add_arc(0, "calcium", 0, 45)
    assert not ann.set_center_mode("catheter", [31.5, 31.5])
    assert ann.arcset.center_mode == "lumen" and "centre" in ann.message


def test_failed_autosave_keeps_working_and_save_as(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # writing below a file fails like a read-only folder does (as root too)
    ann = ArcAnnotator(5, (32, 32), save_path=blocker / "pb.arcs.json")
    states = []
    ann.save_state.connect(lambda msg, ok: states.append((msg, ok)))
    ann.add_arc(1, "calcium", 10, 50)
    assert states[-1][1] is False and "FAILED" in states[-1][0] and "Save as" in states[-1][0]
    assert _arcs(ann) == [(1, "calcium", 10.0, 50.0)]  # nothing lost
    ann.add_arc(2, "calcium", 10, 50)  # keeps working
    assert ann.save_to(tmp_path / "elsewhere.json") and ann.save_error is None
    assert len(json.loads((tmp_path / "elsewhere.json").read_text())["arcs"]) == 2
    assert states[-1][1] is True


def test_no_save_path_says_so():
    ann = ArcAnnotator(3, (16, 16))
    ann.add_arc(0, "calcium", 0, 10)
    assert "Save as" in ann.save_error


def _written_by_someone_else(arcset, path):
    """Another annotator's session writing the file (a plain write, whatever its checks)."""
    path.write_text(json.dumps(arcset.to_json()))


def test_reload_and_merge(ann):
    ann.add_arc(1, "calcium", 0, 30)
    theirs = ArcSet(10, (64, 64))
    theirs.add(7, "calcium", 200, 220)
    theirs.add(1, "calcium", 20, 60)
    theirs.add(1, "calcium", 0, 30)
    _written_by_someone_else(theirs, ann.save_path)
    assert ann.reload_and_merge() >= 1
    assert _arcs(ann) == [(1, "calcium", 0.0, 60.0), (7, "calcium", 200.0, 220.0)]
    assert len(json.loads(ann.save_path.read_text())["arcs"]) == 2
    assert ann.undo() and _arcs(ann) == [(1, "calcium", 0.0, 30.0)]


def test_save_conflict_is_reported_then_merged(ann):
    from napari_plaque.ivus import arcs as arcs_mod

    if not hasattr(arcs_mod, "ArcsConflictError"):
        pytest.skip("ivus.arcs has no conflict detection")
    ann.add_arc(1, "calcium", 0, 30)
    theirs = ArcSet(10, (64, 64))
    theirs.add(1, "calcium", 0, 30)
    theirs.add(8, "attenuation", 10, 40)
    _written_by_someone_else(theirs, ann.save_path)
    states = []
    ann.save_state.connect(lambda msg, ok: states.append((msg, ok)))
    ann.add_arc(2, "calcium", 90, 120)  # autosave refuses to drop their frame-8 arc
    assert ann.conflict and states[-1][1] is False and "Reload and merge" in states[-1][0]
    assert len(ann.arcset.arcs) == 2  # ours are kept in memory
    ann.reload_and_merge()
    assert not ann.conflict and states[-1][1] is True
    saved = json.loads(ann.save_path.read_text())["arcs"]
    assert {(a["frame"], a["class"]) for a in saved} == {
        (1, "calcium"),
        (2, "calcium"),
        (8, "attenuation"),
    }


def test_drag_gesture_and_angles():
    assert angle_about((10, 10), 10, 20) == 0.0
    assert angle_about((10, 10), 20, 10) == pytest.approx(90.0)
    d = ArcDrag(0, 340.0)
    for a in (355, 10, 20):
        d.move(a)
    assert d.arc() == (340.0, 20.0) and d.extent_deg == pytest.approx(40.0)
    d = ArcDrag(0, 200.0)
    d.move(180)
    d.move(150)
    assert d.arc() == (150.0, 200.0)
    d = ArcDrag(0, 0.0)
    for a in range(10, 370, 10):
        d.move(a % 360)
    assert d.arc() == (0.0, 360.0)
    assert ArcDrag(0, 5.0).arc() is None


def test_autosave_path():
    assert autosave_path("/x/pb.dcm").name == "pb.dcm.arcs.json"


def _pred(ann, arcs):
    pred = ArcSet(ann.n_frames, ann.frame_shape, ["calcium"])
    for f, s, e in arcs:
        pred.add(f, "calcium", s, e)
    ann.set_predictions(pred)
    return pred


def test_undo_after_reject_frame_undoes_the_reject(ann):
    _pred(ann, [(2, 10, 50), (3, 100, 140)])
    assert ann.accept(2) == 1
    assert ann.reject(3) == 1
    assert ann.undo()  # the reject only
    assert [a.frame for a in ann.predicted.arcs] == [3]
    assert _arcs(ann) == [(2, "calcium", 10.0, 50.0)]


def test_accept_reject_one_arc_and_ranges_are_one_undo_each(ann):
    _pred(ann, [(1, 10, 20), (1, 200, 220), (2, 0, 30), (3, 0, 30), (4, 0, 30), (7, 5, 6)])
    assert ann.accept(1, arc_index=1) == 1
    assert _arcs(ann) == [(1, "calcium", 200.0, 220.0)]
    assert 1 not in ann.reviewed  # an arc of frame 1 still waits
    assert ann.reject(1, arc_index=0) == 1 and 1 in ann.reviewed
    assert ann.accept(1, arc_index=5) == 0  # no such arc: nothing, no undo step
    n_hist = len(ann.history)
    assert ann.accept_range(4, 2) == 3 and len(ann.history) == n_hist + 1
    assert sorted(a.frame for a in ann.arcset.arcs) == [1, 2, 3, 4]
    assert ann.reject_range(5, 9) == 1 and ann.predicted.arcs == []
    assert ann.undo() and [a.frame for a in ann.predicted.arcs] == [7]
    assert ann.undo() and sorted(a.frame for a in ann.predicted.arcs) == [2, 3, 4, 7]
    assert sorted(a.frame for a in ann.arcset.arcs) == [1]
    assert sorted(ann.reviewed) == [1]


def test_new_predictions_are_not_replaced_by_undo(ann):
    _pred(ann, [(2, 10, 50)])
    ann.accept(2)
    _pred(ann, [(5, 10, 50)])  # a new prediction run
    assert ann.undo() and _arcs(ann) == []
    assert [a.frame for a in ann.predicted.arcs] == [5]


def test_reviewed_frames_undo(ann):
    assert ann.set_reviewed([3, 4]) and not ann.set_reviewed(3)
    ann.add_arc(6, "calcium", 0, 10)
    assert ann.annotated_frames().tolist() == [3, 4, 6]
    assert ann.undo() and ann.undo() and ann.annotated_frames().tolist() == []


def test_paint_block_and_stroke_one_undo(ann, tmp_path):
    ann.add_arc(2, "calcium", 340, 30)
    n = len(ann.history)
    assert ann.paint_block(1, 3, 20, 60)  # a rectangle of frames 1..3, 20..60 deg
    assert len(ann.history) == n + 1
    assert _arcs(ann) == [
        (1, "calcium", 20.0, 60.0),
        (2, "calcium", 340.0, 60.0),
        (3, "calcium", 20.0, 60.0),
    ]
    # a brush stroke that erases through 0 deg on frames 2 and 3: one undo step
    ann.begin_stroke()
    ann.paint(2, 350, 10, erase=True)
    ann.paint([2, 3], 40, 50, erase=True)
    assert ann.end_stroke()
    assert _arcs(ann) == [
        (1, "calcium", 20.0, 60.0),
        (2, "calcium", 10.0, 40.0),
        (2, "calcium", 50.0, 60.0),
        (2, "calcium", 340.0, 350.0),
        (3, "calcium", 20.0, 40.0),
        (3, "calcium", 50.0, 60.0),
    ]
    assert len(ann.history) == n + 2
    assert ann.undo() and len(_arcs(ann)) == 3
    assert ann.undo() and _arcs(ann) == [(2, "calcium", 340.0, 30.0)]
    # a stroke that changes nothing leaves no step
    ann.begin_stroke()
    ann.paint(5, 0, 10, erase=True)
    assert not ann.end_stroke()
    with pytest.raises(ValueError, match="outside"):
        ann.paint(99, 0, 10)


def test_subtract_arc_exact():
    from napari_plaque.ivus.annotator import subtract_arc

    assert subtract_arc(0, 360, 90, 180) == [(180.0, 90.0)]
    assert subtract_arc(350, 20, 355, 5) == [(5.0, 20.0), (350.0, 355.0)]
    assert subtract_arc(10, 20, 0, 360) == []
    assert subtract_arc(10, 20, 30, 40) == [(10.0, 20.0)]


def test_next_end_diastolic_frame(ann):
    import numpy as np

    from napari_plaque.ivus.gating import GatingResult

    assert ann.next_ed_frame(0) is None and ann.gating_confidence is None
    ann.gating = GatingResult(np.array([2, 5, 8]), 3.0, 75.0, np.zeros(10), 0.6)
    assert ann.next_ed_frame(0) == 2 and ann.next_ed_frame(2) == 5
    assert ann.next_ed_frame(8) is None and ann.next_ed_frame(5, -1) == 2
    assert ann.next_ed_frame(2, -1) is None and ann.gating_confidence == 0.6


def test_compute_gating_on_a_beating_sequence():
    import numpy as np

    rng = np.random.default_rng(0)
    n, period = 120, 10
    base = rng.normal(size=(32, 32))
    frames = np.stack(
        [np.roll(base, int(round(3 * np.sin(2 * np.pi * i / period))), axis=0) for i in range(n)]
    )
    frames = frames + rng.normal(scale=0.05, size=frames.shape)
    ann = ArcAnnotator(n, (32, 32))
    g = ann.compute_gating(frames, frame_time_s=1 / 15)
    assert g.period_frames == pytest.approx(period, abs=1)
    assert ann.gating_confidence == pytest.approx(g.confidence)
    f = ann.next_ed_frame(0)
    assert f is not None and f in set(g.frames.tolist())


def test_annotator_for_a_pullback_refuses_another_pullbacks_arcs(tmp_path):
    """The annotator knows its pullback: loading (or restoring) arcs saved for another pullback
    of the same size is refused with the file named, not silently taken."""
    from napari_plaque.io.errors import FormatError
    from napari_plaque.ivus.annotator import ArcAnnotator
    from napari_plaque.samples.ivus import make_pullback_frames
    from napari_plaque.types import Pullback

    def pullback(seed):
        frames, truth = make_pullback_frames(n_frames=6, size=64, seed=seed)
        return Pullback(frames, truth["frame_time_s"], truth["pullback_rate_mm_s"],
                        truth["pixel_spacing_mm"])

    a, b = pullback(1), pullback(2)
    ann_a = ArcAnnotator.for_pullback(a)
    ann_a.add_arc(2, "calcium", 10.0, 80.0)
    path = tmp_path / "a.arcs.json"
    ann_a.save_to(path)  # the annotator records its pullback in the file
    ann_b = ArcAnnotator.for_pullback(b)
    with pytest.raises(FormatError, match="a.arcs.json"):
        ann_b.load_from(path)
    again = ArcAnnotator.for_pullback(a)
    again.load_from(path)
    assert len(again.arcset.arcs) == 1
