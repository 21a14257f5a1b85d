"""The ``napari-plaque`` command line: batch access to the same core the widgets use.

Each capability registers its subcommands from its own module (``cli/<name>.py`` with a
``register(subparsers)`` function); this module only assembles them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .. import __version__

#: modules under napari_plaque.cli that contribute subcommands, in --help order
SUBCOMMAND_MODULES = (
    "core",
    "ccta",
    "vessel",
    "fusion",
    "ivus",
    "ivus_vessel",
    "readers",
    "qc",
    "models",
    "cxr",
    "interop",
)


class HelpFormatter(argparse.HelpFormatter):
    """The one help layout of every command: each option with a real default says it.

    ``(default: X)`` is added unless the default is None / False / suppressed, the option is a
    flag or counter, or the help already speaks of its default."""

    _NO_DEFAULT = (
        argparse._StoreTrueAction,
        argparse._StoreFalseAction,
        argparse._CountAction,
        argparse._HelpAction,
        argparse._VersionAction,
    )

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        d = action.default
        if (
            text == argparse.SUPPRESS
            or isinstance(action, self._NO_DEFAULT)
            or d is None
            or d is False
            or d == argparse.SUPPRESS
            or not action.option_strings
            or "default" in text.lower()
        ):
            return text
        return f"{text} (default: {default_text(d)})".strip()


def default_text(value) -> str:
    """A default as a user types it: 0.1, 360, -300,1300 (tuples comma-separated)."""
    if isinstance(value, (tuple, list)):
        return ",".join(default_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("%", "%%")


def _use_formatter(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _use_formatter(child)


class CLIError(Exception):
    """A user-facing error: printed as ``napari-plaque: error: ...`` with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-plaque",
        description="Coronary plaque and calcium analysis on CCTA and IVUS, without the GUI.",
    )
    parser.add_argument("--version", action="version", version=f"napari-plaque {__version__}")
    parser.add_argument(
        "--no-paths",
        action="store_true",
        help="leave file paths out of JSON/CSV reports (each becomes a salted hash "
        "<path:...>; paths often hold patient names). Put it before the COMMAND",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        mod = importlib.import_module(f"{__name__}.{name}")
        mod.register(sub)
    _use_formatter(parser)  # every command and sub-command: one help layout
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..io.anon import PATHS_ENV

    saved_env = os.environ.get(PATHS_ENV)
    if getattr(args, "no_paths", False):
        os.environ[PATHS_ENV] = "1"  # read by report.json_safe, inherited by workers
    try:
        return _run(args)
    finally:
        if saved_env is None:
            os.environ.pop(PATHS_ENV, None)
        else:
            os.environ[PATHS_ENV] = saved_env


def _run(args: argparse.Namespace) -> int:
    try:
        rc = args.func(args)
    except (CLIError, ValueError, OSError) as exc:
        # ReaderError/FormatError are ValueErrors whose message names the file and the problem
        print(f"napari-plaque: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional dependency (onnx, torch, ...) is not installed
        print(f"napari-plaque: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("napari-plaque: error: not enough memory for this input", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("napari-plaque: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
