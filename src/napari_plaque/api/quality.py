"""``api.qc`` (``napari-plaque qc``: a label map against a reference) and ``api.agreement``
(``napari-plaque agreement``: two or more columns of a cohort table)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io.errors import OptionError
from ._result import Result

#: defaults of the qc / agreement options (the CLI reads them)
QC_DEFAULTS: dict[str, Any] = {
    "worst": 10,  # worst slices / frames listed
    "ba_scale": "absolute",  # Bland-Altman differences a - b
}
#: Bland-Altman scales of ``agreement`` (``--ba-scale``)
BA_SCALES = ("absolute", "log", "percent")
#: risk-category schemes of ``agreement`` (``--categories``)
CATEGORY_SCHEMES = ("cacdrs", "cac3")


@dataclass
class QCResult(Result):
    """``to_dict()``: the ``qc --json`` object (per-label metrics, worst slices, spacing...);
    ``to_rows()``: one row per label (with ``alines``: one row), the rows of a ``qc`` cohort
    table (without its ``study`` column)."""

    command = "qc"


@dataclass
class AgreementResult(Result):
    """``to_dict()``: the ``agreement --json`` object (ICC, Bland-Altman, correlations,
    categories); ``to_rows()``: one row of the scalar results."""

    command = "agreement"


def finite_or_none(obj: Any) -> Any:
    """Replace inf/NaN floats by None (JSON null), recursively; numpy arrays to lists."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite_or_none(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _scalars(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not isinstance(v, (list, dict))}


def _labels(x: Any):
    import numpy as np

    if isinstance(x, (str, Path)):
        from ..io import read_labels

        return read_labels(x)
    return np.asarray(x)


def _spacing(spacing, image, pred, ref, shape, warnings: list[str]):
    from ..io.detect import Format, detect

    if spacing:
        if len(shape) != 3:
            raise OptionError(f"--spacing gives 3 values but the label maps are {len(shape)}D")
        return tuple(float(s) for s in spacing), "--spacing"
    if image is not None:
        from ._inputs import ct_volume

        vol = ct_volume(image)
        if tuple(vol.shape) != tuple(shape):
            raise OptionError(
                f"{image}: image shape {tuple(vol.shape)} does not match the label maps "
                f"{tuple(shape)}"
            )
        return tuple(vol.spacing_mm), "image"
    for path in (ref, pred):
        if isinstance(path, (str, Path)) and detect(path) is Format.NIFTI:
            from ..io import read_nifti

            return tuple(read_nifti(path).spacing_mm), f"NIfTI header of {Path(path).name}"
    warnings.append("no spacing known (no --spacing, --image or NIfTI input); using 1 mm, so "
                    "volumes and distances are in voxel units")
    return (1.0,) * len(shape), "assumed 1 mm"


def qc(
    pred: Any,
    ref: Any,
    *,
    image: Any = None,
    spacing: Sequence[float] | None = None,
    labels: Sequence[int] | None = None,
    worst: int = QC_DEFAULTS["worst"],
    alines: bool = False,
    progress: Any = None,
) -> QCResult:
    """Segmentation QC of ``pred`` against ``ref`` (label-map paths, .npy / NIfTI, or arrays).

    Spacing from ``spacing`` (mm, z y x), else ``image`` (path or ``CTVolume``), else the NIfTI
    header of ``ref`` / ``pred``, else 1 mm (said in ``warnings``). With ``alines``, PRED/REF
    are (frames, A-lines) IVUS calcium labels. ``progress(desc, total)``: returns a step
    callback ``cb(done)`` or None (the CLI passes its stderr progress line).
    """
    import numpy as np

    from .._progress import run_steps
    from ..qc import aline_agreement, iter_qc_metrics, qc_steps

    warnings: list[str] = []
    p, r = _labels(pred), _labels(ref)
    if p.shape != r.shape:
        raise OptionError(f"{pred}: shape {tuple(p.shape)} does not match {ref} {tuple(r.shape)}")
    if alines:
        if p.ndim != 2:
            raise OptionError(f"{pred}: --alines needs (frames, A-lines) arrays, got {p.shape}")
        res = aline_agreement(r != 0, p != 0, n_worst=worst)
        res.pop("per_frame_disagree_deg")
        clean = finite_or_none(res)
        return QCResult(data=clean, rows=[_scalars(clean)], warnings=warnings)
    if p.ndim != 3:
        raise OptionError(f"{pred}: QC needs 3D label maps, got shape {tuple(p.shape)}")
    sp, source = _spacing(spacing, image, pred, ref, p.shape, warnings)
    callback = progress("qc", qc_steps(p, r, labels)) if progress is not None else None
    res = run_steps(iter_qc_metrics(p, r, sp, labels=labels, n_worst=worst), callback)
    per_slice = res.pop("per_slice")
    res["spacing_source"] = source
    res["slices_with_disagreement"] = int(np.count_nonzero(per_slice["disagree"]))
    res["pred"] = str(pred) if isinstance(pred, (str, Path)) else None
    res["ref"] = str(ref) if isinstance(ref, (str, Path)) else None
    clean = finite_or_none(res)
    common = {k: clean.get(k) for k in ("spacing_mm", "spacing_source",
                                         "slices_with_disagreement")}
    rows = [{"label": int(lab), **_scalars(m), **common} for lab, m in clean["labels"].items()]
    return QCResult(data=clean, rows=rows, warnings=warnings)


