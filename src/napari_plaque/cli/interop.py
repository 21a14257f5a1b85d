"""Subcommands: DICOM SEG / SR and DICOMweb."""

from __future__ import annotations


def register(sub) -> None:  # filled in by its capability
    return None
