"""The result every :mod:`napari_plaque.api` function returns.

The pattern (issue 23): one function per CLI command, ``napari_plaque.api.<command>(inputs,
**options)``:

- *inputs* are paths (what the CLI takes) or in-memory objects (a
  :class:`~napari_plaque.types.Pullback`, a :class:`~napari_plaque.types.CTVolume`, an array);
- *options* are keyword-only, named as the CLI option with ``-`` turned into ``_``
  (``--step-mm`` -> ``step_mm``), with the same defaults, read from the core's ``*_DEFAULTS``
  dict (never a literal);
- output files the CLI writes (``--roi-out``, ``--sr``...) are keyword options too; everything
  is computed before the first file is written, each file atomically;
- a bad input raises ``ValueError`` (a :class:`~napari_plaque.io.errors.ReaderError` /
  ``FormatError`` where a file is at fault) with a message naming the file, or ``OSError``; the
  CLI prints those with exit code 2;
- the function returns a :class:`Result` subclass: ``to_dict()`` is exactly the object the CLI's
  ``--json`` prints, ``to_rows()`` the rows of its CSV output, ``warnings`` the notes the CLI
  prints on stderr (or in the JSON ``warnings`` list).

The CLI module is then argparse only: parse, call the api function with
``**options_from_args(func, args)``, print / write the result; a cohort task
(``_task(study, params)``) calls the same function with ``**options_from(func, params)``.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Result:
    """A command's result: ``to_dict()`` == the CLI's ``--json``; ``to_rows()`` == its CSV rows.

    Subclasses (one per command) keep the core object as a field (``analysis``, ``stats``...)
    for a notebook; ``data`` / ``rows`` hold the reported form, built once by the api function.
    """

    #: the CLI command the result belongs to (set by each subclass)
    command: ClassVar[str] = ""

    data: dict[str, Any] = field(default_factory=dict, repr=False)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object the CLI prints with ``--json`` (not copied: do not edit it)."""
        return self.data

    def to_rows(self) -> list[dict[str, Any]]:
        """The CSV rows the CLI prints / writes (one dict per row, the CSV's column order)."""
        return self.rows

    def to_json_text(self) -> str:
        """The exact text ``--json`` prints (NaN as null with a ``null_values`` note; paths
        hashed under ``--no-paths``)."""
        from ..report import dumps_json

        return dumps_json(self.to_dict(), null_reasons=True)

    def to_csv_text(self) -> str:
        """The CSV text of :meth:`to_rows` (the one CSV layout, :mod:`napari_plaque.report`)."""
        from ..report import rows_to_csv_text

        return rows_to_csv_text(self.to_rows())


def options_of(func: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword option names of an api function (its keyword-only parameters)."""
    sig = inspect.signature(func)
    return tuple(n for n, p in sig.parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY)


def options_from(func: Callable[..., Any], values: Mapping[str, Any] | argparse.Namespace,
                 **override: Any) -> dict[str, Any]:
    """The keyword options of ``func`` found in ``values`` (an argparse ``Namespace`` or a
    cohort ``params`` dict; other entries are ignored), then ``override``."""
    src = vars(values) if isinstance(values, argparse.Namespace) else dict(values)
    out = {k: src[k] for k in options_of(func) if k in src}
    out.update(override)
    return out


def study_options(func: Callable[..., Any], params: Mapping[str, Any], study: Any,
                  **override: Any) -> dict[str, Any]:
    """A cohort study's options: ``params`` with the manifest's per-study inputs and values
    (``study.inputs`` paths, ``study.values``) in place of the options of the same name (as
    :func:`napari_plaque.cohort.cli.study_args`, without building a ``Namespace``)."""
    merged = dict(params)
    for k in getattr(study, "inputs", {}) or {}:
        p = study.input_path(k)  # an empty manifest cell: None, not the text "None"
        merged[k.replace("-", "_")] = None if p is None else str(p)
    for k, v in (getattr(study, "values", {}) or {}).items():
        merged[k.replace("-", "_")] = v
    return options_from(func, merged, **override)
