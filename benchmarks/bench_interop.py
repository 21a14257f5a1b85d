"""Claim: standards interop costs little next to the file formats it replaces.

On the QRM phantom (47 x 512 x 512):
- exporting a 2-segment label map as DICOM SEG (highdicom, per-frame references, patient/study
  modules) takes a small multiple of writing the same labels as NIfTI (baseline), and reading
  it back onto the series is voxel-exact;
- pulling the series from a local Orthanc over DICOMweb (QIDO-RS + WADO-RS, basic auth) takes a
  small multiple of copying the same files on disk (baseline); pushing (STOW-RS) likewise.

Needs Orthanc + orthanc-dicomweb (scripts/install-system-deps.sh). Run from the repository root:
``python benchmarks/bench_interop.py``. Prints seconds and ratios (median of 3 runs).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
PHANTOM = ROOT.parent / "shared" / "data" / "qrm-phantom-canon"


def timed(fn, n=3):
    ts = []
    out = None
    for _ in range(n):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), out


def main() -> None:
    from _interop_util import Orthanc, dicomweb_plugin, orthanc_binary
    from napari_plaque.io import read_ct
    from napari_plaque.io.dicomweb import Auth, pull, push
    from napari_plaque.io.nifti import write_nifti
    from napari_plaque.io.seg import read_seg, write_seg

    work = Path(tempfile.mkdtemp(prefix="bench_interop"))
    vol = read_ct(PHANTOM)[0]
    lab = np.zeros(vol.shape, np.uint8)
    lab[vol.hu >= 130] = 1
    lab[10:20, 200:300, 200:300] = 2
    t_nii, _ = timed(lambda: write_nifti(work / "lab.nii.gz", lab, vol.spacing_mm, vol.origin_mm))
    t_seg, seg = timed(lambda: write_seg(work / "seg.dcm", lab, PHANTOM,
                                         names=["calcium", "plaque"]))
    t_read, res = timed(lambda: read_seg(seg, series=PHANTOM))
    exact = np.array_equal(res.labels[0][1], lab)
    print(f"NIfTI write {t_nii:.2f} s | SEG write {t_seg:.2f} s "
          f"({seg.stat().st_size / 1e6:.1f} MB) ratio {t_seg / t_nii:.1f}x | "
          f"SEG read onto series {t_read:.2f} s, voxel-exact: {exact}")

    binary, plugin = orthanc_binary(), dicomweb_plugin()
    if binary is None or plugin is None:
        print("Orthanc not installed: DICOMweb part skipped")
        return
    srv = Orthanc(work / "orthanc", binary, plugin)
    srv.wait()
    try:
        auth = Auth(user=srv.USER, password=srv.PASSWORD)
        t_push, res = timed(lambda: push(srv.url, [PHANTOM], auth=auth))
        study = res["studies"][0]
        k = iter(range(100))
        t_pull, _ = timed(lambda: pull(srv.url, study, work / f"pull{next(k)}", auth=auth))
        j = iter(range(100))
        t_copy, _ = timed(lambda: shutil.copytree(PHANTOM, work / f"copy{next(j)}"))
        print(f"copy on disk {t_copy:.2f} s | DICOMweb pull {t_pull:.2f} s "
              f"ratio {t_pull / t_copy:.1f}x | push {t_push:.2f} s ratio {t_push / t_copy:.1f}x")
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
