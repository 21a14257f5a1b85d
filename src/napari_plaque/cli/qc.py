"""`napari-plaque` subcommands for qc (see napari_plaque.qc)."""

from __future__ import annotations


def register(sub) -> None:  # noqa: ARG001
    """Add this capability's subcommands to the napari-plaque parser."""
