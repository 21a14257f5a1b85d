"""Benchmark: the cohort runner in-process and on dask.distributed (napari_plaque.cohort).

Claims (issue 25, rows 1-2), each measured here against its baseline on the same studies:

1. ``napari-plaque cac`` on ``--copies`` (30) copies of the real QRM phantom (47 x 512 x 512
   DICOM), as a user runs it (a fresh command each time, start-up included): in-process
   (``--workers 1``) vs an already-running 2-worker cluster (``dask scheduler`` + ``dask worker
   --nworkers 2 --nthreads 1``, started once and warmed by one run, ``--scheduler``): target
   >= 1.7x; and a 1-worker cluster vs in-process: within 1.1x. Timed alternately, best (and
   median) of ``--rounds``, with the CPU time of the command beside the wall time.
2. The scaling curve, 1 vs 2 workers, and the per-study overhead of the cluster (cluster wall
   minus in-process wall, per study, 1 worker) against the study size: the phantom, and a
   synthetic ``--big-slices`` (300) x 512 x 512 CT (``--big`` copies, NIfTI int16).
3. The in-process runner around the task: ``run_cohort`` on the phantoms vs a bare loop of
   the same task (what the runner adds per study: hashing, provenance, rows).

4. One worker's CPU per phantom study under dask's ``MALLOC_TRIM_THRESHOLD_=65536`` (what a
   ``dask worker`` nanny sets), with and without ``cohort.runner.tune_worker_malloc``, against
   a plain process: CPU time and page faults per study (``--malloc``).

5. CPU per phantom study with Python's cyclic GC as is and under ``cohort.runner.gc_frozen``
   (what every study runs in), in this process and on a dask worker (``--gc``).

Rows are checked identical (apart from time columns) between every way of running.
The machine is shared: the load average is printed beside every figure.
``--baseline-src DIR`` runs part 1 a second time with another napari-plaque source tree first
on ``PYTHONPATH`` (the command and the dask processes; e.g. ``git archive <commit> src | tar
-x -C /tmp/old``): the "before" figures under the same load.
Run: ``.venv/bin/python benchmarks/bench_cohort.py [--copies 30] [--rounds 3] [--big 4]``.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PHANTOM = Path(__file__).resolve().parents[2] / "shared" / "data" / "qrm-phantom-canon"
EXE = [sys.executable, "-m", "napari_plaque.cli"]
VOLATILE = {"time_utc", "elapsed_s"}
#: environment of every command and dask process (``--baseline-src`` sets PYTHONPATH)
ENV: dict[str, str] = dict(os.environ)


def _load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.1f} {b:.1f} {c:.1f}"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cli(args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the command's own process) of one ``napari-plaque`` command."""
    c0, t0 = _children_cpu(), time.perf_counter()
    p = subprocess.run([*EXE, *args], capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise RuntimeError(f"napari-plaque {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return wall, _children_cpu() - c0


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in csv.DictReader(fh)]


class Cluster:
    """``dask scheduler`` + ``dask worker --nworkers N`` as a user starts them (processes in
    their own session, stopped by PID)."""

    def __init__(self, root: Path, n: int) -> None:
        self.file = root / f"scheduler-{n}.json"
        self.file.unlink(missing_ok=True)  # (a file left by an earlier cluster)
        dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
        env = {**ENV, "PYTHONWARNINGS": "ignore"}
        kw = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs = [
            subprocess.Popen([*dask, "--scheduler-file", str(self.file), "--port", "0",
                              "--dashboard-address", ":0"], env=env, **kw)  # fmt: skip
        ]
        t0 = time.monotonic()
        while not self.file.exists() and time.monotonic() - t0 < 120:
            time.sleep(0.1)
        work = [sys.executable, "-m", "distributed.cli.dask_worker"]
        self.procs.append(
            subprocess.Popen([*work, "--scheduler-file", str(self.file), "--nworkers", str(n),
                              "--nthreads", "1", "--no-dashboard"], env=env, **kw)  # fmt: skip
        )
        import distributed

        with distributed.Client(scheduler_file=str(self.file), timeout=120) as c:
            c.wait_for_workers(n, timeout=180)

    def cpu(self) -> float:
        """CPU seconds used so far by the cluster's processes (scheduler, nanny, workers)."""
        import psutil

        total = 0.0
        for p in self.procs:
            try:
                ps = psutil.Process(p.pid)
                for q in [ps, *ps.children(recursive=True)]:
                    t = q.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
        return total

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


def _copies(root: Path, n: int) -> Path:
    d = root / "phantoms"
    for i in range(n):
        shutil.copytree(PHANTOM, d / f"p{i:02d}")
    return d


def _big(root: Path, n: int, slices: int) -> Path:
    from napari_plaque.io.nifti import write_nifti

    d = root / "big"
    rng = np.random.default_rng(0)
    hu = rng.normal(40, 20, (slices, 512, 512)).astype(np.int16)
    for k in range(0, slices, 25):  # a calcified blob every 25 slices
        hu[k : k + 2, 250:256, 250:256] = 400
    for i in range(n):
        write_nifti(d / f"b{i:02d}.nii.gz", hu, (0.5, 0.4, 0.4))
    return d


def bench_cli(cohort: Path, label: str, n: int, rounds: int, root: Path, two: bool = True):
    """In-process vs a running 1-worker and 2-worker cluster, the CLI as a user runs it."""
    out = {k: root / f"{label}-{k}.csv" for k in ("in", "c1", "c2")}
    base = ["cac", str(cohort), "--no-progress"]
    print(f"\n{label}: `napari-plaque cac` on {n} studies ({_load()}, {os.cpu_count()} CPUs)")
    clusters = {1: Cluster(root, 1)}
    if two:
        clusters[2] = Cluster(root, 2)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in out}
    try:
        for k, c in clusters.items():  # warm the workers (imports, page cache): one run each
            _cli([*base, "--scheduler", str(c.file), "--out", str(out[f"c{k}"])])
        _cli([*base, "--out", str(out["in"])])
        for _ in range(rounds):  # interleaved: the machine is shared
            for key in out:
                sched = [] if key == "in" else ["--scheduler", str(clusters[int(key[1])].file)]
                if key == "c2" and not two:
                    continue
                out[key].unlink(missing_ok=True)
                c = clusters[int(key[1])] if key != "in" else None
                before = c.cpu() if c else 0.0
                wall, cpu = _cli([*base, *sched, "--out", str(out[key])])
                times[key].append((wall, cpu + (c.cpu() - before if c else 0.0)))
    finally:
        for c in clusters.values():
            c.close()
    ref = _rows(out["in"])
    assert all(r["status"] == "ok" for r in ref), "some study failed"
    for key in ("c1", "c2") if two else ("c1",):
        assert _rows(out[key]) == ref, f"{key}: rows differ from the in-process run"
    best = {k: min(v) for k, v in times.items() if v}
    med = {k: statistics.median(w for w, _ in v) for k, v in times.items() if v}
    cpu = {k: min(c for _, c in v) for k, v in times.items() if v}
    t_in = best["in"][0]
    print(f"   in-process (--workers 1)    best {t_in:6.2f} s  median {med['in']:6.2f} s  "
          f"({1000 * t_in / n:.0f} ms/study); CPU {1000 * cpu['in'] / n:.0f} ms/study")  # fmt: skip
    t1 = best["c1"][0]
    print(f"   1-worker cluster            best {t1:6.2f} s  median {med['c1']:6.2f} s  "
          f"in-process / cluster {t_in / t1:.2f}x (target: within 1.1x, i.e. >= 0.91x); "
          f"overhead {1000 * (t1 - t_in) / n:+.0f} ms/study wall, CPU (command + cluster) "
          f"{1000 * cpu['c1'] / n:.0f} ms/study: {1000 * (cpu['c1'] - cpu['in']) / n:+.0f}")  # fmt: skip
    if two:
        t2 = best["c2"][0]
        print(f"   2-worker cluster            best {t2:6.2f} s  median {med['c2']:6.2f} s  "
              f"speed-up {t_in / t2:.2f}x (median {med['in'] / med['c2']:.2f}x; "
              f"target >= 1.7x); 1 -> 2 workers {t1 / t2:.2f}x; CPU "
              f"{1000 * cpu['c2'] / n:.0f} ms/study")  # fmt: skip
    print(f"   all (wall, CPU of command + cluster): { {k: [(round(w, 2), round(c, 2)) for w, c in v] for k, v in times.items()} }")  # noqa: E501
    print(f"   ({_load()} after)")
    return best


