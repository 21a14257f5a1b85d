"""models/ is a generic engine; the A-line task lives in ivus.deep (issue 23).

- importing the engine (checkpoint, inference, training, data) loads nothing of ``ivus``;
- the A-line task in :mod:`napari_plaque.ivus.deep` predicts what the former
  ``models.inference.predict_pullback`` predicted (figures recorded before the move);
- the training engine runs a task given as a :class:`FitTask` (no IVUS or CXR code).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.mark.slow  # a fresh interpreter importing torch
def test_the_engine_imports_nothing_of_ivus_or_cxr():
    code = (
        "import sys\n"
        "import napari_plaque.models.checkpoint, napari_plaque.models.inference\n"
        "import napari_plaque.models.train, napari_plaque.models.data, napari_plaque.models.nets\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('napari_plaque.ivus',"
        " 'napari_plaque.cxr', 'napari_plaque.qc')))\n"
        "print('LOADED', bad)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "LOADED []" in res.stdout


def test_aline_task_predicts_as_before_the_move():
    """The shipped demo model on a seeded synthetic pullback: the figures the engine gave
    before the A-line task moved to ivus.deep (models.inference.predict_pullback, commit
    9b532cb), recorded then."""
    from napari_plaque.ivus.deep import alines_to_arcset, predict_pullback
    from napari_plaque.models import pretrained_models
    from napari_plaque.samples.ivus import make_pullback_frames
    from napari_plaque.types import Pullback

    frames, truth = make_pullback_frames(n_frames=12, size=128, seed=3)
    pb = Pullback(frames, 0.4, 0.5, tuple(truth["pixel_spacing_mm"]))
    pred = predict_pullback(pretrained_models()["demo_alines"], pb, device="cpu", batch_size=5)
    assert pred.probs.shape == (12, 360, 2) and pred.center == (63.5, 63.5)
    np.testing.assert_allclose(
        pred.probs.mean(axis=(0, 1)), [0.2757115364074707, 0.07422403991222382], rtol=1e-5
    )
    counts = pred.labels.sum(axis=(0, 1))
    assert abs(int(counts[0]) - 1203) <= 2 and abs(int(counts[1]) - 271) <= 2
    assert pred.ics() == pytest.approx(278.47222222222223, abs=1.0)
    arcs = alines_to_arcset(pred)
    assert arcs.n_frames == 12 and arcs.classes == ["calcium", "attenuation"]
    # batch size does not matter (the context frames come from the whole pullback)
    other = predict_pullback(pretrained_models()["demo_alines"], pb, device="cpu", batch_size=12)
    np.testing.assert_allclose(other.probs, pred.probs, atol=1e-5)


def test_fit_model_trains_a_task_given_as_a_fittask(tmp_path):
    """A made-up task (a linear model on 2D points) through the public engine: the best
    checkpoint is written with the task's metadata, the loss goes down, resume refuses a
    different key."""
    from napari_plaque._progress import run_steps
    from napari_plaque.io.errors import FormatError
    from napari_plaque.models.checkpoint import make_metadata, read_metadata
    from napari_plaque.models.nets import UNet
    from napari_plaque.models.train import FitSettings, FitTask, fit_model, state_path

    torch.manual_seed(0)
    net = UNet(dims=2, n_classes=2, base_channels=2, levels=1)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((8, 1, 8, 8)).astype(np.float32))
    y = (x[:, 0] > 0.5).long()

    def loss(out, target):
        return torch.nn.functional.cross_entropy(out, target)

    def evaluate(m):
        return {"val_loss": float(loss(m(x), y))}

    def metadata(metrics, epoch):
        return make_metadata(
            net, "ct-seg", ["background", "bright"],
            {"kind": "hu_window", "window_hu": [0.0, 1.0]}, training={"epochs": epoch},
            metrics=metrics,
        )  # fmt: skip

    task = FitTask(metadata, lambda r: [(x, y)], loss, evaluate, {"toy": 1}, n_batches=1)
    history: list[dict] = []
    res = run_steps(fit_model(net, tmp_path / "m.pt", task, FitSettings(6, 0.05, 0, 3, "cpu"),
                              history))  # fmt: skip
    assert len(history) == 6 and history[-1]["val_loss"] < history[0]["val_loss"]
    assert read_metadata(res.path)["training"]["epochs"] == res.best_epoch
    assert state_path(tmp_path / "m.pt").is_file()
    other = FitTask(metadata, lambda r: [(x, y)], loss, evaluate, {"toy": 2})
    with pytest.raises(FormatError, match="other settings"):
        run_steps(fit_model(net, tmp_path / "m.pt", other,
                            FitSettings(8, 0.05, 0, 3, "cpu", resume=True)))  # fmt: skip
