"""Command-line glue for cohort commands: shared options, studies from arguments, output.

A batch subcommand does three things::

    from napari_plaque.cohort.cli import add_cohort_arguments, run_command, studies_from_args

    def register(sub):
        p = sub.add_parser("mycmd", ...)
        p.add_argument("paths", nargs="*", metavar="PATH")
        add_cohort_arguments(p, study_columns=("roi",))
        p.set_defaults(func=_cmd)

    def _task(study, params):            # module level: it runs on the workers
        args = study_args(params, study)  # the options, with the manifest's per-study columns
        return [{"value": ...}]           # rows (or (report, rows))

    def _cmd(args):
        studies = studies_from_args(args, args.paths)
        return run_command(args, _task, studies, params_from_args(args))

``run_command`` runs the cohort (in-process, LocalCluster or scheduler), writes the table
(``--out``/``--table``: ``.csv`` or ``.parquet``) or prints CSV on stdout, prints the JSON
reports with ``--json``, and returns the exit status (0 all ok, 1 some study failed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .runner import CohortResult, Task, run_cohort
from .study import Study, read_manifest, studies_from_paths
from .table import table_text, write_table

#: argparse destinations that steer the run or the output, never the result (not hashed)
RUN_OPTIONS = frozenset(
    {
        "func",
        "command",
        "paths",
        "manifest",
        "workers",
        "scheduler",
        "resume",
        "table",
        "json",
        "record_paths",
        "progress",
        "study_columns",
        "value_columns",
        "overwrite",
    }
)

#: the params key that carries ``--overwrite`` to the tasks (``_``: not hashed)
OVERWRITE_KEY = "_overwrite"


def _workers(text: str) -> int:
    if text == "auto":
        return max(1, os.cpu_count() or 1)
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(
            f"expected a number of workers >= 1 or 'auto', got {text!r}"
        )
    return n


def add_cohort_arguments(
    parser: argparse.ArgumentParser,
    *,
    table_flags: Sequence[str] = ("--table",),
    study_columns: Sequence[str] = (),
    value_columns: Sequence[str] = (),
) -> argparse._ArgumentGroup:
    """Add the cohort options to a subcommand's parser (one place for their names and help).

    ``table_flags``: option strings of the output table (dest ``table``); ``study_columns``:
    manifest columns of per-study files, ``value_columns``: of per-study values that are not
    paths (both override the option of the same name).
    """
    cols = ", ".join((*study_columns, *value_columns))
    g = parser.add_argument_group(
        "cohort",
        "Many studies: PATHs and/or --manifest; one row per study (status and provenance "
        "columns), in input order. Exit status 0: all ok; 1: some study failed (its row has "
        "status=error); 2: bad usage or input.",
    )
    g.add_argument(
        *table_flags,
        dest="table",
        metavar="FILE",
        help="write the table to FILE atomically: .csv, or .parquet (needs pyarrow); "
        "default: CSV on stdout",
    )
    g.add_argument(
        "--manifest",
        metavar="CSV",
        help="cohort table with columns study_id, path"
        + (f" and per-study {cols}" if cols else "")
        + " (relative paths are relative to the manifest)",
    )
    g.add_argument(
        "--resume",
        action="store_true",
        help="skip studies already in the output table with status ok, the same parameters "
        "and the same napari-plaque version",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace per-study output files (<folder>/<study>.*) that exist already; by "
        "default a run never replaces a file it did not write (that study fails instead)",
    )
    g.add_argument(
        "--record-paths",
        action="store_true",
        help="add a 'path' column (default: only input_id, a hash of the study's paths)",
    )
    add_cluster_arguments(g)
    parser.set_defaults(study_columns=tuple(study_columns), value_columns=tuple(value_columns))
    return g


def add_cluster_arguments(group) -> None:
    """``--workers``, ``--scheduler`` and ``--progress``: where the per-study work runs (also
    for commands that build one output from all studies, e.g. the dataset exports)."""
    group.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="worker processes of a local dask cluster; 1 runs in this process, 'auto' one per "
        "CPU (default 1)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a dask.distributed scheduler: tcp://host:port or its scheduler file",
    )
    progress = group.add_mutually_exclusive_group()
    progress.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    progress.add_argument("--no-progress", dest="progress", action="store_false")


def is_cohort(args: argparse.Namespace, n_studies: int) -> bool:
    """Whether the run is a cohort rather than one study named on the command line.

    One study (no manifest, resume or scheduler) keeps a one-study command's behaviour: its
    error stops the command (exit 2) and ``--json`` prints one object, not a list.
    """
    return bool(
        n_studies != 1
        or getattr(args, "manifest", None)
        or getattr(args, "resume", False)
        or getattr(args, "scheduler", None)
    )


def studies_from_args(
    args: argparse.Namespace,
    paths: Sequence[str] | None = None,
    *,
    expand_folders: bool = True,
    columns: Sequence[str] | None = None,
) -> list[Study]:
    """The studies of PATH arguments (folders expanded) followed by those of ``--manifest``."""
    cols = tuple(columns if columns is not None else getattr(args, "study_columns", ()))
    studies = studies_from_paths(paths or [], expand_folders) if paths else []
    if getattr(args, "manifest", None):
        studies += read_manifest(args.manifest, cols, getattr(args, "value_columns", ()))
    if not studies:
        raise ValueError("no study: give PATHs or --manifest CSV")
    return studies


def params_from_args(args: argparse.Namespace, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The options that shape the result (run/output options and callables left out)."""
    skip = RUN_OPTIONS | set(exclude)
    return {k: v for k, v in sorted(vars(args).items()) if k not in skip and not callable(v)}


