"""Cohorts on dask.distributed: a LocalCluster (--workers 2) and a real ``dask scheduler`` with
two ``dask worker`` processes started here on localhost (free ports, scheduler file in
tmp_path, bounded waits, torn down by PID). Results must equal the sequential run's."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_plaque.cli import main
from napari_plaque.cohort import VOLATILE_COLUMNS, run_cohort, studies_from_paths
from napari_plaque.io.nifti import write_nifti

DASK = Path(sys.executable).with_name("dask")
START_TIMEOUT_S = 60


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE_COLUMNS} for r in rows]


@pytest.fixture
def studies_dir(tmp_path):
    """Five tiny CT studies (Agatston 8, 16, 24, 32, 32 by blob HU: weight 4 from 400) and a
    broken one."""
    d = tmp_path / "studies"
    for i, hu in enumerate((150, 250, 350, 450, 550)):
        vol = np.full((8, 32, 32), -50, np.float32)
        vol[3:5, 10:14, 10:14] = hu
        write_nifti(d / f"s{i}.nii.gz", vol, (3.0, 0.5, 0.5))
    (d / "s2_broken.nii.gz").write_bytes(b"not a nifti")
    return d


def _sequential(studies_dir, tmp_path, capsys) -> list[dict[str, str]]:
    assert main(["cac", str(studies_dir), "--out", str(tmp_path / "seq.csv")]) == 1
    capsys.readouterr()
    rows = _rows((tmp_path / "seq.csv").read_text())
    assert [r["study"] for r in rows] == ["s0", "s1", "s2", "s2_broken", "s3", "s4"]
    assert [r["agatston"] for r in rows] == ["8.0", "16.0", "24.0", "", "32.0", "32.0"]
    return rows


def test_local_cluster_two_workers_equals_sequential(studies_dir, tmp_path, capsys):
    seq = _sequential(studies_dir, tmp_path, capsys)
    out = tmp_path / "par.csv"
    assert main(["cac", str(studies_dir), "--workers", "2", "--out", str(out)]) == 1
    assert "1 of 6 studies failed" in capsys.readouterr().err
    par = _rows(out.read_text())
    assert _stable(par) == _stable(seq)  # same rows, same order, same hashes
    assert par[3]["status"] == "error" and "s2_broken.nii.gz" in par[3]["error"]


def _env(name: str) -> str | None:
    return os.environ.get(name)


def test_local_cluster_workers_keep_glibcs_dynamic_malloc():
    """dask's MALLOC_TRIM_THRESHOLD_ made every CT study ~30 % slower on a worker (the 1 vs 2
    worker ratio fell from ~1.9x to ~1.1x); the runner's LocalCluster unsets it, keeping
    dask's one-thread BLAS settings."""
    import distributed

    from napari_plaque.cohort.runner import _local_cluster

    with _local_cluster(1) as cluster, distributed.Client(cluster) as client:
        env = client.submit(
            lambda: {k: _env(k) for k in ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")}
        ).result(timeout=START_TIMEOUT_S)
    assert env == {
        "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }


@contextlib.contextmanager
def _process(args: list, log: Path):
    """Start a process (own session), yield it, terminate it by PID (kill after 10 s)."""
    fh = open(log, "wb")
    proc = subprocess.Popen(
        [str(a) for a in args], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        fh.close()


@pytest.fixture
def dask_scheduler(tmp_path):
    """A ``dask scheduler`` and two single-threaded ``dask worker`` processes on localhost."""
    import distributed

    sched_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            _process(
                [DASK, "scheduler", "--port", "0", "--scheduler-file", sched_file, *common],
                tmp_path / "scheduler.log",
            )
        )
        t0 = time.monotonic()
        while not sched_file.exists():
            if time.monotonic() - t0 > START_TIMEOUT_S:
                pytest.fail(
                    "dask scheduler did not start:\n" + (tmp_path / "scheduler.log").read_text()
                )
            time.sleep(0.2)
        for i in range(2):
            stack.enter_context(
                _process(
                    [
                        DASK,
                        "worker",
                        "--scheduler-file",
                        sched_file,
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--name",
                        f"w{i}",
                        *common,
                    ],  # fmt: skip
                    tmp_path / f"worker{i}.log",
                )
            )
        with distributed.Client(scheduler_file=str(sched_file), timeout=START_TIMEOUT_S) as c:
            c.wait_for_workers(2, timeout=START_TIMEOUT_S)
            address = c.scheduler.address
        yield address, sched_file


def test_external_scheduler_two_workers_equals_sequential(
    studies_dir, tmp_path, capsys, dask_scheduler, monkeypatch
):
    import distributed

    address, sched_file = dask_scheduler
    assert address.startswith("tcp://127.0.0.1:")
    seq = _sequential(studies_dir, tmp_path, capsys)
    out = tmp_path / "remote.csv"
    assert main(["cac", str(studies_dir), "--scheduler", address, "--out", str(out)]) == 1
    assert _stable(_rows(out.read_text())) == _stable(seq)
    # the studies ran in the worker processes (they imported the task's module), not here
    with distributed.Client(address, timeout=30) as c:
        imported = c.run(lambda: "napari_plaque.cli.ccta" in sys.modules)
    assert len(imported) == 2 and any(imported.values())
    # the scheduler file works as the address too; the library call gives the same rows
    out2 = tmp_path / "remote2.csv"
    assert main(["cac", str(studies_dir), "--scheduler", str(sched_file), "--out", str(out2)]) == 1
    assert _stable(_rows(out2.read_text())) == _stable(seq)
    # workers with another napari-plaque version are refused before any study runs
    import napari_plaque.cohort.runner as runner

    monkeypatch.setattr(runner, "__version__", "0.0.0-other")
    capsys.readouterr()
    assert main(["cac", str(studies_dir), "--scheduler", address]) == 2
    assert "install the same version on every worker" in capsys.readouterr().err


def test_unreachable_scheduler_is_a_usage_error(studies_dir, capsys, monkeypatch):
    import napari_plaque.cohort.runner as runner

    real = runner.connect
    monkeypatch.setattr(runner, "connect", lambda s, timeout_s=2.0: real(s, timeout_s))
    assert main(["cac", str(studies_dir), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the dask scheduler" in capsys.readouterr().err


# ------------------------------------------------------------------------------- slow
def _crash_on_s1(study, params):
    """A task that kills its worker process on study s1 (as an out-of-memory kill would)."""
    if study.study_id == "s1":
        os._exit(1)
    return {"ok": 1}


@pytest.mark.slow
def test_a_study_that_kills_its_worker_is_an_error_row(studies_dir):
    # batches of 3: the batch whose worker died is re-run one study per task
    res = run_cohort(_crash_on_s1, studies_from_paths([studies_dir]), workers=2, batch_size=3)
    status = {o.study_id: (o.status, o.error) for o in res.outcomes}
    assert status["s1"][0] == "error" and "worker failed" in status["s1"][1]
    assert all(s == "ok" for k, (s, _) in status.items() if k != "s1")
    assert res.exit_code == 1


@pytest.mark.slow
def test_predict_arcs_cohort_on_two_workers(tmp_path, capsys):
    from napari_plaque.ivus import (
        export_training_set,
        load_training_set,
        save_model,
        train_svm,
    )
    from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

    items, dcms = [], []
    for s in (1, 2, 3):
        dcm = tmp_path / "pb" / f"pb{s}.dcm"
        dcm.parent.mkdir(exist_ok=True)
        pb, truth = make_ivus_sample(dcm, seed=s, n_frames=16, size=128)
        items.append((pb, truth_arcset(truth)))
        dcms.append(dcm)
    ds = export_training_set(items, tmp_path / "ds")
    model, _ = train_svm(load_training_set(ds), n_folds=2)
    save_model(model, tmp_path / "svm.npz")
    base = ["predict-arcs", *map(str, dcms), "--model", str(tmp_path / "svm.npz")]
    assert main([*base, "--out", str(tmp_path / "seq"), "--table", str(tmp_path / "a.csv")]) == 0
    assert main([*base, "--out", str(tmp_path / "par"), "--table", str(tmp_path / "b.csv"),
                 "--workers", "2"]) == 0  # fmt: skip
    a, b = (_rows((tmp_path / f).read_text()) for f in ("a.csv", "b.csv"))
    assert [r["study"] for r in a] == ["pb1", "pb2", "pb3"] and [r["arcs_file"] for r in a] == [
        "pb1.arcs.json",
        "pb2.arcs.json",
        "pb3.arcs.json",
    ]
    assert [r["ics"] for r in a] == [r["ics"] for r in b]
    for s in (1, 2, 3):  # the same arcs (each arc has its time stamp)
        docs = [json.loads((tmp_path / d / f"pb{s}.arcs.json").read_text()) for d in ("seq", "par")]
        arcs = [[{k: v for k, v in a.items() if k != "time"} for a in d["arcs"]] for d in docs]
        assert arcs[0] == arcs[1] and len(arcs[0]) > 0


def test_dataset_exports_on_two_workers_equal_the_in_process_ones(tmp_path, capsys):
    """export-alines and export-ct-dataset make each study's shard on the workers and join
    them here: the set is the same, file for file, as the in-process export's."""
    from napari_plaque.ivus import load_training_set, save_arcs
    from napari_plaque.samples.ivus import make_ivus_sample, truth_arcset

    man = tmp_path / "pb.csv"
    lines = ["study_id,path,arcs"]
    for s in (1, 2, 3):
        dcm = tmp_path / f"pb{s}.dcm"
        _, truth = make_ivus_sample(dcm, seed=s, n_frames=6 + 2 * s, size=96)
        save_arcs(truth_arcset(truth), tmp_path / f"pb{s}.arcs.json")
        lines.append(f"pb{s},{dcm.name},pb{s}.arcs.json")
    man.write_text("\n".join(lines) + "\n")
    for w in ("1", "2"):
        args = ["export-alines", "--manifest", str(man), "--out", str(tmp_path / f"al{w}")]
        assert main([*args, "--workers", w]) == 0
    assert "exported 3 pullback(s), 30 frames" in capsys.readouterr().out
    one, two = load_training_set(tmp_path / "al1"), load_training_set(tmp_path / "al2")
    for k in ("X", "y", "pullback", "frame", "aline"):
        assert np.array_equal(one[k], two[k]), k
    m1, m2 = one["manifest"], two["manifest"]
    assert m1 == m2 and [p["n_frames"] for p in m1["pullbacks"]] == [8, 10, 12]
    for p in m1["pullbacks"]:
        with np.load(tmp_path / "al1" / p["polar_file"]) as a, np.load(
            tmp_path / "al2" / p["polar_file"]
        ) as b:
            assert np.array_equal(a["polar"], b["polar"]) and np.array_equal(a["labels"], b["labels"])
    # CT: patches and an nnU-Net folder
    cts = ["study_id,path,label"]
    for i, hu in enumerate((300, 500, 700)):
        vol = np.full((6, 24, 24), -50, np.float32)
        vol[2:4, 8:12, 8:12] = hu
        lab = (vol > 130).astype(np.uint8)
        write_nifti(tmp_path / f"c{i}.nii.gz", vol, (3.0, 0.5, 0.5))
        np.save(tmp_path / f"c{i}.npy", lab)
        cts.append(f"c{i},c{i}.nii.gz,c{i}.npy")
    (tmp_path / "ct.csv").write_text("\n".join(cts) + "\n")
    for fmt in ("patches", "nnunet"):
        for w in ("1", "2"):
            assert main(["export-ct-dataset", "--manifest", str(tmp_path / "ct.csv"),
                         "--out", str(tmp_path / f"{fmt}{w}"), "--format", fmt,
                         "--patch-size", "1,8,8", "--n-patches", "3", "--workers", w]) == 0  # fmt: skip
        f1 = sorted(p.relative_to(tmp_path / f"{fmt}1") for p in (tmp_path / f"{fmt}1").rglob("*.*"))
        f2 = sorted(p.relative_to(tmp_path / f"{fmt}2") for p in (tmp_path / f"{fmt}2").rglob("*.*"))
        assert f1 == f2 and len(f1) >= 4
        for rel in f1:
            if rel.suffix == ".json":
                a = json.loads((tmp_path / f"{fmt}1" / rel).read_text())
                assert a == json.loads((tmp_path / f"{fmt}2" / rel).read_text())
            elif rel.suffix == ".npz":
                with np.load(tmp_path / f"{fmt}1" / rel) as a, np.load(tmp_path / f"{fmt}2" / rel) as b:
                    assert all(np.array_equal(a[k], b[k]) for k in a.files)
            else:  # NIfTI: the same voxels
                from napari_plaque.io.nifti import read_nifti

                a, b = read_nifti(tmp_path / f"{fmt}1" / rel), read_nifti(tmp_path / f"{fmt}2" / rel)
                assert np.array_equal(np.asarray(a.hu), np.asarray(b.hu))


# ------------------------------------------------------------------------------- batching
def test_batch_sizes_follow_the_measured_durations_and_shrink_at_the_end():
    from napari_plaque.cohort.runner import MAX_BATCH, TARGET_TASK_S, _Feeder, next_batch_size

    assert next_batch_size(None, 1000, 2) == 1  # nothing measured yet: one study per task
    assert next_batch_size(0.08, 10_000, 2) == int(TARGET_TASK_S / 0.08)  # ~0.75 s of work
    assert next_batch_size(1e-3, 10_000, 2) == MAX_BATCH
    assert next_batch_size(5.0, 10_000, 2) == 1  # long studies: one per task
    assert next_batch_size(0.01, 12, 2) == 3  # the tail: remaining / (2 x threads)
    # a run of 30 studies on 2 threads: 4 probes, then batches that shrink to single studies,
    # every study handed out once, in input order; a failed batch's studies come back alone
    feed = _Feeder(list(enumerate("abcdefghijklmnopqrstuvwxyz0123")), 2, None)
    sizes, seen = [], []
    for _ in range(4):
        b = feed.next()
        sizes.append(len(b))
        seen += b
    feed.measured([type("O", (), {"elapsed_s": 0.08})()] * 4)
    first = feed.next()
    feed.split(first)
    redo = [feed.next() for _ in first]
    assert all(len(b) == 1 for b in redo) and [b[0] for b in redo] == first
    seen += first
    while feed:
        b = feed.next()
        sizes.append(len(b))
        seen += b
    assert sizes[:4] == [1, 1, 1, 1] and len(first) == 7
    assert sizes[4:] == sorted(sizes[4:], reverse=True) and sizes[-1] == 1
    assert [i for i, _ in seen] == list(range(30))
    assert _Feeder(list(range(9)), 2, 4).next() == [0, 1, 2, 3]  # batch_size given: fixed


@pytest.fixture
def many_studies(tmp_path):
    """40 tiny CT studies (Agatston 8 x weight by blob HU), one of them broken (the 25th)."""
    d = tmp_path / "many"
    for i in range(40):
        if i == 24:
            d.mkdir(exist_ok=True)
            (d / f"s{i:02d}.nii.gz").write_bytes(b"not a nifti")
            continue
        vol = np.full((6, 24, 24), -50, np.float32)
        vol[2:4, 8:12, 8:12] = 150 + 10 * i
        write_nifti(d / f"s{i:02d}.nii.gz", vol, (3.0, 0.5, 0.5))
    return d


def _record_batch_sizes(monkeypatch) -> list[int]:
    """The number of studies of every dask task the runner hands out from now on."""
    import napari_plaque.cohort.runner as runner

    sizes: list[int] = []
    real_next = runner._Feeder.next

    def next_(self):
        b = real_next(self)
        sizes.append(len(b))
        return b

    monkeypatch.setattr(runner._Feeder, "next", next_)
    return sizes


@pytest.mark.slow
def test_batched_cluster_run_gives_the_in_process_rows(many_studies, tmp_path, capsys, monkeypatch):
    """The table is in input order (docs/cohort.md), so the rows must be equal as lists: several
    studies per dask task change neither their order, values, hashes nor the error row of the
    broken study inside a batch."""
    sizes = _record_batch_sizes(monkeypatch)
    seq, par = tmp_path / "seq.csv", tmp_path / "par.csv"
    assert main(["cac", str(many_studies), "--out", str(seq)]) == 1
    assert sizes == []  # in-process: no dask task
    assert main(["cac", str(many_studies), "--workers", "2", "--out", str(par)]) == 1
    assert "1 of 40 studies failed" in capsys.readouterr().err
    a, b = _rows(seq.read_text()), _rows(par.read_text())
    assert [r["study"] for r in a] == [f"s{i:02d}" for i in range(40)]
    assert _stable(b) == _stable(a)
    assert b[24]["status"] == "error" and "s24.nii.gz" in b[24]["error"]
    assert sum(r["status"] == "ok" for r in b) == 39
    assert sum(sizes) == 40 and max(sizes) > 1  # studies were batched


def _crash_on_s30(study, params):
    """Kills its worker on s30 (deep inside a batch when the batches are sized by duration)."""
    if study.study_id == "s30":
        os._exit(1)
    return {"n": int(study.study_id[1:])}


@pytest.mark.slow
def test_a_killed_worker_inside_an_adaptive_batch_fails_only_its_study(many_studies, monkeypatch):
    sizes = _record_batch_sizes(monkeypatch)
    res = run_cohort(_crash_on_s30, studies_from_paths([many_studies]), workers=2)
    status = {o.study_id: (o.status, o.error) for o in res.outcomes}
    assert status["s30"][0] == "error" and "worker failed" in status["s30"][1]
    assert [s for s, (st, _) in status.items() if st != "ok"] == ["s30"]
    assert [o.rows for o in res.outcomes if o.ok] == [[{"n": i}] for i in range(40) if i != 30]
    assert max(sizes) > 1 and sum(sizes) > 40  # batched; the dead batch's studies ran again
