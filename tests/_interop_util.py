"""Helpers for the interop tests: small synthetic CT series and a real Orthanc server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np

PATIENT_NAME = "TEST^INTEROP"
PATIENT_ID = "NP-0042"


def make_series(
    folder: Path,
    shape=(6, 20, 24),
    spacing=(2.5, 0.7, 0.6),
    row_dir=(1.0, 0.0, 0.0),
    col_dir=(0.0, 1.0, 0.0),
    origin=(-10.0, -20.0, 30.0),
    frame_of_reference: bool = True,
    seed: int = 0,
    hu: np.ndarray | None = None,
) -> Path:
    """A small single-frame CT series (int16 HU, calcium blobs) written slice by slice.

    ``row_dir``/``col_dir`` are ImageOrientationPatient; slices step along their cross
    product by ``spacing[0]``; ``origin`` is the first slice's ImagePositionPatient (x, y, z);
    ``hu`` replaces the random volume; files are written in a shuffled order.
    """
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if hu is None:
        n, rows, cols = shape
        hu = rng.integers(-100, 100, size=shape).astype(np.int16)
        hu[1 : min(4, n), 5:9, 6:10] = 400
        hu[min(4, n - 1), 12:15, 15:20] = 900
    else:  # a given volume (int16 HU), e.g. a CTVolume's .hu
        hu = np.round(np.asarray(hu)).astype(np.int16)
        n, rows, cols = hu.shape
    study, series, fref = generate_uid(), generate_uid(), generate_uid()
    row_dir, col_dir = np.asarray(row_dir, float), np.asarray(col_dir, float)
    normal = np.cross(row_dir, col_dir)
    order = rng.permutation(n)
    for i in order:
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"s{i:03d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID = PATIENT_NAME, PATIENT_ID
        ds.PatientBirthDate, ds.PatientSex = "19600101", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240102", "101010", "1", "A1"
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "interop test study"
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 3, int(i) + 1
        ds.SeriesDescription = "synthetic CT"
        ds.Manufacturer = "test"
        if frame_of_reference:
            ds.FrameOfReferenceUID = fref
            ds.PositionReferenceIndicator = ""
        ds.ImageOrientationPatient = [*row_dir.tolist(), *col_dir.tolist()]
        ipp = np.asarray(origin) + normal * spacing[0] * i
        ds.ImagePositionPatient = [round(float(v), 4) for v in ipp]
        ds.SliceThickness = spacing[0]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = 120
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.AcquisitionNumber = 1
        ds.ContentDate, ds.ContentTime = "20240102", "101010"
        ds.PixelData = hu[i].tobytes()
        pydicom.dcmwrite(folder / f"s{i:03d}.dcm", ds, enforce_file_format=True)
    return folder


def dciodvfy_errors(path) -> list[str]:
    """The "Error" lines dciodvfy (dicom3tools) prints for a file."""
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dicomweb_plugin() -> str | None:
    """libOrthancDicomWeb.so from the Debian package (dpkg -L orthanc-dicomweb)."""
    try:
        out = subprocess.run(
            ["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    libs = [ln for ln in out.splitlines() if "libOrthancDicomWeb.so" in ln]
    for cand in sorted(libs, key=len):  # the unversioned name first
        if Path(cand).exists():
            return cand
    return None


class Orthanc:
    """An Orthanc server on a free localhost port with a temporary storage folder."""

    USER, PASSWORD = "interop", "pw-not-a-secret"

    def __init__(self, workdir: Path, binary: str, plugin: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        storage = workdir / "storage"
        storage.mkdir(parents=True)
        cfg = {
            "Name": "napari-plaque-test",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.port,
            "DicomServerEnabled": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.USER: self.PASSWORD},
            "Plugins": [plugin],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "StorageCompression": False,
        }
        self.config = workdir / "orthanc.json"
        self.config.write_text(json.dumps(cfg))
        self.log = open(workdir / "orthanc.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [binary, str(self.config)], stdout=self.log, stderr=subprocess.STDOUT
        )  # same process group: an interrupted test run takes the server with it
        self.url = f"http://127.0.0.1:{self.port}/dicom-web"

    def wait(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited ({self.proc.returncode}); see {self.log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/dicom-web/studies",
                                       timeout=1)
            except urllib.error.HTTPError:
                return  # 401: up and guarding
            except OSError:
                time.sleep(0.2)
                continue
            return
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout_s} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None
    )
