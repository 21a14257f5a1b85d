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
from ..io.errors import NapariPlaqueError

#: modules under napari_plaque.cli that contribute subcommands, in --help order
SUBCOMMAND_MODULES = (
    "core",
    "ccta",
    "vessel",
    "fusion",
    "ivus",
    "ivus_vessel",
    "readers",
    "samples",
    "qc",
    "models",
    "cxr",
    "interop",
)


#: the module that registers each command: ``napari-plaque CMD ...`` builds only that module's
#: parser (``--help`` and unknown commands build them all). A hint for start-up time only: a
#: command missing here, or listed under another module, still works (the whole parser is
#: built); tests/test_cli_startup.py checks that it matches the registrations.
COMMAND_MODULES = {
    "demo": "core",
    "info": "core",
    "cac": "ccta",
    "composition": "ccta",
    "vessel": "vessel",
    "fuse": "fusion",
    "study-stats": "fusion",
    "study-cohort": "fusion",
    "propose-frames": "ivus",
    "arcs": "ivus",
    "ics": "ivus",
    "export-alines": "ivus",
    "train-svm": "ivus",
    "predict-arcs": "ivus",
    "ivus-vessel": "ivus_vessel",
    "readers": "readers",
    "samples": "samples",
    "qc": "qc",
    "agreement": "qc",
    "train": "models",
    "predict": "models",
    "export-model": "models",
    "export-ct-dataset": "models",
    "cxr": "cxr",
    "export-seg": "interop",
    "pull": "interop",
    "push": "interop",
}


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


class CLIError(NapariPlaqueError):
    """A user-facing error of a command's arguments or inputs: printed as
    ``napari-plaque: error: ...`` with exit code 2 (like every :class:`NapariPlaqueError`)."""



def build_parser(modules: tuple[str, ...] | None = None) -> argparse.ArgumentParser:
    """The ``napari-plaque`` parser: every command, or those of ``modules`` only (a subset of
    :data:`SUBCOMMAND_MODULES`: what :func:`main` builds for one command)."""
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
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, show the full Python traceback instead of the one-line message "
        "(for a bug report). Put it before the COMMAND",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        if modules is not None and name not in modules:
            continue
        mod = importlib.import_module(f"{__name__}.{name}")
        mod.register(sub)
    _use_formatter(parser)  # every command and sub-command: one help layout
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The COMMAND of an argument list (None for ``--help``/``--version`` before it, or none):
    the top-level options take no value, so it is the first argument not starting with -."""
    for a in argv:
        if a in ("-h", "--help", "--version"):
            return None
        if not a.startswith("-"):
            return a
    return None


def parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The parser :func:`main` uses for ``argv``: only the command's module where
    :data:`COMMAND_MODULES` knows it (start-up: ``cac --resume`` imports no IVUS, fusion or
    DICOMweb code), else every command."""
    cmd = _command_of(argv)
    home = COMMAND_MODULES.get(cmd) if cmd is not None else None
    if home is not None and home in SUBCOMMAND_MODULES:
        parser = build_parser((home,))
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if cmd in sub.choices:
            return parser
    return build_parser()


def command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub-)sub-command parser ``argv`` names (``arcs interpolate`` -> its parser), so an
    error is printed with that command's usage, not the top-level one."""
    current = parser
    for a in argv:
        sub = next(
            (x for x in current._actions if isinstance(x, argparse._SubParsersAction)), None
        )
        if sub is None:
            break
        if a in sub.choices:
            current = sub.choices[a]
    return current


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = parser_for(argv)
    args, extra = parser.parse_known_args(argv)
    if "--debug" in extra:  # also accepted after the COMMAND (where the hint sends users)
        extra.remove("--debug")
        args.debug = True
    if extra:  # argparse leaves these to the top-level parser: report them on the command's
        command_parser(parser, argv).error(f"unrecognized arguments: {' '.join(extra)}")
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


#: printed after the message of an error that is not a known user-facing one
DEBUG_HINT = "napari-plaque: run with --debug for the traceback (napari-plaque --debug COMMAND ...)"


def _error(exc: BaseException, hint: bool = False) -> int:
    print(f"napari-plaque: error: {exc}", file=sys.stderr)
    if hint:
        print(DEBUG_HINT, file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    """Run the command; errors become a message on stderr and exit code 2.

    :class:`NapariPlaqueError` (bad input or request: the message names the file and the
    problem) and :class:`OSError` give the one-line message. Any other ``ValueError`` may be a
    programming error: its message is printed with a hint to rerun with ``--debug``, which
    re-raises every error with its traceback."""
    try:
        rc = args.func(args)
    except KeyboardInterrupt:
        print("napari-plaque: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        if isinstance(exc, (NapariPlaqueError, OSError)):
            return _error(exc)
        if isinstance(exc, ValueError):  # not a known user-facing error: maybe a bug
            return _error(exc, hint=True)
        if isinstance(exc, ImportError):  # an optional dependency (onnx, torch...) is missing
            return _error(exc)
        if isinstance(exc, MemoryError):
            return _error("not enough memory for this input")
        raise
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
