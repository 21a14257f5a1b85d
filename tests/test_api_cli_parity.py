"""Every command has an api function, and every api function equals its command (issue 23).

Two guards over the whole CLI and the whole api (a new command, or a new api function without
a test against the CLI, fails them), then the parity tests of ``info``, ``ivus-vessel`` and
``samples`` (the others: tests/test_api_*.py, found by the guard).
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from _interop_util import make_series
from napari_plaque import api
from napari_plaque.cli import build_parser, main

TESTS = Path(__file__).resolve().parent
#: commands that compute nothing (open the viewer)
NO_RESULT = {"demo"}
#: ``COMMAND SUB`` -> api function, where it is not the command's name with ``_``
API_NAME = {"arcs interpolate": "interpolate_arcs"}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def _commands() -> dict[str, str]:
    """Every leaf command of the CLI (``cxr predict`` ...) -> the api function it should have."""
    out = {}
    for name, sp in _subcommands(build_parser()).items():
        subs = _subcommands(sp)
        for leaf in subs or [None]:
            cmd = name if leaf is None else f"{name} {leaf}"
            out[cmd] = API_NAME.get(cmd, cmd.replace("-", "_").replace(" ", "_"))
    return out


def test_every_cli_command_has_an_api_function():
    cmds = {c: f for c, f in _commands().items() if c not in NO_RESULT}
    assert "ivus-vessel" in cmds and "cxr predict" in cmds  # the walk sees leaves and groups
    missing = {c: f for c, f in cmds.items() if f not in api.FUNCTIONS}
    assert not missing, f"commands without an api function: {missing}"
    orphans = set(api.FUNCTIONS) - set(cmds.values())
    assert not orphans, f"api functions without a command: {orphans}"


def _cli_word(func: str) -> str:
    """The first word of the command an api function belongs to (as a test's argv has it)."""
    cmd = next(c for c, f in _commands().items() if f == func)
    return cmd.split()[0]


def _parity_tests() -> dict[str, list[str]]:
    """api function -> the tests (``file::name``) that call it and the CLI (``main([...])``,
    directly or through a helper of the module) with that command's name."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.glob("test_api_*.py")):
        src = path.read_text(encoding="utf-8")
        tree = ast.parse(src)
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        helpers = {n.name for n in funcs if not n.name.startswith("test")
                   and "main(" in (ast.get_source_segment(src, n) or "")}
        for n in funcs:
            if not n.name.startswith("test"):
                continue
            body = ast.get_source_segment(src, n) or ""
            calls = {c.func.id for c in ast.walk(n)
                     if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
            if "main" not in calls and not calls & helpers:
                continue
            for name in set(re.findall(r"\bapi\.(\w+)\(", body)) & set(api.FUNCTIONS):
                if f'"{_cli_word(name)}"' in body:
                    found.setdefault(name, []).append(f"{path.name}::{n.name}")
    return found


def test_every_api_function_has_a_test_against_its_command():
    found = _parity_tests()
    missing = sorted(set(api.FUNCTIONS) - set(found))
    assert not missing, f"api functions with no test against the CLI: {missing}"


# ---------------------------------------------------------------------------------- inputs
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One small file of each kind ``info`` describes, and an IVUS pullback."""
    from napari_plaque.io.nifti import write_nifti
    from napari_plaque.ivus import save_arcs
    from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

    root = tmp_path_factory.mktemp("parity")
    rng = np.random.default_rng(0)
    hu = rng.integers(-1000, 1200, (4, 16, 16)).astype(np.int16)
    write_nifti(root / "ct.nii.gz", hu, (2.5, 0.5, 0.5), (-10.0, 3.0, 4.0))
    np.save(root / "labels.npy", (hu > 130).astype(np.uint8))
    dcm = root / "pb.dcm"
    _, truth = make_ivus_sample(dcm, n_frames=8, seed=3, size=96)
    save_arcs(truth_arcset(truth), root / "pb.arcs.json")
    make_series(root / "dicom" / "a", shape=(4, 12, 14), seed=1)  # a folder of two series
    make_series(root / "dicom" / "b", shape=(2, 12, 14), seed=2)
    return root


def _cli_json(capsys, argv: list[str]):
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _same_json(res) -> dict:
    """The result as the CLI's JSON text reads back (NaN as null, numpy as Python)."""
    return json.loads(res.to_json_text())


# ------------------------------------------------------------------------------------ info
@pytest.mark.parametrize("name, kind", [
    ("ct.nii.gz", "nifti"), ("labels.npy", "npy"), ("pb.dcm", "ivus"),
    ("pb.arcs.json", "arcs"), ("dicom", "dicom-series"),
])
def test_api_info_equals_the_cli_json(files, capsys, name, kind):
    path = str(files / name)
    res = api.info(path)
    assert res.kind == kind
    assert _same_json(res) == _cli_json(capsys, ["info", path])
    rows = res.to_rows()
    assert rows and all(r["path"] == path for r in rows)
    if kind == "nifti":
        assert rows[0]["shape"] == [4, 16, 16] and rows[0]["spacing_mm"] == [2.5, 0.5, 0.5]
    if kind == "dicom-series":  # every series, largest first, one row each
        assert [r["shape"] for r in rows] == [[4, 12, 14], [2, 12, 14]]


def test_api_info_refuses_what_the_cli_refuses(files, capsys):
    odd = files / "notes.txt"
    odd.write_text("not an image")
    with pytest.raises(ValueError, match="notes.txt"):
        api.info(odd)
    assert main(["info", str(odd)]) == 2
    assert "notes.txt" in capsys.readouterr().err


# ----------------------------------------------------------------------------- ivus-vessel
OPTS = {"n_alines": 90, "depth_samples": 48, "burden_threshold": 35.0}
ARGV = ["--n-alines", "90", "--depth-samples", "48", "--burden-threshold", "35"]


def test_api_ivus_vessel_equals_the_cli(files, capsys, tmp_path):
    from napari_plaque.io.frames import read_ivus

    dcm = str(files / "pb.dcm")
    res = api.ivus_vessel(dcm, **OPTS, csv=tmp_path / "api.csv",
                          contours_out=tmp_path / "api.contours.csv")
    cli = _cli_json(capsys, ["ivus-vessel", dcm, *ARGV, "--csv", str(tmp_path / "cli.csv"),
                             "--contours-out", str(tmp_path / "cli.contours.csv")])
    assert _same_json(res) == cli
    assert res.frames == res.to_dict()["frames"] and len(res.frames) == 8
    for a, c in (("api.csv", "cli.csv"), ("api.contours.csv", "cli.contours.csv")):
        assert (tmp_path / a).read_text() == (tmp_path / c).read_text(), a
    # the cohort table's row is to_rows() (plus its study columns)
    assert main(["ivus-vessel", dcm, *ARGV, "--table", str(tmp_path / "t.csv")]) == 0
    (row,) = csv.DictReader(io.StringIO((tmp_path / "t.csv").read_text()))
    (mine,) = csv.DictReader(io.StringIO(res.to_csv_text()))
    assert {k: row[k] for k in mine} == mine
    # a Pullback in memory gives the same report; the reader's options are refused on it
    pb = read_ivus(dcm)
    assert _same_json(api.ivus_vessel(pb, **OPTS)) == cli
    with pytest.raises(ValueError, match="Pullback"):
        api.ivus_vessel(pb, pixel_mm=0.02)


def test_api_ivus_vessel_contours_in_and_defaults(files, capsys, tmp_path):
    from napari_plaque.ivus.borders import BORDER_DEFAULTS
    from napari_plaque.ivus.vessel_measure import MEASURE_DEFAULTS

    assert api.options_of(api.ivus_vessel)[:3] == ("pixel_mm", "frame_rate", "pullback_mm_s")
    sig = __import__("inspect").signature(api.ivus_vessel).parameters
    assert sig["n_alines"].default == BORDER_DEFAULTS["n_alines"]
    assert sig["burden_threshold"].default == MEASURE_DEFAULTS["burden_threshold_pct"]
    dcm = str(files / "pb.dcm")
    c = tmp_path / "c.csv"
    api.ivus_vessel(dcm, **OPTS, contours_out=c)
    res = api.ivus_vessel(dcm, **OPTS, contours_in=c)
    cli = _cli_json(capsys, ["ivus-vessel", dcm, *ARGV, "--contours-in", str(c)])
    assert _same_json(res) == cli
    empty = tmp_path / "empty.csv"
    empty.write_text("frame,contour,x_mm,y_mm\n")
    with pytest.raises(ValueError, match="empty.csv"):
        api.ivus_vessel(dcm, **OPTS, contours_in=empty)


# -------------------------------------------------------------------------------- samples
def test_api_samples_equals_the_cli(tmp_path, capsys):
    res = api.samples(tmp_path / "a", only="cxr", seed=2)
    cli = _cli_json(capsys, ["samples", str(tmp_path / "c"), "--only", "cxr", "--seed", "2"])
    assert cli.pop("dir") == str(tmp_path / "c")
    mine = _same_json(res)
    assert mine.pop("dir") == str(tmp_path / "a") and mine == cli
    assert json.loads((tmp_path / "a" / "samples.json").read_text()) == res.to_dict()
    assert [r["sample"] for r in res.to_rows()] == ["cxr"]
    assert sorted(p.name for p in (tmp_path / "a" / "cxr").iterdir()) == \
        sorted(p.name for p in (tmp_path / "c" / "cxr").iterdir())
    with pytest.raises(FileExistsError, match="--overwrite"):
        api.samples(tmp_path / "a", only="cxr", seed=2)
    with pytest.raises(ValueError, match="unknown sample"):
        api.samples(tmp_path / "b", only="mri")
