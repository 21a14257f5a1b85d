"""``napari-plaque samples DIR``: every synthetic sample on disk, with its truth, the masks and
the manifests the documentation's examples use (see ``docs/samples.md``).

Layout (each file as the readers take it)::

    DIR/ccta/ccta.nii.gz            contrast CCTA (HU)            plaques.nii.gz  plaque labels
    DIR/ccta/cac.nii.gz             non-contrast twin (Agatston)  vessels.nii.gz  1 LM 2 LAD 3 LCX 4 RCA
    DIR/ccta/truth.json             plaque volumes, Agatston, lesions
    DIR/ivus/pullback.dcm           US multi-frame DICOM          pullback.arcs.json  true arcs
    DIR/ivus/truth.json
    DIR/vessels/vessels.nii.gz      curved vessels with stenoses  labels.nii.gz  1 lumen 2 wall
    DIR/vessels/LAD.centreline.json (and RCA)                     truth.json  per-lesion truth
    DIR/cxr/cxr_*.png + manifest.csv  radiographs with their CAC score (a training manifest)
    DIR/cohort/cac.csv, ics.csv, vessel.csv   cohort manifests over the files above
    DIR/samples.json                what was written and the commands that use it
"""

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
