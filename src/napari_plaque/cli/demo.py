"""``napari-plaque demo``: napari with the synthetic samples and the plugin's widgets."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from .core import WIDGETS


@contextlib.contextmanager
def _virtual_display():
    """Start Xvfb when there is no display (for off-screen screenshots); no-op otherwise."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or not shutil.which("Xvfb"):
        yield
        return
    for num in range(99, 130):
        if not Path(f"/tmp/.X{num}-lock").exists():
            break
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


def build_demo_viewer(viewer, sample: str = "all"):
    """Add the samples and dock the widgets into ``viewer``; returns the dock widgets."""
    from ..samples import ccta_sample, ivus_sample

    docks = {}
    if sample in ("all", "ivus"):
        for data, kwargs, ltype in ivus_sample():
            getattr(viewer, f"add_{ltype}")(data, **kwargs)
    if sample in ("all", "ccta"):
        for data, kwargs, ltype in ccta_sample():
            getattr(viewer, f"add_{ltype}")(data, **kwargs)
    for name in WIDGETS:
        try:
            dock, widget = viewer.window.add_plugin_dock_widget("napari-plaque", name)
            docks[name] = widget
        except Exception as exc:  # noqa: BLE001  a widget that fails must not kill the demo
            print(f"napari-plaque demo: could not dock {name!r}: {exc}")
    # show the first dock on top
    return docks


def run_demo(sample: str = "all", screenshot: str | None = None, size: str = "1400x900") -> int:
    with _virtual_display() if screenshot else contextlib.nullcontext():
        import napari

        viewer = napari.Viewer(title="napari-plaque demo", show=screenshot is None)
        build_demo_viewer(viewer, sample)
        if screenshot is None:
            napari.run()
            return 0
        w, h = (int(x) for x in size.lower().split("x"))
        viewer.window._qt_window.resize(w, h)
        viewer.window._qt_window.show()
        from qtpy.QtWidgets import QApplication

        for _ in range(20):
            QApplication.processEvents()
            time.sleep(0.02)
        viewer.reset_view()
        QApplication.processEvents()
        out = Path(screenshot)
        out.parent.mkdir(parents=True, exist_ok=True)
        viewer.window.screenshot(str(out), canvas_only=False)
        viewer.close()
        print(f"napari-plaque demo: screenshot written to {out}")
        return 0