def bench_runner(cohort: Path, rounds: int) -> None:
    """What the in-process runner adds around the task, per study."""
    from napari_plaque.cli import build_parser
    from napari_plaque.cli.ccta import _cac_task
    from napari_plaque.cohort import run_cohort, studies_from_paths
    from napari_plaque.cohort.cli import params_from_args

    params = params_from_args(build_parser(("ccta",)).parse_args(["cac", "x"]))
    studies = studies_from_paths([cohort])
    import warnings

    warnings.simplefilter("ignore")
    bare, runner = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for s in studies:
            _cac_task(s, params)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_cohort(_cac_task, studies, params, task_name="cac", keep_reports=False,
                   progress=False)  # fmt: skip
        runner.append(time.perf_counter() - t0)
    n = len(studies)
    print(f"\nin-process runner around the task, {n} phantoms ({_load()}): bare loop "
          f"{1000 * min(bare) / n:.1f} ms/study, run_cohort {1000 * min(runner) / n:.1f} "
          f"ms/study: {1000 * (min(runner) - min(bare)) / n:+.1f} ms/study")  # fmt: skip


_MALLOC_SCRIPT = """
import resource, sys, warnings
warnings.simplefilter("ignore")
from napari_plaque.cohort.runner import tune_worker_malloc
if sys.argv[2] == "tune":
    assert tune_worker_malloc()
from napari_plaque.cli import build_parser
from napari_plaque.cli.ccta import _cac_task
from napari_plaque.cohort import studies_from_paths
from napari_plaque.cohort.cli import params_from_args
params = params_from_args(build_parser(("ccta",)).parse_args(["cac", "x"]))
st = studies_from_paths([sys.argv[1]])[:10]
_cac_task(st[0], params)
r0 = resource.getrusage(resource.RUSAGE_SELF)
for s in st:
    _cac_task(s, params)
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
print(cpu / len(st), (r1.ru_minflt - r0.ru_minflt) / len(st))
"""


