"""Active learning: uncertainty, frame proposals (never annotated, never neighbours), CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_plaque.ivus.active import (
    aline_uncertainty,
    frame_descriptors,
    frame_uncertainty,
    propose_frames,
    random_frames,
    regular_frames,
)


def test_uncertainty_kinds():
    assert aline_uncertainty(np.array([0.0, 0.5, -2.0]), "margin").tolist() == [1.0, 0.5, 0.0]
    assert aline_uncertainty(np.array([0.5]), "entropy")[0] == pytest.approx(1.0)
    assert aline_uncertainty(np.array([1.0]), "entropy")[0] == pytest.approx(0.0, abs=1e-5)
    v = np.zeros((3, 4))
    v[1] = 5.0
    assert frame_uncertainty(v).tolist() == [1.0, 0.0, 1.0]
    assert frame_uncertainty(v, threshold=5.0).tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="kind"):
        aline_uncertainty(v, "variance")


def test_most_uncertain_first_never_annotated_never_neighbours():
    u = np.zeros(20)
    u[[5, 6, 7]] = [0.9, 1.0, 0.8]  # one uncertain segment
    u[[12, 15]] = [0.5, 0.4]
    got = propose_frames(u, n=4, annotated=[12], spread=1)
    assert got[0] == 6  # the most uncertain
    assert 5 not in got and 7 not in got  # its neighbours are not proposed
    assert 12 not in got  # annotated
    assert got[1] == 15
    assert all(abs(a - b) > 1 for i, a in enumerate(got) for b in got[i + 1 :])


def test_spread_and_auto_spread():
    rng = np.random.default_rng(0)
    for _ in range(20):
        u = rng.random(60)
        ann = rng.choice(60, size=10, replace=False).tolist()
        for spread in (None, 1, 3):
            got = propose_frames(u, n=8, annotated=ann, spread=spread)
            gap = 1 if spread is None else spread
            assert not set(got) & set(ann)
            assert all(abs(a - b) > gap for i, a in enumerate(got) for b in got[i + 1 :])
            assert len(set(got)) == len(got)
    # auto spread: 10 proposals over 100 free frames are more than 5 frames apart
    got = propose_frames(np.linspace(0, 1, 100), n=10)
    assert len(got) == 10 and min(np.diff(sorted(got))) > 5
    # not enough room: fewer frames, never neighbours
    assert propose_frames(np.ones(5), n=10, spread=1) == [0, 2, 4]
    assert propose_frames(np.full(4, np.nan), n=2) == []
    with pytest.raises(ValueError, match="one value per frame"):
        propose_frames(np.ones((3, 3)))


def test_baselines():
    got = random_frames(30, 5, annotated=[1, 2], exclude=[3], seed=1)
    assert len(got) == 5 and not set(got) & {1, 2, 3}
    assert regular_frames(40, 4) == [5, 15, 25, 35]
    assert regular_frames(40, 4, annotated=[15]) == [5, 25, 35]
    assert all(f not in {5, 15} for f in regular_frames(40, 4, exclude=[5, 15]))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A 30-frame synthetic pullback file, its true arcs on 6 frames, and an SVM trained on them."""
    from napari_plaque._progress import run_steps
    from napari_plaque.ivus.annotator import ArcAnnotator
    from napari_plaque.ivus.arcs import save_arcs
    from napari_plaque.ivus.loop import AnnotationLoop
    from napari_plaque.ivus.svm import save_model
    from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

    d = tmp_path_factory.mktemp("active")
    pb, truth = make_ivus_sample(d / "pb.dcm", n_frames=30, seed=2, size=128)
    tr = truth_arcset(truth)
    ann = ArcAnnotator.for_pullback(pb, save_path=None)
    frames = [0, 6, 12, 18, 24, 29]
    for f in frames:
        for a in tr.arcs_for(f, "calcium"):
            ann.arcset.add(f, "calcium", a.start_deg, a.end_deg)
    save_arcs(ann.arcset, d / "pb.arcs.json")
    loop = AnnotationLoop(ann, pb, heldout_folds=0)
    res = run_steps(loop.train_steps())
    save_model(res.model, d / "svm.npz")
    return d, pb, ann


