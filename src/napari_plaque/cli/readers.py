"""``napari-plaque readers``: inter-reader figures for IVUS arc annotations (issue 20).

One pullback: ``napari-plaque readers PULLBACK --arcs A.json B.json [C.json ...] [--json]``
prints ICS and max arc per reader, the readers' mean ICS, pairwise Cohen's kappa on A-line
labels and Fleiss' kappa for three or more readers. Several pullbacks: ``--manifest M.csv``
(columns ``pullback``, ``reader``, ``arcs``; relative paths are relative to the manifest) adds
the ICC of ICS over the pullbacks. The core is :mod:`napari_plaque.ivus.readers`, the command
:func:`napari_plaque.api.readers` (this module parses and prints); the design is in
``docs/readers.md``. An arcs file of another pullback, a missing or malformed file: exit 2
with the file named.
"""

from __future__ import annotations

import argparse

from ._common import add_json_option, print_json


def _readers(args: argparse.Namespace) -> int:
    from ..api import options_from
    from ..api.ivus import readers

    res = readers(args.pullback, **options_from(readers, args))
    if args.json:
        print_json(res.to_dict())
        return 0
    several = "pullbacks" in res.to_dict()  # --manifest
    for rep in res.pullbacks:
        _print_one(rep)
        if several:
            print()
    icc = res.to_dict().get("icc_ics")
    if icc is not None:
        n = len(res.pullbacks)
        print(
            f"ICC(2,1) of ICS over {n} pullbacks, {len(res.to_dict()['readers'])} readers: "
            f"{icc['icc']:.3f} (95% CI {icc['ci_low']:.3f} to {icc['ci_high']:.3f})"
        )
    return 0


def _print_one(out: dict) -> None:
    print(f"{out['pullback']}: {out['class']} on {out['n_alines']} A-lines per frame, frames "
          f"{out['frame_range'][0]}..{out['frame_range'][1] - 1}")
    for r in out["readers"]:
        print(
            f"  {r['name']:<16} ICS {r['ics']:7.1f}  max arc {r['max_arc_deg']:5.1f} deg "
            f"(frame {r['max_arc_frame']})  {r['arcs']} arcs"
        )
    print(f"  mean ICS {out['mean_ics']:.1f} (SD {out['sd_ics']:.1f})")
    for p in out["pairwise"]:
        print(
            f"  Cohen's kappa {p['a']} vs {p['b']}: {p['kappa']:.3f} "
            f"(95% CI {p['ci_low']:.3f} to {p['ci_high']:.3f}), agreement "
            f"{100 * p['observed_agreement']:.1f}% of {p['n']} A-lines"
        )
    if out["fleiss"] is not None:
        f = out["fleiss"]
        print(
            f"  Fleiss' kappa ({f['raters']} readers): {f['kappa']:.3f} "
            f"(bootstrap 95% CI {f['ci_low']:.3f} to {f['ci_high']:.3f})"
        )
    for w in out["warnings"]:
        print(f"  warning: {w}")


def register(sub) -> None:
    p = sub.add_parser(
        "readers",
        help="inter-reader figures of IVUS arcs: ICS per reader, Cohen's/Fleiss' kappa, ICC",
        description=(
            "Each reader's arcs file is scored on its own (a file holding several annotators' "
            "arcs is flagged). Files of another pullback are refused."
        ),
    )
    p.add_argument("pullback", nargs="?", help="the pullback file (DICOM, NIfTI, ...)")
    p.add_argument("--arcs", nargs="+", help="one arcs file per reader (2 or more)")
    p.add_argument("--names", nargs="+", help="reader names, in --arcs order (default: from files)")
    p.add_argument(
        "--manifest",
        help="CSV with columns pullback, reader, arcs (one row per pullback and reader): "
        "figures per pullback and the ICC of ICS over them",
    )
    p.add_argument("--class", dest="cls", default="calcium", help="the arc class compared")
    p.add_argument(
        "--n-alines",
        type=int,
        default=None,
        help="A-lines per frame to compare on (default: the count the files record, else 360)",
    )
    p.add_argument("--frames", default=None, help="frame range START:STOP (default: all)")
    add_json_option(p, "print one JSON object")
    p.set_defaults(func=_readers)
