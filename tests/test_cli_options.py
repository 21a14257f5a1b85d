"""Every command's options are unchanged by building them from definitions (issue 23): the
same option strings, defaults, choices, types and help (``(default: X)`` included) as the
snapshot ``tests/golden/cli_options.json``, taken before the options were generated.

A deliberate option change updates the snapshot:
``.venv/bin/python tests/test_cli_options.py --write`` (review the diff)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden" / "cli_options.json"

#: options added on purpose since the snapshot (the top-level ``--debug``: issue 23)
ADDED = {"napari-plaque": {"--debug"}}


def _type_name(t) -> str | None:
    return None if t is None else getattr(t, "__qualname__", type(t).__name__)


def options_of(parser: argparse.ArgumentParser, path: str = "napari-plaque") -> dict:
    """``{command path: {option: [dest, default, help, type, choices, nargs, action,
    required, metavar]}}`` of ``parser`` and its sub-commands, help as ``--help`` prints it."""
    fmt = parser._get_formatter()
    out: dict[str, dict] = {path: {}}
    for a in parser._actions:
        key = ",".join(a.option_strings) or a.dest
        choices = None if a.choices is None or isinstance(a, argparse._SubParsersAction) else [
            str(c) for c in a.choices
        ]
        out[path][key] = [
            a.dest, repr(a.default), fmt._get_help_string(a) if a.help else a.help,
            _type_name(a.type), choices, a.nargs, type(a).__name__, a.required,
            a.metavar if isinstance(a.metavar, (str, type(None))) else list(a.metavar),
        ]  # fmt: skip
        if isinstance(a, argparse._SubParsersAction):
            for name, child in a.choices.items():
                out.update(options_of(child, f"{path} {name}"))
    return out


def _current() -> dict:
    from napari_plaque.cli import build_parser

    return options_of(build_parser())


def test_every_command_lists_the_same_options_as_before():
    before = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = _current()
    assert sorted(now) == sorted(before), "commands added or removed"
    for cmd, opts in before.items():
        extra = set(now[cmd]) - set(opts)
        assert extra == ADDED.get(cmd, set()), (cmd, "new options", extra)
        for opt, spec in opts.items():
            assert opt in now[cmd], (cmd, "option gone", opt)
            assert now[cmd][opt] == spec, (cmd, opt, spec, now[cmd][opt])


if __name__ == "__main__":  # pragma: no cover
    if "--write" in sys.argv:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(_current(), indent=1, sort_keys=True) + "\n", "utf-8")
        print(f"wrote {GOLDEN}")
