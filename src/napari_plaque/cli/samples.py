"""``napari-plaque samples DIR``: every synthetic sample on disk, with its truth, the masks and
the manifests the documentation's examples use (``docs/samples.md``). The writers and the
layout of DIR are :func:`napari_plaque.api.samples`'s (:mod:`napari_plaque.api.synthetic`)."""

from __future__ import annotations

import argparse

from ..api.synthetic import N_CXR, SAMPLES  # noqa: F401 - the samples, in the order written
from ._common import add_json_option


def register(sub) -> None:
    p = sub.add_parser(
        "samples",
        help="write every synthetic sample (CCTA, IVUS, vessels, CXR) with its truth, masks "
        "and cohort manifests to a folder",
        description="Write the synthetic samples to DIR as the readers take them: CT as NIfTI "
        "with plaque / vessel masks, an IVUS DICOM pullback with its true arcs, a vessel "
        "phantom with centrelines, radiographs with a manifest, truth JSON and cohort "
        "manifests. docs/samples.md lists the commands that use them.",
    )
    p.add_argument("dir", metavar="DIR", help="output folder (made if missing)")
    p.add_argument("--only", choices=SAMPLES, action="append",
                   help="write only this sample (repeatable; default: all)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed of every sample (0)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace sample files already in DIR (refused otherwise)")  # fmt: skip
    add_json_option(p, "print what was written as JSON")
    p.set_defaults(func=_samples)


def _samples(args: argparse.Namespace) -> int:
    import sys

    from ..api.synthetic import write_samples  # the one home of the writers (``api.samples``)
    from ._common import print_json

    try:
        out = write_samples(args.dir, args.only or SAMPLES, seed=args.seed,
                            overwrite=args.overwrite)  # fmt: skip
    except (FileExistsError, NotADirectoryError) as exc:
        print(f"napari-plaque samples: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print_json(out)
    else:
        for name, info in out["samples"].items():
            print(f"{name}: {', '.join(info['files'])}")
            for cmd in info["commands"]:
                print(f"  {cmd}")
        print(f"written to {out['dir']} (listed in samples.json)")
    return 0
