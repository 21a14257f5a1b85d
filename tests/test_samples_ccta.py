"""The synthetic CCTA sample: ground truth by construction agrees with the core."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.ccta import calcium_score, composition
from napari_plaque.samples.ccta import ccta_layers, make_ccta


@pytest.fixture(scope="module")
def sample(synthetic_ccta):
    return synthetic_ccta  # conftest's, built once per session


def test_geometry_and_types(sample):
    v = sample.volume
    assert v.hu.dtype == np.int16 and v.hu.shape == (64, 192, 192)
    assert v.spacing_mm == (0.5, 0.4, 0.4)
    assert sample.cac_volume.hu.shape == v.hu.shape
    assert set(np.unique(sample.vessel_labels)) == {0, 1, 2, 3, 4}
    assert set(np.unique(sample.plaque_labels)) == {0, 1, 2, 3, 4, 5}
    lumen = (sample.vessel_labels > 0) & (sample.plaque_labels == 0) & (v.hu >= 350)
    assert lumen.sum() > 1000 and np.all(v.hu[lumen] <= 450)


def test_composition_matches_truth(sample):
    comps = composition(
        sample.volume.hu, sample.volume.spacing_mm, sample.plaque_labels, sample.vessel_labels
    )
    assert [c.label for c in comps] == [1, 2, 3, 4, 5]
    for c in comps:
        t = sample.truth["plaques"][c.label]
        for k in ("lipid_mm3", "fibrous_mm3", "calcium_mm3", "volume_mm3", "plaque_burden_pct"):
            assert getattr(c, k) == pytest.approx(t[k]), (c.label, k)
        assert c.n_outside == t["n_outside"]
        assert c.one_k_plaque == t["one_k_plaque"]
        assert c.vessel == t["vessel"]
        assert c.calcium_mean_hu == (
            None if t["calcium_mean_hu"] is None else pytest.approx(t["calcium_mean_hu"])
        )
    assert comps[2].one_k_plaque and comps[2].n_outside > 0


def test_calcium_matches_truth(sample):
    t = sample.truth["cac"]
    cac = sample.cac_volume
    r = calcium_score(cac.hu, cac.spacing_mm, vessel_labels=sample.vessel_labels)
    assert r.agatston == pytest.approx(t["agatston"])
    assert r.volume_mm3 == pytest.approx(t["volume_mm3"])
    assert r.n_lesions == t["n_lesions"]
    names = {1: "LM", 2: "LAD", 3: "LCX", 4: "RCA", 0: "unassigned"}
    for v, a in t["per_vessel_agatston"].items():
        assert r.per_vessel[names[v]]["agatston"] == pytest.approx(a)
    # the truth exercises the rules: 199/200 HU, < and > 1 mm^2, 10-slice lesion
    objs = {les["object"] for les in sample.truth["lesions"]}
    assert {"hu199", "hu200", "area_1.12mm2", "spans_10_slices"} <= objs
    assert "area_0.96mm2" not in objs and "hu129_below_threshold" not in objs


def test_noise_is_seeded(sample):
    a = make_ccta(noise_hu=15, seed=3).volume.hu
    b = make_ccta(noise_hu=15, seed=3).volume.hu
    assert np.array_equal(a, b)
    assert 10 < np.std(a.astype(float) - sample.volume.hu) < 20


def test_layers_carry_scale_and_translate():
    layers = ccta_layers(noise_hu=0)
    assert [lt[2] for lt in layers] == ["image", "labels", "labels", "image"]
    for data, attrs, _ in layers:
        assert attrs["scale"] == (0.5, 0.4, 0.4)
        assert attrs["translate"] == layers[0][1]["translate"]
        assert data.shape == (64, 192, 192)
    assert len(ccta_layers(noise_hu=0, include_noncontrast=False)) == 3
