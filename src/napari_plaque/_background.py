"""One background thread that runs the newest submitted job: coalesced autosaves.

An editor that autosaves after every edit must not write on napari's main thread: a borders
file of a 3,000-frame pullback takes seconds to serialise. :class:`LatestOnlyRunner` runs jobs
one at a time on its own thread; a job submitted while another is waiting replaces it (only the
newest state is worth writing), so a drag that edits fifty times writes a handful of times and
always ends with the last state on disk. :meth:`LatestOnlyRunner.flush` waits until nothing is
pending (call it before reading the file, on close, at exit).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LatestOnlyRunner:
    """Run submitted callables on one daemon thread, newest first, dropping superseded ones."""

    def __init__(self, name: str = "napari-plaque-autosave") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._pending: tuple[Callable[[], Any], Callable[[Any, BaseException | None], None]]
        self._pending = None  # type: ignore[assignment]
        self._busy = False
        self._thread: threading.Thread | None = None
        self.n_run = 0  # jobs run (tests, benchmarks)
        self.n_dropped = 0  # jobs replaced by a newer one before they ran

    def submit(
        self,
        job: Callable[[], Any],
        done: Callable[[Any, BaseException | None], None] | None = None,
    ) -> None:
        """Queue ``job``; ``done(result, error)`` is called on the runner's thread after it."""
        with self._cond:
            if self._pending is not None:
                self.n_dropped += 1
            self._pending = (job, done or (lambda _r, _e: None))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._pending is None:
                    self._thread = None
                    self._cond.notify_all()
                    return
                job, done = self._pending
                self._pending = None
                self._busy = True
            result, error = None, None
            try:
                result = job()
            except BaseException as exc:  # reported to the caller's callback, never lost
                error = exc
            try:
                done(result, error)
            finally:
                with self._cond:
                    self._busy = False
                    self.n_run += 1
                    self._cond.notify_all()

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self._busy

    def flush(self, timeout: float | None = 60.0) -> bool:
        """Wait until every submitted job has run; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._pending is None and not self._busy, timeout=timeout
            )
