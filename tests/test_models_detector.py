"""``predict`` and the A-line detector interface (``ivus.detector.load_aline_detector``) agree."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")


def test_predict_and_the_detector_give_the_same_arcs(tmp_path):
    from napari_plaque import api
    from napari_plaque.ivus.arcs import load_arcs
    from napari_plaque.ivus.detector import load_aline_detector
    from napari_plaque.models import pretrained_models
    from napari_plaque.samples.ivus import make_ivus_sample

    pb, _ = make_ivus_sample(tmp_path / "pb.dcm", n_frames=4, size=96, seed=2)
    res = api.predict("demo_alines", pb, out=tmp_path / "p.json")
    det = load_aline_detector(pretrained_models()["demo_alines"])
    assert det.kind == "deep" and det.synthetic is True
    gen = det.iter_predict(pb)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        arcs = stop.value
    got = load_arcs(tmp_path / "p.json", n_frames=pb.n_frames, frame_shape=pb.frame_shape)
    n = res.to_dict()["n_alines"]
    assert np.array_equal(got.labels(n, det.classes), arcs.labels(n, det.classes))


@pytest.mark.parametrize("name", ["demo_cxr", "demo_ccta_plaque"])
def test_the_detector_refuses_other_tasks(name):
    from napari_plaque.ivus.detector import load_aline_detector
    from napari_plaque.models import pretrained_models

    with pytest.raises(ValueError, match="A-line model"):
        load_aline_detector(pretrained_models()[name])
