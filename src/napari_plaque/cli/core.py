"""Core subcommands: ``demo`` (open napari with the samples and widgets) and ``info PATH``."""

from __future__ import annotations

import argparse

from ._common import add_json_option, print_json


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="open napari with the synthetic CCTA and IVUS samples and the plugin's widgets",
        description="Open napari with the synthetic samples and napari-plaque's widgets docked.",
    )
    p.add_argument(
        "--screenshot",
        metavar="FILE",
        help="render off-screen, save a PNG of the whole window to FILE and exit",
    )
    p.add_argument(
        "--sample", choices=["all", "ccta", "ivus"], default="all", help="which samples to open"
    )
    p.add_argument("--size", default="1400x900", help="window size WxH for screenshots")
    p.set_defaults(func=_demo)

    p = sub.add_parser(
        "info",
        help="describe any file napari-plaque reads or writes: CT series, IVUS pullback, "
        "NIfTI, DICOM SEG / SR, radiograph, arcs / borders / centreline / review JSON, "
        "models, training sets (no patient data)",
        description="Print what napari-plaque reads from PATH: shape, spacing, origin, "
        "acquisition facts and reader notes; for napari-plaque's own files (arcs, borders, "
        "centreline, contours, review and annotator session JSON, vessel analysis JSON, "
        "model .pt, SVM .npz, A-line / CT training-set folders) their kind, format version "
        "and what they hold. Patient identifiers and reader names are never printed.",
    )
    p.add_argument(
        "path",
        help="DICOM folder or file (CT, IVUS, SEG, SR, CR/DX), NIfTI, frame folder, TIFF, PNG, "
        "or a napari-plaque file or training-set folder",
    )
    add_json_option(p, "print one JSON object")
    p.set_defaults(func=_info)


def _info(args: argparse.Namespace) -> int:
    from ..api.files import describe  # the one home of the description (``api.info``)

    d = describe(args.path)
    if args.json:
        print_json(d)
        return 0
    print(f"{d['path']}: {d['kind']}")
    if d["kind"] == "ivus":
        print(
            f"  frames {d['n_frames']} x {d['frame_shape']}, frame time {d['frame_time_s']:.4f} s, "
            f"pullback {d['pullback_rate_mm_s']} mm/s, pixel {d['pixel_spacing_mm']} mm, "
            f"length {d['length_mm']:.1f} mm"
        )
        if d["assumed"]:
            print(f"  assumed (not in the file): {', '.join(d['assumed'])}")
        for n in d["meta"].get("notes", []):
            print(f"  note: {n}")
        return 0
    if d["kind"] != "dicom-series" and d["kind"] != "nifti":
        for k, v in d.items():
            if k not in ("path", "kind", "groups"):
                print(f"  {k}: {v}")
        for g in d.get("groups", []):
            vals = ", ".join(f"{k} {m['value']} {m['unit']}" for k, m in g["measurements"].items())
            print(f"  group {g.get('tracking_id', '')}: {vals}")
        return 0
    for s in d["series"]:
        print(
            f"  {s['name']!r}: {s['shape']} {s['dtype']}, spacing {s['spacing_mm']} mm, "
            f"origin {s['origin_mm']}, values {s['value_range']}"
        )
        m = s["meta"]
        facts = {
            k: m[k]
            for k in (
                "manufacturer",
                "model",
                "kvp",
                "kernel",
                "slice_thickness_mm",
                "slice_increment_mm",
            )
            if k in m
        }
        if facts:
            print("   " + ", ".join(f"{k}={v}" for k, v in facts.items()))
        for n in m.get("notes", []):
            print(f"  note: {n}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(sample=args.sample, screenshot=args.screenshot, size=args.size)


def __getattr__(name: str):
    if name == "ARC_SESSION_FORMAT":  # the arc annotator's session format (imported on use:
        from ..ivus.session import SESSION_FORMAT  # ivus imports scipy)

        return SESSION_FORMAT
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