def _read_readers(path, cols: list[str], id_col: str | None) -> dict[str, Any]:
    """k numeric columns of a CSV; rows with an empty value in any of them skipped, counted."""
    import numpy as np

    from ..outcomes.table import Table

    t = Table.read_csv(path)
    for c in cols + ([id_col] if id_col else []):
        if c not in t.columns:
            raise OptionError(f"{path}: no column {c!r}; columns are {', '.join(t.names)}")
    y = np.column_stack([t.numeric(c) for c in cols])  # names the column and row of text
    ok = np.all(np.isfinite(y), axis=1)
    ids = t.columns[id_col or t.names[0]]
    return {"y": y[ok], "ids": [ids[i] for i in np.flatnonzero(ok)], "skipped": int((~ok).sum())}


def agreement(
    table: str | Path,
    *,
    col_a: str | None = None,
    col_b: str | None = None,
    readers: str | Sequence[str] | None = None,
    reference: str | None = None,
    ba_scale: str = QC_DEFAULTS["ba_scale"],
    b_table: str | Path | None = None,
    col_id: str | None = None,
    categories: str | None = None,
) -> AgreementResult:
    """Agreement of two columns (``col_a``, ``col_b``; B from ``b_table`` joined on
    ``col_id``) or of two or more ``readers`` columns of a CSV ``table``.

    ``ba_scale``: one of :data:`BA_SCALES`; ``categories``: one of :data:`CATEGORY_SCHEMES`.
    Rows with an empty value are skipped and counted (``warnings`` says how many).
    """
    if ba_scale not in BA_SCALES:
        raise OptionError(f"--ba-scale must be one of {', '.join(BA_SCALES)}, got {ba_scale!r}")
    if categories is not None and categories not in CATEGORY_SCHEMES:
        raise OptionError(f"--categories must be one of {', '.join(CATEGORY_SCHEMES)}, got "
                         f"{categories!r}")
    warnings: list[str] = []
    if readers:
        from ..qc.agreement import reader_agreement

        cols = ([c.strip() for c in readers.split(",") if c.strip()] if isinstance(readers, str)
                else [str(c) for c in readers])
        if len(cols) < 2:
            raise OptionError(f"--readers needs two or more columns, got {readers!r}")
        if col_a or col_b or b_table:
            raise OptionError("give either --readers or --a/--b (with --b-table), not both")
        data = _read_readers(table, cols, col_id)
        if data["y"].shape[0] < 2:
            raise OptionError(f"{table}: fewer than 2 rows with all of {', '.join(cols)}")
        res = reader_agreement(data["y"], cols, categories=categories, reference=reference,
                               ba_scale=ba_scale)
        res.update(table=str(table), skipped_rows=data["skipped"], cases=data["ids"])
        if data["skipped"]:
            warnings.append(f"{data['skipped']} row(s) of {table} skipped (empty value in a "
                            "reader column)")
    else:
        from ..qc import agreement as two_columns
        from ..qc.cohort import read_joined_pairs, read_pairs

        if not (col_a and col_b):
            raise OptionError("give --a COL and --b COL (two columns) or --readers COL,COL,...")
        if reference:
            raise OptionError("--reference applies to --readers")
        if b_table:
            pairs = read_joined_pairs(table, col_a, b_table, col_b, id_col=col_id or "study")
            if pairs["unmatched"]:
                warnings.append(f"{pairs['unmatched']} case(s) found in only one table")
        else:
            pairs = read_pairs(table, col_a, col_b, id_col=col_id)
        res = two_columns(pairs["a"], pairs["b"], categories=categories, ba_scale=ba_scale)
        res.update(table=str(table), a=col_a, b=col_b, skipped_rows=pairs["skipped"],
                   cases=list(pairs["ids"]))
        if b_table:
            res.update(table_b=str(b_table), unmatched_cases=pairs["unmatched"])
        if pairs["skipped"]:
            warnings.append(f"{pairs['skipped']} row(s) of {table} skipped (empty value)")
    clean = finite_or_none(res)
    return AgreementResult(data=clean, rows=[_flat(clean)], warnings=warnings)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The scalars of a nested result as one row (``icc.ci_low``...; lists left out)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif not isinstance(v, list):
            out[key] = v
    return out


__all__ = ["AgreementResult", "QCResult", "agreement", "qc", "QC_DEFAULTS"]
