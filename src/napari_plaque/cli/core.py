"""Core subcommands: ``demo`` (open napari with the samples and widgets) and ``info PATH``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import print_json


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
        help="describe any file napari-plaque reads: CT series, IVUS pullback, NIfTI, DICOM "
        "SEG / SR, radiograph (no patient data)",
        description="Print what napari-plaque reads from PATH: shape, spacing, origin, "
        "acquisition facts and reader notes. Patient identifiers are never printed.",
    )
    p.add_argument(
        "path",
        help="DICOM folder or file (CT, IVUS, SEG, SR, CR/DX), NIfTI, frame folder, TIFF, PNG",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_info)


def describe(path: str | Path) -> dict:
    """A JSON-friendly description of what the readers make of ``path`` (one entry per
    format :func:`napari_plaque.io.detect.detect` knows; no patient identifiers)."""
    from ..io import read_ct, read_nifti
    from ..io.detect import Format, detect

    p = Path(path)
    fmt = detect(p)
    if fmt is Format.NIFTI:
        v = read_nifti(p)
        return {"path": str(p), "kind": "nifti", "series": [_vol_info(v)]}
    if fmt in (Format.IVUS_DICOM, Format.FRAME_SEQUENCE, Format.TIFF_STACK):
        return _pullback_info(p, fmt)
    if fmt is Format.DICOM_SEG:
        from ..io.seg import read_seg

        res = read_seg(p)
        return {
            "path": str(p),
            "kind": "dicom-seg",
            "segments": {str(k): v for k, v in sorted(res.segment_names.items())},
            "shape": list(res.labels[0][1].shape) if res.labels else None,
            "spacing_mm": list(res.spacing_mm),
            "aligned_with_series": res.source is not None,
            "notes": list(res.notes),
        }
    if fmt is Format.DICOM_SR:
        from ..io.sr import read_sr

        sr = read_sr(p)
        return {
            "path": str(p),
            "kind": "dicom-sr",
            "title": sr.get("title"),
            "procedure": sr.get("procedure"),
            "n_measurement_groups": len(sr["groups"]),
            "groups": sr["groups"],
        }
    if fmt in (Format.RADIOGRAPH_DICOM, Format.RADIOGRAPH_IMAGE):
        from ..cxr.io import read_radiograph

        rg = read_radiograph(p)
        return {
            "path": str(p),
            "kind": "radiograph",
            "shape": list(rg.stored.shape),
            "photometric": rg.photometric,
            "spacing_mm": list(rg.spacing_mm) if rg.spacing_mm else None,
            "spacing_source": rg.spacing_source,
            "spacing_note": rg.spacing_note,
        }
    if fmt is Format.NUMPY_LABELS:
        import numpy as np

        arr = np.load(p, mmap_mode="r", allow_pickle=False)
        return {"path": str(p), "kind": "npy", "shape": list(arr.shape), "dtype": str(arr.dtype)}
    vols = read_ct(p)
    return {"path": str(p), "kind": "dicom-series", "series": [_vol_info(v) for v in vols]}


def _pullback_info(p: Path, fmt) -> dict:
    from ..io.frames import read_ivus

    pb = read_ivus(p)
    return {
        "path": str(p),
        "kind": "ivus",
        "format": fmt.value,
        "n_frames": pb.n_frames,
        "frame_shape": list(pb.frame_shape),
        "frame_time_s": pb.frame_time_s,
        "pullback_rate_mm_s": pb.pullback_rate_mm_s,
        "pixel_spacing_mm": list(pb.pixel_spacing_mm),
        "scale_mm": list(pb.scale),
        "length_mm": pb.mm_per_frame * pb.n_frames,
        "assumed": sorted(pb.assumed),
        "meta": pb.meta,
    }


def _vol_info(v) -> dict:
    hu = v.hu
    return {
        "name": v.name,
        "shape": list(hu.shape),
        "dtype": str(hu.dtype),
        "spacing_mm": list(v.spacing_mm),
        "origin_mm": list(v.origin_mm),
        "value_range": [float(hu.min()), float(hu.max())] if hu.size else None,
        "meta": v.meta,
    }


def _info(args: argparse.Namespace) -> int:
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
