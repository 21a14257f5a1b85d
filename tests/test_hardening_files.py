"""Nothing lost: concurrent annotators, failed saves, killed saves, folder replacement."""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from napari_plaque.io import atomic
from napari_plaque.io.atomic import atomic_dir, atomic_path, atomic_write_json, clean_stale_temps
from napari_plaque.io.errors import FormatError
from napari_plaque.ivus.arcs import (
    ArcsConflictError,
    ArcSet,
    load_arcs,
    normalise_arc,
    reload_and_merge,
    save_arcs,
)

SRC = Path(__file__).resolve().parents[1] / "src"


def _keys(s: ArcSet):
    return sorted((a.frame, a.cls, a.start_deg, a.end_deg) for a in s.arcs)


# -- arcs: two annotators -------------------------------------------------------------------


def test_second_annotator_is_refused_then_merges(tmp_path):
    p = tmp_path / "pb.arcs.json"
    save_arcs(ArcSet(10, (64, 64)), p)
    a = load_arcs(p, 10, (64, 64))
    b = load_arcs(p, 10, (64, 64))
    a.add(1, "calcium", 10, 40)
    save_arcs(a, p)
    b.add(2, "calcium", 100, 150)
    with pytest.raises(ArcsConflictError) as ei:
        save_arcs(b, p)  # would drop a's arc: refused, nothing written
    assert isinstance(ei.value, FormatError) and "pb.arcs.json" in str(ei.value)
    assert "reload and merge" in str(ei.value) and len(ei.value.unseen) == 1
    assert _keys(load_arcs(p)) == [(1, "calcium", 10.0, 40.0)]
    assert reload_and_merge(b, p) == 1
    save_arcs(b, p)
    assert _keys(load_arcs(p)) == [(1, "calcium", 10.0, 40.0), (2, "calcium", 100.0, 150.0)]
    # a saves again: b's arc is new to a, so merge mode keeps it
    a.add(3, "attenuation", 0, 90)
    save_arcs(a, p, on_conflict="merge")
    assert len(load_arcs(p).arcs) == 3 and len(a.arcs) == 3


def test_own_deletions_and_undo_copies_are_not_conflicts(tmp_path):
    p = tmp_path / "a.json"
    s = ArcSet(5, (32, 32))
    s.add(0, "calcium", 0, 10)
    save_arcs(s, p)
    before = s.copy()  # an undo snapshot
    s.add(1, "calcium", 0, 10)
    save_arcs(s, p)
    save_arcs(before, p)  # undo: the arc of frame 1 was seen by this session -> dropped on purpose
    assert _keys(load_arcs(p)) == [(0, "calcium", 0.0, 10.0)]
    loaded = load_arcs(p)
    loaded.clear_frame(0)
    save_arcs(loaded, p)  # deleting what one has seen is allowed
    assert load_arcs(p).arcs == []


def test_fresh_arcset_over_foreign_arcs_refused_unless_overwrite(tmp_path):
    p = tmp_path / "a.json"
    s = ArcSet(5, (32, 32))
    s.add(0, "calcium", 0, 10)
    save_arcs(s, p)
    fresh = ArcSet(5, (32, 32))
    with pytest.raises(ArcsConflictError):
        save_arcs(fresh, p)
    save_arcs(fresh, p, on_conflict="overwrite")
    assert load_arcs(p).arcs == []
    # a file that is not an arcs file (or another pullback's) is not silently replaced
    q = tmp_path / "other.json"
    q.write_text('{"something": "else"}')
    with pytest.raises(FormatError, match="other.json"):
        save_arcs(fresh, q)
    with pytest.raises(FormatError, match="another pullback"):
        save_arcs(ArcSet(6, (32, 32)), p)


