"""The one cohort runner: a per-study task over many studies, in-process or on dask.distributed.

A *task* is a module-level function ``task(study: Study, params: dict)`` returning the study's
rows (a list of flat dicts, or one dict), ``(report, rows)``, or a :class:`TaskOutput`. It must
be importable on the workers (no lambdas or closures): dask pickles it by reference.

:func:`run_cohort` runs it over the studies

- in this process, one study after the other (``workers=1``, the default);
- on a ``distributed.LocalCluster`` of ``workers`` processes with one thread each;
- on a running dask.distributed scheduler (``scheduler="tcp://host:port"`` or the path of a
  scheduler file), or with a ``client`` you made (e.g. for a dask-jobqueue cluster);

and returns a :class:`CohortResult`: one :class:`StudyOutcome` per study *in input order*
(whatever order the workers finish in), so the table is the same as the sequential run's apart
from the ``time_utc`` / ``elapsed_s`` columns. A study that raises becomes an ``error`` outcome
with its message; the others complete. With ``out`` the table is written (atomically) every
``checkpoint_s`` seconds and at the end, also when interrupted; with ``resume`` the studies
already in ``out`` with status ``ok``, the same parameters hash and the same napari-plaque
version are not run again. The table is locked for the run (``io.atomic.file_lock``): a second
run on the same ``out`` is refused (OSError naming the table) instead of losing rows.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from .study import Study, input_id, params_hash
from .table import PATH_COLUMN, read_table, write_table

#: exit status of a cohort command: every study ok (or resumed)
EXIT_OK = 0
#: exit status when at least one study failed (its row has status=error)
EXIT_STUDY_FAILED = 1
#: exit status for bad usage or input that stops the whole run (nothing is computed)
EXIT_USAGE = 2
#: exit status when interrupted (Ctrl-C); finished studies are in the output
EXIT_INTERRUPTED = 130

#: seconds to wait for a worker when submitting to an existing scheduler
WORKER_WAIT_S = 120.0

Task = Callable[[Study, dict], Any]

#: a checkpoint of the table waits at least this many times as long as the last one took, so
#: rewriting a growing table (10,000 rows: ~0.5 s) never takes more than ~5 % of the run
CHECKPOINT_COST_RATIO = 20.0


@dataclass
class TaskOutput:
    """What a task may return: table rows, and optionally a full (JSON) report."""

    rows: list[dict[str, Any]]
    report: Any = None


@dataclass
class StudyOutcome:
    """The result of one study: its rows, or the error that stopped it."""

    index: int
    study_id: str
    input_id: str
    status: str  # "ok" or "error"
    rows: list[dict[str, Any]] = field(default_factory=list)
    report: Any = None
    error: str | None = None
    elapsed_s: float = 0.0
    time_utc: str = ""
    path: str = ""
    resumed: bool = False
    version: str = __version__  # of the process that computed it (a worker's)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _normalize(out: Any) -> tuple[list[dict[str, Any]], Any]:
    if isinstance(out, TaskOutput):
        return [dict(r) for r in out.rows], out.report
    if isinstance(out, tuple) and len(out) == 2:
        report, rows = out
        rows = [rows] if isinstance(rows, Mapping) else list(rows)
        return [dict(r) for r in rows], report
    if isinstance(out, Mapping):
        return [dict(out)], dict(out)
    if out is None:
        return [], None
    rows = [dict(r) for r in out]
    return rows, rows


def error_message(exc: BaseException) -> str:
    """The message of a failed study: the text of user-facing errors, else type and text."""
    user = isinstance(exc, (ValueError, OSError, LookupError)) or type(exc).__name__ in (
        "CLIError",
        "ReaderError",
        "FormatError",
    )
    text = str(exc) or type(exc).__name__
    return text if user else f"{type(exc).__name__}: {text}"


@contextlib.contextmanager
def gc_frozen():
    """Python's cyclic GC leaves the objects that exist now alone while the block runs
    (``gc.freeze``, undone after): a study allocates ~100,000 objects (a DICOM series' headers),
    each full collection then walked every object of the process as well, and a dask worker
    holds ~20 % more of them than a plain process; a QRM phantom study spent ~10 ms (15 %) of
    its ~70 ms there on a worker, ~5 ms in-process (``benchmarks/bench_cohort.py --gc``).
    Objects frozen by someone else first (e.g. before a fork), or by another thread's study
    (a worker with several threads), are left as they are: that study then runs without."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def execute_study(
    task: Task,
    study: Study,
    index: int = 0,
    params: dict | None = None,
    raise_errors: bool = False,
    keep_report: bool = True,
) -> StudyOutcome:
    """Run ``task`` on one study and wrap the result or the error (runs on the worker).

    ``keep_report=False`` drops the task's full report on the worker (only the rows travel
    back: a CT's per-lesion report can be far larger than its row)."""
    t0 = time.perf_counter()
    base = dict(index=index, study_id=study.study_id, input_id=input_id(study))
    base["path"] = str(study.path)
    try:
        with gc_frozen():
            out = task(study, dict(params or {}))
        rows, report = _normalize(out)
    except Exception as exc:
        if raise_errors:
            raise
        return StudyOutcome(
            status="error",
            error=error_message(exc),
            elapsed_s=time.perf_counter() - t0,
            time_utc=_now(),
            **base,
        )
    return StudyOutcome(
        status="ok",
        rows=rows,
        report=report if keep_report else None,
        elapsed_s=time.perf_counter() - t0,
        time_utc=_now(),
        **base,
    )


