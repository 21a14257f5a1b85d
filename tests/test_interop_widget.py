"""The DICOMweb browser dock, opened the way users open it, against the real Orthanc."""

from __future__ import annotations

import numpy as np
import pytest

from _interop_util import make_series
from napari_plaque.io import read_ct
from napari_plaque.io.dicomweb import push
from test_interop_dicomweb import auth, orthanc  # noqa: F401  (session fixtures)

pytestmark = pytest.mark.gui


@pytest.fixture
def dock(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-plaque", "DICOMweb browser")
    return viewer, widget


def test_browse_and_open_study_with_seg(dock, orthanc, auth, tmp_path, qtbot):  # noqa: F811
    from napari_plaque.io.seg import write_seg

    viewer, w = dock
    folder = make_series(tmp_path / "src" / "ct", shape=(4, 16, 18), seed=11)
    vol = read_ct(folder)[0]
    lab = (vol.hu >= 130).astype(np.uint8)
    seg = write_seg(tmp_path / "src" / "seg.dcm", lab, folder, names=["calcium"])
    res = push(orthanc.url, [folder, seg], auth=auth)
    study = res["studies"][0]

    w.url.setText(orthanc.url)
    w.user.setText(orthanc.USER)
    w.password.setText(orthanc.PASSWORD)
    w.folder.setText(str(tmp_path / "cache"))
    w.search_btn.click()
    qtbot.waitUntil(lambda: w.table.rowCount() > 0 and w.search_btn.isEnabled(), timeout=20000)
    row = [s["study_uid"] for s in w.studies].index(study)
    w.table.selectRow(row)
    assert w.open_btn.isEnabled()
    w.open_btn.click()
    qtbot.waitUntil(lambda: "Opened" in w.status.text() or "Error" in w.status.text(),
                    timeout=30000)
    assert "Opened 2 series" in w.status.text(), w.status.text()
    images = [ly for ly in viewer.layers if ly.__class__.__name__ == "Image"]
    labels = [ly for ly in viewer.layers if ly.__class__.__name__ == "Labels"]
    assert len(images) == 1 and len(labels) == 1
    assert np.array_equal(np.asarray(images[0].data), vol.hu)
    assert np.array_equal(np.asarray(labels[0].data), lab)
    assert np.allclose(labels[0].scale, images[0].scale)
    assert np.allclose(labels[0].translate, images[0].translate)
    # no patient identifiers in the list
    assert all("NP-0042" not in str(v) for s in w.studies for v in s.values())


def test_wrong_password_shows_401_without_secret(dock, orthanc, qtbot):  # noqa: F811
    viewer, w = dock
    w.url.setText(orthanc.url)
    w.user.setText(orthanc.USER)
    w.password.setText("oops-secret")
    w.search_btn.click()
    qtbot.waitUntil(lambda: "Error" in w.status.text(), timeout=20000)
    assert "401" in w.status.text() and "oops-secret" not in w.status.text()
    assert w.search_btn.isEnabled() and not w.cancel_btn.isEnabled()


def test_save_hand_drawn_labels_as_seg_from_the_viewer(make_napari_viewer, tmp_path):
    """File > Save Selected Layer(s) as .dcm: labels drawn on a CT opened from DICOM."""
    import highdicom as hd

    from napari_plaque.io.seg import read_seg

    viewer = make_napari_viewer()
    folder = make_series(tmp_path / "ct", shape=(4, 16, 18), seed=5)
    (img,) = viewer.open(str(folder), plugin="napari-plaque")
    lab = np.zeros(img.data.shape, np.uint8)
    lab[1:3, 4:9, 5:10] = 2
    labels = viewer.add_labels(lab, scale=img.scale, translate=img.translate, name="drawn")
    viewer.layers.selection = {labels}
    out = tmp_path / "drawn_seg.dcm"
    viewer.layers.save(str(out), selected=True, plugin="napari-plaque")
    assert np.array_equal(read_seg(out, series=folder).labels[0][1], lab)
    assert hd.seg.segread(out).get_segment_description(2).algorithm_type.value == "MANUAL"
    # a labels layer on no DICOM series is refused; nothing written
    other = viewer.add_labels(np.zeros((3, 5, 5), np.uint8), name="free")
    viewer.layers.selection = {other}
    from unittest import mock

    with mock.patch("napari_plaque._napari.reader._notify_error") as notify, \
            pytest.warns(UserWarning):
        viewer.layers.save(str(tmp_path / "free.dcm"), selected=True, plugin="napari-plaque")
    assert "needs the CT series" in notify.call_args[0][0]
    assert not (tmp_path / "free.dcm").exists()
