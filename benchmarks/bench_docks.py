"""Dock actions at clinical size: napari's main-thread time against the Qt-free model step.

Claim (issue 21): an assign / exclude / undo in the calcium dock at 2,000 lesions and a border
drag / undo in the IVUS borders dock at 3,000 frames keep napari's main thread under 100 ms;
slice stepping with every dock open costs about what it costs with none.

Each action is timed twice in the same process: the Qt-free model step alone (a bare
``CalciumSession`` / ``BorderEditor``, no widget, no file) and the dock action (the same call on
the dock's model, plus ``processEvents`` until the dock has redrawn: what the user waits for on
the main thread). Work a dock hands to a thread (the autosave, the whole-pullback summary) is not
main-thread time and is reported apart ("background").

    xvfb-run -a python benchmarks/bench_docks.py [--lesions 2000] [--frames 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np


def _load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _app():
    from qtpy.QtWidgets import QApplication

    return QApplication.instance()


def _settle(app, seconds: float = 0.0) -> None:
    end = time.perf_counter() + seconds
    app.processEvents()
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def _time_main(app, fn) -> float:
    t = time.perf_counter()
    fn()
    app.processEvents()
    return (time.perf_counter() - t) * 1e3


def _time_core(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1e3


def _longest_stall(app, seconds: float) -> float:
    """Let deferred work run (timers, worker results, redraws) for ``seconds``; the longest
    single pass of the event loop in that time (ms): the longest the main thread was busy."""
    end = time.perf_counter() + seconds
    worst = 0.0
    while time.perf_counter() < end:
        t = time.perf_counter()
        app.processEvents()
        worst = max(worst, (time.perf_counter() - t) * 1e3)
        time.sleep(0.002)
    return worst


def many_lesions_ct(n_lesions: int) -> np.ndarray:
    per_side = 10
    n_slices = int(np.ceil(n_lesions / per_side**2))
    hu = np.full((2 * n_slices, 8 * per_side + 8, 8 * per_side + 8), -50, np.int16)
    k = 0
    for z in range(n_slices):
        for i in range(per_side):
            for j in range(per_side):
                if k < n_lesions:
                    y, x = 4 + 8 * i, 4 + 8 * j
                    hu[2 * z, y : y + 3, x : x + 3] = 400
                    k += 1
    return hu


def bench_calcium(viewer, n_lesions: int, rounds: int) -> list[tuple[str, float, float]]:
    from napari_plaque.ccta import iter_calcium_score
    from napari_plaque.ccta.session import CalciumSession

    app = _app()
    hu = many_lesions_ct(n_lesions)
    viewer.add_image(hu, name="ct", scale=(3.0, 0.5, 0.5))
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "Calcium scoring")
    w.image_combo.select("ct")
    w.min_area.setValue(0.5)
    w.compute()
    t0 = time.perf_counter()
    while w.base_result is None and time.perf_counter() - t0 < 120:
        _settle(app, 0.05)
    res = w.base_result
    assert res is not None and res.n_lesions == n_lesions, res and res.n_lesions
    bare = CalciumSession()
    gen = iter_calcium_score(hu, (3.0, 0.5, 0.5), min_area_mm2=0.5, return_labels=True)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        bare.set_result(stop.value)
    ids = res.lesions["id"]
    out = []
    for name, act in (
        ("exclude", lambda s, k: s.exclude(int(ids[k]))),
        ("assign LAD", lambda s, k: s.assign(int(ids[k]), 2)),
        ("undo", lambda s, k: s.undo()),
    ):
        dock, core, later = [], [], []
        for r in range(rounds):
            k = 37 * (r + 1) % n_lesions
            _longest_stall(app, 0.3)
            core.append(_time_core(lambda act=act, k=k: act(bare, k)))
            dock.append(_time_main(app, lambda act=act, k=k: act(w.session, k)))
            later.append(_longest_stall(app, 0.5))
        out.append((f"calcium {name} @ {n_lesions} lesions", min(core), statistics.median(dock),
                     max(later)))
    viewer.window.remove_dock_widget("all")
    viewer.layers.clear()
    return out


def bench_borders(viewer, n_frames: int, rounds: int) -> list[tuple[str, float, float]]:
    from napari_plaque.ivus.border_editor import BorderEditor
    from napari_plaque.ivus.borders import VesselBorders
    from napari_plaque.layers import pullback_layer_data
    from napari_plaque.types import Pullback

    app = _app()
    tmp = tempfile.mkdtemp()
    pb = Pullback(np.zeros((n_frames, 160, 160), np.uint8), 1 / 30, 0.5, (0.05, 0.05),
                  source=os.path.join(tmp, "pb.dcm"), name="pullback")
    data, attrs, _ = pullback_layer_data(pb)
    viewer.add_image(data, **attrs)
    _, w = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS vessel borders")
    rng = np.random.default_rng(0)
    vb = VesselBorders(30 + rng.random((n_frames, 360)), 50 + rng.random((n_frames, 360)),
                       (80.0, 80.0), (0.05, 0.05))
    w._pullback()
    w._attach(BorderEditor(vb.copy(), pb.frame_shape, pb.mm_per_frame,
                           os.path.join(tmp, "pb.dcm.borders.json"), pb.source))
    _settle(app, 0.5)
    bare = BorderEditor(vb.copy(), pb.frame_shape, pb.mm_per_frame)
    out = []
    for name, act in (
        ("drag", lambda e, k: e.drag(k, "lumen", 80, 80 + 35)),
        ("undo", lambda e, k: e.undo()),
    ):
        dock, core, later = [], [], []
        for r in range(rounds):
            k = 11 * (r + 1) % n_frames
            w.editor.flush()
            _longest_stall(app, 0.5)
            core.append(_time_core(lambda act=act, k=k: act(bare, k)))
            dock.append(_time_main(app, lambda act=act, k=k: act(w.editor, k)))
            later.append(_longest_stall(app, 2.0))
        out.append((f"IVUS borders {name} @ {n_frames} frames", min(core),
                    statistics.median(dock), max(later)))
    t = time.perf_counter()
    w.editor.flush()
    while w.editor._measure is None and time.perf_counter() - t < 60:
        _settle(app, 0.02)
    background = (time.perf_counter() - t) * 1e3
    print(f"  background after the last edit (autosave + summary), not main thread: "
          f"{background:.0f} ms")
    viewer.window.remove_dock_widget("all")
    viewer.layers.clear()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lesions", type=int, default=2000)
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    import napari

    viewer = napari.Viewer(show=True)
    print(_load())
    rows = bench_calcium(viewer, args.lesions, args.rounds)
    rows += bench_borders(viewer, args.frames, args.rounds)
    print("model ms: the Qt-free step alone (best); dock ms: the same step on the dock's model "
          "plus its redraw (median);\nlater ms: the longest single main-thread pass in the "
          "deferred work that follows (plots, summary; worst)")
    print(f"{'action':<42} {'model ms':>9} {'dock ms':>9} {'later ms':>9} {'< 100 ms':>9}")
    for name, core, dock, later in rows:
        ok = "yes" if max(dock, later) < 100 else "NO"
        print(f"{name:<42} {core:9.2f} {dock:9.1f} {later:9.1f} {ok:>9}")
    print(_load())
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
