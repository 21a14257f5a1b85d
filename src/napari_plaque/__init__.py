"""napari-plaque: coronary plaque and calcium analysis for CCTA and IVUS.

The core (``io``, ``ccta``, ``ivus``, ``qc``, ``samples``) never imports napari or Qt; ``models``
imports torch lazily; ``widgets`` hold the thin napari front end.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
