"""A Python API under the command line: one function per ``napari-plaque`` command.

>>> from napari_plaque import api
>>> res = api.vessel("ct/", "lad.centreline.json", step_mm=0.5)   # doctest: +SKIP
>>> res.to_dict()      # what ``napari-plaque vessel ... --json`` prints   # doctest: +SKIP
>>> res.to_rows()      # the CSV rows                                       # doctest: +SKIP

Each function takes paths or in-memory objects (:mod:`napari_plaque.types`) plus keyword
options named and defaulted as the CLI options, and returns a :class:`Result` (see
:mod:`napari_plaque.api._result` for the pattern, ``docs/api.md`` for examples and "adding a
command"). The CLI, the cohort workers and the docks call these functions.

The functions are imported lazily (``api.vessel`` imports the CCTA code on first use), so
``import napari_plaque.api`` stays cheap. Modules are named by capability (``ccta``,
``fusion``, ``ivus``, ``quality``), never like a function: importing ``napari_plaque.api.qc``
would make ``api.qc`` the module, not the function.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._result import Result, options_from, options_of, study_options

#: api function name -> module of this package that defines it
FUNCTIONS: dict[str, str] = {
    "train": "deep",
    "predict": "deep",
    "export_model": "deep",
    "export_ct_dataset": "deep",
    "cxr_predict": "radiograph",
    "cxr_train": "radiograph",
    "cxr_evaluate": "radiograph",
    "vessel": "ccta",
    "cac": "ccta",
    "composition": "ccta",
    "export_seg": "interop",
    "pull": "interop",
    "push": "interop",
    "fuse": "fusion",
    "study_stats": "fusion",
    "study_cohort": "fusion",
    "qc": "quality",
    "agreement": "quality",
    "ics": "ivus",
    "ivus_vessel": "ivus",
    "readers": "ivus",
    "export_alines": "ivus",
    "train_svm": "ivus",
    "predict_arcs": "ivus",
    "propose_frames": "ivus",
    "interpolate_arcs": "ivus",
    "info": "files",
    "samples": "synthetic",
}

__all__ = ["FUNCTIONS", "Result", "options_from", "options_of", "study_options"]


def __getattr__(name: str) -> Any:
    mod = FUNCTIONS.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(FUNCTIONS))
