"""DICOMweb pull/push against a real Orthanc (with its DICOMweb plugin) on localhost.

The server starts once per session on a free port with a temporary storage folder and basic
authentication on, and is stopped by PID. Tests skip only when the Orthanc binary (Debian
``orthanc`` + ``orthanc-dicomweb``, see scripts/install-system-deps.sh) is missing.
Error statuses the test server cannot be made to answer (500) come from a tiny local stub.
"""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from _interop_util import Orthanc, dicomweb_plugin, free_port, make_series, orthanc_binary
from napari_plaque.io import read_ct
from napari_plaque.io.dicomweb import (
    Auth,
    DICOMwebError,
    pull,
    push,
    safe_url,
    search_series,
    search_studies,
)


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    binary = orthanc_binary()
    if binary is None:
        pytest.skip("Orthanc is not installed (bash scripts/install-system-deps.sh)")
    plugin = dicomweb_plugin()
    if plugin is None:
        pytest.fail("Orthanc is installed but its DICOMweb plugin (orthanc-dicomweb) is not")
    server = Orthanc(tmp_path_factory.mktemp("orthanc"), binary, plugin)
    server.wait(timeout_s=30)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def auth(orthanc):
    return Auth(user=orthanc.USER, password=orthanc.PASSWORD)


@pytest.fixture(scope="session")
def pushed(orthanc, auth, tmp_path_factory):
    folder = make_series(tmp_path_factory.mktemp("web") / "ct", shape=(4, 16, 18), seed=7)
    res = push(orthanc.url, [folder], auth=auth)
    return folder, res


def _by_uid(folder: Path) -> dict[str, pydicom.Dataset]:
    out = {}
    for p in Path(folder).rglob("*"):
        if not p.is_file():
            continue
        try:
            ds = pydicom.dcmread(p)
        except pydicom.errors.InvalidDicomError:
            continue  # e.g. the phantom's SOURCE.md
        out[ds.SOPInstanceUID] = ds
    return out


def test_push_query_pull_identical(orthanc, auth, pushed, tmp_path):
    folder, res = pushed
    assert res["sent"] == 4 and len(res["studies"]) == 1
    study = res["studies"][0]
    studies = search_studies(orthanc.url, auth=auth)
    assert study in [s["study_uid"] for s in studies]
    (series,) = search_series(orthanc.url, study, auth=auth)
    assert series["modality"] == "CT" and series["n_instances"] == 4
    out = tmp_path / "pulled"
    folders = pull(orthanc.url, study, out, auth=auth)
    assert [f.parent for f in folders] == [out]
    a, b = _by_uid(folder), _by_uid(out)
    assert set(a) == set(b)
    for uid, ds in a.items():
        assert ds.PixelData == b[uid].PixelData
        assert ds.ImagePositionPatient == b[uid].ImagePositionPatient
        assert ds.PatientID == b[uid].PatientID
    # the pulled series reads like the original
    va, vb = read_ct(folder)[0], read_ct(folders[0])[0]
    assert np.array_equal(va.hu, vb.hu) and va.origin_mm == vb.origin_mm


def test_push_seg_and_sr_and_read_them_back(orthanc, auth, pushed, tmp_path):
    from napari_plaque.ccta import calcium_score
    from napari_plaque.io.seg import read_seg, write_seg
    from napari_plaque.io.sr import read_sr, write_cac_sr

    folder, res = pushed
    vol = read_ct(folder)[0]
    lab = (vol.hu >= 130).astype(np.uint8)
    seg = write_seg(tmp_path / "seg.dcm", lab, folder, names=["calcium"])
    sr = write_cac_sr(tmp_path / "sr.dcm", calcium_score(vol.hu, vol.spacing_mm), folder)
    assert push(orthanc.url, [seg, sr], auth=auth)["sent"] == 2
    study = res["studies"][0]
    mods = {s["modality"]: s["series_uid"] for s in search_series(orthanc.url, study, auth=auth)}
    assert {"CT", "SEG", "SR"} <= set(mods)
    out = tmp_path / "back"
    pull(orthanc.url, study, out, auth=auth)
    seg_file = next((out / mods["SEG"]).iterdir())
    back = read_seg(seg_file)  # finds the pulled CT series next to it
    assert back.source == str(out / mods["CT"])
    assert np.array_equal(back.labels[0][1], lab)
    sr_file = next((out / mods["SR"]).iterdir())
    total = read_sr(sr_file)["groups"][0]["measurements"]["Calcium score"]["value"]
    assert total == pytest.approx(calcium_score(vol.hu, vol.spacing_mm).agatston)


