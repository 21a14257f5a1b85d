"""Benchmark: vectorised calcium scoring vs a per-slice, per-lesion Python loop.

Builds a 300 x 512 x 512 synthetic non-contrast chest CT (int16): a 40 HU body with Gaussian
noise (sd 20 HU), spine and ribs at 700 HU, a -800 HU lung/air outside, and a few hundred
calcium lesions of 130-900 HU in a heart region. Scores it with
:func:`napari_plaque.ccta.calcium_score` and with the way most published scripts do it
(``scipy.ndimage.label`` per slice, then a Python loop over the lesions of that slice, each
selected with ``labels == i``, or cropped with ``find_objects`` first), asserts identical
lesions and scores, and prints the timings (best of up to 3 runs for the loops and up to 15 for
the vectorised scoring, at most ~5 s per method: the best of several runs estimates the time
without other processes, and the short run needs more draws on a shared machine) with the
load average, and the ratios, and the best CPU time of each (all threads; the CPU-time ratio
is a lower bound of the idle wall ratio). ``--reference OLD_calcium.py`` also times an older
``ccta/calcium.py`` alternated with today's in the same process (identical lesion tables
asserted). Run: ``.venv/bin/python benchmarks/bench_cac.py [--noise-hu 20] [--reference F]``.

Claim (issue 25): the published-style loop / vectorised ratio is >= 15x on the 2-core
development machine (one pass over the volume: threshold, gather and run-length cut per chunk
of slices while it is in cache, on every core).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import ndimage

from napari_plaque.ccta import calcium_score

SHAPE = (300, 512, 512)
SPACING = (0.5, 0.4, 0.4)


def make_volume(seed: int = 0, noise_hu: float = 20.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    nz, ny, nx = SHAPE
    yy, xx = np.ogrid[:ny, :nx]
    body = ((yy - 256) / 220.0) ** 2 + ((xx - 256) / 240.0) ** 2 <= 1
    sl = np.where(body, 40, -800).astype(np.int16)
    spine = (yy - 400) ** 2 + (xx - 256) ** 2 <= 30**2
    sl[spine] = 700
    ribs = (np.abs(np.sqrt(((yy - 256) / 1.0) ** 2 + ((xx - 256) / 1.1) ** 2) - 205) < 6) & (
        yy > 150
    )
    vol = np.repeat(sl[None], nz, axis=0)
    # ribs only in some slices (they run obliquely)
    for z0 in range(0, nz, 40):
        vol[z0 : z0 + 15][:, ribs] = 700
    vol = vol + rng.normal(0, noise_hu, SHAPE).astype(np.int16)
    # calcium lesions in the heart region: boxes of 1-6 px, 130-900 HU, 1-6 slices
    n = 400
    zs = rng.integers(0, nz - 6, n)
    ys = rng.integers(180, 320, n)
    xs = rng.integers(180, 340, n)
    hs, ws, ds = rng.integers(1, 7, n), rng.integers(1, 7, n), rng.integers(1, 7, n)
    hu = rng.integers(130, 900, n)
    for z, y, x, h, w, d, v in zip(zs, ys, xs, hs, ws, ds, hu, strict=True):
        vol[z : z + d, y : y + h, x : x + w] = v
    return vol


def naive_score(hu, spacing, threshold=130.0, min_area=1.0, crop=True):
    """Per-slice labelling and a Python loop over lesions (the common published approach).

    ``crop=False``: each lesion is selected with ``labels == i`` on the whole slice, as most
    published scripts do; ``crop=True``: a careful loop that crops each lesion with
    ``find_objects`` first.
    """
    dz, dy, dx = spacing
    px = dy * dx
    struct = np.ones((3, 3), bool)
    rows = []
    for z in range(hu.shape[0]):
        sl = hu[z]
        lab, n = ndimage.label(sl >= threshold, structure=struct)
        objs = ndimage.find_objects(lab) if crop else [(slice(None),) * 2] * n
        for i, obj in enumerate(objs, start=1):
            m = lab[obj] == i
            area = m.sum() * px
            if area < min_area * (1 - 1e-9):
                continue
            vals = sl[obj][m]
            peak = vals.max()
            w = 1 if peak < 200 else 2 if peak < 300 else 3 if peak < 400 else 4
            rows.append((z, area, float(peak), area * w * dz / 3.0, area * dz))
    return rows


CPU: dict[str, float] = {}  # best CPU time (s, all threads) per timed method


def _timed(fn, repeat: int = 3, max_total_s: float = 5.0, name: str = ""):
    """Run ``fn`` up to ``repeat`` times (fewer once ``max_total_s`` is spent); result, times."""
    times: list[float] = []
    while len(times) < repeat and sum(times) < max_total_s:
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        CPU[name] = min(CPU.get(name, np.inf), time.process_time() - c)
    return out, times


def _load_reference(path: str):
    """An older ``calcium.py`` (e.g. ``git show REV:src/napari_plaque/ccta/calcium.py``) loaded
    as a module of the package, to time it against today's code in the same process."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("napari_plaque.ccta._reference_calcium", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise-hu", type=float, default=20.0, help="image noise sd (default 20)")
    ap.add_argument(
        "--reference",
        metavar="CALCIUM_PY",
        help="an older ccta/calcium.py to time against today's, alternated in this process "
        "(lesion tables asserted identical)",
    )
    args = ap.parse_args()
    noise = args.noise_hu
    t0 = time.perf_counter()
    vol = make_volume(noise_hu=noise)
    print(f"noise sd {noise:g} HU")
    print(f"volume {vol.shape} {vol.dtype}, built in {time.perf_counter() - t0:.1f} s")
    calcium_score(vol[:10], SPACING)  # warm-up (imports)

    res, times = _timed(lambda: calcium_score(vol, SPACING), repeat=15, name="fast")
    if args.reference:
        ref_mod = _load_reference(args.reference)
        ref_mod.calcium_score(vol[:10], SPACING)
        ref_times, times = [], []
        for _ in range(10):  # alternated: both see the same load
            ref_res, t_ref = _timed(lambda: ref_mod.calcium_score(vol, SPACING), 1, name="ref")
            res, t_new = _timed(lambda: calcium_score(vol, SPACING), 1, name="fast")
            ref_times += t_ref
            times += t_new
        for name in res.lesions.dtype.names:
            assert np.array_equal(res.lesions[name], ref_res.lesions[name], equal_nan=True), name
    rows, slow_times = _timed(lambda: naive_score(vol, SPACING, crop=True), name="crop")
    rows_full, slowest_times = _timed(lambda: naive_score(vol, SPACING, crop=False), name="full")
    fast, slow, slowest = min(times), min(slow_times), min(slowest_times)
    assert rows_full == rows

    # same lesions and scores
    naive = np.array(rows)
    assert len(naive) == res.n_lesions, (len(naive), res.n_lesions)
    order = np.lexsort((naive[:, 2], naive[:, 1], naive[:, 0]))
    les = res.lesions
    mine = np.lexsort((les["peak_hu"], les["area_mm2"], les["slice"]))
    assert np.array_equal(naive[order, 0], les["slice"][mine])
    assert np.allclose(naive[order, 1], les["area_mm2"][mine])
    assert np.allclose(naive[order, 2], les["peak_hu"][mine])
    assert np.isclose(naive[:, 3].sum(), res.agatston)
    assert np.isclose(naive[:, 4].sum(), res.volume_mm3)

    print(
        f"lesions: {res.n_lesions}, Agatston {res.agatston:.1f}, volume {res.volume_mm3:.1f} mm^3"
    )

    def fmt(ts):
        return f"{min(ts):.3f} s (best of {len(ts)}: {', '.join(f'{x:.3f}' for x in ts)})"

    print(f"vectorised calcium_score:                             {fmt(times)}")
    print(f"per-slice, per-lesion loop, labels == i on the slice: {fmt(slowest_times)}")
    print(f"per-slice, per-lesion loop, find_objects crops:       {fmt(slow_times)}")
    import os

    if args.reference:
        print(f"reference calcium.py ({args.reference}), alternated: {fmt(ref_times)}; "
              "lesion tables identical")
    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"ratio (published-style loop / vectorised): {slowest / fast:.1f}x")
    print(f"ratio (cropped loop / vectorised):         {slow / fast:.1f}x")
    cpu = ", ".join(f"{k} {1000 * v:.1f}" for k, v in CPU.items())
    print(f"best CPU time, ms (all threads): {cpu}")
    # an idle estimate from CPU time: the loops are single-threaded (idle wall ~ their CPU
    # time); the vectorised scoring's wall time is at least its CPU time / the cores it uses
    print(
        "CPU-time ratio (published-style loop / vectorised; a lower bound of the idle wall "
        f"ratio when the vectorised scoring scales on the cores): {CPU['full'] / CPU['fast']:.1f}x"
    )


if __name__ == "__main__":
    main()
