"""Benchmark: frame scrolling with the IVUS arc annotator docked stays within 1.2x of undocked.

Claim (issue 10, fix 5): stepping through the frames of a pullback with the arc annotator
docked costs at most 1.2x the time per frame of the same viewer without it (its polar view,
arc map and longitudinal cut used to redraw in full on every frame: 635 ms against 107 ms).

Opens a 96-frame 512 x 512 synthetic pullback (with arcs on every other frame) in a shown
napari viewer, steps through 40 frames and lets Qt process every event and paint after each
step (the way a user scrolling with the slider sees it), first without the annotator (the
baseline, same process), then with it docked; prints the median ms per frame (best of
``--rounds`` runs: the machine may be shared) and the ratio.

Run (needs a display; headless: ``xvfb-run -a``):
``.venv/bin/python benchmarks/bench_annotator_scroll.py [--frames 96] [--size 512]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _step_through(viewer, app, n: int) -> float:
    """Median seconds per frame to step through ``n`` frames, painting each.

    The median, not the mean: the machine may be shared, and a load spike on one step says
    nothing about either configuration.
    """
    canvas = viewer.window._qt_viewer.canvas
    for i in range(3):  # warm up
        viewer.dims.set_current_step(0, i)
        app.processEvents()
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        viewer.dims.set_current_step(0, i)
        app.processEvents()
        canvas._scene_canvas.native.repaint()  # make napari paint now (as a visible scroll does)
        app.processEvents()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _ms(runs: list[float]) -> str:
    return ", ".join(f"{r * 1000:.0f}" for r in runs)


def _load() -> str:
    import os

    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3, help="runs of --steps per configuration")
    args = ap.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    try:
        from napari_plaque.ivus.annotator import autosave_path
    except ImportError:  # an older napari-plaque (to measure the "before" figure)
        from napari_plaque.widgets.ivus import autosave_path
    from napari_plaque.ivus.arcs import ArcSet, save_arcs
    from napari_plaque.layers import pullback_layer_data
    from napari_plaque.samples.ivus import make_ivus_sample

    tmp = Path(tempfile.mkdtemp())
    pb, _ = make_ivus_sample(tmp / "pb.dcm", n_frames=args.frames, seed=1, size=args.size)
    arcs = ArcSet(pb.n_frames, pb.frame_shape)
    for f in range(0, pb.n_frames, 2):
        arcs.add(f, "calcium", (f * 7) % 360, (f * 7 + 100) % 360)
    save_arcs(arcs, autosave_path(pb.source))

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    viewer.window._qt_window.resize(1600, 1000)
    viewer._add_layer_from_data(*pullback_layer_data(pb))
    app.processEvents()
    n = min(args.steps, pb.n_frames)
    rounds = max(1, args.rounds)
    base_runs = [_step_through(viewer, app, n) for _ in range(rounds)]

    # the same viewer with one more labels layer (the arcs as sectors, no dock): what drawing
    # one overlay costs by itself (with Mesa's software OpenGL under Xvfb, every visible layer
    # is rasterised on the CPU)
    from napari_plaque.ivus.annotator import ArcSectorStack
    from napari_plaque.layers import UNITS, layer_geometry

    scale, translate = layer_geometry(viewer.layers[0])
    overlay = viewer.add_labels(
        np.asarray(ArcSectorStack(lambda: arcs, pb.n_frames, pb.frame_shape)),
        name="overlay only",
        units=UNITS,
        scale=scale,
        translate=translate,
        opacity=0.45,
    )
    app.processEvents()
    overlay_runs = [_step_through(viewer, app, n) for _ in range(rounds)]
    viewer.layers.remove(overlay)
    app.processEvents()

    dock, widget = viewer.window.add_plugin_dock_widget("napari-plaque", "IVUS arc annotator")
    app.processEvents()
    docked_runs = [_step_through(viewer, app, n) for _ in range(rounds)]
    base, docked = min(base_runs), min(docked_runs)
    print(f"pullback {pb.n_frames} x {args.size} x {args.size}, {n} frame steps, {_load()}")
    print(f"undocked: {base * 1000:.1f} ms per frame (best of {_ms(base_runs)})")
    over = min(overlay_runs)
    print(
        f"undocked + one arcs labels layer: {over * 1000:.1f} ms per frame "
        f"(best of {_ms(overlay_runs)}), ratio {over / base:.2f}"
    )
    print(f"annotator docked: {docked * 1000:.1f} ms per frame (best of {_ms(docked_runs)})")
    # latency: after the last step, how long until the views show the frame
    t0 = time.perf_counter()
    viewer.dims.set_current_step(0, n // 2)
    label = widget.controls.stats_label if hasattr(widget, "controls") else widget.stats_label
    while label.text().split(" ")[1] != str(n // 2):
        app.processEvents()
        if time.perf_counter() - t0 > 5:
            break
    print(f"views follow a pause after {(time.perf_counter() - t0) * 1000:.0f} ms")
    if hasattr(widget, "views"):
        print(f"annotator view redraws in full: {widget.views.draw_events} (setup and edits)")
    print(f"ratio docked / undocked: {docked / base:.2f} (claim: <= 1.2)")
    print(f"ratio docked / undocked with the same overlay layer: {docked / over:.2f}")
    viewer.close()


if __name__ == "__main__":
    main()
