"""``napari-plaque readers``: inter-reader figures for IVUS arc annotations (issue 20).

One pullback: ``napari-plaque readers PULLBACK --arcs A.json B.json [C.json ...] [--json]``
prints ICS and max arc per reader, the readers' mean ICS, pairwise Cohen's kappa on A-line
labels and Fleiss' kappa for three or more readers. Several pullbacks: ``--manifest M.csv``
(columns ``pullback``, ``reader``, ``arcs``; relative paths are relative to the manifest) adds
the ICC of ICS over the pullbacks. The core is :mod:`napari_plaque.ivus.readers`; the design
is in ``docs/readers.md``. An arcs file of another pullback, a missing or malformed file: exit
2 with the file named.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from . import CLIError
from ._common import print_json


def _read_pullback(path: str):
    from ..io import read_pullback

    return read_pullback(path)


def _one(pullback_path: str, arcs: list[str], names: list[str] | None, args) -> dict:
    from ..ivus.measure import parse_frame_range
    from ..ivus.readers import inter_reader, load_reader

    pb = _read_pullback(pullback_path)
    if names is not None and len(names) != len(arcs):
        raise CLIError(f"{len(arcs)} --arcs file(s) but {len(names)} --names")
    readers = [
        load_reader(a, pullback=pb, name=None if names is None else names[i])
        for i, a in enumerate(arcs)
    ]
    seen: dict[str, str] = {}
    for r in readers:
        if r.name in seen:
            raise CLIError(
                f"{r.path}: reader {r.name!r} again (also {seen[r.name]}); give --names"
            )
        seen[r.name] = str(r.path)
    frames = parse_frame_range(args.frames, pb.n_frames)
    out = inter_reader(
        readers, pb.mm_per_frame, n_alines=args.n_alines, cls=args.cls, frames=frames
    )
    if pb.assumed:
        out["warnings"].append(
            f"{pullback_path}: {', '.join(sorted(pb.assumed))} assumed (lengths may be off)"
        )
    return {"pullback": str(pullback_path), **out}


def _manifest_rows(path: str) -> dict[str, dict[str, str]]:
    """pullback -> {reader: arcs} from a manifest CSV; CLIError naming the file and row."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"{p}: cannot read the manifest ({exc})") from None
    reader = csv.DictReader(text.splitlines())
    need = {"pullback", "reader", "arcs"}
    if reader.fieldnames is None or not need <= set(reader.fieldnames):
        raise CLIError(f"{p}: a readers manifest needs the columns pullback, reader, arcs")
    out: dict[str, dict[str, str]] = {}
    for i, row in enumerate(reader, start=2):
        pb_, rd, arcs = (str(row.get(k) or "").strip() for k in ("pullback", "reader", "arcs"))
        if not (pb_ and rd and arcs):
            raise CLIError(f"{p}: row {i} has an empty pullback, reader or arcs cell")
        pbp = str((p.parent / pb_) if not Path(pb_).is_absolute() else Path(pb_))
        ap = str((p.parent / arcs) if not Path(arcs).is_absolute() else Path(arcs))
        per = out.setdefault(pbp, {})
        if rd in per:
            raise CLIError(f"{p}: row {i}: reader {rd!r} twice for pullback {pb_}")
        per[rd] = ap
    if not out:
        raise CLIError(f"{p}: the manifest lists no pullback")
    return out


def _readers(args: argparse.Namespace) -> int:
    if args.manifest:
        if args.pullback or args.arcs:
            raise CLIError("give PULLBACK --arcs ... or --manifest, not both")
        return _several(args)
    if not args.pullback or not args.arcs:
        raise CLIError("give PULLBACK and --arcs A.json B.json ... (or --manifest CSV)")
    if len(args.arcs) < 2:
        raise CLIError(f"{args.arcs[0]}: one reader; inter-reader figures need 2 or more")
    out = _one(args.pullback, args.arcs, args.names, args)
    if args.json:
        print_json(out)
    else:
        _print_one(out)
    return 0


def _several(args) -> int:
    from ..ivus.readers import icc_of_ics

    rows = _manifest_rows(args.manifest)
    readers = sorted({r for per in rows.values() for r in per})
    for pb_, per in rows.items():
        missing = [r for r in readers if r not in per]
        if missing:
            raise CLIError(
                f"{args.manifest}: pullback {pb_} has no arcs of reader(s) {', '.join(missing)}"
                " (the ICC needs every reader on every pullback)"
            )
    results = [
        _one(pb_, [per[r] for r in readers], readers, args) for pb_, per in rows.items()
    ]
    table = [[row["ics"] for row in res["readers"]] for res in results]
    out = {
        "readers": readers,
        "pullbacks": results,
        "ics_table": table,
        "icc_ics": icc_of_ics(table) if len(results) >= 2 else None,
        "warnings": [w for res in results for w in res["warnings"]],
    }
    if len(results) < 2:
        out["warnings"].append("one pullback: the ICC of ICS needs two or more")
    if args.json:
        print_json(out)
        return 0
    for res in results:
        _print_one(res)
        print()
    icc = out["icc_ics"]
    if icc is not None:
        print(
            f"ICC(2,1) of ICS over {len(results)} pullbacks, {len(readers)} readers: "
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
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_readers)