_WORKER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from napari_plaque.ivus.arcs import ArcsConflictError, load_arcs, reload_and_merge, save_arcs
    path, start, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    n = int(sys.argv[4])
    s = load_arcs(path, 300, (64, 64))
    conflicts = 0
    for f in range(n):
        s.add(f, "calcium", start, start + 20)
        while True:
            try:
                save_arcs(s, path, on_conflict=mode)
                break
            except ArcsConflictError:
                conflicts += 1
                reload_and_merge(s, path)
    print(conflicts)
    """
)


@pytest.mark.parametrize("mode", ["refuse", "merge"])
def test_two_processes_lose_no_arcs(tmp_path, mode):
    """Two annotator processes, 60 arcs each, saving after every arc: 120 arcs on disk."""
    _two_annotators(tmp_path, mode, 60)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["refuse", "merge"])
def test_two_processes_lose_no_arcs_600(tmp_path, mode):
    """The issue's figure: 2 x 300 arcs (last writer wins used to lose 300 of 600)."""
    _two_annotators(tmp_path, mode, 300)


def _two_annotators(tmp_path, mode, n):
    p = tmp_path / "pb.arcs.json"
    save_arcs(ArcSet(300, (64, 64)), p)
    script = tmp_path / "worker.py"
    script.write_text(_WORKER.format(src=str(SRC)))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(p), str(start), mode, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in (10.0, 100.0)
    ]
    outs = [pr.communicate(timeout=300) for pr in procs]
    assert all(pr.returncode == 0 for pr in procs), [o[1][-2000:] for o in outs]
    final = load_arcs(p, 300, (64, 64))
    lost = 2 * n - len(final.arcs)
    conflicts = sum(int(o[0].strip() or 0) for o in outs)
    print(f"\ntwo annotators ({mode}): {2 * n} arcs saved, {lost} lost, {conflicts} conflicts")
    assert lost == 0
    assert {(a.frame, a.start_deg) for a in final.arcs} == {
        (f, s) for f in range(n) for s in (10.0, 100.0)
    }
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".")]  # no temp files left


# -- atomic writes ----------------------------------------------------------------------------


def test_no_process_wide_umask_and_permissions_follow_umask(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:

        def boom(*a):
            raise AssertionError("os.umask must not be called (races with other threads)")

        monkeypatch.setattr(atomic.os, "umask", boom)
        p = atomic_write_json(tmp_path / "x.json", {"a": 1})
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_threads_never_make_world_writable_files(tmp_path):
    def work(i):
        for k in range(50):
            atomic_write_json(tmp_path / f"t{i}-{k}.json", [k])

    ths = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    modes = {stat.S_IMODE(q.stat().st_mode) for q in tmp_path.iterdir()}
    assert all(not m & 0o002 for m in modes) and len(list(tmp_path.iterdir())) == 200


def test_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    p = tmp_path / "pb.arcs.json"
    s = ArcSet(3, (16, 16))
    s.add(0, "calcium", 0, 10)
    save_arcs(s, p)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full)
    s.add(1, "calcium", 0, 10)
    with pytest.raises(OSError) as ei:
        save_arcs(s, p)
    assert ei.value.errno == errno.ENOSPC and ei.value.filename == str(p)
    assert "pb.arcs.json" in str(ei.value)
    monkeypatch.undo()
    assert len(load_arcs(p).arcs) == 1
    assert [q.name for q in tmp_path.iterdir()] == ["pb.arcs.json"]


def test_json_never_holds_nan(tmp_path):
    p = atomic_write_json(tmp_path / "m.json", {"dice": float("nan"), "x": [np.float64("inf")]})
    text = p.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"dice": None, "x": [None]}


def test_stale_temp_files_of_killed_saves_are_cleaned(tmp_path):
    p = tmp_path / "model.pt"
    dead = tmp_path / ".model.pt.999999999-abcd1234.tmp.pt"  # no such process
    dead.write_bytes(b"half")
    live = tmp_path / f".model.pt.{os.getpid()}-00000000.tmp.pt"  # a save in progress here
    live.write_bytes(b"writing")
    dead_dir = tmp_path / ".model.pt.999999998-abcd.tmp"
    dead_dir.mkdir()
    with atomic_path(p) as tmp:
        tmp.write_bytes(b"ok")
    assert not dead.exists() and not dead_dir.exists() and live.exists()
    assert p.read_bytes() == b"ok"
    assert clean_stale_temps(p) == []


