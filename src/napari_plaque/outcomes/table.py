"""The tables the study statistics read: a CSV (or rows, or columns) as string columns with
numeric views, and the missing / true / false vocabularies of its cells.

One home for :mod:`napari_plaque.fusion.stats` (predictor statistics) and the outcome modules
(:mod:`.survival`, :mod:`.table1`, :mod:`.regression`): fusion imports outcomes, never back.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: cells read as missing (lower-cased, stripped)
MISSING = {"", "na", "nan", "null", "none", "n/a", "-"}
#: cells read as true / 1
TRUE = {"1", "1.0", "true", "yes", "y", "t"}
#: cells read as false / 0
FALSE = {"0", "0.0", "false", "no", "n", "f"}


# ---------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------


@dataclass
class Table:
    """Columns of a CSV table as strings, with numeric views."""

    columns: dict[str, list[str]]
    source: str = ""

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def numeric(self, name: str) -> np.ndarray:
        """A column as floats (NaN for missing); ValueError naming a non-numeric cell."""
        out = np.full(self.n_rows, np.nan)
        for i, v in enumerate(self.columns[name]):
            t = str(v).strip()
            if t.lower() in MISSING:
                continue
            if t.lower() in TRUE | FALSE and not _is_float(t):
                out[i] = 1.0 if t.lower() in TRUE else 0.0
                continue
            try:
                out[i] = float(t)
            except ValueError:
                raise ValueError(
                    f"{self._where()}column {name!r} row {i + 1} is not a number: {v!r}"
                ) from None
        return out

    def is_numeric(self, name: str) -> bool:
        try:
            col = self.numeric(name)
        except ValueError:
            return False
        return bool(np.isfinite(col).any())

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], source: str = "") -> Table:
        names: list[str] = []
        for r in rows:
            for k in r:
                if k not in names:
                    names.append(k)
        cols = {n: ["" if r.get(n) is None else str(r.get(n)) for r in rows] for n in names}
        return cls(cols, source)

    @classmethod
    def concat(cls, tables: Sequence[Table]) -> Table:
        """Rows of several tables (e.g. one ``fuse --csv`` per patient); columns united, a
        column a table lacks is empty (missing) in its rows."""
        names: list[str] = []
        for tb in tables:
            names += [n for n in tb.names if n not in names]
        cols: dict[str, list[str]] = {n: [] for n in names}
        for tb in tables:
            for n in names:
                cols[n] += tb.columns.get(n, [""] * tb.n_rows)
        return cls(cols, ", ".join(tb.source for tb in tables if tb.source))

    @classmethod
    def read_csv(cls, path: str | Path) -> Table:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"{p}: table not found")
        try:
            with p.open(newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                body = [row for row in reader if any(c.strip() for c in row)]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ValueError(f"{p}: not a readable CSV table ({exc})") from None
        if not header:
            raise ValueError(f"{p}: empty table (no header row)")
        header = [h.strip() for h in header]
        if len(set(header)) != len(header):
            raise ValueError(f"{p}: duplicate column names in the header")
        for i, row in enumerate(body):
            if len(row) != len(header):
                raise ValueError(
                    f"{p}: row {i + 2} has {len(row)} cells, the header has {len(header)}"
                )
        if not body:
            raise ValueError(f"{p}: the table has a header but no rows")
        cols = {h: [row[j] for row in body] for j, h in enumerate(header)}
        return cls(cols, str(p))


def _is_float(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return True


def as_table(table) -> Table:
    """A :class:`Table` from a CSV path, a list of paths / tables (concatenated), a dict of
    columns or a sequence of row dicts."""
    if isinstance(table, Table):
        return table
    if isinstance(table, (str, Path)):
        return Table.read_csv(table)
    if isinstance(table, (list, tuple)) and table and isinstance(table[0], (str, Path, Table)):
        return Table.concat([as_table(x) for x in table])
    if isinstance(table, Mapping):
        cols = {str(k): [("" if v is None else str(v)) for v in vals] for k, vals in table.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise ValueError(f"table columns have different lengths {sorted(lengths)}")
        return Table(cols)
    return Table.from_rows(list(table))
