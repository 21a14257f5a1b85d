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
    "qc",
    "models",
    "cxr",
    "interop",
)


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