@dataclass
class CohortResult:
    """Outcomes in input order, plus rows kept from a resumed output."""

    task_name: str
    params_hash: str
    outcomes: list[StudyOutcome]
    kept_rows: list[dict[str, Any]] = field(default_factory=list)
    record_paths: bool = False
    version: str = __version__
    out: Path | None = None

    @property
    def n_failed(self) -> int:
        return sum(not o.ok for o in self.outcomes)

    @property
    def n_resumed(self) -> int:
        return sum(o.resumed for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return EXIT_STUDY_FAILED if self.n_failed else EXIT_OK

    @property
    def reports(self) -> list[Any]:
        return [
            o.report if o.ok else {"study": o.study_id, "status": "error", "error": o.error}
            for o in self.outcomes
        ]

    def outcome_rows(self, o: StudyOutcome) -> list[dict[str, Any]]:
        """The table rows of one outcome, with status and provenance columns."""
        if o.resumed:
            return [dict(r) for r in o.rows]
        prov: dict[str, Any] = {"status": o.status, "error": o.error}
        if self.record_paths:
            prov[PATH_COLUMN] = o.path
        prov.update(
            napari_plaque_version=o.version,
            params_hash=self.params_hash,
            input_id=o.input_id,
            time_utc=o.time_utc,
            elapsed_s=round(o.elapsed_s, 3),
        )
        task_rows = o.rows if (o.ok and o.rows) else [{}]
        out = []
        for r in task_rows:
            row = {"study": o.study_id}
            row.update((k, v) for k, v in r.items() if k not in ("study", "status", "error"))
            row.update(prov)
            out.append(row)
        return out

    def rows(self) -> list[dict[str, Any]]:
        """Every row: studies in input order (a study's rows in the task's order), then the
        rows kept from the resumed output that belong to no study of this run."""
        rows: list[dict[str, Any]] = []
        for o in self.outcomes:
            rows.extend(self.outcome_rows(o))
        return rows + [dict(r) for r in self.kept_rows]


def _resume_groups(
    prev: list[dict[str, Any]], ph: str, version: str
) -> tuple[dict[tuple[str, str], list[dict]], list[tuple[tuple[str, str], dict]]]:
    """Group the previous rows by (study, input_id); the ok ones of this hash and version."""
    groups: dict[tuple[str, str], list[dict]] = {}
    order: list[tuple[tuple[str, str], dict]] = []
    for r in prev:
        key = (str(r.get("study", "")), str(r.get("input_id", "")))
        groups.setdefault(key, []).append(r)
        order.append((key, r))
    good = {
        k: rows
        for k, rows in groups.items()
        if all(
            str(r.get("status")) == "ok"
            and str(r.get("params_hash")) == ph
            and str(r.get("napari_plaque_version")) == version
            for r in rows
        )
    }
    return good, order


class _NoBar:
    """The progress bar when none is shown (tqdm is not even imported: start-up time)."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, initial: int, desc: str, show: bool | None):
    disable = (not sys.stderr.isatty()) if show is None else (not show)
    if disable:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="study", file=sys.stderr, disable=disable
    )


def connect(scheduler: str, timeout_s: float = 30.0):
    """A ``distributed.Client`` for ``tcp://host:port`` or a scheduler file (JSON)."""
    import distributed

    try:
        if Path(scheduler).is_file():
            return distributed.Client(scheduler_file=scheduler, timeout=timeout_s)
        return distributed.Client(scheduler, timeout=timeout_s)
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the dask scheduler {scheduler!r} ({exc})") from None


#: environment of the LocalCluster's worker processes, over dask's ``pre-spawn-environ``:
#: dask sets ``MALLOC_TRIM_THRESHOLD_=65536``, which also fixes glibc's mmap threshold, so every
#: slice-sized array is a fresh mmap and page-faulted again: each CT study ran ~30 % slower on a
#: worker than in-process (``benchmarks/bench_cohort.py``). Unset, glibc's dynamic threshold
#: reuses the heap; the large volumes are mmap'd (and so returned to the OS) either way.
WORKER_ENVIRON: dict[str, str | None] = {"MALLOC_TRIM_THRESHOLD_": None}


def _local_cluster(workers: int):
    import dask
    import distributed

    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENVIRON.items()}
    with dask.config.set(environ):  # read by each Nanny as it is made
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port (and no warning when 8787 is taken)
            silence_logs=logging.ERROR,
        )


