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
    assert out["uncertainty_kind"] == "margin" and out["warnings"] == []
    # one home: the dock's loop proposes the same frames with the same model
    from napari_plaque._progress import run_steps
    from napari_plaque.ivus.loop import AnnotationLoop, svm_scores
    from napari_plaque.ivus.svm import load_model

    loop = AnnotationLoop(ann, pb, heldout_folds=0)
    feats = run_steps(loop.features_steps())
    loop.model, loop.kind = load_model(d / "svm.npz"), "svm"
    loop.scores = svm_scores(loop.model, feats)
    assert loop.propose(5) == fr
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


def test_doubt_weights_and_frame_embedding():
    from napari_plaque.ivus.active import doubt_weights, frame_embedding

    m = np.array([[-3.0, -0.5, 0.2, 4.0]])
    assert doubt_weights(m).tolist() == [[0.0, 1.0, 1.0, 1.0]]  # inside the margin or beyond
    assert doubt_weights(m, threshold=1.0).tolist() == [[0.0, 0.0, 1.0, 1.0]]
    assert doubt_weights(np.array([0.1, 0.3, 0.9]), "entropy").tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="kind"):
        doubt_weights(m, "variance")
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(6, 50, 3)).astype(np.float32)
    feats[4, :10] += 8.0  # frame 4: ten odd A-lines
    cold = frame_embedding(feats)  # no detector: the frame's mean A-line, standardised
    assert cold.shape == (6, 3) and np.argmax(np.linalg.norm(cold, axis=1)) == 4
    # with a detector: only the doubtful A-lines count (none: a zero embedding)
    values = np.full((6, 50), -5.0)
    values[4, :10] = 0.5
    emb = frame_embedding(feats, values)
    assert np.allclose(emb[[0, 1, 2, 3, 5]], 0.0) and np.linalg.norm(emb[4]) > 1.0
    with pytest.raises(ValueError, match="values"):
        frame_embedding(feats, values[:, :10])


def test_propose_with_embedding_farthest_from_the_annotated_first():
    # 30 frames on a line in embedding space except frames 20-24, of an unseen kind
    e = np.zeros((30, 2))
    e[:, 0] = np.arange(30) * 0.01
    e[20:25, 1] = 5.0
    got = propose_frames(None, n=3, annotated=[3], spread=1, embedding=e)
    assert got[0] in range(20, 25)  # the unseen kind first
    assert all(abs(a - b) > 1 for i, a in enumerate(got) for b in got[i + 1 :])
    assert 3 not in got and len(got) == 3
    # a proposal counts as covered for the next ones (a batch does not pile on one kind)
    assert sum(f in range(20, 25) for f in got) == 1
    # nothing annotated: the frame farthest from the pullback's mean first
    assert propose_frames(None, n=1, spread=1, embedding=e)[0] in range(20, 25)
    # NaN uncertainty blocks a frame; exclusions hold
    u = np.ones(30)
    u[20:23] = np.nan
    got = propose_frames(u, n=1, annotated=[3], spread=1, exclude=[23], embedding=e)
    assert got == [24]
    with pytest.raises(ValueError, match="embedding"):
        propose_frames(u, n=2, embedding=e[:5])


def test_propose_next_one_home_finds_confident_false_positives():
    """The default strategy looks at frames the detector calls calcium *with confidence*
    (where a margin score never looks) when nothing annotated is like them."""
    from napari_plaque.ivus.active import propose_next

    rng = np.random.default_rng(1)
    f, n = 40, 60
    feats = rng.normal(size=(f, n, 4)).astype(np.float32)
    feats[5:8, :20, 0] += 6.0  # calcium, annotated (frames 5-7)
    feats[30:33, :20, 1] += 6.0  # another kind of A-line, nobody annotated it
    scores = np.full((f, n), -3.0)  # confidently background
    scores[5:8, :20] = 3.0
    scores[30:33, :20] = 3.0  # confidently called calcium: far from the margin
    scores[15, :30] = 0.0  # frame 15: on the boundary, but its A-lines look like frame 5's
    feats[15, :30] = feats[5, :30]
    ann = [5, 6, 7, 0, 38]
    got = propose_next(scores, feats, 2, ann, spread=1)
    assert got[0] in (30, 31, 32)
    margin = propose_next(scores, feats, 2, ann, spread=1, strategy="margin")
    assert margin[0] == 15 and not {30, 31, 32} & set(margin)
    # cold start (no detector): the frames least like those annotated
    cold = propose_next(None, feats, 1, ann, spread=1)
    assert cold[0] in (30, 31, 32)
    assert propose_next(None, feats, 2, ann, strategy="margin") == []
    with pytest.raises(ValueError, match="features"):
        propose_next(scores, None, 2, ann)
    with pytest.raises(ValueError, match="strategy"):
        propose_next(scores, feats, 2, ann, strategy="entropy")
