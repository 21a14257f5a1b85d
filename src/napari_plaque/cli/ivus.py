"""`napari-plaque` subcommands for ivus (see napari_plaque.ivus)."""

from __future__ import annotations


def register(sub) -> None:  # noqa: ARG001
    """Add this capability's subcommands to the napari-plaque parser."""
