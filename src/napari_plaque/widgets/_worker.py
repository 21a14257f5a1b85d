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
    total: int | None = 0,
    desc: str = "napari-plaque",
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
    on_aborted: Callable[[], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    start: bool = True,
    **kwargs: Any,
) -> GeneratorWorker:
    """Start ``gen_func(*args, **kwargs)`` in a worker thread; return the worker (``total``:
    the steps of its napari progress bar; None: no bar)."""
    # when the caller handles errors, superqt must not also re-raise them in the main thread
    kwargs.setdefault("_ignore_errors", on_error is not None)
    if total is not None:  # None: no napari progress bar (a job of milliseconds)
        kwargs["_progress"] = {"total": int(total), "desc": desc}
    worker = create_worker(gen_func, *args, _start_thread=False, **kwargs)
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


class Cancelled(Exception):
    """Raised inside an api function's progress callback once its job was cancelled."""


_DONE = object()


def iter_call(
    fn: Callable[..., Any], *args: Any, stop: Any = None, tick_s: float = 0.05, **kwargs: Any
) -> Generator[int, None, Any]:
    """An api function as a step generator (for :func:`start_worker`): ``fn(*args,
    progress=..., **kwargs)`` runs in a thread of its own, each step its ``progress`` callback
    reports is yielded (a count; also every ``tick_s`` so the worker sees a Cancel), its
    result returned, its error raised. ``stop`` (a ``threading.Event``): once set, ``fn``'s
    next step raises :class:`Cancelled` (the callers of ``napari_plaque.api`` pass the CLI's
    ``progress(desc, total) -> callback`` the same way). A function without a ``progress``
    parameter runs whole: a Cancel then drops its result (nothing reaches the viewer)."""
    import inspect
    import queue
    import threading

    if "progress" in inspect.signature(fn).parameters:
        kwargs = {**kwargs, "progress": None}  # set below

    steps: queue.Queue = queue.Queue()
    out: dict[str, Any] = {}

    def progress(desc: str, total: int | None = None) -> Callable[[Any], None]:
        def step(_: Any = None) -> None:
            if stop is not None and stop.is_set():
                raise Cancelled(desc)
            steps.put(1)

        return step

    if "progress" in kwargs:
        kwargs["progress"] = progress

    def run() -> None:
        try:
            out["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the worker thread, raised there
            out["error"] = exc
        finally:
            steps.put(_DONE)

    thread = threading.Thread(target=run, name=f"napari-plaque {getattr(fn, '__name__', '')}",
                              daemon=True)  # fmt: skip
    thread.start()
    done = 0
    while True:
        try:
            item = steps.get(timeout=tick_s)
        except queue.Empty:
            yield done
            continue
        if item is _DONE:
            break
        done += 1
        yield done
    thread.join()
    if isinstance(out.get("error"), Cancelled):
        yield done  # the worker sees its abort here (set before ``stop``): nothing is returned
        return None
    if "error" in out:
        raise out["error"]
    return out["value"]