def bench_malloc(cohort: Path, rounds: int) -> None:
    print(f"\nCPU per phantom study in one process ({_load()}), best of {rounds}:")
    cases = (("plain process", None, "-"), ("MALLOC_TRIM_THRESHOLD_=65536", "65536", "-"),
             ("  + tune_worker_malloc()", "65536", "tune"))  # fmt: skip
    for label, env_v, mode in cases:
        env = {k: v for k, v in ENV.items() if k != "MALLOC_TRIM_THRESHOLD_"}
        if env_v:
            env["MALLOC_TRIM_THRESHOLD_"] = env_v
        runs = []
        for _ in range(rounds):
            p = subprocess.run([sys.executable, "-c", _MALLOC_SCRIPT, str(cohort), mode],
                               capture_output=True, text=True, env=env, check=True)  # fmt: skip
            runs.append(tuple(float(x) for x in p.stdout.split()))
        cpu, faults = min(runs)
        print(f"   {label:30s} {1000 * cpu:5.0f} ms CPU, {faults:7.0f} page faults per study")


def _gc_measure(paths: list[str], frozen: bool) -> float:
    """CPU seconds (this thread) per phantom study, the runner's gc_frozen on or off."""
    import contextlib
    import warnings

    warnings.simplefilter("ignore")
    from napari_plaque.cli import build_parser
    from napari_plaque.cli.ccta import _cac_task
    from napari_plaque.cohort import Study
    from napari_plaque.cohort.cli import params_from_args
    from napari_plaque.cohort.runner import gc_frozen, tune_worker_malloc

    tune_worker_malloc()
    params = params_from_args(build_parser(("ccta",)).parse_args(["cac", "x"]))
    studies = [Study(Path(p).name, Path(p)) for p in paths]
    _cac_task(studies[0], params)
    t0 = time.thread_time()
    for s in studies:
        with gc_frozen() if frozen else contextlib.nullcontext():
            _cac_task(s, params)
    return (time.thread_time() - t0) / len(studies)


