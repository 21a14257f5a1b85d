"""Deep A-line training: seconds per epoch, the former trainer against today's, same process.

The former trainer is the ``models/train.py`` of git commit ``OLD_COMMIT`` (before the
per-batch progress, the bfloat16 path and the thread choice), loaded from git into this
process; when git or that commit is not there, the fp32 path of today's trainer
(``precision="fp32"``, the former arithmetic) stands in, and the output says so. Paths:
``old`` (torch's threads), ``new`` (today's defaults: ``precision="auto"``, ``threads=0``),
``new-fp32`` (today's, fp32) and ``old-1thread`` (the former code on one thread), so the gain
of each change shows. Both run at the same settings on the same small
synthetic set (``models.synthetic.synthetic_polar_pullback``), in alternation, and the median
epoch of each is compared. Usage::

    .venv/bin/python benchmarks/bench_aline_train.py [--pullbacks 3] [--frames 32] \
        [--alines 360] [--depth 128] [--batch 16] [--width 16] [--epochs 1] [--reps 2]

Defaults are the shipped demo model's settings (360 A-lines x 128 depth samples, batch 16,
width 16, context 1). The machine's load average is printed beside the figures: on a shared
machine per-epoch times vary by tens of percent between runs; the ratio, measured in one
process on alternating epochs, is the figure to compare.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from napari_plaque._progress import run_steps
from napari_plaque.ivus import deep as new_train
from napari_plaque.ivus.dataset import read_aline_dataset, write_aline_dataset
from napari_plaque.models.synthetic import synthetic_polar_pullback

OLD_COMMIT = "7f71574"
ROOT = Path(__file__).resolve().parents[1]


def load_old_trainer():
    """The former ``napari_plaque.models.train`` as a module, or None."""
    try:
        src = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:src/napari_plaque/models/train.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    tmp = Path(tempfile.mkdtemp()) / "train_old.py"
    tmp.write_text(src)
    spec = importlib.util.spec_from_file_location("napari_plaque.models._train_old", tmp)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _one_thread(fn, ds, out, epochs, settings):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(ds, out, epochs=epochs, **settings)
    finally:
        torch.set_num_threads(before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pullbacks", type=int, default=3)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--alines", type=int, default=360)
    ap.add_argument("--depth", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=1, help="epochs per run (each path)")
    ap.add_argument("--reps", type=int, default=2, help="runs of each path, alternating")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    pbs = [
        (f"pb{s}", *synthetic_polar_pullback(a.frames, a.alines, a.depth, seed=s))
        for s in range(a.pullbacks)
    ]
    t0 = time.perf_counter()
    folder = write_aline_dataset(tmp / "ds", pbs, ["calcium", "attenuation"], 4.0)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ds = read_aline_dataset(folder, features=False)
    read_s = time.perf_counter() - t0
    old = load_old_trainer()
    settings = dict(batch_size=a.batch, width=a.width, seed=0, device="cpu", patience=99)
    runs = {
        "old": (
            (lambda out, e: old.train_alines(ds, out, epochs=e, **settings))
            if old is not None
            else (lambda out, e: new_train.train_alines(ds, out, epochs=e, precision="fp32",
                                                        **settings))  # fmt: skip
        ),
        "new": lambda out, e: run_steps(
            new_train.iter_train_alines(ds, out, epochs=e, precision="auto", **settings)
        ),
        "new-fp32": lambda out, e: new_train.train_alines(
            ds, out, epochs=e, precision="fp32", **settings
        ),
    }
    if old is not None:  # the former code on 1 thread: how much of the gain is the threads
        runs["old-1thread"] = lambda out, e: _one_thread(old.train_alines, ds, out, e, settings)
    secs: dict[str, list[float]] = {k: [] for k in runs}
    f1: dict[str, float] = {}
    threads: dict[str, object] = {}
    for rep in range(a.reps):  # alternate, so a change in the machine's load hits every path
        for name, fn in runs.items():
            res = fn(tmp / f"{name}-{rep}.pt", a.epochs)
            secs[name] += [h["seconds"] for h in res.history]
            f1[name] = res.history[-1].get("calcium_f1", float("nan"))
            threads[name] = res.history[-1].get(
                "threads", 1 if name == "old-1thread" else torch.get_num_threads()
            )
    med = {k: float(np.median(v)) for k, v in secs.items()}
    dev = torch.device("cpu")
    report = {
        "settings": {**vars(a), "batches_per_epoch": new_train.alines_steps_per_epoch(ds, a.batch)},
        "old_path": f"git {OLD_COMMIT} models/train.py" if old is not None else "precision=fp32",
        "new_precision": new_train.resolve_precision(dev, "auto"),
        "torch_threads": torch.get_num_threads(),
        "threads_used": threads,
        "cpu_count": os.cpu_count(),
        "seconds_per_epoch": {k: round(v, 2) for k, v in med.items()},
        "all_epochs_s": {k: [round(x, 2) for x in v] for k, v in secs.items()},
        "ratio_old_over_new": round(med["old"] / med["new"], 2),
        "ratio_old_over_new_fp32": round(med["old"] / med["new-fp32"], 2),
        "calcium_f1_last_epoch": {k: round(v, 3) for k, v in f1.items()},
        "dataset_write_s": round(write_s, 2),
        "dataset_read_s": round(read_s, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if a.json:
        print(json.dumps(report, indent=2))
        return
    print(f"settings: {report['settings']}")
    print(f"old path: {report['old_path']}; new precision: {report['new_precision']}; "
          f"torch threads {report['torch_threads']} of {report['cpu_count']} CPUs")  # fmt: skip
    for k, v in report["seconds_per_epoch"].items():
        print(f"  {k:11s} {v:7.2f} s/epoch  (threads {threads[k]}; "
              f"epochs: {report['all_epochs_s'][k]})")  # fmt: skip
    print(f"ratio old / new: {report['ratio_old_over_new']}x "
          f"(old / new-fp32: {report['ratio_old_over_new_fp32']}x)")  # fmt: skip
    print(f"calcium F1 after the last epoch: {report['calcium_f1_last_epoch']}")
    print(f"dataset write {write_s:.2f} s, read {read_s:.2f} s; "
          f"load average {report['load_average']}")  # fmt: skip


if __name__ == "__main__":
    main()
