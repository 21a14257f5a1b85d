"""Progress and cancellation for long core computations, without any GUI import.

Long core functions come in two forms: ``iter_xxx(...)``, a generator that yields the number of
steps done so far (ints) and *returns* its result, and ``xxx(...)`` that runs it to completion.
Widgets run the generator in a napari ``thread_worker`` (each yield advances a progress bar,
``worker.quit()`` cancels at the next yield); the CLI drives it with :func:`run_steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

T = TypeVar("T")


class Cancelled(RuntimeError):
    """Raised when the user cancelled a long computation."""


def run_steps(gen: Generator[Any, None, T], callback: Callable[[Any], None] | None = None) -> T:
    """Drive a step generator to completion and return its return value."""
    while True:
        try:
            step = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(step)
