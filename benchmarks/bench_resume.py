"""Benchmark: ``napari-plaque cac --resume`` when every study is done (issue 25, last row).

30 copies of the real QRM phantom are scored once (``--out``); then ``--resume`` is timed as
a fresh command, best and median of ``--rounds``, with the command's CPU time (less sensitive
than wall time to a shared machine's load) and the load average beside it. Target < 0.5 s.
Baselines in the same run: ``python -c pass`` (the interpreter alone) and ``python -c "import
numpy"`` (what scoring needs anyway). The table must be left byte for byte as it was (a
resume with nothing to do rewrites nothing).
``--baseline-src DIR`` also times the same commands with another napari-plaque source tree
first on ``PYTHONPATH`` (e.g. ``git archive <commit> src | tar -x -C /tmp/old``: "before").
Run: ``.venv/bin/python benchmarks/bench_resume.py [--copies 30] [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHANTOM = Path(__file__).resolve().parents[2] / "shared" / "data" / "qrm-phantom-canon"


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _timed(cmd: list[str], src: str | None = None) -> tuple[float, float, str]:
    env = {**os.environ, "PYTHONPATH": src} if src else None
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {p.returncode}\n{p.stderr}")
    return wall, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, p.stderr


def _series(cmd: list[str], rounds: int, src: str | None = None) -> tuple[float, float, float]:
    runs = [_timed(cmd, src) for _ in range(rounds)]
    return min(w for w, _, _ in runs), statistics.median(w for w, _, _ in runs), min(c for _, c, _ in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--baseline-src", help="another source tree to time the same way (before)")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="bench_resume_") as tmp:
        root = Path(tmp)
        for i in range(args.copies):
            shutil.copytree(PHANTOM, root / "ph" / f"p{i:02d}")
        out = root / "cac.csv"
        cmd = [py, "-m", "napari_plaque.cli", "cac", str(root / "ph"), "--out", str(out)]
        _timed(cmd)
        before = out.read_bytes(), out.stat().st_mtime_ns
        resume = [*cmd, "--resume"]
        _timed(resume)  # page cache
        best_now = 0.0
        print(f"`napari-plaque cac --resume`, {args.copies} studies all done ({_load()}):")
        for label, c in (("python -c pass", [py, "-c", "pass"]),
                         ("python -c 'import numpy'", [py, "-c", "import numpy"]),
                         ("cac --resume", resume)):  # fmt: skip
            best, med, cpu = _series(c, args.rounds)
            if label == "cac --resume":
                best_now = best
            extra = "  (target < 0.5 s)" if label == "cac --resume" else ""
            print(f"   {label:26s} best {best:5.2f} s  median {med:5.2f} s  CPU {cpu:5.2f} s{extra}")
        if args.baseline_src:  # its own table (its options may hash otherwise)
            out_b = root / "cac_baseline.csv"
            resume_b = [*cmd[:-1], str(out_b), "--resume"]
            _timed(resume_b[:-1], args.baseline_src)
            _, _, err_b = _timed(resume_b, args.baseline_src)
            assert "already in" in err_b, err_b
            best_b, med_b, cpu_b = _series(resume_b, args.rounds, args.baseline_src)
            print(f"   {'cac --resume, baseline src':26s} best {best_b:5.2f} s  median "
                  f"{med_b:5.2f} s  CPU {cpu_b:5.2f} s: before / now {best_b / best_now:.2f}x")
        _, _, err = _timed(resume)
        assert f"{args.copies} of {args.copies} studies already in" in err, err
        assert (out.read_bytes(), out.stat().st_mtime_ns) == before, "the table was rewritten"
        print(f"   table untouched by --resume; ({_load()} after)")


if __name__ == "__main__":
    main()
