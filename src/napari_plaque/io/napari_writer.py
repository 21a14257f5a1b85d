"""npe2 writer: a labels layer to NIfTI (with its scale/translate) or .npy (reader axis order)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .nifti import write_nifti


def write_labels(path: str, data, meta: dict) -> list[str]:
    p = Path(path)
    arr = np.asarray(data)
    if p.suffix == ".npy":
        with atomic_path(p) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, arr)
        return [str(p)]
    scale = tuple(meta.get("scale", (1.0, 1.0, 1.0)))[-3:]
    translate = tuple(meta.get("translate", (0.0, 0.0, 0.0)))[-3:]
    write_nifti(p, arr, scale, translate)
    return [str(p)]
