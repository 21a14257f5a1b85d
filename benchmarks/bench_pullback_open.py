"""Claim: a 3000-frame 512x512 pullback opens in under a second and any frame is quick to get.

Writes a synthetic uncompressed US multi-frame DICOM (786 MB) to a temp folder, then times
opening it with the lazy reader, random single-frame access, and, as the baseline in the same
process, pydicom's eager full decode (``ds.pixel_array``). A second, RLE-compressed pullback
(300 frames) times frame-level decoding of encapsulated data against decoding the whole file.
Usage: python benchmarks/bench_pullback_open.py [--frames 3000] [--size 512]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--rle-frames", type=int, default=300)
    a = ap.parse_args()
    import pydicom

    from napari_plaque.io import read_pullback
    from napari_plaque.io.ivus_dicom import write_pullback_dicom

    rng = np.random.default_rng(0)
    base = (rng.random((8, a.size, a.size)) * 255).astype(np.uint8)
    with tempfile.TemporaryDirectory() as td:
        frames = np.concatenate([base] * (a.frames // 8 + 1))[: a.frames]
        p = write_pullback_dicom(frames, Path(td) / "big.dcm")
        del frames
        read_pullback(write_pullback_dicom(base, Path(td) / "warm.dcm"))  # imports, not timed
        t = time.perf_counter()
        pb = read_pullback(p)
        t_open = time.perf_counter() - t
        idx = rng.integers(0, a.frames, 200)
        t = time.perf_counter()
        for i in idx:
            np.asarray(pb.frames[int(i)]).sum()
        t_frame = (time.perf_counter() - t) / len(idx)
        t = time.perf_counter()
        ds = pydicom.dcmread(p)
        full = ds.pixel_array
        t_eager = time.perf_counter() - t
        assert np.array_equal(full[int(idx[0])], pb.frames[int(idx[0])])
        del full, ds
        print(f"uncompressed {a.frames}x{a.size}x{a.size} ({p.stat().st_size / 1e6:.0f} MB)")
        print(f"  lazy open            : {t_open * 1000:8.1f} ms  (target < 1000 ms)")
        print(f"  random frame access  : {t_frame * 1000:8.3f} ms / frame")
        print(
            f"  pydicom eager decode : {t_eager * 1000:8.1f} ms  -> open is {t_eager / t_open:.0f}x faster"
        )

        small = (rng.random((a.rle_frames, a.size, a.size)) * 40).astype(np.uint8)
        p2 = write_pullback_dicom(small, Path(td) / "rle.dcm", compress="rle")
        t = time.perf_counter()
        pb2 = read_pullback(p2)
        t_open2 = time.perf_counter() - t
        t = time.perf_counter()
        for i in idx[:30] % a.rle_frames:
            pb2.frames._cache.clear()
            pb2.frames[int(i)]
        t_frame2 = (time.perf_counter() - t) / 30
        t = time.perf_counter()
        _ = pydicom.dcmread(p2).pixel_array
        t_eager2 = time.perf_counter() - t
        print(f"RLE {a.rle_frames}x{a.size}x{a.size} ({p2.stat().st_size / 1e6:.0f} MB)")
        print(f"  lazy open            : {t_open2 * 1000:8.1f} ms")
        print(f"  frame decode (uncached): {t_frame2 * 1000:6.2f} ms / frame")
        print(
            f"  pydicom eager decode : {t_eager2 * 1000:8.1f} ms  -> open+1 frame is "
            f"{t_eager2 / (t_open2 + t_frame2):.0f}x faster"
        )


if __name__ == "__main__":
    main()
