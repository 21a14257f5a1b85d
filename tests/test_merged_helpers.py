"""Helpers merged from repeated code (issue 23, duplicates): the callers keep their messages."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.stats import agreement as ag


def test_paired_inputs_are_checked_alike():
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        ag.paired_values([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="agreement needs at least 2 paired values, got 1"):
        ag.paired_values([1], [1])
    with pytest.raises(ValueError, match="must be finite"):
        ag.paired_values([1, np.nan], [1, 2])
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        ag.cohen_kappa(["a", "b", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="kappa needs at least 2 rated items, got 1"):
        ag.cohen_kappa(["a"], ["a"])
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        ag.confusion([0, 1], [0], 2)
    x, y = ag.paired_values([1, 2], [[3], [4]])
    assert x.dtype == float and y.tolist() == [3.0, 4.0]
    assert ag.confusion([0, 1, 1], [0, 1, 0], 2).tolist() == [[1, 0], [1, 1]]
