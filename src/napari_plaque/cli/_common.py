"""Helpers shared by the subcommand modules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (numpy is not imported at start-up: ``--help``, ``--resume``)
    import numpy as np

#: the cohort glue every batch command shares, from :mod:`napari_plaque.cohort.cli` (imported
#: when first used: this module stays light for ``--help``)
_COHORT_NAMES = (
    "add_cohort_arguments",
    "is_cohort",
    "params_from_args",
    "run_command",
    "studies_from_args",
    "study_args",
)


def __getattr__(name: str):
    if name in _COHORT_NAMES:
        from ..cohort import cli

        return getattr(cli, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_json_option(parser, help: str = "print JSON") -> None:  # noqa: A002 - argparse's word
    """The ``--json`` flag of a command (a flag: ``args.json``), with its help text."""
    parser.add_argument("--json", action="store_true", help=help)


def run_reports(args, task, studies, params: dict, printer=None) -> int:
    """Run ``task`` over ``studies`` (:func:`napari_plaque.cohort.cli.run_command`) keeping
    each study's JSON report; a one-study run is printed by ``printer(args, report)``."""
    from ..cohort.cli import run_command

    single = None if printer is None else (lambda report: printer(args, report))
    return run_command(args, task, studies, params, json_reports=True, single=single)


def model_params(args, single: bool, exclude: tuple[str, ...]) -> dict:
    """The cohort params of a command that runs ``args.model``: the options, the model file's
    SHA-256 (a changed model re-runs ``--resume``) and whether it is a one-study run."""
    from ..cohort.cli import file_sha256, params_from_args

    params = params_from_args(args, exclude=exclude)
    params["model_sha256"] = file_sha256(args.model)
    params["_single"] = single
    return params


def lazy_description(parser, make) -> None:
    """Give ``parser`` the description ``make()`` returns, made when its help is first
    formatted: ``make`` may import what building the parser (``napari-plaque --help``, every
    other command) should not."""
    cls = type(parser)

    def format_help() -> str:
        if parser.description is None:
            parser.description = make()
        return cls.format_help(parser)

    parser.format_help = format_help


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout (numpy types converted; NaN/inf as null with the reason;
    paths hashed under ``--no-paths``): :func:`napari_plaque.report.print_json`."""
    from ..report import print_json as _print_json

    _print_json(obj)


def load_mask(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Load a label mask from ``.npy`` or NIfTI, in the reader's axis order; check its shape."""
    from ..io import ReaderError, read_labels

    arr = read_labels(path)
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ReaderError(
            path, f"mask shape {tuple(arr.shape)} does not match the image shape {tuple(shape)}"
        )
    return arr


def stderr_progress(desc: str, total: int | None):
    """A callback printing a one-line progress indicator on stderr (only on a terminal)."""
    if not sys.stderr.isatty():
        return None

    def cb(done: int) -> None:
        if total:
            sys.stderr.write(f"\r{desc}: {done}/{total}")
            if done >= total:
                sys.stderr.write("\n")
        sys.stderr.flush()

    return cb


_ONCE: dict[str, tuple[tuple, object]] = {}


def load_once(path: str, loader):
    """``loader(path)``, loaded once per process and per loader (cohort workers reuse it);
    loaded again when the file changes (path, mtime and size are the key)."""
    p = Path(path)
    st = p.stat() if p.is_file() else None
    key = (str(p.resolve()), st and st.st_mtime_ns, st and st.st_size)
    name = f"{loader.__module__}.{loader.__qualname__}"
    hit = _ONCE.get(name)
    if hit is None or hit[0] != key:
        _ONCE[name] = (key, loader(path))
    return _ONCE[name][1]


def frame_range_arg(text: str) -> str:
    """argparse ``type`` of ``--frames START:STOP``: the text itself once it parses (Python
    slice style, either side optional, negative counts from the end), so a typo is refused at
    once with the command's usage; the range is checked against each pullback later
    (:func:`check_frame_range`)."""
    import argparse

    parts = text.split(":")
    ok = len(parts) == 2
    for x in parts if ok else ():
        try:
            if x.strip():
                int(x)
        except ValueError:
            ok = False
    if not ok:
        raise argparse.ArgumentTypeError(
            f"frame range must be START:STOP (whole frame numbers, e.g. 0:80 or 10:), got {text!r}"
        )
    return text


def check_frame_range(text: str | None, n_frames: int, source: object) -> None:
    """Refuse a ``--frames`` range that reaches outside a pullback of ``n_frames`` frames (it
    would otherwise be clipped silently: ``0:500`` on 80 frames scored as ``0:80``)."""
    if not text:
        return
    from . import CLIError

    a, b = text.split(":", 1)
    for v in (a, b):
        if v.strip() and not -n_frames <= int(v) <= n_frames:
            raise CLIError(
                f"{source}: --frames {text} is outside the pullback, which has {n_frames} "
                f"frames (0:{n_frames} is all of them)"
            )
