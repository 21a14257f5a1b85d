"""Benchmark: the cohort runner's scaling curve against the study size (issue 25).

For each kind of study, ``--copies`` copies of one study, each command run as a user runs it (a
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

The table: per kind, the in-process time per study, the 1-worker cluster's overhead per study
(cluster wall - in-process wall, / studies) and as a share of the study, and the 2-worker
speed-up over in-process and over 1 worker. Every cluster table is checked equal to the
in-process one (apart from time columns).

Run: ``.venv/bin/python benchmarks/bench_cohort_scaling.py [--rounds 2] [--kinds
phantom,ct300,vessel,pullback]`` (about 3-5 minutes on the idle 2-core machine); ``--src DIR``
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

#: kind -> (default copies, description)
KINDS = {
    "phantom": (16, "QRM phantom, 47 sl"),
    "ct300": (4, "CT 300 x 512^2"),
    "vessel": (6, "vessel analysis"),
    "pullback": (4, "pullback 3000 fr"),
}


def _replicate(src: Path, folder: Path, n: int, name: str) -> list[Path]:
    folder.mkdir(parents=True)
    out = []
    for i in range(n):
        dst = folder / f"{name}{i:02d}{''.join(src.suffixes) if src.is_file() else ''}"
        (shutil.copy if src.is_file() else shutil.copytree)(src, dst)
        out.append(dst)
    return out


def make_kind(kind: str, root: Path, n: int) -> list[str]:
    """The command line (without output and cluster options) of ``n`` studies of ``kind``."""
    d = root / kind
    if kind == "phantom":
        _replicate(PHANTOM, d, n, "p")
        return ["cac", str(d)]
    if kind == "ct300":
        from napari_plaque.io.nifti import write_nifti

        rng = np.random.default_rng(0)
        hu = rng.normal(40, 20, (300, 512, 512)).astype(np.int16)
        for k in range(0, 300, 25):  # a calcified blob every 25 slices
            hu[k : k + 2, 250:256, 250:256] = 400
        one = write_nifti(root / "ct300.nii", hu, (0.5, 0.4, 0.4))
        _replicate(Path(one), d, n, "b")
        return ["cac", str(d)]
    if kind == "vessel":
        from napari_plaque.io.nifti import write_nifti
        from napari_plaque.samples.vessels import make_vessel_phantom

        ph = make_vessel_phantom()
        one = write_nifti(root / "vessel.nii.gz", np.asarray(ph.volume.hu), ph.volume.spacing_mm)
        np.save(root / "vessel_lumen.npy", (np.asarray(ph.labels) == 1).astype(np.uint8))
        files = _replicate(Path(one), d, n, "v")
        man = root / "vessel.csv"  # (in a cohort --centreline is a folder: a manifest column)
        man.write_text("study_id,path,centreline\n" + "".join(
            f"v{i:02d},{f},{root / 'vessel_lumen.npy'}\n" for i, f in enumerate(files)))  # fmt: skip
        return ["vessel", "--manifest", str(man)]
    if kind == "pullback":
        from napari_plaque.ivus import save_arcs
        from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

        _, truth = make_ivus_sample(root / "pb.dcm", n_frames=3000, size=128, seed=1)
        save_arcs(truth_arcset(truth), root / "pb.arcs.json")
        files = _replicate(root / "pb.dcm", d, n, "pb")  # (a folder of .dcm: one series)
        return ["ics", *map(str, files), "--arcs", *[str(root / "pb.arcs.json")] * n]
    raise ValueError(kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (2)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS))
    ap.add_argument("--copies", type=int, default=0, help="studies per kind (0: the default of each)")
    ap.add_argument("--src", help="napari-plaque source tree first on PYTHONPATH (commands, dask)")
    args = ap.parse_args()
    if args.src:
        bench_cohort.ENV["PYTHONPATH"] = args.src
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # (so the clusters are stopped)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    import warnings

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="bench_cohort_scaling_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        cmds = {k: (make_kind(k, root, args.copies or KINDS[k][0]), args.copies or KINDS[k][0])
                for k in kinds}  # fmt: skip
        print(f"studies made in {time.perf_counter() - t0:.0f} s; {os.cpu_count()} CPUs, {_load()}")
        clusters = {1: Cluster(root, 1), 2: Cluster(root, 2)}
        best: dict[tuple[str, str], float] = {}
        loads: dict[str, str] = {}
        try:
            for kind, (cmd, _) in cmds.items():
                base = [*cmd, "--no-progress"]
                outs = {key: root / f"{kind}-{key}.csv" for key in ("in", "c1", "c2")}

                def run(key: str, base=base, outs=outs) -> float:
                    sched = [] if key == "in" else ["--scheduler", str(clusters[int(key[1])].file)]
                    outs[key].unlink(missing_ok=True)
                    return _cli([*base, *sched, "--out", str(outs[key])])[0]

                for key in ("c1", "c2"):  # warm the workers (this kind's imports, page cache)
                    run(key)
                for _ in range(args.rounds):
                    for key in outs:
                        t = run(key)
                        best[kind, key] = min(t, best.get((kind, key), float("inf")))
                loads[kind] = _load()
                ref = _rows(outs["in"])
                assert ref and all(r["status"] == "ok" for r in ref), f"{kind}: some study failed"
                for key in ("c1", "c2"):
                    assert _rows(outs[key]) == ref, f"{kind} {key}: rows differ from in-process"
                print(f"   {kind}: done ({loads[kind]})", flush=True)
        finally:
            for c in clusters.values():
                c.close()
    print(f"\n`napari-plaque` as a user runs it, best of {args.rounds} interleaved rounds; "
          "targets (issue 25, phantom): 2 workers >= 1.7x in-process, 1 worker within 1.1x")  # fmt: skip
    head = (f"{'study':20s} {'n':>3s} {'in-process':>12s} {'1-worker overhead':>24s} "
            f"{'1 worker / in':>13s} {'2 workers':>10s} {'1 -> 2':>7s}  load")  # fmt: skip
    print(head)
    print("-" * len(head))
    for kind, (_, n) in cmds.items():
        t_in, t1, t2 = (best[kind, k] for k in ("in", "c1", "c2"))
        per = t_in / n
        over = (t1 - t_in) / n
        print(f"{KINDS[kind][1]:20s} {n:3d} {1000 * per:7.0f} ms/st {1000 * over:+8.0f} ms/st "
              f"({100 * over / per:+4.0f} %) {t_in / t1:12.2f}x {t_in / t2:9.2f}x "
              f"{t1 / t2:6.2f}x  {loads[kind]}")  # fmt: skip
    print("(in-process: wall per study, start-up included; overhead: (1-worker wall - in-process "
          "wall) / studies; '1 worker / in' >= 0.91x is within 1.1x)")  # fmt: skip


if __name__ == "__main__":
    main()
