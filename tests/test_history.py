"""The one undo/redo history (napari_plaque.history.History) and the editors built on it."""

from __future__ import annotations

import pytest

from napari_plaque.history import History


def test_snapshots_undo_redo_and_a_new_edit_clears_redo():
    h: History[int] = History()
    seen = []
    h.changed.connect(lambda: seen.append((h.can_undo, h.can_redo)))
    state = 0
    for new in (1, 2, 3):  # three edits: push the state before each
        h.push(state)
        state = new
    assert h.undo(3) == 2 and h.undo(2) == 1  # back to 1
    assert h.can_redo and h.redo(1) == 2  # forward to 2
    h.push(2)  # a new edit
    assert not h.can_redo and len(h) == 3
    assert seen[-1] == (True, False)
    assert h.undo(99) == 2 and h.redo(2) == 99  # the current state comes back on redo


def test_commands_keep_the_edit_itself_for_redo():
    h: History[str] = History()
    h.push("a")
    h.push("b")
    assert h.undo() == "b" and h.redo() == "b" and h.undo() == "b" and h.undo() == "a"
    assert h.undo() is None and not h.can_undo


def test_depth_bound_drop_last_clear_and_map():
    h: History[int] = History(depth=3)
    for i in range(10):
        h.push(i)
    assert len(h) == 3 and h.undo(10) == 9
    h.map(lambda s: s * 10)
    assert h.redo(0) == 100 and h.undo(0) == 0  # redo held 10 -> 100; undo gives back 0
    h.push(7)
    assert h.drop_last() == 7
    h.clear()
    assert not h.can_undo and not h.can_redo
    with pytest.raises(ValueError, match="depth"):
        History(depth=0)


def test_the_editors_share_it():
    from napari_plaque.ccta.session import CalciumSession
    from napari_plaque.ccta.vessel_session import VesselSession
    from napari_plaque.ivus.annotator import ArcAnnotator
    from napari_plaque.ivus.border_editor import BorderEditor

    ann = ArcAnnotator(4, (32, 32), 0.1)
    ann.add_arc(1, "calcium", 10, 50)
    assert isinstance(ann.history, History) and ann.can_undo
    assert ann.undo() and not ann.arcset.arcs and ann.redo() and len(ann.arcset.arcs) == 1
    assert isinstance(CalciumSession().history, History)
    assert BorderEditor.undo.__code__.co_names.count("history") >= 1
    assert VesselSession().histories == {}