def file_sha256(path: str | Path, n: int = 16) -> str | None:
    """A short SHA-256 of a file's bytes (a model's identity in the parameters hash); None
    when it is not a file (the command reports that itself)."""
    import hashlib

    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def study_args(params: dict[str, Any], study: Study) -> argparse.Namespace:
    """The command's options for one study: ``params`` with the manifest's per-study columns
    (``roi``, ``vessels``, ``arcs``...) in place of the options of the same name."""
    ns = argparse.Namespace(**params)
    for k in study.inputs:
        setattr(ns, k.replace("-", "_"), str(study.input_path(k)))
    for k, v in study.values.items():
        setattr(ns, k.replace("-", "_"), v)
    return ns


def _overwrite(params: Any) -> bool:
    if isinstance(params, dict):
        return bool(params.get(OVERWRITE_KEY, False))
    return bool(getattr(params, OVERWRITE_KEY, False))


def study_output(params: Any, folder: str | Path, study: Study, suffix: str) -> Path:
    """``<folder>/<study_id><suffix>``, a per-study output of a cohort, checked by
    :func:`napari_plaque.io.atomic.safe_child`: inside ``folder``, and an existing file is
    refused (FileExistsError: that study's error row) unless ``--overwrite`` was given.
    ``params``: the task's params dict or its :func:`study_args` namespace."""
    from ..io.atomic import safe_child

    return safe_child(folder, f"{study.study_id}{suffix}", overwrite=_overwrite(params))


def new_output(params: Any, path: str | Path) -> Path:
    """``path`` (a per-study output the manifest names itself, e.g. an ``out`` column), refused
    (FileExistsError) when it exists and ``--overwrite`` was not given."""
    p = Path(path)
    if not _overwrite(params) and (p.exists() or p.is_symlink()):
        raise FileExistsError(
            f"{p}: exists and was not written by this run; give --overwrite to replace it"
        )
    return p


def run_from_args(
    args: argparse.Namespace,
    task: Task,
    studies: Sequence[Study],
    params: dict[str, Any],
    *,
    task_name: str | None = None,
    keep_reports: bool = True,
) -> CohortResult:
    """Run the cohort with the options of :func:`add_cohort_arguments`.

    A single study given on the command line (no manifest, no cluster options) lets its error
    propagate (exit 2 with the message), as a one-study command does.
    """
    if getattr(args, "resume", False) and not getattr(args, "table", None):
        raise ValueError("--resume needs the output table (--out/--table FILE) to resume from")
    single = not is_cohort(args, len(studies))
    params = {**params, OVERWRITE_KEY: bool(getattr(args, "overwrite", False))}
    return run_cohort(
        task,
        studies,
        params,
        task_name=task_name or getattr(args, "command", None),
        workers=getattr(args, "workers", 1),
        scheduler=getattr(args, "scheduler", None),
        out=getattr(args, "table", None),
        resume=getattr(args, "resume", False),
        record_paths=getattr(args, "record_paths", False),
        progress=getattr(args, "progress", None),
        raise_errors=single,
        keep_reports=keep_reports,
    )


def emit(args: argparse.Namespace, result: CohortResult, *, json_reports: bool = False) -> int:
    """Print the outcome: JSON reports (``--json``), the CSV on stdout unless written to a
    file, a one-line summary of failures on stderr; return the exit status."""
    from ..report import print_json

    if json_reports and getattr(args, "json", False):
        reports = result.reports
        print_json(reports[0] if len(reports) == 1 and not is_cohort(args, 1) else reports)
    elif not getattr(args, "table", None):
        sys.stdout.write(table_text(result.rows()))
    n = len(result.outcomes)
    if result.n_resumed:
        print(
            f"napari-plaque: {result.n_resumed} of {n} studies already in {result.out} (--resume)",
            file=sys.stderr,
        )
    if result.n_failed:
        print(f"napari-plaque: {result.n_failed} of {n} studies failed", file=sys.stderr)
    return result.exit_code


def run_all(
    args: argparse.Namespace,
    task: Task,
    studies: Sequence[Study],
    params: dict[str, Any],
    *,
    client=None,
    what: str = "studies",
) -> list[Any]:
    """Every study's report, for commands whose one output needs all of them (a training set):
    a failed study raises ValueError listing the failures (exit 2, nothing written)."""
    result = run_cohort(
        task,
        studies,
        params,
        client=client,
        workers=1 if client is not None else getattr(args, "workers", 1),
        scheduler=None if client is not None else getattr(args, "scheduler", None),
        progress=getattr(args, "progress", None),
    )
    failed = [o for o in result.outcomes if not o.ok]
    if failed:
        shown = "; ".join(f"{o.study_id}: {o.error}" for o in failed[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        raise ValueError(
            f"{len(failed)} of {len(studies)} {what} failed, nothing written: {shown}{more}"
        )
    return [o.report for o in result.outcomes]


def run_command(
    args: argparse.Namespace,
    task: Task,
    studies: Sequence[Study],
    params: dict[str, Any],
    *,
    task_name: str | None = None,
    json_reports: bool = False,
    single: Callable[[Any], int] | None = None,
) -> int:
    """Run and emit; ``single(report)`` prints a one-study run its own way (if given)."""
    one = single is not None and not is_cohort(args, len(studies)) and not args.table
    # (a cohort's reports stay on the workers unless printed: only the rows travel back)
    keep = one or (json_reports and bool(getattr(args, "json", False)))
    result = run_from_args(args, task, studies, params, task_name=task_name, keep_reports=keep)
    if one:
        return single(result.outcomes[0].report)
    return emit(args, result, json_reports=json_reports)


def write_result(path: str | Path, result: CohortResult) -> Path:
    """Write a result's table (CSV or Parquet by suffix)."""
    return write_table(path, result.rows())