def _open_client(workers: int, scheduler: str | None):
    """(client, own LocalCluster or None): a scheduler's client once a worker is there, else
    a client of a new LocalCluster of ``workers`` processes."""
    import distributed

    if scheduler is not None:
        client = connect(scheduler)
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (TimeoutError, OSError):
            client.close()
            raise OSError(
                f"the dask scheduler {scheduler!r} has no worker after "
                f"{WORKER_WAIT_S:.0f} s (start some with `dask worker {scheduler}`)"
            ) from None
        return client, None
    cluster = _local_cluster(workers)
    return distributed.Client(cluster), cluster


@contextlib.contextmanager
def cohort_client(workers: int = 1, scheduler: str | None = None, n_studies: int | None = None):
    """One cluster for several :func:`run_cohort` calls (``client=``), e.g. the two passes of
    a dataset export; yields None (run in this process) when one worker is enough."""
    n = workers if n_studies is None else min(workers, n_studies)
    if scheduler is None and n <= 1:
        yield None
        return
    client, cluster = _open_client(n, scheduler)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_cohort(
    task: Task,
    studies: Sequence[Study],
    params: dict[str, Any] | None = None,
    *,
    task_name: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    client=None,
    out: str | Path | None = None,
    resume: bool = False,
    record_paths: bool = False,
    progress: bool | None = None,
    raise_errors: bool = False,
    checkpoint_s: float = 30.0,
    keep_reports: bool = True,
    batch_size: int | None = None,
) -> CohortResult:
    """Run ``task(study, params)`` on every study; see the module docstring.

    Parameters
    ----------
    task : module-level function ``(Study, dict) -> rows | (report, rows) | TaskOutput``
    studies : the cohort, in the order of the output
    params : the task's parameters (picklable), hashed into ``params_hash`` except the keys
        starting with ``_`` (they steer the task, e.g. its progress output, not its result)
    task_name : name hashed with the parameters (default: the task's qualified name)
    workers : processes of a LocalCluster; 1 runs in this process (no cluster)
    scheduler : address ``tcp://host:port`` or scheduler file of a running scheduler
    client : an existing ``distributed.Client`` (wins over ``workers`` and ``scheduler``)
    out : table to write (``.csv``, or ``.parquet``) at checkpoints and at the end
    resume : skip the studies already ``ok`` in ``out`` with the same hash and version
    record_paths : add a ``path`` column (default: only ``input_id``, a hash of the paths)
    progress : tqdm bar on stderr; None: only when stderr is a terminal
    raise_errors : in-process only: let a study's exception propagate (one-study commands)
    checkpoint_s : how often ``out`` is rewritten while studies finish (at least
        :data:`CHECKPOINT_COST_RATIO` times the last rewrite's duration apart)
    keep_reports : bring each study's full report back (``CohortResult.reports``); False
        keeps only the rows (less to send from the workers)
    batch_size : studies per dask task (None: sized from the studies' measured durations to
        ~:data:`TARGET_TASK_S` of work, shrinking towards the end, :func:`next_batch_size`); a
        batch whose worker dies is re-run one study per task, and a study whose worker still
        dies is run once more alone, so only a study that kills its worker fails
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    name = task_name or f"{task.__module__}.{getattr(task, '__qualname__', task)}"
    ph = params_hash(name, {k: v for k, v in (params or {}).items() if not k.startswith("_")})
    out_path = Path(out) if out is not None else None
    if resume and out_path is None:
        raise ValueError("resume needs an output table to resume from")
    opt = dict(
        workers=workers,
        scheduler=scheduler,
        client=client,
        progress=progress,
        checkpoint_s=checkpoint_s,
        keep_reports=keep_reports,
        batch_size=batch_size,
    )
    args = (task, studies, params, name, ph, out_path, resume, record_paths, raise_errors)
    if out_path is None:
        return _run(*args, opt)
    from ..io.atomic import file_lock

    with file_lock(out_path, "cohort table"):  # one run writes a table at a time (issue 22.3)
        return _run(*args, opt)


def _run(
    task, studies, params, name, ph, out_path, resume, record_paths, raise_errors, opt
) -> CohortResult:
    """:func:`run_cohort` once its table (if any) is locked; ``opt``: its other options."""
    outcomes: list[StudyOutcome | None] = [None] * len(studies)
    kept: list[dict[str, Any]] = []
    prev: list[dict[str, Any]] = []
    if resume and out_path is not None:
        prev = read_table(out_path)
        if prev and "params_hash" not in prev[0]:
            raise ValueError(
                f"{out_path}: not a cohort table written by napari-plaque (no params_hash "
                "column); --resume would mix it with the new rows"
            )
        good, order = _resume_groups(prev, ph, __version__)
        current = set()
        for i, s in enumerate(studies):
            key = (s.study_id, input_id(s))
            current.add(key)
            if key in good:
                outcomes[i] = StudyOutcome(
                    i, s.study_id, key[1], "ok", rows=good[key], path=str(s.path), resumed=True
                )
        kept = [r for key, r in order if key not in current]
    todo = [(i, s) for i, s in enumerate(studies) if outcomes[i] is None]
    if not raise_errors:  # the same paths (and messages) in this process and on any worker
        todo = [(i, s.absolute()) for i, s in todo]
    result = CohortResult(name, ph, [], kept, record_paths, __version__, out_path)
    desc = name.rsplit(".", 1)[-1]
    bar = _progress_bar(len(studies), len(studies) - len(todo), desc, opt["progress"])
    last_write = [time.monotonic()]
    write_s = [0.0]  # how long the last checkpoint took

    def snapshot() -> None:
        result.outcomes = [o for o in outcomes if o is not None]
        if out_path is not None:
            t0 = time.perf_counter()
            write_table(out_path, result.rows())
            write_s[0] = time.perf_counter() - t0

    def done(o: StudyOutcome) -> None:
        outcomes[o.index] = o
        bar.update(1)
        wait = max(opt["checkpoint_s"], CHECKPOINT_COST_RATIO * write_s[0])
        if out_path is not None and time.monotonic() - last_write[0] >= wait:
            snapshot()
            last_write[0] = time.monotonic()

    run = functools.partial(execute_study, task, params=params, keep_report=opt["keep_reports"])
    workers, scheduler, client = opt["workers"], opt["scheduler"], opt["client"]
    try:
        n_proc = min(workers, len(todo))
        if client is None and scheduler is None and n_proc <= 1:
            for i, s in todo:
                done(run(s, i, raise_errors=raise_errors))
        elif todo:
            _run_distributed(run, todo, done, n_proc, scheduler, client, opt["batch_size"])
    except BaseException:
        if any(o is not None and not o.resumed for o in outcomes):
            snapshot()  # whatever finished is kept (resumable); nothing finished: no file
        bar.close()
        raise
    bar.close()
    result.outcomes = [o for o in outcomes if o is not None]
    if out_path is not None and (todo or result.rows() != prev):  # (nothing new: no rewrite)
        write_table(out_path, result.rows())
    return result


def worker_version() -> str:
    """napari-plaque's version in this process (run on every worker by the version check)."""
    from .. import __version__ as v

    return v


