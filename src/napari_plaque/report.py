"""One report layer: JSON-safe values, JSON and CSV writing, used by widgets and CLI alike.

Result objects in the core expose ``to_dict()`` (one JSON object) and, where they are tables,
``to_rows()`` (a list of flat dicts, one row each, in the spirit of scikit-image's
``regionprops_table``). This module turns either into text or files:

- :func:`json_safe` converts numpy scalars and arrays, paths and sets, and replaces a NaN or
  infinite float with ``None`` (JSON ``null``), so no output ever contains ``NaN`` or
  ``Infinity``; :func:`dumps_json` additionally records *why* a value is null when the caller
  says so. (``json_safe`` is defined in :mod:`napari_plaque.io.atomic`, whose
  ``atomic_write_json`` needs it, and re-exported here: ``report`` imports ``io``, never the
  other way round.)
- :func:`write_json` / :func:`write_csv` write atomically (nothing half-written).
- :func:`rows_to_csv_text` is the one CSV layout: the union of the rows' keys, in first-seen
  order, ``\\n`` line endings, empty cell for a missing or null value.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .io.atomic import atomic_write_text, json_safe

#: decimals kept when numbers are rounded for reports (``round_floats``)
REPORT_DECIMALS = 4


def non_finite_keys(obj: Any, prefix: str = "") -> list[str]:
    """Dotted keys of every NaN / infinite float in ``obj`` (to say why a value is null)."""
    import numpy as np

    out: list[str] = []
    if isinstance(obj, (float, np.floating)):
        if not math.isfinite(float(obj)):
            out.append(prefix or "<value>")
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            out += non_finite_keys(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += non_finite_keys(v, f"{prefix}[{i}]")
    return out


def dumps_json(obj: Any, indent: int | None = 1, null_reasons: bool = False) -> str:
    """JSON text for ``obj``; never contains NaN or Infinity.

    With ``null_reasons`` and a top-level mapping, a ``"null_values"`` entry lists the keys
    that were NaN / infinite and therefore written as null.
    """
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    safe = json_safe(obj)
    if null_reasons and isinstance(obj, Mapping):
        bad = non_finite_keys(obj)
        if bad:
            safe = dict(safe)
            safe["null_values"] = {
                "keys": bad,
                "why": "not a finite number (undefined for this input); written as null",
            }
    return json.dumps(safe, indent=indent, allow_nan=False)


def print_json(obj: Any, null_reasons: bool = True) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(dumps_json(obj, null_reasons=null_reasons) + "\n")


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON atomically (serialised first: an error writes nothing)."""
    return atomic_write_text(path, dumps_json(obj, indent=indent) + "\n")


def _cell(v: Any) -> Any:
    v = json_safe(v)
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v, allow_nan=False)
    return v


def rows_to_csv_text(rows: Iterable[Mapping[str, Any]], fields: list[str] | None = None) -> str:
    """The one CSV layout: header = union of keys in first-seen order (or ``fields``)."""
    rows = [r.to_dict() if hasattr(r, "to_dict") else r for r in rows]
    if fields is None:
        fields = []
        for r in rows:
            for k in r:
                if k not in fields:
                    fields.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in fields})
    return buf.getvalue()


def write_csv(
    path: str | Path, rows: Iterable[Mapping[str, Any]], fields: list[str] | None = None
) -> Path:
    """Write rows as CSV atomically."""
    return atomic_write_text(path, rows_to_csv_text(rows, fields))


def round_floats(obj: Any, decimals: int = REPORT_DECIMALS) -> Any:
    """``obj`` with every float rounded to ``decimals`` significant decimals (for display)."""
    if isinstance(obj, float):
        return round(obj, decimals) if math.isfinite(obj) else obj
    if isinstance(obj, Mapping):
        return {k: round_floats(v, decimals) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(round_floats(v, decimals) for v in obj)
    return obj
