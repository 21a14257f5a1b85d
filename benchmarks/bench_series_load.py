"""Claim: the CT series reader loads the real QRM phantom within 1.5x of SimpleITK.

Both readers run in this process on the same folder (warm file cache), alternating, best of N.
Usage: python benchmarks/bench_series_load.py [--repeat 7] [--folder PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent / "shared" / "data" / "qrm-phantom-canon"


def load_ours(folder: Path) -> np.ndarray:
    from napari_plaque.io import read_ct

    return read_ct(folder)[0].hu


def load_sitk(folder: Path) -> np.ndarray:
    import SimpleITK as sitk

    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(r.Execute())


def best_of(fn, folder, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(folder)
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times)), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--folder", type=Path, default=DEFAULT)
    a = ap.parse_args()
    load_ours(a.folder), load_sitk(a.folder)  # warm imports and file cache
    ours_best, ours_med, x = best_of(load_ours, a.folder, a.repeat)
    sitk_best, sitk_med, y = best_of(load_sitk, a.folder, a.repeat)
    assert np.array_equal(x, y), "readers disagree"
    print(f"series: {a.folder} {x.shape} {x.dtype}")
    print(
        f"napari-plaque read_ct : best {ours_best * 1000:7.1f} ms  median {ours_med * 1000:7.1f} ms"
    )
    print(
        f"SimpleITK (GDCM)      : best {sitk_best * 1000:7.1f} ms  median {sitk_med * 1000:7.1f} ms"
    )
    ratio = ours_med / sitk_med
    print(
        f"ratio ours/SimpleITK (median): {ratio:.2f}x  (target <= 1.5x) -> {'OK' if ratio <= 1.5 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