def _check_worker_versions(client) -> None:
    """Refuse workers that cannot import napari-plaque or run another version: their rows
    would carry a version that --resume never matches (or fail on every study)."""
    try:
        found = client.run(worker_version)
    except Exception as exc:  # noqa: BLE001 - e.g. ModuleNotFoundError on the workers
        raise OSError(f"the dask workers cannot run napari-plaque ({error_message(exc)})") from None
    other = {w: v for w, v in found.items() if v != __version__}
    if other:
        raise OSError(
            f"dask workers run napari-plaque {sorted(set(other.values()))}, this is "
            f"{__version__}; install the same version on every worker ({sorted(other)[:3]} ...)"
        )


#: glibc ``mallopt`` settings a worker process gives itself when dask's nanny started it with
#: ``MALLOC_TRIM_THRESHOLD_=65536`` (an external ``dask worker``, which WORKER_ENVIRON cannot
#: reach): that variable freezes the mmap threshold at 128 KiB, every slice-sized array is a
#: fresh mmap, and a phantom study cost ~17,000 page faults and ~50 % more CPU than in-process.
#: These are the values glibc's dynamic threshold reaches after the first study (its maximum:
#: 32 MiB, trim at twice that), so a worker runs a study like the in-process run does.
WORKER_MALLOPT = {"M_MMAP_THRESHOLD": 32 << 20, "M_TRIM_THRESHOLD": 64 << 20}
_MALLOPT_CODES = {"M_TRIM_THRESHOLD": -1, "M_MMAP_THRESHOLD": -3}
_malloc_tuned = False


