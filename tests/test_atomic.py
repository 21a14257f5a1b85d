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


def test_a_full_disk_while_writing_dicom_names_the_file_not_a_traceback(tmp_path):
    """Issue 22 item 14: ``export-seg`` on a full disk printed pydicom's wrapped traceback.
    The DICOM writers (SEG, SR, IVUS) go through ``atomic_write_dicom``: one line naming the
    file and the cause, nothing left behind."""
    import errno

    import pytest

    from napari_plaque.io.atomic import atomic_write_dicom

    class FullDisk:
        def save_as(self, path, **_):
            open(path, "wb").write(b"partial")
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError as inner:
                raise OSError("With tag (7FE0,0010) got exception: [Errno 28] No space left "
                              "on device\nTraceback (most recent call last): ...") from inner

    out = tmp_path / "seg.dcm"
    with pytest.raises(OSError) as e:
        atomic_write_dicom(out, FullDisk())
    msg = str(e.value)
    assert "seg.dcm" in msg and "No space left on device" in msg and "Traceback" not in msg
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary
