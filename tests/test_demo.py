"""`napari-plaque demo --screenshot` renders both demo viewers off-screen and exits."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_screenshot(tmp_path):
    out = tmp_path / "demo.png"
    env = dict(os.environ, NAPARI_PLAQUE_CACHE=str(tmp_path / "cache"))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_plaque.cli",
            "demo",
            "--screenshot",
            str(out),
            "--size",
            "1000x700",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "could not dock" not in r.stdout, r.stdout
    from skimage.io import imread

    img = imread(out)
    assert img.shape[1] >= 2000 and img.shape[0] >= 600  # two windows side by side
    assert img[..., :3].std() > 10  # not a blank frame
    # the synthetic IVUS DICOM was written to the sample cache and read back
    assert list((tmp_path / "cache").glob("*.dcm"))


def _no_display_env(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}  # fmt: skip
    env["NAPARI_PLAQUE_CACHE"] = str(tmp_path / "cache")
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="displays are a Linux matter")
def test_demo_without_a_display_points_to_screenshot(tmp_path):
    """Issue 21 item 16: no Qt abort (rc 134), a message naming --screenshot, exit 2."""
    r = subprocess.run([sys.executable, "-m", "napari_plaque.cli", "demo"], capture_output=True,
                       text=True, env=_no_display_env(tmp_path), timeout=120)  # fmt: skip
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "no display" in r.stderr and "--screenshot" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="displays are a Linux matter")
def test_demo_sh_without_a_display_stops_before_installing(tmp_path):
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "demo.sh"
    env = _no_display_env(tmp_path)
    env["VENV"] = str(tmp_path / "venv-that-must-not-be-made")
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "--screenshot" in r.stderr, r.stderr
    assert not (tmp_path / "venv-that-must-not-be-made").exists()


@pytest.mark.slow  # ~20 s: the demo's IVUS viewer with its docks
def test_truth_arcs_hidden_and_unlike_the_users_arcs(make_napari_viewer, tmp_path, monkeypatch):
    """Issue 21 item 13: `truth arcs` was visible by default in nearly the user's colours."""
    import numpy as np
    from matplotlib.colors import to_rgba

    from napari_plaque.cli.demo import build_ivus_viewer
    from napari_plaque.widgets._ivus_views import CLASS_COLORS

    monkeypatch.setenv("NAPARI_PLAQUE_CACHE", str(tmp_path))
    viewer = make_napari_viewer()
    build_ivus_viewer(viewer)
    truth = viewer.layers["truth arcs"]
    assert not truth.visible and truth.contour == 2
    users = [np.array(to_rgba(c)) for c in CLASS_COLORS.values()]
    for label in (1, 2):
        c = np.asarray(truth.colormap.map(label)).ravel()[:3]
        assert min(np.abs(c - u[:3]).sum() for u in users) > 0.5, (label, c)
