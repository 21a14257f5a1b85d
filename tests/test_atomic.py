"""Atomic writes: nothing half-written, normal permissions."""

from __future__ import annotations

import os
import stat

import pytest

from napari_plaque.io.atomic import atomic_path, atomic_write_json


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"v": object()})  # not serialisable: nothing written
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert p.read_text().strip() == '{\n "v": 1\n}'
    assert [q.name for q in tmp_path.iterdir()] == ["a.json"]


def test_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_json(tmp_path / "b.json", [1])
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
