"""Synthetic samples with known ground truth (npe2 ``sample_data``).

- :mod:`napari_plaque.samples.ccta`: a CCTA volume with coronary-like tubes, lipid / fibrous /
  calcified plaques and calcium spots whose true volumes and Agatston score are known.
- :mod:`napari_plaque.samples.ivus`: an IVUS pullback written as a real multi-frame DICOM and read
  back through the reader, with ground-truth calcium and attenuation arcs.
"""

from __future__ import annotations

import os
from pathlib import Path


def sample_cache_dir() -> Path:
    """Where generated sample files live (``$NAPARI_PLAQUE_CACHE`` or ~/.cache/napari-plaque)."""
    base = os.environ.get("NAPARI_PLAQUE_CACHE")
    if base:
        d = Path(base)
    else:
        d = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "napari-plaque"
    d.mkdir(parents=True, exist_ok=True)
    return d


def ccta_sample():
    """npe2 sample: synthetic CCTA (image + plaque labels + vessel labels)."""
    from .ccta import ccta_layers

    return ccta_layers()


def ivus_sample():
    """npe2 sample: synthetic IVUS pullback (written as DICOM, read back) with its true arcs."""
    from .ivus import ivus_layers, make_ivus_sample

    pb, truth = make_ivus_sample(sample_cache_dir() / "synthetic_ivus_seed0.dcm", seed=0)
    layers = ivus_layers(pb, truth)
    for _data, attrs, _kind in layers:
        if attrs.get("name") == TRUTH_ARCS_LAYER:
            attrs.update(TRUTH_ARCS_STYLE)
    return layers


#: the ground-truth arcs layer of the IVUS sample
TRUTH_ARCS_LAYER = "truth arcs"
#: its style: hidden until asked for, in colours no annotation uses (the annotator fills the
#: user's arcs yellow / magenta), so truth never passes for one's own; where the layer exists
#: (the demo) it is drawn as outlines, ``TRUTH_ARCS_CONTOUR`` px wide (napari sets a labels
#: layer's contour only after it is made)
TRUTH_ARCS_CONTOUR = 2
TRUTH_ARCS_STYLE = {
    "visible": False,
    "opacity": 0.9,
    "colormap": {None: "transparent", 0: "transparent", 1: "cyan", 2: "white"},
}
