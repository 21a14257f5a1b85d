"""Synthetic samples with known ground truth (npe2 ``sample_data``).

- :mod:`napari_plaque.samples.ccta`: a CCTA volume with coronary-like tubes, lipid / fibrous /
  calcified plaques and calcium spots whose true volumes and Agatston score are known.
- :mod:`napari_plaque.samples.ivus`: an IVUS pullback written as a real multi-frame DICOM and read
  back through the reader, with ground-truth calcium and attenuation arcs.
"""

from __future__ import annotations


def ccta_sample():
    """npe2 sample: synthetic CCTA (image + plaque labels + vessel labels)."""
    from .ccta import ccta_layers

    return ccta_layers()


def ivus_sample():
    """npe2 sample: synthetic IVUS pullback (DICOM round trip) with its true arcs."""
    from .ivus import ivus_layers

    return ivus_layers()
