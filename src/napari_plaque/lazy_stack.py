"""A lazy (frames, rows, cols) uint8 stack drawn one frame at a time, for napari labels layers.

napari slices it like any array; only the frame on screen is computed, so scrolling never
replaces layer data (call the layer's ``refresh()`` after an edit). Subclasses define
:meth:`LazyFrameStack.frame`. Used by the arc-sector overlay (``ivus.annotator``) and the
vessel-border overlay (``ivus.border_editor``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class LazyFrameStack:
    """Array-like (frames, rows, cols) uint8 whose frames come from :meth:`frame`."""

    def __init__(self, n_frames: int, frame_shape) -> None:
        self.shape = (int(n_frames), int(frame_shape[0]), int(frame_shape[1]))
        self.dtype = np.dtype(np.uint8)
        self.ndim = 3

    def __len__(self) -> int:
        return self.shape[0]

    def frame(self, f: int) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (4 - len(key)) + key[i + 1 :]
        key = key + (slice(None),) * (3 - len(key))
        frames = np.arange(self.shape[0])[key[0]]
        if np.ndim(frames) == 0:
            return self.frame(int(frames))[key[1:]]
        if not len(frames):
            return np.zeros((0, *self.shape[1:]), np.uint8)[(slice(None), *key[1:])]
        return np.stack([self.frame(int(f)) for f in frames])[(slice(None), *key[1:])]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)
