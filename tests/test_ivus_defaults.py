"""The IVUS defaults the command line shows live in the light ``napari_plaque.ivus.defaults``
(issue 25): the same values as the functions that use them, one home each, and the package
``napari_plaque.ivus`` imports its submodules on first use."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

import napari_plaque.ivus as ivus
from napari_plaque.ivus import defaults


def _signature_defaults(func, names) -> dict:
    params = inspect.signature(func).parameters
    return {name: params[name].default for name in names}


def test_train_and_export_defaults_are_the_signatures():
    from napari_plaque.ivus.dataset import export_training_set, iter_export_training_set
    from napari_plaque.ivus.svm import train_svm

    assert _signature_defaults(train_svm, defaults.TRAIN_DEFAULTS) == defaults.TRAIN_DEFAULTS
    for func in (export_training_set, iter_export_training_set):
        assert _signature_defaults(func, defaults.EXPORT_DEFAULTS) == defaults.EXPORT_DEFAULTS


def test_the_owning_modules_read_the_one_home():
    from napari_plaque.ivus import active, borders, vessel_measure

    assert active.ACTIVE_DEFAULTS is defaults.ACTIVE_DEFAULTS
    assert borders.BORDER_DEFAULTS is defaults.BORDER_DEFAULTS
    assert vessel_measure.MEASURE_DEFAULTS is defaults.MEASURE_DEFAULTS


def test_api_option_defaults_are_the_core_defaults():
    from napari_plaque import api
    from napari_plaque.api.ivus import IVUS_DEFAULTS
    from napari_plaque.ivus.polar import N_ALINES

    t = defaults.TRAIN_DEFAULTS
    expected = {"cls": t["cls"], "C": t["C"], "folds": t["n_folds"],
                "max_samples": t["max_samples"],
                "depth_samples": defaults.EXPORT_DEFAULTS["depth_samples"],
                "n_alines": N_ALINES, "n": defaults.ACTIVE_DEFAULTS["n"],
                "spread": defaults.ACTIVE_DEFAULTS["spread"]}  # fmt: skip
    assert {k: IVUS_DEFAULTS[k] for k in expected} == expected
    sig = _signature_defaults(api.train_svm, ("cls", "C", "folds", "max_samples"))
    assert sig == {"cls": "calcium", "C": 0.1, "folds": 5, "max_samples": 300_000}
    vessel = inspect.signature(api.ivus_vessel).parameters
    assert vessel["catheter_mm"].default == defaults.BORDER_DEFAULTS["catheter_mm"]
    assert vessel["burden_threshold"].default == defaults.MEASURE_DEFAULTS["burden_threshold_pct"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_package_and_its_defaults_import_nothing_heavy():
    mods = _modules_after("import napari_plaque.ivus.defaults")
    assert not {m for m in mods if m.split(".")[0] in ("numpy", "scipy", "psygnal")}
    assert {m for m in mods if m.startswith("napari_plaque.ivus.")} == {
        "napari_plaque.ivus.defaults"}
    mods = _modules_after("from napari_plaque.ivus import ArcSet")
    assert "napari_plaque.ivus.arcs" in mods
    assert not {"scipy", "napari_plaque.ivus.svm", "napari_plaque.ivus.features"} & mods


def test_every_public_name_resolves_from_the_package():
    for name in ivus.__all__:
        value = getattr(ivus, name)
        mod = getattr(value, "__module__", None)
        if mod is not None and not isinstance(value, (str, int, tuple)):
            assert mod.startswith("napari_plaque.ivus."), (name, mod)
    assert set(ivus.__all__) <= set(dir(ivus))
    from napari_plaque.ivus import SVMModel, predict_pullback, to_polar  # noqa: F401

    with pytest.raises(AttributeError):
        ivus.no_such_name  # noqa: B018
