"""``napari-plaque demo``: napari with the synthetic samples and the plugin's widgets.

CCTA and IVUS live at very different physical scales (a 100 mm heart, a 10 mm vessel cross
section), so the demo opens one viewer for each, each with its widgets docked as tabs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: widgets docked in each demo viewer (display names from napari.yaml), first one on top
CCTA_WIDGETS = ("Calcium scoring", "Plaque composition", "Segmentation QC", "Model inference")
IVUS_WIDGETS = ("IVUS arc annotator", "Model inference")


@contextlib.contextmanager
def _virtual_display():
    """Start Xvfb when there is no display (for off-screen screenshots); no-op otherwise."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or not shutil.which("Xvfb"):
        yield
        return
    num = next(n for n in range(99, 200) if not Path(f"/tmp/.X{n}-lock").exists())
    proc = subprocess.Popen(
        ["Xvfb", f":{num}", "-screen", "0", "1920x1200x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.environ["DISPLAY"] = f":{num}"
    time.sleep(0.5)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(5)
        os.environ.pop("DISPLAY", None)


def _has_display() -> bool:
    """Whether Qt can open windows here (always on macOS / Windows; on Linux a display server
    or a Qt platform that needs none)."""
    if not sys.platform.startswith("linux"):
        return True
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return True
    return os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc")


def display_problem(screenshot: str | None) -> str | None:
    """Why the demo cannot run here (a message pointing to what works), or None.

    Without a display Qt aborts the process (rc 134) before Python can say anything, so the
    demo checks first.
    """
    if _has_display():
        return None
    if screenshot is None:
        return (
            "napari-plaque demo: no display (DISPLAY is not set), so the demo's napari windows "
            "cannot open. On a machine without a screen write a picture of them instead:\n"
            "  napari-plaque demo --screenshot demo.png\n"
            "(it starts a virtual display, Xvfb, by itself), or run under one: "
            "xvfb-run -a napari-plaque demo --screenshot demo.png"
        )
    if not shutil.which("Xvfb"):
        return (
            "napari-plaque demo: no display and no Xvfb to start a virtual one for "
            f"--screenshot {screenshot}: install Xvfb (e.g. apt-get install xvfb) or run on a "
            "machine with a display"
        )
    return None


def _add_layers(viewer, layer_data) -> None:
    for data, kwargs, ltype in layer_data:
        getattr(viewer, f"add_{ltype}")(data, **kwargs)


def dock_widgets(viewer, names, width: int = 460) -> dict:
    """Dock napari-plaque widgets as tabs; a widget that fails to load is reported, not fatal."""
    docks, dock_objs = {}, []
    for i, name in enumerate(names):
        try:
            dock, widget = viewer.window.add_plugin_dock_widget("napari-plaque", name, tabify=i > 0)
        except Exception as exc:  # noqa: BLE001
            print(f"napari-plaque demo: could not dock {name!r}: {exc}")
            continue
        docks[name] = widget
        dock_objs.append(dock)
    if dock_objs:
        from qtpy.QtCore import Qt

        dock_objs[0].raise_()  # first tab in front
        with contextlib.suppress(Exception):
            viewer.window._qt_window.resizeDocks([dock_objs[0]], [width], Qt.Horizontal)
    return docks


def build_ccta_viewer(viewer) -> dict:
    from ..samples import ccta_sample

    _add_layers(viewer, ccta_sample())
    viewer.dims.set_point(0, float(np.mean(viewer.layers[0].extent.world[:, 0])))
    viewer.reset_view()
    docks = dock_widgets(viewer, CCTA_WIDGETS)
    cac = docks.get("Calcium scoring")
    names = [ly.name for ly in viewer.layers]
    noncontrast = next((n for n in names if "non-contrast" in n), None)
    if cac is not None and noncontrast is not None:
        # Agatston belongs on the non-contrast scan: preselect it and score once
        cac.image_combo.select(noncontrast)
        if "vessels" in names:
            cac.vessel_combo.select("vessels")
        cac.compute()
    return docks


def build_ivus_viewer(viewer) -> dict:
    from ..samples import TRUTH_ARCS_CONTOUR, TRUTH_ARCS_LAYER, ivus_sample

    _add_layers(viewer, ivus_sample())
    if TRUTH_ARCS_LAYER in viewer.layers:
        viewer.layers[TRUTH_ARCS_LAYER].contour = TRUTH_ARCS_CONTOUR
    viewer.reset_view()
    return dock_widgets(viewer, IVUS_WIDGETS)


def run_demo(sample: str = "all", screenshot: str | None = None, size: str = "1400x900") -> int:
    problem = display_problem(screenshot)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    with _virtual_display() if screenshot else contextlib.nullcontext():
        import napari

        viewers = []
        if sample in ("all", "ccta"):
            v = napari.Viewer(title="napari-plaque demo: CCTA", show=screenshot is None)
            build_ccta_viewer(v)
            viewers.append(v)
        if sample in ("all", "ivus"):
            v = napari.Viewer(title="napari-plaque demo: IVUS", show=screenshot is None)
            build_ivus_viewer(v)
            viewers.append(v)
        if screenshot is None:
            napari.run()
            return 0
        w, h = (int(x) for x in size.lower().split("x"))
        shots = [_window_shot(v, w, h) for v in viewers]
        img = _side_by_side(shots)
        from skimage.io import imsave

        out = Path(screenshot)
        out.parent.mkdir(parents=True, exist_ok=True)
        imsave(out, img, check_contrast=False)
        for v in viewers:
            v.close()
        print(f"napari-plaque demo: screenshot written to {out} ({img.shape[1]}x{img.shape[0]})")
        return 0


def _window_shot(viewer, w: int, h: int) -> np.ndarray:
    from qtpy.QtWidgets import QApplication

    qwin = viewer.window._qt_window
    qwin.resize(w, h)
    qwin.show()
    for _ in range(100):  # let workers (e.g. the demo's calcium score) finish and layers draw
        QApplication.processEvents()
        time.sleep(0.03)
    viewer.reset_view()
    QApplication.processEvents()
    return np.asarray(viewer.window.screenshot(canvas_only=False, flash=False))


def _side_by_side(shots: list[np.ndarray]) -> np.ndarray:
    hmax = max(s.shape[0] for s in shots)
    padded = []
    for s in shots:
        pad = np.zeros((hmax - s.shape[0], *s.shape[1:]), s.dtype)
        padded.append(np.concatenate([s, pad]) if len(pad) else s)
    gap = np.full((hmax, 8, shots[0].shape[2]), 255, shots[0].dtype)
    out = [padded[0]]
    for s in padded[1:]:
        out += [gap, s]
    return np.concatenate(out, axis=1)
