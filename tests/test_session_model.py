"""The Qt-free calcium-scoring session: 3D assignment, exclusion, undo, re-scoring keeps them."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plaque.ccta import calcium_score
from napari_plaque.ccta.session import NO_MASK_WARNING, CalciumSession, connected_groups

SPACING = (3.0, 0.5, 0.5)


def _volume():
    """Two calcifications: A spans slices 2-4 (3 lesions, 300 HU core), B one slice (500 HU)."""
    hu = np.zeros((8, 40, 40), np.int16)
    hu[2:5, 10:14, 10:14] = 300  # A: 16 px = 4 mm^2 per slice, weight 3
    hu[3, 10:14, 13] = 150  # a dim column in the middle slice (part of A at 130 HU, not 200)
    hu[6, 30:34, 30:34] = 500  # B: weight 4
    return hu


def _score(hu, **kw):
    return calcium_score(hu, SPACING, return_labels=True, **kw)


def test_connected_groups_join_slices():
    res = _score(_volume())
    assert res.n_lesions == 4
    g = connected_groups(res.lesion_labels, res.n_lesions)
    ids_a = [int(i) for i, s in zip(res.lesions["id"], res.lesions["slice"], strict=True) if s < 5]
    assert len({int(g[i]) for i in ids_a}) == 1
    id_b = int(res.lesions["id"][res.lesions["slice"] == 6][0])
    assert g[id_b] != g[ids_a[0]]


def test_assign_3d_by_default_slice_on_request_and_undo():
    s = CalciumSession()
    events = []
    s.changed.connect(lambda: events.append(1))
    s.set_result(_score(_volume()))
    assert s.warnings == [NO_MASK_WARNING]
    a_mid = s.lesion_at((3, 12, 12))
    assert a_mid > 0
    changed = s.assign(a_mid, 2)  # LAD: the whole 3D calcification
    assert len(changed) == 3
    per = s.result.per_vessel
    total = s.result.agatston
    # A: 3 slices x 4 mm^2 x weight 3 x (3 mm / 3) = 36; B: 4 mm^2 x 4 = 16
    assert per["LAD"]["agatston"] == pytest.approx(36.0)
    assert total == pytest.approx(52.0)
    # per-slice on request: only the top slice's lesion moves to LCX
    a_top = s.lesion_at((2, 11, 11))
    assert s.assign(a_top, 3, scope="slice") == [a_top]
    assert s.result.per_vessel["LCX"]["agatston"] == pytest.approx(12.0)
    assert s.undo() and s.result.per_vessel["LCX"]["agatston"] == 0.0
    assert s.undo() and s.assignments == {}
    assert not s.undo()
    assert s.redo() and len(s.assignments) == 3
    assert len(events) == 6


def test_exclude_with_undo_and_report():
    s = CalciumSession()
    s.set_result(_score(_volume()))
    b = s.lesion_at((6, 31, 31))
    s.exclude(b)
    assert s.result.agatston == pytest.approx(36.0) and s.result.n_lesions == 3
    rows = {r["id"]: r for r in s.lesion_rows()}
    assert rows[b]["excluded"] and len(rows) == 4
    rep = s.to_dict("ct")
    assert rep["excluded_lesions"] == [b] and rep["agatston"] == pytest.approx(36.0)
    assert rep["warnings"] == [NO_MASK_WARNING]
    assert s.undo() and s.result.agatston == pytest.approx(52.0)
    with pytest.raises(ValueError, match="no lesion"):
        s.exclude(999)


def test_rescoring_keeps_assignments_exclusions_and_history():
    hu = _volume()
    s = CalciumSession()
    s.set_result(_score(hu))
    s.assign(s.lesion_at((3, 12, 12)), 4)  # RCA
    s.exclude(s.lesion_at((6, 31, 31)))
    # score again with a higher threshold: the dim rim (one column of the middle slice) goes
    carried = s.set_result(_score(hu, threshold_hu=200.0), roi_given=True)
    assert carried == {"assignments": 3, "excluded": 1}
    assert s.warnings == []
    assert s.result.per_vessel["RCA"]["agatston"] == pytest.approx(33.0)  # 12 + 9 + 12
    assert s.result.agatston == pytest.approx(33.0)
    # the history came along: undo the exclusion, then the assignment
    assert s.undo() and s.result.agatston == pytest.approx(49.0)
    assert s.undo() and s.assignments == {}


def test_rows_are_the_one_calcium_layout():
    s = CalciumSession()
    vessels = np.zeros((8, 40, 40), np.int16)
    vessels[6, 28:36, 28:36] = 2
    s.set_result(_score(_volume(), vessel_labels=vessels))
    row = s.result.to_rows("ct")[0]
    assert list(row)[:7] == [
        "study",
        "agatston",
        "volume_mm3",
        "mass_mg",
        "n_lesions",
        "cac_drs",
        "category",
    ]
    assert row["LAD_agatston"] == pytest.approx(16.0) and row["threshold_hu"] == 130.0
