"""One undo/redo history for every editor (arcs, vessel borders, calcium decisions, contours).

Qt-free. Two styles share it:

- **snapshots**: before an edit, ``push(copy of the state)``; ``undo(current)`` returns the
  state to restore and keeps ``current`` for redo (``ArcAnnotator``, ``BorderEditor``,
  ``CalciumSession``);
- **commands**: ``push(edit)`` after applying it; ``undo()`` returns the edit to revert and
  keeps it for redo (``VesselSession``'s contour edits).

Any new edit clears the redo side; the oldest steps beyond ``depth`` are dropped. ``changed``
(psygnal) is emitted whenever what can be undone or redone changes (menus, buttons).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from psygnal import Signal

T = TypeVar("T")
_MISSING: Any = object()

#: how many steps an editor keeps unless it says otherwise
DEFAULT_DEPTH = 200


class History(Generic[T]):
    """A bounded undo/redo history of snapshots or commands (see the module docstring)."""

    changed = Signal()

    def __init__(self, depth: int = DEFAULT_DEPTH) -> None:
        if depth < 1:
            raise ValueError(f"history depth must be >= 1, got {depth}")
        self.depth = int(depth)
        self._undo: list[T] = []
        self._redo: list[T] = []

    def __len__(self) -> int:
        return len(self._undo)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def push(self, item: T) -> None:
        """Record a step (a snapshot before an edit, or the edit made); clears redo."""
        self._undo.append(item)
        del self._undo[: -self.depth]
        self._redo.clear()
        self.changed.emit()

    def drop_last(self) -> T:
        """Take back the last :meth:`push` (the edit it announced failed); returns its item."""
        item = self._undo.pop()
        self.changed.emit()
        return item

    def undo(self, current: T = _MISSING) -> T | None:
        """The step to undo (None: nothing). Snapshots: pass the ``current`` state, kept for
        redo; commands: the returned edit itself is kept for redo."""
        return self._move(self._undo, self._redo, current)

    def redo(self, current: T = _MISSING) -> T | None:
        """The step to redo (None: nothing); ``current`` as for :meth:`undo`."""
        return self._move(self._redo, self._undo, current)

    def _move(self, src: list[T], dst: list[T], current: T) -> T | None:
        if not src:
            return None
        item = src.pop()
        dst.append(item if current is _MISSING else current)
        del dst[: -self.depth]
        self.changed.emit()
        return item

    def clear(self) -> None:
        if self._undo or self._redo:
            self._undo.clear()
            self._redo.clear()
            self.changed.emit()

    def map(self, fn: Callable[[T], T]) -> None:
        """Rewrite every stored step (e.g. carry decisions onto re-scored lesions)."""
        self._undo = [fn(s) for s in self._undo]
        self._redo = [fn(s) for s in self._redo]


class Undoable:
    """Mixin for an editor holding its steps in ``self.history``: ``can_undo`` / ``can_redo``."""

    history: History

    @property
    def can_undo(self) -> bool:
        return self.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.history.can_redo
