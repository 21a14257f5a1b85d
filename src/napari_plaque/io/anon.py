"""De-identification helpers: nothing that names a patient leaves the DICOM."""

from __future__ import annotations

import hashlib

_SALT = "napari-plaque/v1"

#: DICOM keywords never copied into layer metadata, exports or reports.
PATIENT_KEYWORDS = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientBirthTime",
        "PatientSex",
        "PatientAge",
        "PatientAddress",
        "OtherPatientIDs",
        "OtherPatientNames",
        "PatientTelephoneNumbers",
        "InstitutionName",
        "InstitutionAddress",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "OperatorsName",
        "AccessionNumber",
        "StudyID",
        "IssuerOfPatientID",
        "PatientMotherBirthName",
        "MilitaryRank",
        "EthnicGroup",
        "Occupation",
        "PatientComments",
        "DeviceSerialNumber",
    }
)


def hash_id(value: str, salt: str = _SALT, length: int = 16) -> str:
    """A stable, non-reversible id for a UID or path (salted SHA-256, hex)."""
    h = hashlib.sha256((salt + "\0" + str(value)).encode("utf-8")).hexdigest()
    return h[:length]


# -- paths in reports --------------------------------------------------------------------------

import os  # noqa: E402

#: set (to "1") to leave paths out of reports (``napari-plaque --no-paths``); inherited by
#: cohort worker processes
PATHS_ENV = "NAPARI_PLAQUE_NO_PATHS"


def paths_hidden() -> bool:
    """Whether reports must leave file paths out (paths often hold patient names)."""
    return os.environ.get(PATHS_ENV, "") not in ("", "0")


def looks_like_path(text: str) -> bool:
    """A string that names a file or folder: absolute, or with a separator and an existing
    file/folder (or parent folder) behind it."""
    if not text or len(text) > 4096 or "\n" in text:
        return False
    if "/" not in text and "\\" not in text:
        return os.path.exists(text) and os.path.splitext(text)[1] != ""
    if os.path.isabs(text) or text.startswith(("./", "../", "~")):
        return True
    try:
        return os.path.exists(text) or os.path.isdir(os.path.dirname(text))
    except (OSError, ValueError):
        return False


def redact_path(text: str) -> str:
    """``<path:HASH>``: a stable salted hash of the absolute path, never the path itself."""
    try:
        full = os.path.abspath(os.path.expanduser(text))
    except (OSError, ValueError):
        full = text
    return f"<path:{hash_id(full, length=12)}>"


def redact_if_path(text: str) -> str:
    """``text`` unchanged, or redacted when :func:`paths_hidden` and it looks like a path."""
    if paths_hidden() and looks_like_path(text):
        return redact_path(text)
    return text
