"""Read paired per-case values (two methods or readers) from a cohort CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..io.errors import ReaderError


def read_columns(path: str | Path) -> list[str]:
    """The header of a CSV file."""
    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except FileNotFoundError as exc:
        raise ReaderError(p, "file not found") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReaderError(p, f"not a readable CSV file ({exc})") from exc
    if not header:
        raise ReaderError(p, "CSV file is empty (no header row)")
    return [h.strip() for h in header]


def read_pairs(
    path: str | Path, col_a: str, col_b: str, id_col: str | None = None
) -> dict[str, object]:
    """Paired numeric values of two columns of a CSV with a header row.

    Rows where either value is empty (or NA/NaN) are skipped and counted in ``skipped``; any
    other non-numeric value is an error naming the file, the line and the column.

    Returns
    -------
    dict
        ``a``, ``b`` (float arrays), ``ids`` (the ``id_col`` values, or the first column's when
        ``id_col`` is None), ``skipped`` (number of rows skipped) and ``lines`` (CSV line number
        of each kept row).
    """
    p = Path(path)
    header = read_columns(p)
    for col in (col_a, col_b) + ((id_col,) if id_col else ()):
        if col not in header:
            raise ReaderError(p, f"no column {col!r}; columns are {', '.join(header)}")
    ia, ib = header.index(col_a), header.index(col_b)
    iid = header.index(id_col) if id_col else 0
    a, b, ids, lines = [], [], [], []
    skipped = 0
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            va = _value(p, line, col_a, row[ia] if ia < len(row) else "")
            vb = _value(p, line, col_b, row[ib] if ib < len(row) else "")
            if va is None or vb is None:
                skipped += 1
                continue
            a.append(va)
            b.append(vb)
            ids.append(row[iid] if iid < len(row) else "")
            lines.append(line)
    if len(a) < 2:
        raise ReaderError(
            p, f"needs at least 2 rows with both {col_a!r} and {col_b!r}, got {len(a)}"
        )
    return {"a": np.asarray(a), "b": np.asarray(b), "ids": ids, "skipped": skipped, "lines": lines}


def _value(path: Path, line: int, col: str, text: str) -> float | None:
    t = text.strip()
    if t == "" or t.lower() in ("na", "nan", "n/a", "none", "null"):
        return None
    try:
        v = float(t)
    except ValueError:
        raise ReaderError(path, f"line {line}, column {col!r}: {t!r} is not a number") from None
    if not math.isfinite(v):
        raise ReaderError(path, f"line {line}, column {col!r}: {t!r} is not a finite number")
    return v


def _column_values(path: Path, col: str, id_col: str) -> tuple[dict[str, float], int]:
    header = read_columns(path)
    for c in (col, id_col):
        if c not in header:
            raise ReaderError(path, f"no column {c!r}; columns are {', '.join(header)}")
    ic, ii = header.index(col), header.index(id_col)
    values: dict[str, float] = {}
    skipped = 0
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            case = row[ii].strip() if ii < len(row) else ""
            v = _value(path, reader.line_num, col, row[ic] if ic < len(row) else "")
            if v is None or not case:
                skipped += 1
                continue
            if case in values:
                raise ReaderError(path, f"line {reader.line_num}: case {case!r} appears twice")
            values[case] = v
    return values, skipped


def read_joined_pairs(
    path_a: str | Path, col_a: str, path_b: str | Path, col_b: str, id_col: str = "study"
) -> dict[str, object]:
    """Paired values from two CSVs (e.g. two batch-scoring runs), joined on ``id_col``.

    Cases present in only one file are counted in ``unmatched`` and left out; rows with an
    empty value are counted in ``skipped``. Cases are returned sorted by id.
    """
    pa, pb = Path(path_a), Path(path_b)
    va, sa = _column_values(pa, col_a, id_col)
    vb, sb = _column_values(pb, col_b, id_col)
    common = sorted(set(va) & set(vb))
    if len(common) < 2:
        raise ReaderError(
            pb,
            f"needs at least 2 cases ({id_col!r}) with values in both {pa.name} and {pb.name}, "
            f"got {len(common)}",
        )
    return {
        "a": np.asarray([va[c] for c in common]),
        "b": np.asarray([vb[c] for c in common]),
        "ids": common,
        "skipped": sa + sb,
        "unmatched": len(set(va) ^ set(vb)),
    }
