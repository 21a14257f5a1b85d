"""Shared fixtures: paths to the real data in ../shared and pydicom's bundled test files."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PHANTOM = SHARED / "data" / "qrm-phantom-canon"


@pytest.fixture(scope="session")
def phantom_dir() -> Path:
    if not PHANTOM.is_dir():
        pytest.skip(f"real data not found at {PHANTOM}")
    return PHANTOM


@pytest.fixture(scope="session")
def phantom(phantom_dir):
    """The QRM phantom read once per session (CTVolume)."""
    from napari_plaque.io import read_ct

    return read_ct(phantom_dir)[0]


def pydicom_file(name: str) -> Path:
    """A file from pydicom's test data (pydicom itself or the pydicom-data package), or skip."""
    import warnings

    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = (
            get_testdata_file(name, download=False)
            if _supports_download_kw()
            else get_testdata_file(name)
        )
    if p is None:
        pytest.skip(f"pydicom test file {name} not installed (pip install pydicom-data)")
    return Path(p)


def _supports_download_kw() -> bool:
    import inspect

    from pydicom.data import get_testdata_file

    return "download" in inspect.signature(get_testdata_file).parameters
