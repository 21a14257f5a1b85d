"""`napari-plaque` subcommands for ccta (see napari_plaque.ccta)."""

from __future__ import annotations


def register(sub) -> None:  # noqa: ARG001
    """Add this capability's subcommands to the napari-plaque parser."""
