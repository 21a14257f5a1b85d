"""The IVUS borders journal (issue 21 item 2): every edit on disk at once, nothing lost on a
kill, the borders file rewritten (by a child process) only once the edits pause, and the
per-frame measurement cache equal to measuring the pullback from scratch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_plaque.io.errors import FormatError
from napari_plaque.ivus.border_editor import BorderEditor
from napari_plaque.ivus.borders import VesselBorders
from napari_plaque.ivus.vessel_files import journal_path, load_borders, save_borders
from napari_plaque.ivus.vessel_measure import measure_vessel


def _borders(n_frames: int = 40, n_alines: int = 180, seed: int = 0) -> VesselBorders:
    rng = np.random.default_rng(seed)
    lum = 30 + rng.random((n_frames, n_alines))
    eem = 50 + rng.random((n_frames, n_alines))
    return VesselBorders(lum, eem, (80.0, 80.0), (0.05, 0.05))


def _editor(tmp_path, n=40, in_child=True) -> BorderEditor:
    path = tmp_path / "pb.dcm.borders.json"
    ed = BorderEditor(_borders(n), (160, 160), 0.5, path, str(tmp_path / "pb.dcm"))
    ed.background_save = True
    ed.autosave()
    assert ed.flush()
    ed._store.in_child = in_child
    return ed


def _same(disk: VesselBorders, ed: BorderEditor, atol=1e-5) -> None:
    np.testing.assert_allclose(disk.lumen_r_px, ed.borders.lumen_r_px, atol=atol)
    np.testing.assert_allclose(disk.eem_r_px, ed.borders.eem_r_px, atol=atol)
    np.testing.assert_array_equal(disk.shadowed, ed.borders.shadowed)


def test_each_edit_is_journaled_at_once_and_the_file_written_once_they_pause(tmp_path):
    ed = _editor(tmp_path)
    path = ed.save_path
    file_before = path.read_bytes()
    ed.drag(3, "lumen", 80, 80 + 33)
    ed.drag(4, "eem", 80, 80 + 58)
    ed.undo()
    ed.redo()
    ed.drag(9, "lumen", 80 + 32, 80)
    assert path.read_bytes() == file_before  # not rewritten per edit
    disk, edited = load_borders(path, 40, (160, 160))  # the file and its journal
    _same(disk, ed, atol=0)  # journal records are float64: exact
    assert edited == ed.edited == {3, 4, 9}
    stale, _ = load_borders(path, replay_journal=False)
    assert stale.lumen_r_px[3, 0] != pytest.approx(ed.borders.lumen_r_px[3, 0])
    assert ed.flush()  # compacts: the child process writes the file
    assert path.read_bytes() != file_before
    alone, edited = load_borders(path, replay_journal=False)
    _same(alone, ed)
    assert edited == {3, 4, 9}
    assert json.loads(path.read_text())["journal"]["seq"] == ed._store.n_records
    assert journal_path(path).stat().st_size < 100  # emptied


def test_an_undo_that_unmarks_a_frame_is_replayed(tmp_path):
    ed = _editor(tmp_path)
    ed.drag(6, "lumen", 80, 80 + 33)
    ed.undo()
    disk, edited = load_borders(ed.save_path, 40)
    _same(disk, ed, atol=0)
    assert edited == set()


def test_nothing_is_lost_when_the_process_is_killed(tmp_path):
    """A child process edits a pullback in background-save mode and is killed (SIGKILL) right
    after its last edit, long before the borders file would be rewritten: every edit loads."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        import numpy as np
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_ivus_border_journal import _borders
        from napari_plaque.ivus.border_editor import BorderEditor
        ed = BorderEditor(_borders(40), (160, 160), 0.5, {str(tmp_path / 'pb.dcm.borders.json')!r})
        ed.background_save = True
        ed.autosave()
        assert ed.flush()
        ed.drag(3, "lumen", 80, 80 + 33)
        ed.drag(4, "eem", 80, 80 + 58)
        ed.redraw(5, "lumen", 80 + 20 * np.sin(np.linspace(0, 6.2, 30)),
                  80 + 20 * np.cos(np.linspace(0, 6.2, 30)))
        ed.undo()
        ed.drag(7, "lumen", 80 + 31, 80)
        np.save({str(tmp_path / 'expected.npy')!r}, np.stack([ed.borders.lumen_r_px,
                                                            ed.borders.eem_r_px]))
        print(sorted(ed.edited), ed._store.n_compactions, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -9, done.stderr  # killed, not exited
    edited_then, compactions = done.stdout.split("]")
    assert int(compactions) == 1  # only the first write: the edits were in the journal alone
    disk, edited = load_borders(tmp_path / "pb.dcm.borders.json", 40, (160, 160))
    want = np.load(tmp_path / "expected.npy")
    np.testing.assert_allclose(disk.lumen_r_px, want[0], atol=1e-5)  # the file: float32
    np.testing.assert_allclose(disk.eem_r_px, want[1], atol=1e-5)
    for f in (3, 4, 5, 7):  # the edited (and undone) frames, from the journal: exact
        np.testing.assert_array_equal(disk.lumen_r_px[f], want[0][f])
        np.testing.assert_array_equal(disk.eem_r_px[f], want[1][f])
    assert not np.allclose(disk.lumen_r_px[7], _borders(40).lumen_r_px[7])  # really edited
    assert sorted(edited) == json.loads(edited_then + "]") == [3, 4, 7]


def test_a_torn_last_record_is_dropped_a_corrupt_one_refused(tmp_path):
    ed = _editor(tmp_path)
    ed.drag(3, "lumen", 80, 80 + 33)
    r3 = ed.borders.lumen_r_px[3].copy()
    ed.drag(4, "lumen", 80, 80 + 34)
    j = journal_path(ed.save_path)
    data = j.read_bytes()
    j.write_bytes(data[:-100])  # the last write cut short by a crash
    disk, edited = load_borders(ed.save_path, 40)
    np.testing.assert_array_equal(disk.lumen_r_px[3], r3)  # the first edit kept
    assert edited == {3}
    bad = bytearray(data)
    bad[60] ^= 0xFF  # a flipped byte inside the first of two records
    j.write_bytes(bytes(bad))
    with pytest.raises(FormatError, match="corrupt"):
        load_borders(ed.save_path, 40)


def test_a_journal_of_another_borders_file_is_not_replayed(tmp_path):
    ed = _editor(tmp_path)
    ed.drag(3, "lumen", 80, 80 + 33)
    # the CLI (--save-borders) writes a new borders file: it names no journal
    fresh = _borders(40, seed=7)
    save_borders(ed.save_path, fresh, (160, 160))
    disk, edited = load_borders(ed.save_path, 40)
    np.testing.assert_allclose(disk.lumen_r_px, fresh.lumen_r_px, atol=1e-5)
    assert edited == set()


def test_a_new_detection_starts_a_new_journal(tmp_path):
    ed = _editor(tmp_path, in_child=False)
    ed.drag(3, "lumen", 80, 80 + 33)
    first = ed.borders.copy()
    ed.set_borders(_borders(40, seed=5))  # every frame: written at once, a new journal
    ed.drag(8, "eem", 80, 80 + 57)
    # until that file is written, the disk holds the first detection with its edit (whole)
    disk, edited = load_borders(ed.save_path, 40)
    if edited == {3}:
        np.testing.assert_allclose(disk.lumen_r_px, first.lumen_r_px, atol=1e-5)
    assert ed.flush()
    disk, edited = load_borders(ed.save_path, 40)
    _same(disk, ed)
    assert edited == {8}
    ed.undo()
    ed.undo()  # back to the first detection with frame 3 edited
    assert ed.flush()
    disk, edited = load_borders(ed.save_path, 40)
    _same(disk, ed)
    assert edited == {3}


def test_the_measurement_cache_equals_measuring_from_scratch(tmp_path):
    """Per-frame rows updated by edits, and a worker's result adopted with the frames edited
    meanwhile measured again, give what measure_vessel gives on the edited borders."""
    ed = BorderEditor(_borders(60), (160, 160), 0.5)
    ed.measurements()
    mld = ed.measurements().frames["lumen_min_diameter_mm"][10]
    ed.drag(10, "lumen", 80, 80 + 18)  # a dent: the MLD of that frame falls (issue 21 item 9)
    ed.redraw(11, "eem", 80 + 60 * np.sin(np.linspace(0, 6.2, 40)),
              80 + 60 * np.cos(np.linspace(0, 6.2, 40)))
    ed.undo()
    ed.drag(12, "eem", 80, 80 + 57)
    m = ed.measurements()
    assert m.frames["lumen_min_diameter_mm"][10] < mld - 0.1
    fresh = measure_vessel(ed.borders, 0.5)
    assert m.to_rows() == fresh.to_rows() and m.summary == fresh.summary
    ed.set_gating([0, 10, 12, 30])
    assert ed.measurements().to_rows() == measure_vessel(ed.borders, 0.5, [0, 10, 12, 30]).to_rows()
    ed.set_gating(None)
    # a worker measures a snapshot; frames edited meanwhile are measured again on adoption
    ed.set_borders(_borders(60, seed=3))
    job, token = ed.frame_cache_snapshot()
    ed.drag(20, "lumen", 80, 80 + 20)
    per = job()  # (on the worker)
    assert ed.adopt_frame_cache(per, token)
    fresh = measure_vessel(ed.borders, 0.5)
    assert ed.measurements().to_rows() == fresh.to_rows()
    # a snapshot made before every frame changed again is refused
    job, token = ed.frame_cache_snapshot()
    ed.set_borders(_borders(60, seed=4))
    assert not ed.adopt_frame_cache(job(), token)
    assert not ed.has_frame_cache


def test_a_lumen_drag_stops_at_the_eem_in_the_file_too(tmp_path):
    """Issue 21 item 11, through the journal: what is kept inside the EEM is what loads."""
    ed = _editor(tmp_path)
    ed.drag(3, "lumen", 80, 80 + 70)
    disk, _ = load_borders(ed.save_path, 40)
    assert np.all(disk.lumen_r_px[3] <= disk.eem_r_px[3])
