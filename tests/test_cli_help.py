"""Every option of every command shows its default in --help (one formatter, cli.HelpFormatter),
and the defaults the help shows are the core's (one home)."""

from __future__ import annotations

import argparse
import re

import pytest

from napari_plaque.cli import build_parser, default_text, main

_FLAGS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._HelpAction,
          argparse._VersionAction, argparse._CountAction)  # fmt: skip


def _walk(parser: argparse.ArgumentParser, name: str = "napari-plaque"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child_name, child in action.choices.items():
                yield from _walk(child, f"{name} {child_name}")
        else:
            yield name, parser, action


def _options():
    return [
        (name, parser, a)
        for name, parser, a in _walk(build_parser())
        if a.option_strings
        and not isinstance(a, _FLAGS)
        and a.default not in (None, False, argparse.SUPPRESS)
    ]


def test_every_option_with_a_default_shows_it_once():
    opts = _options()
    assert len(opts) > 80  # the walk reaches the sub-sub-commands (cxr predict ...)
    assert any(name == "napari-plaque cxr train" for name, _, _ in opts)
    missing, twice = [], []
    for name, parser, a in opts:
        text = parser._get_formatter()._expand_help(a) if a.help else ""
        if default_text(a.default).replace("%%", "%") not in text:
            missing.append(f"{name} {a.option_strings[0]} = {a.default!r}: {text!r}")
        if len(re.findall(r"\bdefault\b", text, re.IGNORECASE)) > 1:
            twice.append(f"{name} {a.option_strings[0]}: {text!r}")
    assert not missing, "\n".join(missing)
    assert not twice, "\n".join(twice)


def test_help_output_shows_the_core_defaults(capsys):
    from napari_plaque.ccta.calcium import CALCIUM_DEFAULTS
    from napari_plaque.models import PREDICT_DEFAULTS, TrainSettings

    with pytest.raises(SystemExit) as exc:
        main(["cac", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # unwrap argparse's line breaks
    assert f"default {CALCIUM_DEFAULTS['threshold_hu']:g}" in out
    assert "--workers N" in out and "(default 1)" in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"learning rate (default: {TrainSettings().lr:g})" in out
    assert f"training epochs (default: {TrainSettings().epochs})" in out
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"tile overlap fraction (default: {PREDICT_DEFAULTS['overlap']:g})" in out


def test_the_parser_is_built_without_torch():
    """--help must work where torch is not installed: building the parser never imports it."""
    import subprocess
    import sys

    code = "import sys; from napari_plaque.cli import build_parser; build_parser(); " \
           "print('torch' in sys.modules)"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
