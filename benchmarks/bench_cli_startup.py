"""Benchmark: CLI start-up (issue 25): ``napari-plaque --help``, one command's parser and a
``cac --resume`` with nothing left to do import only what they need.

Each case is timed as a fresh process, best and median of ``--rounds``, with its CPU time and
the load average. Baselines in the same run:

* ``python -c pass`` and ``import napari_plaque.cli`` (the floor every command pays);
* "before" of ``--help``: the same ``--help`` preceded by the imports it made before the
  defaults moved to light modules (``fusion.stats`` / scipy.stats, ``fusion.join``,
  ``pydicom.sr.codedict``; then ``ivus.svm`` / ``ivus.dataset`` / ``ivus.borders`` /
  ``ivus.annotator`` / ``ivus.lumen``: scipy.ndimage and psygnal, through the eager
  ``ivus/__init__`` and ``api.ivus``), so the ratio before / after is measured here, not
  assumed;
* the full parser for one command (``build_parser()``): ``napari-plaque CMD`` builds only
  CMD's module's parser (``cli.COMMAND_MODULES``);
* ``cac --resume`` on ``--studies`` done studies against ``import napari_plaque.cli``;
* ``info FILE`` on one of those NIfTI studies (reading it needs nibabel, which imports
  pydicom, scipy and PIL itself).

``--before-src DIR`` also times ``--help`` and ``cac --resume`` with the package of an older
tree (``git archive REV src | tar -x -C /tmp/before``; DIR = ``/tmp/before/src``), the real
before in the same run.

``python -X importtime`` then lists what ``--help`` still imports that costs most (cumulative,
top ``--top``) and which heavy packages it loads.
Run: ``.venv/bin/python benchmarks/bench_cli_startup.py [--rounds 7] [--top 8] [--studies 30]
[--before-src DIR]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
FULL = ("import sys; from napari_plaque.cli import build_parser; "
        "build_parser().parse_args(sys.argv[1:])")  # fmt: skip
#: what ``--help`` imported before issue 25 (the defaults dicts of these modules)
BEFORE_IMPORTS = ("import napari_plaque.fusion.stats, napari_plaque.fusion.join, pydicom.sr.codedict, "
                  "napari_plaque.ivus.svm, napari_plaque.ivus.dataset, napari_plaque.ivus.borders, "
                  "napari_plaque.ivus.annotator, napari_plaque.ivus.lumen")
HELP = "import sys; from napari_plaque.cli import main; sys.exit(main(['--help']))"
#: packages ``--help`` should not need (tests/test_cli_startup.py checks the first seven)
HEAVY = ("scipy", "psygnal", "pydicom.sr", "torch", "napari", "qtpy", "statsmodels", "pydicom",
         "dask", "distributed", "PIL", "nibabel")  # fmt: skip


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0,):
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime


def _series(cmd: list[str], rounds: int, env: dict | None = None) -> tuple[float, float, float]:
    runs = [_timed(cmd, env) for _ in range(rounds)]
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


def _heavy_loaded(code: str) -> list[str]:
    probe = code.replace("sys.exit(main(['--help']))", "main(['--help'])")
    p = subprocess.run(
        [PY, "-c", "import contextlib, io, sys\nwith contextlib.redirect_stdout(io.StringIO()):\n"
         f"    try:\n        exec({probe!r})\n    except SystemExit:\n        pass\n"
         "print(repr(sorted(m for m in sys.modules)))"],
        capture_output=True, text=True,
    )  # fmt: skip
    mods = set(eval(p.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own repr
    return [m for m in HEAVY if m in mods]


def _done_cohort(root: Path, n: int, env: dict | None = None) -> list[str]:
    """``n`` small NIfTI studies scored once (by the package of ``env``): the ``cac --resume``
    command with nothing to do."""
    import numpy as np

    from napari_plaque.io.nifti import write_nifti

    hu = np.full((4, 16, 16), -50, np.float32)
    hu[1:3, 5:9, 5:9] = 350
    for i in range(n):
        write_nifti(root / "ct" / f"s{i:03d}.nii.gz", hu, (3.0, 0.5, 0.5))
    run = ["cac", str(root / "ct"), "--out", str(root / "t.csv")]
    subprocess.run([PY, "-m", "napari_plaque.cli", *run], check=True, capture_output=True,
                   env=env)  # fmt: skip
    return [*run, "--resume"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--studies", type=int, default=30, help="studies of the cac --resume case")
    ap.add_argument("--before-src", metavar="DIR", help="an older tree's src/ to time too")
    args = ap.parse_args()
    old = None
    if args.before_src:
        old = {**os.environ, "PYTHONPATH": str(Path(args.before_src).resolve())}
    cli = [PY, "-m", "napari_plaque.cli"]
    tmp = tempfile.TemporaryDirectory()
    resume = _done_cohort(Path(tmp.name), args.studies)
    cases = [
        ("python -c pass", [PY, "-c", "pass"], None),
        ("import napari_plaque.cli", [PY, "-c", "import napari_plaque.cli"], None),
        ("napari-plaque --help", [PY, "-c", HELP], None),
        ("  before: + the imports it made", [PY, "-c", f"{BEFORE_IMPORTS}; {HELP}"], "before"),
        ("napari-plaque cac --help", [*cli, "cac", "--help"], None),
        ("  full parser", [PY, "-c", FULL, "cac", "--help"], "full"),
        ("napari-plaque ivus-vessel --help", [*cli, "ivus-vessel", "--help"], None),
        ("  full parser", [PY, "-c", FULL, "ivus-vessel", "--help"], "full"),
        (f"cac --resume ({args.studies} done)", [*cli, *resume], None),
        ("napari-plaque info FILE (NIfTI)", [*cli, "info", resume[1] + "/s000.nii.gz"], None),
    ]
    if old is not None:  # the same commands with the older package (its own scored cohort)
        old_resume = _done_cohort(Path(tmp.name) / "older", args.studies, old)
        cases[4:4] = [("  before: older tree", [PY, "-c", HELP], "older tree")]
        cases.insert(-1, ("  before: older tree", [*cli, *old_resume], "older tree"))
    print(f"CLI start-up, fresh processes, best / median of {args.rounds} ({_load()}):")
    best: dict[str, float] = {}
    cpu_of: dict[str, float] = {}
    prev = ""
    ratios = []
    for label, cmd, kind in cases:
        b, med, cpu = _series(cmd, args.rounds, old if kind == "older tree" else None)
        print(f"   {label:34s} best {b:5.2f} s  median {med:5.2f} s  CPU {cpu:5.2f} s")
        if kind is None:
            best[label], cpu_of[label], prev = b, cpu, label
        else:
            ratios.append(f"   {prev}: {kind} / now {b / best[prev]:.2f}x (best wall; CPU "
                          f"{cpu:.2f} s vs {cpu_of[prev]:.2f} s: {cpu / cpu_of[prev]:.2f}x)")
    floor = best["import napari_plaque.cli"]
    print("\n".join(ratios))
    for name in ("napari-plaque --help", f"cac --resume ({args.studies} done)"):
        print(f"   {name}: {best[name]:.2f} s, {best[name] - floor:+.2f} s over "
              f"`import napari_plaque.cli` ({floor:.2f} s)")  # fmt: skip
    print(f"\n   heavy packages `napari-plaque --help` loads: {_heavy_loaded(HELP) or 'none'}")
    print(f"   before (same process, for the record): {_heavy_loaded(f'{BEFORE_IMPORTS}; {HELP}')}")
    for label, cmd in (("--help", ["-c", HELP]),
                       ("cac --help", ["-m", "napari_plaque.cli", "cac", "--help"])):  # fmt: skip
        print(f"\n   heaviest top-level imports of `napari-plaque {label}` (cumulative s):")
        for t, name in _top_imports(cmd, args.top):
            print(f"      {t:6.3f}  {name}")
    print(f"\n({_load()} after)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
