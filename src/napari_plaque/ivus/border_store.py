"""Where an IVUS border editor keeps its borders on disk: a borders file and its journal.

An edit of a 3,000-frame pullback must be on disk at once (a crash or a kill loses nothing)
without rewriting the pullback on every edit: rewriting it holds the interpreter for tens of
milliseconds (version 2, binary blocks) to a second (version 1, nested lists), time taken from
napari's main thread through the GIL. So:

* :meth:`BorderStore.record` (on the editing thread) appends one record per edit to the journal
  (:func:`~napari_plaque.ivus.vessel_files.encode_record`: the edited frames' state, a few KB,
  one ``write`` into the page cache: on disk after a kill of the process, at once);
* once the edits pause (:data:`COMPACT_AFTER_S`), a background thread has the whole borders
  file written (atomically, version 2, naming the journal and the last record it holds) and
  empties the journal: the compaction. The file is encoded and written by a child process
  (:mod:`napari_plaque._borders_file`): the thread only spools the arrays with
  ``ndarray.tofile`` and waits, both without the GIL, so an edit made during a compaction
  costs the main thread what it costs at any other time. :meth:`BorderStore.flush` compacts
  now and waits (tests, close);
* a change of every frame (a new detection, its undo) starts a new journal: the records of the
  old one no longer apply. That borders file is written at once, on the thread itself (tens
  of milliseconds at 3,000 frames, up to a few hundred under load): the edits made meanwhile
  wait in memory and go into the new journal (a kill in that moment loses them; the disk
  then holds the state before the change, whole).

Reading back is :func:`~napari_plaque.ivus.vessel_files.load_borders`: the borders file, then
the journal's records newer than the file.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..io.atomic import atomic_write_bytes
from .vessel_files import (
    append_record,
    borders_head,
    encode_record,
    journal_header,
    journal_path,
    save_borders,
)

__all__ = ["COMPACT_AFTER_S", "BorderStore"]

#: the borders file is rewritten this long after the last edit (seconds)
COMPACT_AFTER_S = 2.0


class BorderStore:
    """The borders file ``path`` and its journal, written for one editor.

    ``snapshot()`` returns ``(borders, edited, frame_shape, source)`` as they are now (called
    on the compaction thread with the store's lock held; ``edited`` copied). The borders may be
    the live ones, changed by an edit while they are written: a row torn that way belongs to
    an edit whose record comes after the file's ``seq``, and a replay puts it right.
    ``report(path, exc)`` hears the outcome of each write (``exc`` None: written), on the
    thread that wrote. ``in_child`` False writes on the thread itself (holding the GIL).
    """

    def __init__(
        self,
        path: str | Path,
        snapshot: Callable[[], tuple[Any, set[int], tuple[int, int], str]],
        report: Callable[[Path, BaseException | None], None],
        idle_s: float = COMPACT_AFTER_S,
        in_child: bool = True,
    ) -> None:
        self.path = Path(path)
        self.in_child = in_child
        self.journal = journal_path(self.path)
        self.idle_s = float(idle_s)
        self._snapshot = snapshot
        self._report = report
        self._lock = threading.Lock()  # the journal file, the sequence, the id
        self._cond = threading.Condition()  # the compaction schedule
        self._id = secrets.token_hex(8)
        self._seq = 0
        self._on_disk = False  # the journal file of self._id exists: records are appended
        self._memory: list[tuple[int, bytes]] = []  # records waiting for their journal file
        self._due: float | None = None
        self._busy = False
        self._thread: threading.Thread | None = None
        self.n_records = 0  # for tests and benchmarks
        self.n_compactions = 0

    # -- the editing thread ----------------------------------------------------------------------
    def record(self, frames: np.ndarray, borders, edited: set[int]) -> None:
        """Journal the state of ``frames`` (just edited) and compact once the edits pause."""
        with self._lock:
            self._seq += 1
            rec = encode_record(self._seq, frames, borders, edited)
            self.n_records += 1
            if self._on_disk:
                try:
                    append_record(self.journal, rec)
                except OSError as exc:  # kept in memory: the next compaction writes it
                    self._on_disk = False
                    self._memory.append((self._seq, rec))
                    self._report(self.journal, exc)
            else:
                self._memory.append((self._seq, rec))
        self._schedule(self.idle_s, postpone=True)

    def replace_all(self) -> None:
        """Every frame changed: a new journal, and the borders file written at once."""
        with self._lock:
            self._id = secrets.token_hex(8)
            self._on_disk = False
            self._memory = []
        self._schedule(0.0, postpone=False)

    # -- the compaction --------------------------------------------------------------------------
    def _schedule(self, delay: float, postpone: bool) -> None:
        with self._cond:
            now = time.monotonic()
            if not self._on_disk:
                # a new journal waits for its borders file (records only in memory): at once
                due = now
            elif postpone or self._due is None:
                due = now + delay  # an edit postpones a pending compaction (a drag: many edits)
            else:
                due = min(self._due, now + delay)
            self._due = due
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="napari-plaque-borders",
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._due is None:
                        self._thread = None
                        self._cond.notify_all()
                        return
                    wait = self._due - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                self._due = None
                self._busy = True
            exc: BaseException | None = None
            try:
                self.compact()
            except BaseException as e:  # reported, never lost: the journal keeps the edits
                exc = e
            try:
                self._report(self.path, exc)
            finally:
                with self._cond:
                    self._busy = False
                    self.n_compactions += 1
                    self._cond.notify_all()

    def compact(self) -> None:
        """Write the whole borders file, then empty the journal (any thread)."""
        with self._lock:
            seq, jid = self._seq, self._id
            borders, edited, shape, source = self._snapshot()
        journal = {"id": jid, "seq": seq}
        # the first file of a new journal is written here (tens of ms, GIL held: right after a
        # detection or an open, not mid-drag), so the edits waiting in memory reach the disk
        # soon; later rewrites (once edits pause) go to the child, which holds no GIL of ours
        if self.in_child and self._on_disk:
            write_in_child(self.path, borders, shape, edited, source, journal)
        else:
            save_borders(self.path, borders, shape, edited, source, journal=journal)
        with self._lock:
            if jid != self._id:
                return  # every frame changed meanwhile: that change's compaction follows
            if not self._on_disk or self._seq == seq:
                # a fresh journal: its header and the records the file does not hold yet
                later = [r for s, r in self._memory if s > seq]
                atomic_write_bytes(self.journal, journal_header(jid, borders.n_frames,
                                                                borders.n_alines)
                                   + b"".join(later))
                self._memory = []
                self._on_disk = True
            # else: records newer than the file were appended meanwhile; the journal keeps
            # them (a replay skips those the file holds) until the next compaction

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Compact now if anything is pending and wait (True: nothing pending)."""
        with self._cond:
            if self._due is not None:
                self._due = time.monotonic()
                self._cond.notify_all()
            return self._cond.wait_for(lambda: self._due is None and not self._busy,
                                       timeout=timeout)

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._due is None and not self._busy


def write_in_child(path: Path, borders, frame_shape, edited, source, journal) -> None:
    """Have a child process write the borders file (:mod:`napari_plaque._borders_file`): the
    arrays are spooled raw (``tofile``: no GIL held while writing), the child encodes them."""
    spool = Path(tempfile.mkdtemp(prefix="napari-plaque-borders-"))
    try:
        head = borders_head(borders, frame_shape, edited, source, journal)
        (spool / "head.json").write_text(json.dumps(head), encoding="utf-8")
        np.ascontiguousarray(borders.lumen_r_px, "<f8").tofile(spool / "lumen_r_px")
        np.ascontiguousarray(borders.eem_r_px, "<f8").tofile(spool / "eem_r_px")
        np.ascontiguousarray(borders.shadowed, np.bool_).tofile(spool / "shadowed")
        # at the lowest CPU priority from its first instruction: napari's process (and, under
        # a software renderer, the X server) comes first on a machine with few cores
        nice = shutil.which("nice")
        cmd = [*([nice, "-n", "19"] if nice else []), sys.executable, "-m",
               "napari_plaque._borders_file", str(spool), str(path)]
        try:
            done = subprocess.run(
                cmd,
                capture_output=True, text=True, timeout=300, check=False,
            )
        except OSError:  # no interpreter to start (a frozen build): written here instead
            save_borders(path, borders, frame_shape, edited, source, journal=journal)
            return
        if done.returncode != 0:
            why = (done.stderr or "").strip().splitlines()
            raise OSError(why[-1] if why else f"the writer exited with {done.returncode}")
    finally:
        shutil.rmtree(spool, ignore_errors=True)
