"""The api package: every listed function resolves to a callable returning a Result (issue 23)."""

from __future__ import annotations

import importlib
import inspect

from napari_plaque import api


def test_every_api_function_is_a_function_even_after_its_module_is_imported():
    for name, mod in api.FUNCTIONS.items():
        importlib.import_module(f"napari_plaque.api.{mod}")
        assert name != mod, f"api.{mod}: a module named like its function hides it"
        func = getattr(api, name)
        assert inspect.isfunction(func), name
        ret = inspect.signature(func).return_annotation
        assert str(ret).endswith("Result"), f"api.{name} returns {ret}"
    assert set(api.FUNCTIONS) <= set(dir(api))


def test_options_from_takes_the_keyword_options_only():
    import argparse

    def f(path, *, step_mm=0.5, json_out=None):
        return path

    ns = argparse.Namespace(path="x", step_mm=1.0, json=True, workers=4)
    assert api.options_of(f) == ("step_mm", "json_out")
    assert api.options_from(f, ns) == {"step_mm": 1.0}
    assert api.options_from(f, {"step_mm": 2.0}, json_out="o") == {"step_mm": 2.0, "json_out": "o"}


def test_study_options_put_the_manifest_inputs_and_values_in_place():
    from pathlib import Path

    from napari_plaque.cohort import Study

    def f(path, *, arcs=None, ref=None, rotation_deg=0.0, worst=10):
        return path

    st = Study("P1", Path("/data/p1.dcm"), inputs={"arcs": "/data/p1.arcs.json", "ref": ""},
               values={"rotation_deg": 12.5})
    opts = api.study_options(f, {"worst": 3, "arcs": "/cli/given.json", "workers": 2}, st)
    assert opts == {"arcs": str(Path("/data/p1.arcs.json")), "ref": None, "rotation_deg": 12.5,
                    "worst": 3}
