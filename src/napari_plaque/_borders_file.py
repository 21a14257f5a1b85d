"""The bytes of a borders file (version 2), and the child process that writes one.

One home of the layout of ``<pullback>.borders.json`` version 2
(:mod:`napari_plaque.ivus.vessel_files` documents it): a JSON object whose radii and shadowed
A-lines are binary blocks spliced in as base64. :func:`borders_file_bytes` assembles it from the
head (a small dict) and the raw blocks.

The border dock rewrites the file of a 3,000-frame pullback once the edits pause. Encoding 12 MB
of base64 holds the interpreter (``binascii`` keeps the GIL), and napari's main thread would wait
for it (an edit made meanwhile took 150-350 ms); so the rewrite runs in a child process:
``python -m napari_plaque._borders_file SPOOL DEST``, where SPOOL is a folder holding ``head.json``
and one raw file per block (written by the parent with ``ndarray.tofile``, which releases the
GIL). This module imports only the standard library, numpy and :mod:`napari_plaque.io.atomic`, so
the child starts in a fraction of a second (no ``napari_plaque.ivus`` package import).
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

#: the blocks of a version-2 borders file, in file order: (key, dtype)
BLOCKS = (("lumen_r_px", "<f4"), ("eem_r_px", "<f4"), ("shadowed", "bits"))


def borders_file_bytes(head: dict[str, Any], blocks: dict[str, tuple[list[int], bytes]]) -> bytes:
    """The file: ``head`` (format, version, geometry...) then each block of :data:`BLOCKS` as
    ``{"dtype", "shape", "base64"}``; ``blocks`` maps key -> (shape, raw bytes)."""
    text = json.dumps(head, indent=1, allow_nan=False).encode("utf-8")
    assert text.endswith(b"\n}")
    parts = [text[:-2]]
    for key, dtype in BLOCKS:
        shape, raw = blocks[key]
        meta = json.dumps({"dtype": dtype, "shape": [int(x) for x in shape]})
        # base64 needs no JSON escaping: spliced in as bytes (no scan of a 10 MB str)
        parts += [f',\n "{key}": '.encode(), meta[:-1].encode(), b', "base64": "',
                  base64.b64encode(raw), b'"}']
    parts.append(b"\n}\n")
    return b"".join(parts)


def write_from_spool(spool: str | Path, dest: str | Path) -> Path:
    """Write the borders file ``dest`` (atomically) from a spool folder: ``head.json`` and the
    blocks as raw little-endian float64 (radii) / bool (shadowed) arrays of the head's size."""
    import numpy as np

    from .io.atomic import atomic_write_bytes

    spool = Path(spool)
    head = json.loads((spool / "head.json").read_text(encoding="utf-8"))
    shape = (int(head["n_frames"]), int(head["n_alines"]))
    blocks = {}
    for key, dtype in BLOCKS:
        if dtype == "bits":
            a = np.fromfile(spool / key, np.bool_).reshape(shape)
            raw = np.packbits(a, axis=-1).tobytes()
        else:
            raw = np.fromfile(spool / key, "<f8").reshape(shape).astype(dtype).tobytes()
        blocks[key] = (list(shape), raw)
    return atomic_write_bytes(dest, borders_file_bytes(head, blocks))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m napari_plaque._borders_file SPOOL DEST", file=sys.stderr)
        return 2
    if hasattr(os, "nice") and os.nice(0) < 19:  # background work: napari comes first
        os.nice(19 - os.nice(0))
    try:
        write_from_spool(args[0], args[1])
    except (OSError, ValueError, KeyError) as exc:
        print(f"{args[1]}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
