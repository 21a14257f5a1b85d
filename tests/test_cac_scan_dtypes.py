"""Calcium scan: every integer HU dtype (the int64 and the uint64 reduceat paths) and any
chunking score like int16 (bit for bit), so the scan's per-dtype fast paths cannot drift."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.ccta import calcium as cal
from napari_plaque.ccta import calcium_score


def _volume() -> np.ndarray:
    rng = np.random.default_rng(7)
    shape = (9, 53, 47)
    hu = rng.normal(60, 80, shape)
    blobs = rng.random(shape) < 0.2
    hu = np.where(blobs, rng.integers(100, 1400, shape), hu)
    hu[:, :, 0] = 450  # runs at both row edges, and one in the last row of every slice
    hu[:, :, -1] = 450
    hu[:, -1, :] = 250
    return np.clip(hu, 0, None).astype(np.int16)  # non-negative: fits the unsigned dtypes


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.uint64])
@pytest.mark.parametrize("chunk_slices", [None, 2, 4])
def test_integer_dtypes_and_chunkings_score_like_int16(dtype, chunk_slices, monkeypatch):
    hu = _volume()
    if dtype == np.uint8:
        hu = np.minimum(hu, 255)
    sp = (0.5, 0.4, 0.45)
    want = calcium_score(hu, sp, return_labels=True)
    assert want.n_lesions > 20
    if chunk_slices is not None:  # several chunks of slices on two threads
        monkeypatch.setattr(cal, "_CHUNK_VOXELS", chunk_slices * hu.shape[1] * hu.shape[2])
        monkeypatch.setattr(cal, "_SCAN_THREADS", 2)
    got = calcium_score(hu.astype(dtype), sp, return_labels=True)
    for name in want.lesions.dtype.names:
        assert np.array_equal(got.lesions[name], want.lesions[name], equal_nan=True), name
    assert np.array_equal(got.lesion_labels, want.lesion_labels)
