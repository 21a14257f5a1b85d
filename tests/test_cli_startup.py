"""Start-up: ``napari-plaque CMD`` builds only its command's parser, and a ``--resume`` with
nothing to do imports no more than it needs and rewrites nothing (issue 25)."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import numpy as np

from napari_plaque.cli import COMMAND_MODULES, SUBCOMMAND_MODULES, build_parser, parser_for
from napari_plaque.io.nifti import write_nifti


def _registered() -> dict[str, str]:
    found = {}
    for name in SUBCOMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"napari_plaque.cli.{name}").register(sub)
        found.update({cmd: name for cmd in sub.choices})
    return found


def _choices(parser) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def test_command_modules_match_the_registrations():
    """The start-up hint is right for every command it lists; a command it misses still works
    (the whole parser is built: slower start-up only), so that is a warning, not a failure."""
    import warnings

    reg = _registered()
    wrong = {c: m for c, m in COMMAND_MODULES.items() if reg.get(c) != m}
    assert not wrong, f"cli.COMMAND_MODULES lists these under the wrong module: {wrong}"
    missing = sorted(set(reg) - set(COMMAND_MODULES))
    if missing:
        warnings.warn(f"add {missing} to napari_plaque.cli.COMMAND_MODULES (start-up time)",
                      stacklevel=1)  # fmt: skip


def test_one_command_builds_only_its_module_and_parses_the_same():
    assert _choices(parser_for(["cac", "x"])) == {"cac", "composition"}
    assert _choices(parser_for(["--no-paths", "ivus-vessel", "p"])) == {"ivus-vessel"}
    everything = _choices(build_parser())
    assert _choices(parser_for(["--help"])) == everything
    assert _choices(parser_for(["no-such-command"])) == everything  # argparse's own error
    assert _choices(parser_for([])) == everything
    argv = ["cac", "a", "b", "--threshold-hu", "140", "--workers", "2", "--out", "t.csv"]
    assert vars(parser_for(argv).parse_args(argv)) == vars(build_parser().parse_args(argv))


def _imported_by(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_resume_with_nothing_to_do_imports_little_and_rewrites_nothing(tmp_path):
    hu = np.full((4, 16, 16), -50, np.float32)
    hu[1:3, 5:9, 5:9] = 350
    for i in range(3):
        write_nifti(tmp_path / "ct" / f"s{i}.nii.gz", hu, (3.0, 0.5, 0.5))
    out = tmp_path / "t.csv"
    run = ["cac", str(tmp_path / "ct"), "--out", str(out)]
    from napari_plaque.cli import main

    assert main(run) == 0
    before = out.stat().st_mtime_ns, out.read_bytes()
    mods = _imported_by(
        "import contextlib, io\n"
        "from napari_plaque.cli import main\n"
        "with contextlib.redirect_stderr(io.StringIO()):\n"
        f"    assert main({[*run, '--resume']!r}) == 0\n"
    )
    heavy = {"torch", "scipy", "distributed", "dask", "pydicom", "tqdm", "napari", "pyarrow"}
    assert not heavy & mods, heavy & mods
    assert not {m for m in mods if m.startswith(("napari_plaque.ivus", "napari_plaque.fusion"))}
    assert (out.stat().st_mtime_ns, out.read_bytes()) == before  # nothing new: not rewritten


def test_help_of_every_command_never_imports_torch():
    mods = _imported_by("from napari_plaque.cli import build_parser\nbuild_parser()")
    assert "torch" not in mods


def test_building_every_parser_imports_no_heavy_module():
    """``napari-plaque --help`` (every command's parser, their defaults and help) imports no
    scipy, statistics, DICOM code tables, deep learning, signals or GUI code (issue 25): the
    defaults it shows live in light modules (``fusion.defaults``, ``ivus.defaults``...), the
    rest is imported by the commands."""
    mods = _imported_by(
        "import contextlib, io\n"
        "from napari_plaque.cli import build_parser, main\n"
        "p = build_parser()\n"
        "for argv in (['--help'], ['fuse', '--help'], ['study-stats', '--help'],\n"
        "             ['ivus-vessel', '--help'], ['predict-arcs', '--help'],\n"
        "             ['train-svm', '--help'], ['propose-frames', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv) if argv[0] == '--help' else p.parse_args(argv)\n"
    )
    heavy = {"scipy", "pydicom.sr", "torch", "napari", "qtpy", "statsmodels", "psygnal",
             "napari_plaque.fusion.stats", "napari_plaque.fusion.join"}  # fmt: skip
    # the IVUS code the defaults came from (scipy or psygnal at module level)
    heavy |= {f"napari_plaque.ivus.{m}" for m in (
        "features", "svm", "dataset", "lumen", "borders", "vessel_measure", "active",
        "annotator", "loop", "detector")}  # fmt: skip
    assert not heavy & mods, sorted(heavy & mods)


def test_export_seg_help_still_lists_the_segment_names(capsys):
    """Its description is made when shown (the names need pydicom's code tables)."""
    import pytest

    from napari_plaque.cli import main
    from napari_plaque.io.seg import known_segment_names

    with pytest.raises(SystemExit):
        main(["export-seg", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "known names: " + ", ".join(known_segment_names()) + "." in out
