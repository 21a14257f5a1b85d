"""Benchmark: the cohort runner's scaling curve against the study size (issue 25).

For each kind of study, N and 4N copies (hard links) of one study, each command run as a user runs it (a
fresh ``napari-plaque`` process, start-up included): in-process (``--workers 1``) and on an
already-running 1-worker and 2-worker cluster (``dask scheduler`` + ``dask worker --nworkers N
--nthreads 1``, started once, warmed by one run of each kind, ``--scheduler``). Rounds are
interleaved (the machine is shared), the best wall time is kept, the load average is printed
beside each row. Kinds (synthetic where no real data is needed; ``samples/`` generators):

- ``phantom``: ``cac`` on the real QRM phantom (47 x 512 x 512 DICOM), ~0.1 s of work;
- ``ct300``: ``cac`` on a 300 x 512 x 512 int16 NIfTI CT with calcified blobs;
- ``vessel``: ``vessel`` (contours, profile, lesions) on ``samples.vessels.make_vessel_phantom``
  with its lumen label map as the centreline;
- ``pullback``: ``ics`` on a 3000-frame IVUS pullback (``samples.ivus.make_ivus_sample``,
  128 x 128 frames) with its truth arcs.

The table: per kind, what one more study costs (the slope between the N and 4N runs) in-process,
on 1 worker (the difference: the cluster's overhead per study, and its share of the study) and
on 2 workers (the speed-up at scale), the fixed start-up of each way (the intercept), and the
ratios of the 4N runs themselves. Every cluster table is checked equal to the
in-process one (apart from time columns).

Run: ``.venv/bin/python benchmarks/bench_cohort_scaling.py [--rounds 2] [--kinds
phantom,ct300,vessel,pullback] [--scale 1]`` (about 5 minutes on the idle 2-core machine); ``--src DIR``
runs another source tree (e.g. ``git archive <commit> src | tar -x -C /tmp/x``, DIR
``/tmp/x/src``) for the commands and the dask processes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_cohort  # noqa: E402
from bench_cohort import PHANTOM, Cluster, _cli, _load, _rows  # noqa: E402

#: kind -> (studies of the small run; the large run has LARGE times as many), description
KINDS = {
    "phantom": (8, "QRM phantom, 47 sl"),
    "ct300": (4, "CT 300 x 512^2"),
    "vessel": (3, "vessel analysis"),
    "pullback": (8, "pullback 3000 fr, ics"),
}
LARGE = 4


def _replicate(src: Path, folder: Path, n: int, name: str) -> list[Path]:
    """``n`` studies named ``<name>NN`` in ``folder``: hard links to ``src`` (a file, or each
    file of a folder): no disk space, and every copy is read from the same page cache."""
    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        dst = folder / f"{name}{i:02d}{''.join(src.suffixes) if src.is_file() else ''}"
        if src.is_file():
            os.link(src, dst)
        else:
            shutil.copytree(src, dst, copy_function=os.link)
        out.append(dst)
    return out


def _source(kind: str, root: Path) -> Path:
    """The one study of ``kind`` that every copy links to (made once)."""
    if kind == "phantom":
        return PHANTOM
    src = {"ct300": root / "ct300.nii", "vessel": root / "vessel.nii.gz", "pullback": root / "pb.dcm"}[kind]
    if src.exists():
        return src
    if kind == "ct300":
        from napari_plaque.io.nifti import write_nifti

        rng = np.random.default_rng(0)
        hu = rng.normal(40, 20, (300, 512, 512)).astype(np.int16)
        for k in range(0, 300, 25):  # a calcified blob every 25 slices
            hu[k : k + 2, 250:256, 250:256] = 400
        write_nifti(src, hu, (0.5, 0.4, 0.4))
    elif kind == "vessel":
        from napari_plaque.io.nifti import write_nifti
        from napari_plaque.samples.vessels import make_vessel_phantom

        ph = make_vessel_phantom()
        write_nifti(src, np.asarray(ph.volume.hu), ph.volume.spacing_mm)
        np.save(root / "vessel_lumen.npy", (np.asarray(ph.labels) == 1).astype(np.uint8))
    else:
        from napari_plaque.ivus import save_arcs
        from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

        _, truth = make_ivus_sample(src, n_frames=3000, size=128, seed=1)
        save_arcs(truth_arcset(truth), root / "pb.arcs.json")
    return src


def make_kind(kind: str, root: Path, n: int) -> list[str]:
    """The command line (without output and cluster options) of ``n`` studies of ``kind``."""
    src = _source(kind, root)
    d = root / f"{kind}-{n}"
    files = _replicate(src, d, n, kind[:2])
    if kind in ("phantom", "ct300"):
        return ["cac", str(d)]
    if kind == "vessel":  # (in a cohort --centreline is a folder: a manifest column)
        man = root / f"vessel-{n}.csv"
        man.write_text("study_id,path,centreline\n" + "".join(
            f"ve{i:02d},{f},{root / 'vessel_lumen.npy'}\n" for i, f in enumerate(files)))  # fmt: skip
        return ["vessel", "--manifest", str(man)]
    # (a folder of .dcm files is one series: the pullbacks are named one by one)
    return ["ics", *map(str, files), "--arcs", *[str(root / "pb.arcs.json")] * n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (2)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS))
    ap.add_argument("--scale", type=float, default=1.0, help="studies per run x this (1)")
    ap.add_argument("--src", help="napari-plaque source tree first on PYTHONPATH (commands, dask)")
    args = ap.parse_args()
    if args.src:
        bench_cohort.ENV["PYTHONPATH"] = args.src
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # (so the clusters are stopped)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    import warnings

    warnings.simplefilter("ignore")
    modes = ("in", "c1", "c2")
    with tempfile.TemporaryDirectory(prefix="bench_cohort_scaling_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        sizes = {k: (max(1, round(KINDS[k][0] * args.scale)),) for k in kinds}
        sizes = {k: (n, LARGE * n) for k, (n,) in sizes.items()}
        cmds = {(k, n): make_kind(k, root, n) for k in kinds for n in sizes[k]}
        print(f"studies made in {time.perf_counter() - t0:.0f} s; {os.cpu_count()} CPUs, {_load()}")
        clusters = {1: Cluster(root, 1), 2: Cluster(root, 2)}
        best: dict[tuple[str, int, str], float] = {}
        loads: dict[str, str] = {}

        def run(kind: str, n: int, mode: str) -> float:
            sched = [] if mode == "in" else ["--scheduler", str(clusters[int(mode[1])].file)]
            out = root / f"{kind}-{n}-{mode}.csv"
            out.unlink(missing_ok=True)
            return _cli([*cmds[kind, n], "--no-progress", *sched, "--out", str(out)])[0]

        try:
            for kind in kinds:
                for mode in ("c1", "c2"):  # warm the workers (this kind's imports, page cache)
                    run(kind, sizes[kind][0], mode)
                for _ in range(args.rounds):  # interleaved: the machine is shared
                    for n in sizes[kind]:
                        for mode in modes:
                            t = run(kind, n, mode)
                            best[kind, n, mode] = min(t, best.get((kind, n, mode), float("inf")))
                loads[kind] = _load()
                for n in sizes[kind]:
                    ref = _rows(root / f"{kind}-{n}-in.csv")
                    assert ref and all(r["status"] == "ok" for r in ref), f"{kind}: a study failed"
                    for mode in ("c1", "c2"):
                        rows = _rows(root / f"{kind}-{n}-{mode}.csv")
                        assert rows == ref, f"{kind} {mode}: rows differ from in-process"
                print(f"   {kind}: done ({loads[kind]})", flush=True)
        finally:
            for c in clusters.values():
                c.close()
    print(f"\n`napari-plaque` as a user runs it (a fresh command each time), best of {args.rounds} "
          "interleaved rounds, on N and 4N studies. Per study: the slope (T(4N) - T(N)) / 3N, "
          "what each further study costs; start-up: T(N) - N x per study")  # fmt: skip
    head = (f"{'study':22s} {'N':>3s} {'per study: in-process':>22s} {'1 worker':>9s} "
            f"{'(overhead)':>16s} {'2 workers':>10s} {'speed-up':>9s} | start-up s: in / 1 w / 2 w"
            f" | 4N studies: 1 w / in, 2 w / in | load")  # fmt: skip
    print(head)
    print("-" * len(head))
    for kind in kinds:
        n1, n2 = sizes[kind]
        per = {m: (best[kind, n2, m] - best[kind, n1, m]) / (n2 - n1) for m in modes}
        fixed = {m: best[kind, n1, m] - n1 * per[m] for m in modes}
        over = per["c1"] - per["in"]
        big = {m: best[kind, n2, "in"] / best[kind, n2, m] for m in ("c1", "c2")}
        print(f"{KINDS[kind][1]:22s} {n1:3d} {1000 * per['in']:16.0f} ms {1000 * per['c1']:6.0f} ms "
              f"{1000 * over:+6.0f} ms ({100 * over / per['in']:+4.0f}%) {1000 * per['c2']:7.0f} ms "
              f"{per['in'] / per['c2']:8.2f}x | {fixed['in']:5.2f} / {fixed['c1']:5.2f} / "
              f"{fixed['c2']:5.2f} | {big['c1']:.2f}x, {big['c2']:.2f}x | {loads[kind]}")  # fmt: skip
    print("(every cluster table equals the in-process one, time columns aside; the issue's "
          "targets are for 30 phantoms: bench_cohort.py)")  # fmt: skip


if __name__ == "__main__":
    main()