def test_cli_propose_frames(sample, capsys):
    from napari_plaque.cli import main

    d, pb, ann = sample
    annotated = {a.frame for a in ann.arcset.arcs}
    args = ["propose-frames", str(d / "pb.dcm"), "--arcs", str(d / "pb.arcs.json")]
    args += ["--model", str(d / "svm.npz")]
    assert main([*args, "--n", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    fr = out["frames"]
    assert len(fr) == 5 and not set(fr) & annotated
    assert all(abs(a - b) > 1 for i, a in enumerate(fr) for b in fr[i + 1 :])
    assert out["uncertainty"] == sorted(out["uncertainty"], reverse=True)
    assert out["uncertainty_kind"] == "margin" and out["warnings"] == []
    assert main([*args, "--n", "5", "--spread", "2", "--json"]) == 0
    fr2 = json.loads(capsys.readouterr().out)["frames"]
    assert main([*args, "--n", "3", "--spread", "2"]) == 0  # plain: the frames on one line
    assert capsys.readouterr().out.split() == [str(f) for f in fr2[:3]]
    # bad inputs: exit 2, the message names the file
    bad = d / "bad.npz"
    bad.write_bytes(b"not a model")
    assert main([*args[:4], "--model", str(bad)]) == 2
    assert "bad.npz" in capsys.readouterr().err
    other = d / "other.arcs.json"
    from napari_plaque.ivus.arcs import ArcSet, save_arcs

    save_arcs(ArcSet(12, pb.frame_shape), other)
    assert main(["propose-frames", str(d / "pb.dcm"), "--arcs", str(other), "--model",
                 str(d / "svm.npz")]) == 2  # fmt: skip
    assert "other.arcs.json" in capsys.readouterr().err
    assert main([*args, "--n", "0"]) == 2


@pytest.mark.slow
def test_cli_propose_frames_deep_model(sample, tmp_path, capsys):
    pytest.importorskip("torch")
    from napari_plaque._progress import run_steps
    from napari_plaque.cli import main
    from napari_plaque.ivus.loop import AnnotationLoop

    d, pb, ann = sample
    loop = AnnotationLoop(ann, pb, heldout_folds=0)
    run_steps(loop.train_steps(kind="deep", epochs=1, batch_size=4, device="cpu",
                               model_out=tmp_path / "m.pt"))  # fmt: skip
    args = ["propose-frames", str(d / "pb.dcm"), "--arcs", str(d / "pb.arcs.json")]
    assert main([*args, "--model", str(tmp_path / "m.pt"), "--n", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["uncertainty_kind"] == "entropy" and len(out["frames"]) == 4
    assert not set(out["frames"]) & {a.frame for a in ann.arcset.arcs}


def test_frame_descriptors_are_cluster_fractions():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(12, 40, 5)).astype(np.float32)
    feats[8:, :20] += 25.0  # frames 8-11: half their A-lines of a kind no other frame has
    h = frame_descriptors(feats, n_clusters=6)
    assert h.shape == (12, 6)
    assert np.allclose(h.sum(axis=1), 1.0)
    # the odd A-lines fall in clusters (almost) only frames 8-11 use
    odd = h[8:].mean(axis=0) > 5 * (h[:8].mean(axis=0) + 1e-3)
    assert odd.any()
    with pytest.raises(ValueError, match="features"):
        frame_descriptors(feats[0])


def test_propose_with_descriptors_covers_unseen_content():
    # 20 frames, two kinds of content: frames 0-14 kind A, 15-19 kind B; frame 3 annotated
    h = np.zeros((20, 2))
    h[:15, 0] = 1.0
    h[15:, 1] = 1.0
    u = np.full(20, 0.5)
    u[5] = 0.6  # a little more uncertain, but of a kind already covered
    got = propose_frames(u, n=2, annotated=[3], spread=1, descriptors=h)
    assert got[0] >= 15  # the uncovered kind first
    assert 3 not in got and len(got) == 2
    # cold start (no detector yet): uncertainty None, coverage alone
    cold = propose_frames(None, n=2, spread=1, descriptors=h, exclude=[15, 16, 17])
    assert len(cold) == 2 and not {15, 16, 17} & set(cold)
    assert {c >= 18 for c in cold} == {True, False}  # one of each kind
    with pytest.raises(ValueError, match="descriptors"):
        propose_frames(u, n=2, descriptors=h[:5])
    with pytest.raises(ValueError, match="uncertainty is None"):
        propose_frames(None, n=2)


def test_propose_weighted_by_distance_along_the_pullback():
    u = np.full(30, 0.5)
    u[4] = 1.0  # the most uncertain frame, but right beside an annotated one
    assert propose_frames(u, n=1, annotated=[3], spread=1)[0] == 4
    got = propose_frames(u, n=1, annotated=[3], spread=1, pullback_power=2.0)
    assert got == [29]  # the end of the pullback, farthest from frame 3
    # equal distance: the more uncertain wins
    u2 = np.full(31, 0.2)
    u2[0], u2[30] = 0.3, 0.9
    assert propose_frames(u2, n=1, annotated=[15], spread=1, pullback_power=2.0) == [30]
    # cold start without a detector: farthest from the annotated frames, spread apart
    cold = propose_frames(None, n=2, annotated=[0], spread=2, pullback_power=1.0, n_frames=20)
    assert cold[0] == 19 and len(cold) == 2 and 0 not in cold and abs(cold[1] - 19) > 2
    with pytest.raises(ValueError, match="uncertainty is None"):
        propose_frames(None, n=2, pullback_power=1.0)
