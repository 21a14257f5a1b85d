"""`pull` against a misbehaving DICOMweb server: every mode ends in exit 2, a message naming
the server (and the series), no traceback, and nothing written.

The server is this file run as a script (``python test_dicomweb_hostile.py PORTFILE LOGFILE``):
a subprocess on 127.0.0.1 listening on two free ports (the second one is "another origin" for
the redirect mode), stopped by its PID at the end of the session and killed after
``SERVER_LIFETIME_S`` in any case. The mode is the first path segment of the DICOMweb root:
``http://127.0.0.1:PORT/<mode>/dicom-web``. Every request line is appended to LOGFILE.
Limits are small in the tests (``--deadline 3``, ``--max-instance-bytes 1M``) so the whole file
runs in a few seconds.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

STUDY = "1.2.826.0.1.3680043.10.999.1"
SERIES = "1.2.826.0.1.3680043.10.999.2"
OTHER_STUDY = "1.2.826.0.1.3680043.10.999.9"
SERVER_LIFETIME_S = 300
BOUNDARY = "hostile-boundary-1234"

#: mode -> (words the error message must hold, extra pull options)
MODES: dict[str, tuple[str, list[str]]] = {
    "nondicom": ("part 1 is 'text/html'", []),
    "garbage": ("part 1 is not a DICOM instance", []),
    "noctype": ("no Content-Type", []),
    "boundary": ("does not use the boundary", []),
    "503": ("server busy (503", []),
    "503long": ("Retry-After 3600 s", []),
    "429": ("server busy (429", []),
    "drip": ("deadline of 3 s", ["--deadline", "3"]),
    "endless": ("larger than 1 MiB", ["--max-instance-bytes", "1M"]),
    "endlessbytes": ("2 MiB while retrieving", ["--max-bytes", "2M"]),  # the pull's byte cap
    "manyseries": ("lists 20000 series, more than --max-series 1000", []),
    "missing": ("received 0 of the 3 instances", []),
    "fewer": ("received 2 of the 3 instances", []),
    "truncated": ("has no pixel data", []),
    "cut": ("truncated", []),
    "otherstudy": (f"belongs to study {OTHER_STUDY}", []),
    "duplicate": ("received twice", []),
    "redirect": ("redirected to another origin", ["--token-env", "HOSTILE_TOKEN"]),
    "notjson": ("not JSON", []),
    "manyinstances": ("more than --max-instances 2", ["--max-instances", "2"]),
    "close": ("the connection broke", []),
    "biglength": ("(Content-Length), larger than 1 MiB", ["--max-bytes", "1M"]),
}


# ------------------------------------------------------------------------------ the server
def _instance(i: int, study: str = STUDY, sop: str | None = None, pixels: bool = True) -> bytes:
    import numpy as np
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop or f"{SERIES}.{i + 1}"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("x.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, SERIES
    ds.Modality, ds.PatientID = "CT", "HOSTILE"
    ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, 3.0 * i], [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing, ds.SliceThickness = [0.5, 0.5], 3.0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = 16, 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    if pixels:
        ds.PixelData = np.full((16, 16), 100 * i, np.int16).tobytes()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _multipart(parts: list[tuple[str, bytes]], boundary: str = BOUNDARY) -> bytes:
    out = b""
    for ctype, body in parts:
        out += f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode() + body + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def _series_json(n_series: int = 1, n: int = 3) -> bytes:
    rows = [
        {"0020000E": {"vr": "UI", "Value": [SERIES if k == 0 else f"{SERIES}.{k}"]},
         "00080060": {"vr": "CS", "Value": ["CT"]},
         "00201209": {"vr": "IS", "Value": [n]}}
        for k in range(n_series)
    ]
    return json.dumps(rows).encode()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, code, body=b"", ctype=None, headers=()):
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        with open(self.server.log, "a") as fh:
            fh.write(f"{self.server.server_address[1]} {self.path}\n")
        path = self.path.split("?")[0]
        parts = path.strip("/").split("/")
        mode = parts[0]
        if self.server.other:  # the other origin: answers everything, logs the request
            self._send(200, _series_json(), "application/dicom+json")
            return
        if path.endswith("/studies") and mode == "dripsearch":
            body = b'[{"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}]'
            self.send_response(200)
            self.send_header("Content-Type", "application/dicom+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for b in body:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(0.5)
            return
        if path.endswith("/series"):  # QIDO
            if mode == "manyseries":
                self._send(200, _series_json(20000), "application/dicom+json")
            elif mode == "notjson":
                self._send(200, b"<html>login page</html>", "text/html")
            elif mode == "manyinstances":
                self._send(200, _series_json(1, 2), "application/dicom+json")
            else:
                self._send(200, _series_json(), "application/dicom+json")
            return
        self.retrieve(mode)

    def retrieve(self, mode):  # noqa: C901 - one branch per mode
        mp = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
        three = [("application/dicom", _instance(i)) for i in range(3)]
        if mode == "ok":
            self._send(200, _multipart(three), mp)
        elif mode == "nondicom":
            self._send(200, _multipart([("text/html", b"<html>oops</html>")]), mp)
        elif mode == "garbage":
            self._send(200, _multipart([("application/dicom", b"\x00" * 500)]), mp)
        elif mode == "noctype":
            self._send(200, _multipart(three))
        elif mode == "boundary":
            self._send(200, _multipart(three, boundary="another-boundary"), mp)
        elif mode == "503":
            self._send(503, headers=[("Retry-After", "0")])
        elif mode == "503long":
            self._send(503, headers=[("Retry-After", "3600")])
        elif mode == "429":
            self._send(429, headers=[("Retry-After", "0")])
        elif mode == "429once":
            self.server.hits[mode] = self.server.hits.get(mode, 0) + 1
            if self.server.hits[mode] == 1:
                self._send(429, headers=[("Retry-After", "0")])
            else:
                self._send(200, _multipart(three), mp)
        elif mode == "drip":
            body = _multipart(three)
            self.send_response(200)
            self.send_header("Content-Type", mp)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for b in body:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(2)
        elif mode in ("endless", "endlessbytes"):
            self.send_response(200)
            self.send_header("Content-Type", mp)
            self.end_headers()  # no length: the body ends when the connection does
            self.close_connection = True
            self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode())
            chunk = os.urandom(1 << 16)
            while True:
                self.wfile.write(chunk)
        elif mode == "missing":
            self._send(200, _multipart([]), mp)
        elif mode == "fewer":
            self._send(200, _multipart(three[:2]), mp)
        elif mode == "truncated":
            self._send(200, _multipart([("application/dicom", _instance(0, pixels=False))]), mp)
        elif mode == "cut":
            self._send(200, _multipart([("application/dicom", _instance(0)[:-200])]), mp)
        elif mode == "otherstudy":
            parts = three[:2] + [("application/dicom", _instance(2, study=OTHER_STUDY))]
            self._send(200, _multipart(parts), mp)
        elif mode == "duplicate":
            self._send(200, _multipart([three[0], three[1], three[0]]), mp)
        elif mode == "manyinstances":
            self._send(200, _multipart(three), mp)
        elif mode == "redirect":
            q = self.path.split("?", 1)[1] if "?" in self.path else ""
            loc = f"http://127.0.0.1:{self.server.other_port}{self.path.split('?')[0]}?{q}"
            self._send(302, headers=[("Location", loc)])
        elif mode == "sameredirect":
            loc = self.path.replace("/sameredirect/", "/ok/")
            self._send(307, headers=[("Location", loc)])
        elif mode == "biglength":  # announces 100 GiB, sends a few bytes
            self.send_response(200)
            self.send_header("Content-Type", mp)
            self.send_header("Content-Length", str(100 << 30))
            self.end_headers()
            self.wfile.write(b"--" + BOUNDARY.encode())
            self.close_connection = True
        elif mode == "close":  # headers promise more than is sent, then the socket closes
            body = _multipart(three)
            self.send_response(200)
            self.send_header("Content-Type", mp)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self._send(404)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def _serve(port_file: str, log: str) -> None:
    main = _Server(("127.0.0.1", 0), _Handler)
    other = _Server(("127.0.0.1", 0), _Handler)
    for srv, is_other in ((main, False), (other, True)):
        srv.other, srv.log, srv.hits = is_other, log, {}
        srv.other_port = other.server_address[1]
    threading.Thread(target=other.serve_forever, daemon=True).start()
    threading.Timer(SERVER_LIFETIME_S, lambda: os._exit(0)).start()  # bounded in any case
    Path(port_file + ".tmp").write_text(f"{main.server_address[1]} {other.server_address[1]}")
    os.replace(port_file + ".tmp", port_file)
    main.serve_forever()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    _serve(sys.argv[1], sys.argv[2])
    sys.exit(0)


# ------------------------------------------------------------------------------- the tests
import pytest  # noqa: E402

from napari_plaque.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    port_file, log = d / "port", d / "requests.log"
    log.write_text("")
    proc = subprocess.Popen([sys.executable, __file__, str(port_file), str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() - t0 > 30:
                pytest.fail("the hostile DICOMweb server did not start")
            time.sleep(0.05)
        port, other = (int(x) for x in port_file.read_text().split())
        yield {"port": port, "other": other, "log": log}
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # stopped by its PID
        proc.wait(timeout=10)


def _url(h, mode):
    return f"http://127.0.0.1:{h['port']}/{mode}/dicom-web"


def _pull(h, mode, tmp_path, *extra):
    out = tmp_path / "out"
    rc = main(["pull", _url(h, mode), "--study", STUDY, "--out", str(out), "--timeout", "5",
               *extra])  # fmt: skip
    return rc, out


def test_a_well_behaved_answer_pulls(hostile, tmp_path, capsys):
    rc, out = _pull(hostile, "ok", tmp_path)
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in (out / SERIES).iterdir()) == [
        f"{SERIES}.{i}.dcm" for i in (1, 2, 3)
    ]
    # a busy server that answers after one Retry-After, and a same-origin redirect: pulled
    for mode in ("429once", "sameredirect"):
        rc, out = _pull(hostile, mode, tmp_path / mode)
        assert rc == 0, (mode, capsys.readouterr().err)
        assert len(list((out / SERIES).iterdir())) == 3


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_misbehaviour_is_refused_with_a_message(hostile, tmp_path, capsys, mode,
                                                     monkeypatch):
    words, extra = MODES[mode]
    monkeypatch.setenv("HOSTILE_TOKEN", "t0ken-secret")
    t0 = time.monotonic()
    rc, out = _pull(hostile, mode, tmp_path, *extra)
    elapsed = time.monotonic() - t0
    err = capsys.readouterr().err
    assert rc == 2, err
    assert words in err, err
    assert f"127.0.0.1:{hostile['port']}/{mode}/dicom-web" in err  # names the server
    if mode not in ("manyseries", "notjson"):  # errors of one series name it
        assert SERIES in err, err
    assert "Traceback" not in err and "t0ken-secret" not in err
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no hidden partial folder
    assert elapsed < 15, f"{mode} took {elapsed:.1f} s"


def test_token_in_the_query_string_is_not_sent_to_another_origin(hostile, tmp_path, capsys):
    url = _url(hostile, "redirect") + "?access_token=s3cret-token"
    rc = main(["pull", url, "--study", STUDY, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "redirected to another origin" in err and "s3cret" not in err
    log = hostile["log"].read_text().splitlines()
    assert any("s3cret" in ln for ln in log if ln.startswith(f"{hostile['port']} "))
    assert not [ln for ln in log if ln.startswith(f"{hostile['other']} ") and "s3cret" in ln]
    assert list(tmp_path.iterdir()) == []


def test_redirect_without_credentials_is_followed_and_checked(hostile, tmp_path, capsys):
    """No credential to leak: the redirect is followed, and the answer checked like any."""
    rc, _ = _pull(hostile, "redirect", tmp_path)
    err = capsys.readouterr().err
    assert rc == 2 and "not multipart/related" in err
    assert list(tmp_path.iterdir()) == []


def test_bearer_token_not_sent_to_another_origin(hostile, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DICOMWEB_TOKEN", "bearer-secret")
    rc = main(["pull", _url(hostile, "redirect"), "--study", STUDY, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "redirected to another origin" in err and "bearer-secret" not in err


def test_endless_body_memory_stays_bounded(hostile, tmp_path):
    """An endless body is cut at the caps: the pull's peak memory grows by about the cap."""
    import tracemalloc

    from napari_plaque.io.dicomweb import DICOMwebError, pull

    tracemalloc.start()
    try:
        with pytest.raises(DICOMwebError, match="larger than 4 MiB"):
            pull(_url(hostile, "endless"), STUDY, tmp_path / "o", max_instance_bytes=4 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, peak


def test_search_is_bounded_too(hostile):
    from napari_plaque.io.dicomweb import DICOMwebError, search_series, search_studies

    with pytest.raises(DICOMwebError, match="not JSON"):
        search_series(_url(hostile, "notjson"), STUDY)
    assert len(search_series(_url(hostile, "manyseries"), STUDY)) == 20000  # listing is fine
    with pytest.raises(DICOMwebError, match="deadline of 1 s while searching studies"):
        search_studies(_url(hostile, "dripsearch"), deadline_s=1)
