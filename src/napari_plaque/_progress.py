"""Progress and cancellation for long core computations, without any GUI import.

Long core functions come in two forms: ``iter_xxx(...)``, a generator that yields the number of
steps done so far (ints) and *returns* its result, and ``xxx(...)`` that runs it to completion.
Widgets run the generator in a napari ``thread_worker`` (each yield advances a progress bar,
``worker.quit()`` cancels at the next yield); the CLI drives it with :func:`run_steps`.
"""

from __future__ import annotations

import functools
import inspect
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


def completes(gen_fn: Callable[..., Generator[Any, None, Any]]) -> Callable[[Callable], Callable]:
    """Make the decorated stub (its name, docstring and return annotation) the run-to-completion
    form of the step generator ``gen_fn``: the same parameters and defaults, written once (in
    ``gen_fn``'s signature, which :func:`inspect.signature` shows for both)."""

    def decorate(stub: Callable) -> Callable:
        ret = inspect.signature(stub).return_annotation

        @functools.wraps(stub)
        def run(*args: Any, **kwargs: Any) -> Any:
            return run_steps(gen_fn(*args, **kwargs))

        run.__signature__ = inspect.signature(gen_fn).replace(return_annotation=ret)  # type: ignore[attr-defined]
        return run

    return decorate
