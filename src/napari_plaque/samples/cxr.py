"""Synthetic chest radiograph sample (npe2 ``sample_data``): SYNTHETIC, for the demo only.

One radiograph from :mod:`napari_plaque.cxr.synthetic` with a known CAC score, as an image layer
in mm (400 mm field of view), made through the same layer builder as the reader.
"""

from __future__ import annotations

#: the sample's CAC score (category 100-399) and seed
SAMPLE_CAC = 350.0
SAMPLE_SEED = 3
SAMPLE_SIZE = 512


def make_cxr_sample(
    cac_score: float = SAMPLE_CAC, size: int = SAMPLE_SIZE, seed: int = SAMPLE_SEED
):
    """A :class:`~napari_plaque.cxr.io.Radiograph` holding one synthetic radiograph."""
    from ..cxr.io import Radiograph
    from ..cxr.synthetic import FOV_MM, make_radiograph

    img = make_radiograph(cac_score, size, seed)
    sp = FOV_MM / size
    return Radiograph(
        stored=img,
        photometric="MONOCHROME2",
        value_range=(0.0, 4095.0),
        window=(0.0, 4095.0),
        window_source="synthetic full range",
        spacing_mm=(sp, sp),
        spacing_source="synthetic",
        spacing_note="synthetic image: spacing by construction",
        meta={"synthetic": True, "true_cac_score": float(cac_score), "seed": int(seed)},
        source="napari_plaque.cxr.synthetic",
        name=f"Synthetic chest radiograph (CAC {cac_score:g}, SYNTHETIC)",
    )


def cxr_sample():
    """npe2 sample: one synthetic chest radiograph (layer in mm, metadata marks it synthetic)."""
    from ..cxr.io import radiograph_layer_data

    return [radiograph_layer_data(make_cxr_sample())]
