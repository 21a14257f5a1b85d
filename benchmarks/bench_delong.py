"""Benchmark: the midrank DeLong variance (Sun & Xu 2014) against the definition.

Claim: ``napari_plaque.qc.roc.delong_auc_ci`` computes DeLong's AUC variance with midranks in
O(n log n) and gives the same value (to 1e-10 relative) as the structural components written
from their definition with the m x n comparison matrix (the baseline, same process), at least
10x faster at n = 4000 cases (40 % positive, tied scores); the gap grows with n (O(n log n)
against O(n^2) time and memory).

Run: ``.venv/bin/python benchmarks/bench_delong.py [--n 4000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from napari_plaque.qc.roc import delong_auc_ci


def by_definition(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    x, z = s[y], s[~y]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return float(psi.mean()), float(v10.var(ddof=1) / x.size + v01.var(ddof=1) / z.size)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    y = rng.random(a.n) < 0.4
    s = np.round(rng.normal(size=a.n) + y, 1)  # ties
    fast = delong_auc_ci(y, s)
    auc_ref, var_ref = by_definition(y, s)
    assert abs(fast.auc - auc_ref) < 1e-12
    assert abs(fast.se**2 / var_ref - 1) < 1e-10
    t_fast = best(lambda: delong_auc_ci(y, s), a.repeat)
    t_def = best(lambda: by_definition(y, s), a.repeat)
    print(f"n = {a.n}: AUC {fast.auc:.4f}, SE {fast.se:.5f} (definition agrees to 1e-10)")
    print(f"midrank DeLong {1000 * t_fast:.2f} ms, definition (m x n) {1000 * t_def:.1f} ms")
    print(f"ratio: {t_def / t_fast:.0f}x faster")


if __name__ == "__main__":
    main()
