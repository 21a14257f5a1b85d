"""Cohorts: one per-study task over many studies, in-process or on dask.distributed.

- :func:`run_cohort` (the runner), :class:`CohortResult`, :class:`StudyOutcome`;
- :class:`Study`, :func:`read_manifest`, :func:`studies_from_paths` (where studies come from);
- :func:`write_table` / :func:`read_table` (CSV or Parquet with status and provenance columns);
- :mod:`napari_plaque.cohort.cli`: ``add_cohort_arguments``, ``studies_from_args``,
  ``run_command`` for the ``napari-plaque`` subcommands.

See ``docs/cohort.md``.
"""

from .runner import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STUDY_FAILED,
    EXIT_USAGE,
    CohortResult,
    StudyOutcome,
    TaskOutput,
    cohort_client,
    connect,
    execute_study,
    run_cohort,
)
from .study import (
    Study,
    expand_paths,
    input_id,
    params_hash,
    read_manifest,
    studies_from_paths,
    study_name,
)
from .table import PROVENANCE_COLUMNS, VOLATILE_COLUMNS, read_table, table_text, write_table

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STUDY_FAILED",
    "EXIT_USAGE",
    "PROVENANCE_COLUMNS",
    "VOLATILE_COLUMNS",
    "CohortResult",
    "Study",
    "StudyOutcome",
    "TaskOutput",
    "cohort_client",
    "connect",
    "execute_study",
    "expand_paths",
    "input_id",
    "params_hash",
    "read_manifest",
    "read_table",
    "run_cohort",
    "studies_from_paths",
    "study_name",
    "table_text",
    "write_table",
]
