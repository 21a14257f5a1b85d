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
