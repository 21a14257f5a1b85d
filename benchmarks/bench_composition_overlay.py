"""Benchmark: the composition overlay after a range edit, in the Plaque composition dock.

Claim (issue 25): after an edit of an HU range the overlay and the table are updated in
< 100 ms, debounce included (it was 420-440 ms in the expert trial). A range edit reclassifies
only the voxels whose HU lies between an old and a new bound, on a worker, and writes the
changed voxels into the overlay layer in place.

Opens the synthetic CCTA (``samples/ccta.py``) placed in a ``--shape`` volume (default
300 x 512 x 512, a CCTA's size) in a shown napari viewer, docks *Plaque composition*, computes
once, then makes ``--edits`` range edits (moving the lipid / fibrous and fibrous / calcium
bounds back and forth) and for each measures

- latency: from the edit to the overlay and table showing it, Qt painting included (the
  debounce, the worker and the main-thread update);
- main-thread time: the time the Qt main thread spends in the dock's handlers for that edit
  (the edit, starting the worker, writing the overlay, refreshing the layer, the table), i.e.
  how long the viewer cannot respond.

Baseline in the same process: the same edits recomputed in full (gather the ROI from the whole
volume, classify, compose, rewrite the overlay, refresh) after the former 150 ms debounce, as
the dock did before. Prints medians (the machine may be shared) and the load average.

Run (needs a display; headless: ``xvfb-run -a``):
``.venv/bin/python benchmarks/bench_composition_overlay.py [--shape 300 512 512] [--edits 12]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _volume(shape):
    from napari_plaque.samples.ccta import make_ccta

    s = make_ccta()
    hu = np.full(shape, -60, np.int16)  # fat-like background
    roi = np.zeros(shape, np.uint8)
    ves = np.zeros(shape, np.uint8)
    z, y, x = s.volume.hu.shape
    z0, y0, x0 = ((a - b) // 2 for a, b in zip(shape, (z, y, x), strict=True))
    box = (slice(z0, z0 + z), slice(y0, y0 + y), slice(x0, x0 + x))
    hu[box] = s.volume.hu
    roi[box] = s.plaque_labels
    ves[box] = s.vessel_labels
    return hu, roi, ves, s.volume.spacing_mm, box


def _timed_methods(w, names):
    """Wrap the dock's main-thread handlers to add their time to ``acc``."""
    acc = {"t": 0.0}
    for name in names:
        fn = getattr(w, name)

        def wrapped(*a, _fn=fn, **k):
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                acc["t"] += time.perf_counter() - t0

        setattr(w, name, wrapped)
    return acc


def _run(viewer, app, w, edits, incremental: bool, debounce_ms: int):
    from qtpy.QtCore import QTimer

    w._timer.setInterval(debounce_ms)
    w._timer.timeout.disconnect()
    w._timer.timeout.connect(lambda: w.compute(incremental=incremental))
    acc = _timed_methods(w, ["compute", "_on_done", "_on_edit_done", "set_ranges"])
    canvas = viewer.window._qt_viewer.canvas
    lat, main, paints = [], [], []
    for edit in edits:
        acc["t"] = 0.0
        gen = w._generation
        t0 = time.perf_counter()
        w.set_ranges(edit)
        target = w.ranges()
        while not (w._generation > gen and w._state is not None
                   and w._state["ranges"] == target):  # fmt: skip
            app.processEvents()
            time.sleep(0.0005)
        while w.worker is not None and w.worker.is_running:
            app.processEvents()
        t_paint = time.perf_counter()
        canvas._scene_canvas.native.repaint()
        app.processEvents()
        paint = time.perf_counter() - t_paint
        lat.append(time.perf_counter() - t0)
        main.append(acc["t"] + paint)
        paints.append(paint)
    del QTimer
    return lat, main, paints


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", type=int, nargs=3, default=(300, 512, 512))
    ap.add_argument("--edits", type=int, default=12)
    args = ap.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    hu, roi, ves, sp, box = _volume(tuple(args.shape))
    print(f"volume {hu.shape} {hu.dtype}, ROI {np.count_nonzero(roi)} voxels")
    bounds = [(95, 450), (50, 150), (70, 300), (50, 150)]
    edits = []
    for i in range(args.edits):
        a, b = bounds[i % len(bounds)]
        edits.append({"lipid": (-100, a), "fibrous": (a, b), "calcium": (b, 1300)})

    results = {}
    for label, incremental, debounce in (("before: full recompute, 150 ms debounce", False, 150),
                                         ("after: edit path", True, None)):  # fmt: skip
        viewer = napari.Viewer(show=True)
        app = QApplication.instance()
        kw = {"scale": sp}
        viewer.add_image(hu, name="ccta", **kw)
        viewer.add_labels(roi, name="plaques", **kw)
        viewer.add_labels(ves, name="vessels", **kw)
        viewer.dims.set_current_step(0, box[0].start + 25)  # a slice through plaque 3
        _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Plaque composition")
        w.image_combo.select("ccta")
        w.roi_combo.select("plaques")
        w.vessel_combo.select("vessels")
        w.compute(incremental=False)
        while not w.results:
            app.processEvents()
        for _ in range(5):
            app.processEvents()
        deb = w.DEBOUNCE_MS if debounce is None else debounce
        lat, main_t, paint = _run(viewer, app, w, edits, incremental, deb)
        results[label] = (lat, main_t, deb, paint)
        viewer.close()

    print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for label, (lat, main_t, deb, paint) in results.items():
        print(f"{label} (debounce {deb} ms), {len(lat)} edits:")
        print(f"  latency edit -> overlay shown: median {1000 * np.median(lat):.0f} ms "
              f"(min {1000 * min(lat):.0f}, max {1000 * max(lat):.0f})")  # fmt: skip
        print(f"  main-thread time per edit:     median {1000 * np.median(main_t):.0f} ms "
              f"(min {1000 * min(main_t):.0f}, max {1000 * max(main_t):.0f}), of which the "
              f"canvas repaint {1000 * np.median(paint):.0f} ms")  # fmt: skip
    lat_after = np.median(results["after: edit path"][0])
    print(f"target < 100 ms (debounce included): ratio {1000 * lat_after / 100:.2f}")


if __name__ == "__main__":
    main()
