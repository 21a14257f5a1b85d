"""LazyFrameStack: napari's ways of slicing give the frames the subclass draws, one at a time."""

from __future__ import annotations

import numpy as np

from napari_plaque.lazy_stack import LazyFrameStack


class _Numbered(LazyFrameStack):
    def __init__(self):
        super().__init__(5, (3, 4))
        self.drawn = []

    def frame(self, f):
        self.drawn.append(f)
        return np.full(self.shape[1:], f, np.uint8)


def test_indexing_like_an_array():
    s = _Numbered()
    full = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((5, 3, 4), np.uint8)
    assert s.shape == (5, 3, 4) and s.ndim == 3 and len(s) == 5
    s.drawn.clear()
    assert np.array_equal(s[2], full[2]) and s.drawn == [2]  # one frame drawn, not five
    for key in ((slice(1, 4), 0), (Ellipsis, 1), (3, Ellipsis, 2), (slice(4, 1, -1),), ([0, 4],)):
        assert np.array_equal(s[key], full[key]), key
    assert s[5:].shape == (0, 3, 4)
    assert np.array_equal(np.asarray(s), full) and np.asarray(s, np.int16).dtype == np.int16
