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
