"""The model task registry: the CXR model registers itself; models never imports cxr."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")


def test_a_cxr_checkpoint_loads_through_models_alone():
    """A fresh interpreter that never imports napari_plaque.cxr itself: the checkpoint names
    its task, the providing package registers it, and the model loads and exports."""
    code = (
        "import sys\n"
        "from napari_plaque.models import TASK_INPUT, pretrained_models\n"
        "from napari_plaque.models.checkpoint import example_input, load_checkpoint\n"
        "assert 'cxr' not in TASK_INPUT and 'napari_plaque.cxr' not in sys.modules\n"
        "lm = load_checkpoint(pretrained_models()['demo_cxr'])\n"
        "assert lm.task == 'cxr' and TASK_INPUT['cxr'] == 'radiograph'\n"
        "assert tuple(example_input(lm).shape)[:2] == (1, 1)\n"
        "assert 'napari_plaque.widgets' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_unknown_and_gui_task_names_are_not_providers(tmp_path):
    from napari_plaque.io.errors import FormatError
    from napari_plaque.models.checkpoint import load_checkpoint, make_metadata
    from napari_plaque.models.nets import ALineNet
    from napari_plaque.models.registry import find_task

    assert find_task("widgets") is None and find_task("no_such_task") is None
    assert find_task("../etc") is None and find_task(3) is None
    net = ALineNet(n_classes=1, context=0, width=4, n_blocks=1)
    meta = make_metadata(net, "alines", ["calcium"], {"kind": "uint8_scale"},
                         {"polar": {"n_alines": 16, "depth_samples": 16, "depth_mm": 4.0}})
    meta["task"] = "widgets"
    with pytest.raises(ValueError, match="task must be one of"):
        make_metadata(net, "widgets", ["calcium"], {})
    import json

    import torch

    bad = tmp_path / "bad.pt"
    torch.save({"metadata": json.dumps(meta), "state_dict": net.state_dict()}, bad)
    with pytest.raises(FormatError, match="unknown task 'widgets'"):
        load_checkpoint(bad)


def test_a_registered_task_builds_its_network():
    import torch

    from napari_plaque.models.nets import build_model
    from napari_plaque.models.registry import (
        ModelTask,
        register_task,
        registered_tasks,
        task_of_architecture,
        unregister_task,
    )

    class Tiny(torch.nn.Module):
        def __init__(self, n_classes: int):
            super().__init__()
            self.lin = torch.nn.Linear(2, n_classes)

    t = register_task(ModelTask("tinytest", input="ct", architecture="TinyTest",
                                required_hparams=("n_classes",), network=lambda: Tiny))
    try:
        assert task_of_architecture("TinyTest") is t
        assert isinstance(build_model("TinyTest", {"n_classes": 3}), Tiny)
    finally:
        unregister_task("tinytest")
    assert "tinytest" not in registered_tasks()
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("TinyTest", {"n_classes": 3})