def bench_gc(cohort: Path, rounds: int) -> None:
    """CPU per phantom study with and without ``cohort.runner.gc_frozen``, in this process and
    on a dask worker (a LocalCluster of one), alternated, median of ``rounds``."""
    import distributed

    paths = sorted(str(p) for p in cohort.iterdir())[:15]
    res: dict[str, list[float]] = {}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=50) as cl, distributed.Client(cl) as c:  # fmt: skip
        for _ in range(rounds):
            for frozen in (False, True):
                tag = "frozen" if frozen else "plain "
                res.setdefault(f"in-process {tag}", []).append(_gc_measure(paths, frozen))
                f = c.submit(_gc_measure, paths, frozen, pure=False)
                res.setdefault(f"dask worker {tag}", []).append(f.result())
    print(f"\nCPU per phantom study, cyclic GC as is vs gc_frozen (median of {rounds}, {_load()}):")
    for k, v in res.items():
        print(f"   {k}  {1000 * statistics.median(v):5.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=30, help="phantom copies (default 30)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds (3)")
    ap.add_argument("--big", type=int, default=4, help="synthetic big CTs (default 4; 0: none)")
    ap.add_argument("--big-slices", type=int, default=300, help="slices of a big CT (300)")
    ap.add_argument("--baseline-src", help="another source tree, part 1 again (before)")
    ap.add_argument("--malloc", action="store_true", help="only part 4 (malloc on a worker)")
    ap.add_argument("--gc", action="store_true", help="only part 5 (cyclic GC, gc_frozen)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # (so the clusters are stopped)
    if not PHANTOM.is_dir():
        sys.exit(f"phantom not found at {PHANTOM}")
    with tempfile.TemporaryDirectory(prefix="bench_cohort_") as tmp:
        root = Path(tmp)
        ph = _copies(root, args.copies)
        if args.malloc:
            bench_malloc(ph, args.rounds)
            return
        if args.gc:
            bench_gc(ph, args.rounds)
            return
        small = bench_cli(ph, "phantom", args.copies, args.rounds, root)
        if args.baseline_src:
            ENV["PYTHONPATH"] = args.baseline_src
            before = bench_cli(ph, "phantom, BASELINE src", args.copies, args.rounds, root)
            del ENV["PYTHONPATH"]
            print("   now vs baseline, best wall: " + ", ".join(
                f"{k} {before[k][0] / small[k][0]:.2f}x" for k in small))  # fmt: skip
        bench_runner(ph, args.rounds)
        if args.big:
            big = bench_cli(_big(root, args.big, args.big_slices), f"{args.big_slices}-slice CT",
                            args.big, max(1, args.rounds - 1), root)  # fmt: skip
            print("\nper-study overhead of a 1-worker cluster against the study size:")
            for label, b, n in (("phantom 47 sl", small, args.copies),
                                (f"CT {args.big_slices} sl", big, args.big)):  # fmt: skip
                per = b["in"][0] / n
                over = (b["c1"][0] - b["in"][0]) / n
                print(f"   {label:14s} {1000 * per:7.0f} ms/study in-process, overhead "
                      f"{1000 * over:+6.0f} ms/study ({100 * over / per:+.0f} %); "
                      f"2 workers {b['in'][0] / b['c2'][0]:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