def tune_worker_malloc() -> bool:
    """Apply :data:`WORKER_MALLOPT` once in this process when dask's default
    ``MALLOC_TRIM_THRESHOLD_=65536`` is set (glibc only); True when applied now."""
    global _malloc_tuned
    if _malloc_tuned:
        return False
    _malloc_tuned = True
    if os.environ.get("MALLOC_TRIM_THRESHOLD_") != "65536" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return all(mallopt(_MALLOPT_CODES[k], v) == 1 for k, v in WORKER_MALLOPT.items())


def run_batch(run, items: list[tuple[int, Study]]) -> list[StudyOutcome]:
    """Run several studies in one dask task (each still isolated by ``execute_study``)."""
    tune_worker_malloc()
    return [run(s, i) for i, s in items]


#: seconds of work a dask task aims at when the studies are batched (:func:`next_batch_size`)
TARGET_TASK_S = 0.75
#: studies per dask task at most
MAX_BATCH = 64
#: dask tasks kept submitted per worker thread: as one finishes, the next is already on the
#: worker (dask queues ~1 task per thread beyond the running one), so a worker never idles for
#: the round trip of its next task
TASKS_PER_THREAD = 2
#: a batch holds at most 1 / (TAIL_SPLIT x threads) of the studies not yet sent: the batches
#: shrink towards the end of the run, so the workers finish within about a study of each other
TAIL_SPLIT = 2
#: median of the last this many studies' durations sizes the next batch
DURATION_WINDOW = 64
#: seconds between two reads of the cluster's size (an adaptive cluster grows and shrinks)
SLOTS_REFRESH_S = 2.0


