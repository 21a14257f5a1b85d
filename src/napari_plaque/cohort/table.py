"""The cohort table: rows with status and provenance columns, written as CSV or Parquet.

CSV goes through :mod:`napari_plaque.report` (the one CSV layout); Parquet (``.parquet``,
needs pyarrow) holds the same cells, lists and mappings as JSON text. Both are written
atomically.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: the study column, first in every row
STUDY_COLUMN = "study"
#: columns the runner adds after the task's own, in this order
STATUS_COLUMNS = ("status", "error")
PROVENANCE_COLUMNS = (
    "napari_plaque_version",
    "params_hash",
    "input_id",
    "time_utc",
    "elapsed_s",
)
#: columns that differ between two runs of the same cohort (everything else is identical)
VOLATILE_COLUMNS = ("time_utc", "elapsed_s")
#: optional column with the study's path (only when asked: ``record_paths``)
PATH_COLUMN = "path"

RUNNER_COLUMNS = (STUDY_COLUMN, *STATUS_COLUMNS, PATH_COLUMN, *PROVENANCE_COLUMNS)


def is_parquet(path: str | Path) -> bool:
    return str(path).lower().endswith((".parquet", ".pq"))


def ordered_fields(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """``study``, the task's columns in first-seen order, then status and provenance."""
    task: list[str] = []
    present: set[str] = set()
    for r in rows:
        for k in r:
            present.add(k)
            if k not in RUNNER_COLUMNS and k not in task:
                task.append(k)
    head = [STUDY_COLUMN] if STUDY_COLUMN in present else []
    tail = [k for k in (*STATUS_COLUMNS, PATH_COLUMN, *PROVENANCE_COLUMNS) if k in present]
    return head + task + tail


def table_text(rows: list[Mapping[str, Any]]) -> str:
    """The rows as CSV text (one header, the column order of :func:`ordered_fields`)."""
    from ..report import rows_to_csv_text

    return rows_to_csv_text(rows, ordered_fields(rows))


def _parquet_cell(v: Any) -> Any:
    from ..report import json_safe

    v = json_safe(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, allow_nan=False)
    return v


def write_table(path: str | Path, rows: list[Mapping[str, Any]]) -> Path:
    """Write the rows atomically: Parquet for ``.parquet``/``.pq``, else CSV."""
    path = Path(path)
    if not is_parquet(path):
        from ..report import write_csv

        return write_csv(path, rows, ordered_fields(rows))
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is in the parquet/all extras
        raise ValueError(
            f"{path}: Parquet output needs pyarrow (pip install 'napari-plaque[parquet]')"
        ) from None
    from ..io.atomic import atomic_path

    fields = ordered_fields(rows)
    cols: dict[str, list[Any]] = {f: [] for f in fields}
    for r in rows:
        for f in fields:
            cols[f].append(_parquet_cell(r.get(f)))
    arrays = {}
    for f, values in cols.items():
        try:
            arrays[f] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types: keep the text
            arrays[f] = pa.array([None if v is None else str(v) for v in values], pa.string())
    table = pa.table(arrays) if arrays else pa.table({})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Read a table written by :func:`write_table` (empty list when the file does not exist).

    Raises ValueError naming the file when it exists but is not a readable table.
    """
    path = Path(path)
    if not path.exists():
        return []
    if is_parquet(path):
        try:
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        except ImportError:  # pragma: no cover
            raise ValueError(f"{path}: reading Parquet needs pyarrow") from None
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds
            raise ValueError(f"{path}: not a readable Parquet table ({exc})") from None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 CSV table ({exc})") from None
    return list(csv.DictReader(io.StringIO(text)))
