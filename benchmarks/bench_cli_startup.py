"""Benchmark: CLI start-up (issue 25): ``napari-plaque --help`` and one command's parser.

``napari-plaque CMD`` builds only CMD's module's parser (``cli.COMMAND_MODULES``); ``--help``
builds every command's. Each is timed as a fresh process, best and median of ``--rounds``,
with its CPU time and the load average; ``python -X importtime`` then lists the imports that
cost most for each (cumulative, top ``--top``), so what ``--help`` still pulls in is named.
Baseline in the same run: ``python -c pass`` and the full parser for the same command
(``build_parser()``), so the ratio full / one-module is measured here, not assumed.
Run: ``.venv/bin/python benchmarks/bench_cli_startup.py [--rounds 7] [--top 8]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

PY = sys.executable
FULL = ("import sys; from napari_plaque.cli import build_parser; "
        "build_parser().parse_args(sys.argv[1:])")  # fmt: skip


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _timed(cmd: list[str]) -> tuple[float, float]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def _series(cmd: list[str], rounds: int) -> tuple[float, float, float]:
    runs = [_timed(cmd) for _ in range(rounds)]
    return min(w for w, _ in runs), statistics.median(w for w, _ in runs), min(c for _, c in runs)


def _top_imports(cmd: list[str], top: int) -> list[tuple[float, str]]:
    p = subprocess.run([PY, "-X", "importtime", *cmd], capture_output=True, text=True)
    rows = []
    for line in p.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        try:
            _, cum, name = line.split("|")
            cum_us = int(cum.strip())
        except ValueError:
            continue
        if not name.startswith("  "):  # top level only (their children are inside)
            rows.append((cum_us / 1e6, name.strip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    cli = [PY, "-m", "napari_plaque.cli"]
    cases = [
        ("python -c pass", [PY, "-c", "pass"]),
        ("napari-plaque --help", [*cli, "--help"]),
        ("napari-plaque cac --help", [*cli, "cac", "--help"]),
        ("  same, full parser (before)", [PY, "-c", FULL, "cac", "--help"]),
        ("napari-plaque ivus-vessel --help", [*cli, "ivus-vessel", "--help"]),
        ("  same, full parser (before)", [PY, "-c", FULL, "ivus-vessel", "--help"]),
    ]
    print(f"CLI start-up, fresh processes, best / median of {args.rounds} ({_load()}):")
    res: dict[str, float] = {}
    prev = ""
    for label, cmd in cases:
        best, med, cpu = _series(cmd, args.rounds)
        if label.startswith("  "):
            res[f"{prev} full"] = best
        else:
            res[label], prev = best, label
        print(f"   {label:34s} best {best:5.2f} s  median {med:5.2f} s  CPU {cpu:5.2f} s")
    for name in ("napari-plaque cac --help", "napari-plaque ivus-vessel --help"):
        print(f"   {name}: full parser / one module {res[f'{name} full'] / res[name]:.2f}x")
    for label, cmd in (("--help", ["-m", "napari_plaque.cli", "--help"]),
                       ("cac --help", ["-m", "napari_plaque.cli", "cac", "--help"])):  # fmt: skip
        print(f"\n   heaviest top-level imports of `napari-plaque {label}` (cumulative s):")
        for t, name in _top_imports(cmd, args.top):
            print(f"      {t:6.3f}  {name}")
    print(f"\n({_load()} after)")


if __name__ == "__main__":
    main()