def next_batch_size(per_study_s: float | None, remaining: int, slots: int) -> int:
    """Studies in the next dask task. Unknown duration (``None``, the first tasks): 1, so the
    first results measure it. Then enough studies for :data:`TARGET_TASK_S` of work (a task
    costs ~2-10 ms of scheduling, worker and client time, nothing beside a 0.1 s CT study if
    ten share it), at most :data:`MAX_BATCH`, and at most ``remaining / (TAIL_SPLIT x slots)``
    (rounded up) so the last tasks are short and no worker is left with a long one at the end."""
    if per_study_s is None or remaining <= 0:
        return 1
    by_time = int(TARGET_TASK_S / max(per_study_s, 1e-4))
    by_tail = -(-remaining // (TAIL_SPLIT * max(1, slots)))
    return max(1, min(MAX_BATCH, by_time, by_tail))


def _cluster_slots(client, fallback: int) -> int:
    """Worker threads of the cluster (tasks that run at once); ``fallback`` when unknown."""
    try:
        return max(1, sum(client.nthreads().values())) if client is not None else fallback
    except Exception:  # noqa: BLE001 - a scheduler busy or going away: keep the last count
        return fallback


class _Feeder:
    """Hands out the dask tasks of a run: batches sized from the studies' measured durations
    (or ``batch_size``), studies of a batch whose worker died one per task first."""

    def __init__(self, todo, slots: int, batch_size: int | None) -> None:
        from collections import deque

        self.queue = deque(todo)
        self.alone: deque = deque()  # studies of a failed batch: one per task, before the rest
        self.slots = slots
        self.batch_size = batch_size
        self.durations: deque = deque(maxlen=DURATION_WINDOW)

    def measured(self, outcomes: list[StudyOutcome]) -> None:
        self.durations.extend(o.elapsed_s for o in outcomes)

    def per_study_s(self) -> float | None:
        if not self.durations:
            return None
        import statistics

        return statistics.median(self.durations)

    def split(self, batch) -> None:
        self.alone.extend(batch)

    def __bool__(self) -> bool:
        return bool(self.queue or self.alone)

    def next(self) -> list[tuple[int, Study]]:
        if self.alone:
            return [self.alone.popleft()]
        n = self.batch_size or next_batch_size(self.per_study_s(), len(self.queue), self.slots)
        return [self.queue.popleft() for _ in range(min(n, len(self.queue)))]


def _worker_failed(i: int, st: Study, exc: BaseException) -> StudyOutcome:
    return StudyOutcome(
        i,
        st.study_id,
        input_id(st),
        "error",
        error=f"worker failed: {error_message(exc)}",
        time_utc=_now(),
        path=str(st.path),
    )


def _run_distributed(run, todo, done, workers, scheduler, client, batch_size=None) -> None:
    """Run ``todo`` on the cluster, ``done(outcome)`` as each study's result arrives.

    Tasks are submitted as the earlier ones finish, :data:`TASKS_PER_THREAD` per worker thread
    (10,000 studies are never 10,000 futures at once); their size follows the studies' measured
    durations (:func:`next_batch_size`) unless ``batch_size`` is given."""
    import distributed

    own_client = own_cluster = None
    pending: dict[str, tuple[Any, list]] = {}
    try:
        if client is None:
            own_client, own_cluster = _open_client(workers, scheduler)
            client = own_client
        if own_cluster is None:
            _check_worker_versions(client)
        slots = _cluster_slots(client, workers)
        feed = _Feeder(todo, slots, batch_size)
        ac = distributed.as_completed(with_results=True, raise_errors=False)
        suspects: list[tuple[int, Study]] = []
        last_count = [time.monotonic()]

        def fill() -> None:
            if time.monotonic() - last_count[0] >= SLOTS_REFRESH_S:
                feed.slots = _cluster_slots(client, feed.slots)
                last_count[0] = time.monotonic()
            while feed and len(pending) < TASKS_PER_THREAD * feed.slots:
                batch = feed.next()
                f = client.submit(run_batch, run, batch, pure=False)
                pending[f.key] = (f, batch)
                ac.add(f)

        fill()
        for fut, res in ac:
            _, batch = pending.pop(fut.key)
            failed = fut.status != "finished"  # error, or cancelled / lost with its worker
            fut.release()
            if not failed:
                feed.measured(res)
                for o in res:
                    done(o)
            elif len(batch) > 1:  # a worker died: run the batch's studies one per task to find
                feed.split(batch)  # the one that kills it; the others complete
            else:
                suspects.append(batch[0])  # its worker died: this study, or one beside it
            fill()
        # a worker's death also fails the tasks queued beside the one that killed it: run each
        # suspect alone, one after the other; only a study that kills its worker then fails
        for i, st in suspects:
            f = client.submit(run_batch, run, [(i, st)], pure=False)
            pending[f.key] = (f, [(i, st)])
            try:
                res = f.result()
            except Exception as exc:  # the worker died on this study (e.g. out of memory)
                res = [_worker_failed(i, st, exc)]
            del pending[f.key]
            f.release()
            for o in res:
                done(o)
    finally:
        if pending and client is not None:
            try:
                client.cancel([f for f, _ in pending.values()])
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
        if own_client is not None:
            own_client.close()
        if own_cluster is not None:
            own_cluster.close()
