"""Moved: the npe2 reader hook lives in :mod:`napari_plaque._napari.reader` (issue 23: ``io``
holds pure readers and writers, importable without napari).

This name is an alias of that module until its last importers (tests) change; it is looked up
by name (``importlib``), so ``io`` keeps no import of the napari adapters. Import
``napari_plaque._napari.reader`` in new code.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("napari_plaque._napari.reader")