def test_pull_one_series(orthanc, auth, pushed, tmp_path):
    folder, res = pushed
    (ct,) = [s for s in search_series(orthanc.url, res["studies"][0], auth=auth)
             if s["modality"] == "CT"]
    folders = pull(orthanc.url, res["studies"][0], tmp_path / "one",
                   series_uid=ct["series_uid"], auth=auth)
    assert [f.name for f in folders] == [ct["series_uid"]]
    with pytest.raises(DICOMwebError, match="is not in study"):
        pull(orthanc.url, res["studies"][0], tmp_path / "two", series_uid="1.2.3", auth=auth)
    assert not (tmp_path / "two").exists()


def test_wrong_password_401_never_shows_secret(orthanc):
    bad = Auth(user=orthanc.USER, password="wrong-secret-xyz")
    with pytest.raises(DICOMwebError, match="401") as exc:
        search_studies(orthanc.url, auth=bad)
    assert "wrong-secret-xyz" not in str(exc.value) and "wrong-secret-xyz" not in repr(bad)
    with pytest.raises(DICOMwebError, match="401"):
        search_studies(orthanc.url)  # no credentials at all


def test_credentials_in_url_are_used_and_hidden(orthanc, pushed):
    url = orthanc.url.replace("http://", f"http://{orthanc.USER}:{orthanc.PASSWORD}@")
    assert search_studies(url)  # authenticated through the URL's user-info
    assert orthanc.PASSWORD not in safe_url(url)
    bad = orthanc.url.replace("http://", f"http://{orthanc.USER}:nope-secret@")
    with pytest.raises(DICOMwebError) as exc:
        search_studies(bad)
    assert "nope-secret" not in str(exc.value)


def test_404_wrong_root_and_unknown_study(orthanc, auth, tmp_path):
    root = orthanc.url.replace("/dicom-web", "/not-dicom-web")
    with pytest.raises(DICOMwebError, match="404 Not Found"):
        search_studies(root, auth=auth)
    with pytest.raises(DICOMwebError, match="404|no series"):
        pull(orthanc.url, "1.2.3.4.5", tmp_path / "x", auth=auth)
    assert not (tmp_path / "x").exists()


def test_unreachable_server(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(DICOMwebError, match="cannot reach the server"):
        search_studies(url, timeout_s=5)
    with pytest.raises(DICOMwebError, match="cannot reach"):
        pull(url, "1.2.3", tmp_path / "x", timeout_s=5)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DICOMwebError, match="not a DICOMweb URL"):
        search_studies("ftp://example.org/x")


class _Stub(http.server.BaseHTTPRequestHandler):
    """Answers QIDO series searches with one series, everything else with ``status``."""

    status = 500

    def do_GET(self):  # noqa: N802
        if self.path.split("?")[0].endswith("/series") and self.server.series_ok:
            body = (b'[{"0020000E": {"vr": "UI", "Value": ["1.2.3.4"]}, '
                    b'"00201209": {"vr": "IS", "Value": [2]}}]')
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    srv.status, srv.series_ok = 500, False
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("status,match", [(500, "server error 500"), (401, "401"),
                                          (404, "404"), (403, "403")])
def test_http_errors_are_named(stub, status, match):
    stub.status = status
    url = f"http://127.0.0.1:{stub.server_address[1]}/dicom-web"
    with pytest.raises(DICOMwebError, match=match):
        search_studies(url)


