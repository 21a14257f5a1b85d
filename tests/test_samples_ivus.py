"""The synthetic IVUS pullback: image content over the true arcs, geometry, DICOM round trip."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.ivus import arc_measurements, to_polar
from napari_plaque.samples.ivus import (
    ivus_layers,
    make_ivus_sample,
    make_pullback_frames,
    truth_arcset,
)


@pytest.fixture(scope="module")
def sample():
    return make_pullback_frames(n_frames=160, size=192, seed=0)


def test_frames_and_truth_consistent(sample):
    frames, truth = sample
    assert frames.dtype == np.uint8 and frames.shape == (160, 192, 192)
    assert truth["labels"].shape == (160, 360, 2)
    assert truth["mm_per_frame"] == pytest.approx(0.2)
    # the truth labels are the arcs, and the arc set built from the dicts gives them back
    assert np.array_equal(truth_arcset(truth).labels(360), truth["labels"])
    assert {a["class"] for a in truth["arcs"]} == {"calcium", "attenuation"}
    assert truth["ics"] == pytest.approx(1000 * truth["labels"][:, :, 0].mean())
    # calcium and attenuation never overlap
    assert not (truth["labels"][:, :, 0] & truth["labels"][:, :, 1]).any()


def test_arcs_vary_smoothly_wrap_and_exceed_180(sample):
    _, truth = sample
    m = arc_measurements(truth["labels"][:, :, 0], truth["mm_per_frame"])
    assert m["max_arc_deg"] > 180 and m["arc_gt180_over_5mm"]
    assert any(a["end_deg"] < a["start_deg"] for a in truth["arcs"] if a["class"] == "calcium")
    for seg in truth["segments"]:
        n = seg["frame_stop"] - seg["frame_start"]
        assert n >= 4
        arcs = [a for a in truth["arcs"] if seg["frame_start"] <= a["frame"] < seg["frame_stop"]]
        ext = np.array([(a["end_deg"] - a["start_deg"]) % 360 for a in arcs])
        assert np.abs(np.diff(ext)).max() < 60  # no jumps from frame to frame
    assert max(s["length_mm"] for s in truth["segments"] if s["class"] == "calcium") > 5


def test_image_content_over_true_arcs(sample):
    """Calcium A-lines: bright edge then shadow; attenuation: shadow without a bright edge."""
    frames, truth = sample
    px = truth["pixel_spacing_mm"]
    pol = to_polar(frames, truth["center"], 360, 96, depth_mm=4.5, pixel_spacing_mm=px)
    pol = pol[:, :, 13:]  # beyond the catheter (0.6 mm)
    lab = truth["labels"]
    ca, att = lab[:, :, 0], lab[:, :, 1]
    normal = ~(ca | att)
    peak = pol.max(axis=2)
    deep = pol[:, :, 40:].mean(axis=2)
    assert np.median(peak[ca]) > 1.3 * np.median(peak[att])
    assert np.median(deep[ca]) < 0.35 * np.median(deep[normal])
    assert np.median(deep[att]) < 0.5 * np.median(deep[normal])


def test_seeds_change_geometry():
    _, t1 = make_pullback_frames(n_frames=40, size=96, seed=1)
    _, t2 = make_pullback_frames(n_frames=40, size=96, seed=2)
    f1, t1b = make_pullback_frames(n_frames=40, size=96, seed=1)
    assert not np.array_equal(t1["labels"], t2["labels"])
    assert np.array_equal(t1["labels"], t1b["labels"])
    assert f1.shape == (40, 96, 96)


def test_dicom_roundtrip_and_layers(tmp_path):
    pb, truth = make_ivus_sample(tmp_path / "s.dcm", n_frames=20, seed=3, size=128)
    frames, _ = make_pullback_frames(n_frames=20, size=128, seed=3)
    assert np.array_equal(np.asarray(pb.frames), frames)
    assert pb.frame_time_s == pytest.approx(0.4)
    assert pb.pullback_rate_mm_s == pytest.approx(0.5)
    assert pb.pixel_spacing_mm == pytest.approx(truth["pixel_spacing_mm"])
    assert pb.scale == pytest.approx((0.2, 10 / 128, 10 / 128))
    layers = ivus_layers(pb, truth)
    assert [lt[2] for lt in layers] == ["image", "labels"]
    img, lab = layers
    assert img[1]["scale"] == pytest.approx(pb.scale)
    assert lab[1]["scale"] == pytest.approx(pb.scale)
    sectors = np.asarray(lab[0])
    assert sectors.shape == (20, 128, 128)
    # calcium frames show class-1 sectors; frames without arcs show none
    ca_frames = truth["labels"][:, :, 0].any(1)
    assert all((sectors[f] == 1).any() == ca_frames[f] for f in range(20))


def test_short_synthetic_pullbacks_are_real_images():
    """A pullback of a few frames used to come out all black or all white (and 1-2 frames crashed)."""
    from napari_plaque.samples.ivus import make_pullback_frames

    for n in (1, 3, 4, 8):
        frames, truth = make_pullback_frames(n_frames=n, seed=0)
        assert frames.shape[0] == n
        assert 5 < float(frames.mean()) < 60, n  # dark lumen, brighter wall, like long pullbacks
        assert int(frames.max()) > 150
        assert all(s["frame_stop"] > s["frame_start"] for s in truth["segments"])


# sha256 (first 16 hex digits) of the default generator's frames and arcs, computed from the
# code before the realism presets were added: the default output must never change (the demo,
# the docs' figures and many tests use it)
_DEFAULT_HASHES = {
    (40, 128, 0, 1.0): ("38599dce0c425a6a", "34acda93342698da"),
    (160, 192, 3, 1.0): ("58cabd6661552be0", "a890523891fe914a"),
    (12, 96, 1, 0.0): ("bc49a2d351e9feee", "c08c967002bfea4a"),
}


@pytest.mark.parametrize("key", list(_DEFAULT_HASHES))
def test_default_output_unchanged(key):
    import hashlib
    import json

    n, size, seed, noise = key
    frames, truth = make_pullback_frames(n_frames=n, size=size, seed=seed, noise=noise)
    h_frames = hashlib.sha256(frames.tobytes()).hexdigest()[:16]
    h_arcs = hashlib.sha256(json.dumps(truth["arcs"], sort_keys=True).encode()).hexdigest()[:16]
    assert (h_frames, h_arcs) == _DEFAULT_HASHES[key]


def test_realistic_preset():
    from napari_plaque.samples.ivus import PRESETS

    assert PRESETS == ("default", "realistic")
    frames, truth = make_pullback_frames(n_frames=120, size=128, seed=0, preset="realistic")
    assert frames.shape == (120, 128, 128) and truth["preset"] == "realistic"
    assert np.array_equal(truth_arcset(truth).labels(360), truth["labels"])
    ca = [s for s in truth["segments"] if s["class"] == "calcium"]
    assert len(ca) == 5
    # calcium on a minority of the frames, each run with its own appearance
    assert 0.1 < truth["labels"][:, :, 0].any(axis=1).mean() < 0.45
    assert len({round(s["edge_brightness"]) for s in ca}) == len(ca)
    assert all(125 <= s["edge_brightness"] <= 245 and 0.05 <= s["shadow"] <= 0.3 for s in ca)
    kinds = {c["class"] for c in truth["confounders"]}
    assert kinds == {"fibrous", "side branch"}
    # the default is unchanged by the preset machinery; a bad preset is refused
    assert make_pullback_frames(n_frames=40, size=96, seed=0)[1]["confounders"] == []
    with pytest.raises(ValueError, match="preset"):
        make_pullback_frames(n_frames=4, size=64, preset="hard")
