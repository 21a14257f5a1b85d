"""Run core step generators off the main thread with a napari progress bar and Cancel.

Core long computations are generators that yield progress (see ``napari_plaque._progress``) and
return their result. :func:`start_worker` runs one in a napari ``thread_worker``: each yield
advances the progress bar, ``worker.quit()`` (the Cancel button) stops it at the next yield and
``on_aborted`` runs instead of ``on_done``, so no partial result reaches the viewer.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from napari.qt.threading import GeneratorWorker, create_worker


def start_worker(
    gen_func: Callable[..., Generator[Any, None, Any]],
    *args: Any,
    total: int = 0,
    desc: str = "napari-plaque",
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    on_aborted: Callable[[], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    start: bool = True,
    **kwargs: Any,
) -> GeneratorWorker:
    """Start ``gen_func(*args, **kwargs)`` in a worker thread; return the worker."""
    # when the caller handles errors, superqt must not also re-raise them in the main thread
    kwargs.setdefault("_ignore_errors", on_error is not None)
    worker = create_worker(
        gen_func,
        *args,
        _progress={"total": int(total), "desc": desc},
        _start_thread=False,
        **kwargs,
    )
    if on_done is not None:
        worker.returned.connect(on_done)
    if on_error is not None:
        worker.errored.connect(on_error)
    if on_aborted is not None:
        worker.aborted.connect(on_aborted)
    if on_finished is not None:
        worker.finished.connect(on_finished)
    if start:
        worker.start()
    return worker