def test_server_error_mid_pull_leaves_nothing(stub, tmp_path):
    stub.status, stub.series_ok = 500, True  # the series list works, retrieval fails
    url = f"http://127.0.0.1:{stub.server_address[1]}/dicom-web"
    with pytest.raises(DICOMwebError, match="server error 500 while retrieving"):
        pull(url, "1.2.3", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # neither out nor a hidden partial folder


def test_push_checks_every_file_first(orthanc, auth, tmp_path):
    folder = make_series(tmp_path / "ct", shape=(2, 8, 8), seed=3)
    bad = tmp_path / "notes.dcm"
    bad.write_text("not DICOM")
    with pytest.raises(DICOMwebError, match="notes.dcm: not a DICOM file"):
        push(orthanc.url, [folder, bad], auth=auth)
    uid = pydicom.dcmread(next(folder.iterdir())).StudyInstanceUID
    assert uid not in [s["study_uid"] for s in search_studies(orthanc.url, auth=auth)]


def test_cli_push_pull_with_env_password(orthanc, pushed, tmp_path, monkeypatch, capsys):
    from napari_plaque.cli import main

    folder, res = pushed
    monkeypatch.setenv("NP_TEST_PW", orthanc.PASSWORD)
    common = ["--user", orthanc.USER, "--password-env", "NP_TEST_PW"]
    assert main(["push", orthanc.url, str(folder), "--json", *common]) == 0
    assert main(["pull", orthanc.url, "--study", res["studies"][0], "--out",
                 str(tmp_path / "p"), *common]) == 0
    printed = capsys.readouterr()
    assert orthanc.PASSWORD not in printed.out + printed.err
    assert "pulled" in printed.out
    # into a non-empty folder: refused, exit 2
    assert main(["pull", orthanc.url, "--study", res["studies"][0], "--out",
                 str(tmp_path / "p"), *common]) == 2
    monkeypatch.setenv("NP_TEST_PW", "bad-pass-123")
    assert main(["pull", orthanc.url, "--study", res["studies"][0], "--out",
                 str(tmp_path / "q"), *common]) == 2
    printed = capsys.readouterr()
    assert "401" in printed.err and "bad-pass-123" not in printed.err
    assert not (tmp_path / "q").exists()


def test_phantom_push_pull_identical(orthanc, auth, phantom_dir, tmp_path):
    res = push(orthanc.url, [phantom_dir], auth=auth)
    assert res["sent"] == 47
    out = tmp_path / "phantom"
    pull(orthanc.url, res["studies"][0], out, auth=auth)
    a, b = _by_uid(phantom_dir), _by_uid(out)
    assert set(a) == set(b)
    assert all(a[u].PixelData == b[u].PixelData for u in a)


def test_fetch_study_orders_images_first_and_reuses_the_local_copy(orthanc, auth, pushed,
                                                                    tmp_path):
    from napari_plaque._progress import run_steps
    from napari_plaque.io.detect import Format, detect
    from napari_plaque.io.dicomweb import iter_fetch_study

    folder, res = pushed
    study = res["studies"][0]
    out = tmp_path / "cache" / study
    folders = run_steps(iter_fetch_study(orthanc.url, study, out, auth=auth))
    kinds = [detect(f) for f in folders]
    assert kinds[0] is Format.CT_SERIES
    assert kinds == sorted(kinds, key=lambda k: k in (Format.DICOM_SEG, Format.DICOM_SR))
    offline = f"http://127.0.0.1:{free_port()}/dicom-web"  # no server there: the copy is used
    assert run_steps(iter_fetch_study(offline, study, out)) == folders


def test_pull_caps_on_a_real_server(orthanc, auth, pushed, tmp_path):
    folder, res = pushed
    study = res["studies"][0]
    with pytest.raises(DICOMwebError, match="more than --max-instances 2"):
        pull(orthanc.url, study, tmp_path / "a", auth=auth, max_instances=2)
    with pytest.raises(DICOMwebError, match="more than 1 KiB received"):
        pull(orthanc.url, study, tmp_path / "b", auth=auth, max_bytes=1024)
    assert list(tmp_path.iterdir()) == []  # nothing kept


def test_a_pulled_study_is_scored_as_one_study(orthanc, auth, phantom_dir, tmp_path, capsys):
    """Issue 21 item 19: ``pull`` leaves its study folder marked, so ``cac`` on it scores one
    study (the largest series), not a cohort of its series folders."""
    import json

    import pydicom

    from napari_plaque.cli import main
    from napari_plaque.io.detect import PULLED_STUDY_MARKER

    # a second, shorter series of the same study (another SeriesInstanceUID)
    extra = tmp_path / "extra"
    extra.mkdir()
    files = sorted(p for p in phantom_dir.iterdir() if p.is_file() and p.suffix != ".md")[:13]
    new_uid = pydicom.uid.generate_uid()
    for i, f in enumerate(files):
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = new_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.SeriesNumber = 99
        ds.save_as(extra / f"{i}.dcm")
    res = push(orthanc.url, [phantom_dir, extra], auth=auth)
    out = tmp_path / "study"
    folders = pull(orthanc.url, res["studies"][0], out, auth=auth)
    assert len(folders) == 2 and (out / PULLED_STUDY_MARKER).is_file()
    assert json.loads((out / PULLED_STUDY_MARKER).read_text())["n_series"] == 2
    capsys.readouterr()
    assert main(["cac", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    reports = rep if isinstance(rep, list) else [rep]
    assert len(reports) == 1  # one study, not one row per series
    assert main(["cac", str(phantom_dir), "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    alone = alone[0] if isinstance(alone, list) else alone
    assert reports[0]["agatston"] == pytest.approx(alone["agatston"])  # the 47-slice series