def test_killed_save_leaves_old_file_then_is_cleaned(tmp_path):
    """SIGKILL in the middle of a save: the destination is intact, the next save tidies up."""
    p = tmp_path / "a.json"
    atomic_write_json(p, {"v": 1})
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(SRC)!r})
        from napari_plaque.io.atomic import atomic_path
        with atomic_path({str(p)!r}) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert r.returncode != 0
    leftovers = [q for q in tmp_path.iterdir() if q.name.startswith(".")]
    assert len(leftovers) == 1 and json.loads(p.read_text()) == {"v": 1}
    atomic_write_json(p, {"v": 2})
    assert [q.name for q in tmp_path.iterdir()] == ["a.json"]


def test_atomic_dir_replaces_in_one_step_and_failure_keeps_old(tmp_path, monkeypatch):
    d = tmp_path / "set"
    with atomic_dir(d) as t:
        (t / "manifest.json").write_text("1")
        (t / "old_case.npz").write_text("x")
    with atomic_dir(d) as t:
        (t / "manifest.json").write_text("2")
    assert sorted(q.name for q in d.iterdir()) == ["manifest.json"]  # leftovers gone
    assert (d / "manifest.json").read_text() == "2"
    with pytest.raises(RuntimeError), atomic_dir(d) as t:
        (t / "manifest.json").write_text("3")
        raise RuntimeError("crash")
    assert (d / "manifest.json").read_text() == "2"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["set"]
    # on Linux the swap is one renameat2(RENAME_EXCHANGE): the folder never disappears
    if sys.platform.startswith("linux"):
        calls = []
        real = atomic._exchange

        def spy(a, b):
            calls.append((a, b))
            return real(a, b)

        monkeypatch.setattr(atomic, "_exchange", spy)
        renames = []
        monkeypatch.setattr(atomic.os, "rename", lambda a, b: renames.append((a, b)))
        with atomic_dir(d) as t:
            (t / "manifest.json").write_text("4")
        assert calls and renames == []  # no two-rename dance
        assert (d / "manifest.json").read_text() == "4"


def test_training_set_export_replaces_folder_atomically(tmp_path, monkeypatch):
    from napari_plaque.ivus.dataset import read_aline_dataset, write_aline_dataset

    rng = np.random.default_rng(0)
    polar = rng.integers(0, 255, (3, 8, 16), dtype=np.uint8)
    labels = rng.random((3, 8, 2)) > 0.5
    out = write_aline_dataset(
        tmp_path / "ds",
        [("a1", polar, labels), ("a2", polar, labels)],
        ["calcium", "attenuation"],
        2.0,
    )
    out = write_aline_dataset(out, [("b1", polar, labels)], ["calcium", "attenuation"], 2.0)
    assert sorted(q.name for q in (out / "polar").iterdir()) == ["b1.npz"]  # no leftover cases
    assert len(read_aline_dataset(out).pullbacks) == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.docx").write_text("x")
    with pytest.raises(ValueError, match="not a dataset"):
        write_aline_dataset(tmp_path / "mine", [("b1", polar, labels)], ["calcium"], 2.0)
    assert (tmp_path / "mine" / "thesis.docx").exists()


# -- arcs geometry ----------------------------------------------------------------------------


def test_normalise_arc_keeps_the_end_as_typed():
    s = ArcSet(1, (16, 16))
    s.add(0, "calcium", 333.0, 174.6)
    assert s.arcs[0].end_deg == 174.6
    # N = 100: centres (k + 0.5) * 3.6; the A-line centred on 174.6 (k = 48) is not in [333, 174.6)
    assert int(s.class_labels("calcium", 100).sum()) == 56
    assert normalise_arc(-27.0, 174.6) == (333.0, 174.6)
    assert normalise_arc(10, 370) == (0.0, 360.0)
