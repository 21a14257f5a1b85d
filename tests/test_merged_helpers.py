"""Helpers merged from repeated code (issue 23, duplicates): the callers keep their messages."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.stats import agreement as ag


def test_paired_inputs_are_checked_alike():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        ag.paired_values([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="agreement needs at least 2 paired values, got 1"):
        ag.paired_values([1], [1])
    with pytest.raises(ValueError, match="must be finite"):
        ag.paired_values([1, np.nan], [1, 2])
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        ag.cohen_kappa(["a", "b", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="kappa needs at least 2 rated items, got 1"):
        ag.cohen_kappa(["a"], ["a"])
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        ag.confusion([0, 1], [0], 2)
    x, y = ag.paired_values([1, 2], [[3], [4]])
    assert x.dtype == float and y.tolist() == [3.0, 4.0]
    assert ag.confusion([0, 1, 1], [0, 1, 0], 2).tolist() == [[1, 0], [1, 1]]


def test_icc_results_keep_their_fields_in_order():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=20)
    y = np.column_stack([truth + rng.normal(0, 0.3, 20), truth + rng.normal(0, 0.3, 20)])
    keys = ["icc", "ci_low", "ci_high", "f", "df1", "df2", "p", "n", "k"]
    a1 = ag.icc_a1(y)
    assert list(a1) == [*keys, "msr", "msc", "mse"]
    for form in ag.ICC_FORMS:
        r = ag.icc(y, form)
        assert list(r) == ["form", *keys] and r["form"] == f"ICC({form})"
        assert all(type(r[k]) is float for k in ("icc", "ci_low", "ci_high", "f", "p"))
    r21 = ag.icc(y, "2,1")
    assert {k: r21[k] for k in keys} == {k: a1[k] for k in keys}
    assert 0 < a1["p"] < 1e-3 and a1["ci_low"] < a1["icc"] < a1["ci_high"]


@pytest.mark.parametrize(
    "preset, runs",
    [
        ("default", [("c", 5, 28), ("a", 28, 34), ("a", 37, 43), ("c", 44, 50), ("c", 52, 58)]),
        ("realistic", [("c", 3, 11), ("c", 11, 16), ("a", 18, 23), ("c", 25, 30),
                       ("c", 33, 38), ("a", 41, 46), ("c", 47, 52), ("a", 54, 59)]),
    ],
)  # fmt: skip
def test_sample_segments_unchanged_by_the_shared_slots(preset, runs):
    """Both presets lay their segments out by one slot / finish rule (samples.ivus): the same
    random draws as before the merge, so seed 0's segments are where they were."""
    from napari_plaque.samples.ivus import make_pullback_frames

    _, truth = make_pullback_frames(n_frames=60, size=64, seed=0, preset=preset)
    segs = truth["segments"]
    assert [(s["class"][0], s["frame_start"], s["frame_stop"]) for s in segs] == runs
    centres = [s["center_deg"] % 360 for s in segs if s["class"] == "calcium"]
    assert any(min(c, 360 - c) <= 15 for c in centres)  # one calcium segment wraps through 0


def test_run_to_completion_forms_share_their_generator_signature():
    """calcium_score / composition are their step generators run to completion (``completes``):
    one parameter list, shown by inspect for both, and the same results."""
    import importlib
    import inspect

    cal = importlib.import_module("napari_plaque.ccta.calcium")
    comp = importlib.import_module("napari_plaque.ccta.composition")

    for run, gen, ret in (
        (cal.calcium_score, cal.iter_calcium_score, "CalciumResult"),
        (comp.composition, comp.iter_composition, "list[PlaqueComposition]"),
    ):
        s_run, s_gen = inspect.signature(run), inspect.signature(gen)
        assert s_run.parameters == s_gen.parameters
        assert s_run.return_annotation == ret
        assert run.__doc__ and run.__name__ != gen.__name__
    hu = np.full((4, 16, 16), -50, np.int16)
    hu[1:3, 5:9, 5:9] = 500
    a = cal.calcium_score(hu, (1.0, 0.5, 0.5), threshold_hu=130.0)
    steps = cal.iter_calcium_score(hu, (1.0, 0.5, 0.5), None, None, 130.0)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            b = stop.value
            break
    assert a.agatston == b.agatston > 0 and a.volume_mm3 == b.volume_mm3
    roi = np.zeros(hu.shape, np.int32)
    roi[1:3, 4:10, 4:10] = 1
    (p,) = comp.composition(hu, (1.0, 0.5, 0.5), roi)
    (q,) = comp.composition(hu, spacing_mm=(1.0, 0.5, 0.5), roi_labels=roi)
    assert p.to_dict() == q.to_dict()
    with pytest.raises(TypeError):
        cal.calcium_score(hu, (1.0, 0.5, 0.5), thresholdhu=1)


def test_to_polar_is_its_generator_run_to_completion():
    import inspect

    from napari_plaque._progress import run_steps
    from napari_plaque.ivus.polar import N_ALINES, iter_to_polar, to_polar

    assert inspect.signature(to_polar).parameters == inspect.signature(iter_to_polar).parameters
    assert inspect.signature(to_polar).parameters["n_alines"].default == N_ALINES
    frames = np.random.default_rng(1).integers(0, 255, (3, 40, 40)).astype(np.uint8)
    stack = to_polar(frames, n_alines=32, depth_samples=16, dtype=np.uint8)
    assert stack.shape == (3, 32, 16) and stack.dtype == np.uint8
    one = to_polar(frames[1], None, 32, 16, dtype=np.uint8)
    np.testing.assert_array_equal(one, stack[1])
    np.testing.assert_array_equal(
        run_steps(iter_to_polar(frames[1], None, 32, 16)), to_polar(frames[1], None, 32, 16)
    )


def test_deep_model_centre_one_rule_for_the_loop_and_the_proposals():
    from napari_plaque.ivus.active import deep_model_centre

    assert deep_model_centre((31.5, 31.5), "x") == (31.5, 31.5)
    assert deep_model_centre([[10.0, 12.0]] * 4, "x") == (10.0, 12.0)
    with pytest.raises(ValueError, match="one centre per pullback; switch the annotator"):
        deep_model_centre([[10.0, 12.0], [11.0, 12.0]], "switch the annotator")
